"""The endpoint catalog: who runs a host name or address, and what kind of service it is.

The bundled ``analysis/data/catalog.toml`` is loaded first, then user files (``--catalog FILE``) in the
order given; for the same exact name, suffix or range, the later file's entry wins. Lookups are dict
lookups: a name walks its labels up to the registrable domain (O(labels)); an address is masked once per
prefix length present in the catalog (at most 33 or 129 lookups, independent of the catalog's size).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tldextract

from analysis.addresses import numeric
from analysis.errors import InputError
from analysis.sharedpath import shared_path
from analysis.vocab import CATEGORIES

BUNDLED = Path(__file__).with_name("data") / "catalog.toml"
MAX_NAME = 253  # longest DNS name; longer input is cut before any lookup
_CACHE_LIMIT = 8192


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    id: str
    owner: str
    category: str
    source: str
    names: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    notes: str = ""
    file: str = ""

    def allows_port(self, port: int | None) -> bool:
        return not self.ports or port is None or port in self.ports


@dataclass(frozen=True, slots=True)
class CatalogMatch:
    entry: str  # entry id
    owner: str
    category: str
    rule: str  # "exact" | "suffix" | "cidr"
    matched: str  # the catalog key that matched: a name, a suffix or a CIDR range
    source: str  # where the catalog fact comes from


def normalize_name(name: str) -> str:
    """Lower case, no trailing dot, bounded length."""
    return name.strip().rstrip(".").lower()[:MAX_NAME]


@functools.cache
def _offline_extractor() -> tldextract.TLDExtract:
    """tldextract over its bundled suffix list (read once per process: building it costs about 50 ms)."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class DomainSplitter:
    """Registrable domains via tldextract's bundled public suffix list, strictly offline."""

    def __init__(self) -> None:
        self._extract = _offline_extractor()
        self._cache: dict[str, str] = {}

    def registrable(self, name: str) -> str:
        name = normalize_name(name)
        hit = self._cache.get(name)
        if hit is not None:
            return hit
        result = self._extract(name)
        top = getattr(result, "top_domain_under_public_suffix", None)
        if top is None:  # tldextract < 5.3
            top = result.registered_domain
        value = top or name
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[name] = value
        return value


@dataclass
class Catalog:
    entries: dict[str, CatalogEntry] = field(default_factory=dict)
    files: list[dict] = field(default_factory=list)
    version: str = ""
    _exact: dict[str, CatalogEntry] = field(default_factory=dict)
    _suffix: dict[str, CatalogEntry] = field(default_factory=dict)
    _nets: dict[int, dict[int, dict[int, tuple[str, CatalogEntry]]]] = field(default_factory=dict)
    _masks: dict[int, list[tuple[int, dict[int, tuple[str, CatalogEntry]]]]] = field(default_factory=dict)
    # per version: (shift, the values of ``address >> shift`` that some range holds), shift leaving the
    # shortest prefix's bits: most addresses hold none, and one set lookup tells (made at the first lookup)
    _tops: dict[int, tuple[int, frozenset[int]]] = field(default_factory=dict)
    _domains: DomainSplitter = field(default_factory=DomainSplitter)

    @classmethod
    def load(cls, extra_paths: list[str] | tuple[str, ...] = ()) -> Catalog:
        """The bundled catalog plus user files; user entries win."""
        catalog = cls()
        catalog.add_file(str(BUNDLED), bundled=True)
        for path in extra_paths:
            catalog.add_file(path)
        return catalog

    # ---- building -------------------------------------------------------------------------------------

    def add_file(self, path: str, bundled: bool = False) -> None:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(path, f"cannot read catalog: {exc.strerror}") from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InputError(path, f"invalid catalog TOML: {exc}") from None
        items = data.get("entry", [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InputError(path, "catalog needs [[entry]] tables")
        entries = [_entry(path, i, item) for i, item in enumerate(items)]
        for entry in entries:
            self.add(entry)
        if bundled:
            self.version = str(data.get("version", ""))
        self.files.append(
            {
                "path": shared_path(path) if not bundled else "analysis/data/catalog.toml",
                "sha256": hashlib.sha256(raw).hexdigest(),
                "entries": len(entries),
            }
        )

    def add(self, entry: CatalogEntry) -> None:
        self.entries[entry.id] = entry
        for name in entry.names:
            self._exact[name] = entry
        for suffix in entry.suffixes:
            self._suffix[suffix] = entry
        for cidr in entry.cidrs:
            net = ipaddress.ip_network(cidr, strict=False)
            by_len = self._nets.setdefault(net.version, {})
            by_len.setdefault(net.prefixlen, {})[int(net.network_address)] = (str(net), entry)
            bits = net.max_prefixlen  # per version: (mask, ranges of that length), the longest first
            self._masks[net.version] = [
                (((1 << length) - 1) << (bits - length), by_len[length]) for length in sorted(by_len, reverse=True)
            ]
            self._tops.pop(net.version, None)

    # ---- lookups --------------------------------------------------------------------------------------

    def registrable_domain(self, name: str) -> str:
        return self._domains.registrable(name)

    def match_name(self, name: str, port: int | None = None) -> CatalogMatch | None:
        """Exact name first, then the longest catalog suffix between the name and its registrable domain."""
        if len(name) > MAX_NAME + 1:  # not a valid DNS name; a cut-off name could match the wrong suffix
            return None
        name = normalize_name(name)
        if not name:
            return None
        entry = self._exact.get(name)
        if entry is not None and entry.allows_port(port):
            return _match(entry, "exact", name)
        stop = self._domains.registrable(name)
        candidate = name
        while True:
            entry = self._suffix.get(candidate)
            if entry is not None and entry.allows_port(port):
                return _match(entry, "suffix", candidate)
            if candidate == stop or "." not in candidate:
                return None
            candidate = candidate.split(".", 1)[1]

    def match_ip(self, ip: str, port: int | None = None) -> CatalogMatch | None:
        """The longest catalog prefix containing ``ip`` (IPv4 or IPv6)."""
        address = numeric(ip)
        return None if address is None else self.pick_range(self.ranges_of(*address), port)

    def ranges_of(self, version: int, value: int) -> tuple[tuple[str, CatalogEntry], ...]:
        """Every catalog range holding the address (4 or 6 and its integer, analysis.addresses.numeric), the
        longest prefix first, whatever their ports: a classifier keeps these per address, then ``pick_range``."""
        tops = self._tops.get(version)
        if tops is None:
            tops = self._tops[version] = self._top_values(version)
        if value >> tops[0] not in tops[1]:
            return ()
        found = []
        for mask, ranges in self._masks.get(version, ()):
            hit = ranges.get(value & mask)
            if hit is not None:
                found.append(hit)
        return tuple(found)

    def _top_values(self, version: int) -> tuple[int, frozenset[int]]:
        by_len = self._nets.get(version)
        if not by_len:
            return 0, frozenset()
        shift = (32 if version == 4 else 128) - min(by_len)
        return shift, frozenset(network >> shift for ranges in by_len.values() for network in ranges)

    @staticmethod
    def pick_range(ranges: tuple[tuple[str, CatalogEntry], ...], port: int | None) -> CatalogMatch | None:
        """The first of ``ranges`` whose entry allows ``port``: what ``match_ip`` gives for that address."""
        for matched, entry in ranges:
            if entry.allows_port(port):
                return _match(entry, "cidr", matched)
        return None

    def describe(self) -> dict:
        """For the report's method section."""
        return {"version": self.version, "files": [dict(f) for f in self.files], "entries": len(self.entries)}


def _match(entry: CatalogEntry, rule: str, matched: str) -> CatalogMatch:
    return CatalogMatch(entry.id, entry.owner, entry.category, rule, matched, entry.source)


def _strings(path: str, where: str, item: dict, key: str) -> tuple[str, ...]:
    value = item.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(path, f"{where}: '{key}' must be a list of strings")
    return tuple(value)


def _entry(path: str, index: int, item: dict) -> CatalogEntry:
    where = f"entry {index + 1}" + (f" ({item['id']})" if isinstance(item.get("id"), str) else "")
    for key in ("id", "owner", "category", "source"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise InputError(path, f"{where}: '{key}' is required (a non-empty string)")
    if item["category"] not in CATEGORIES:
        raise InputError(
            path, f"{where}: unknown category {item['category']!r} (known: {', '.join(CATEGORIES)})"
        )
    names = tuple(normalize_name(n) for n in _strings(path, where, item, "names"))
    suffixes = tuple(normalize_name(s.removeprefix("*.")) for s in _strings(path, where, item, "suffixes"))
    if any("." not in s for s in suffixes):
        raise InputError(path, f"{where}: a suffix needs at least two labels (not a bare top-level domain)")
    cidrs = _strings(path, where, item, "cidrs")
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise InputError(path, f"{where}: {cidr!r} is not a CIDR range") from None
    ports = item.get("ports", [])
    if not isinstance(ports, list) or not all(isinstance(p, int) and 0 < p < 65536 for p in ports):
        raise InputError(path, f"{where}: 'ports' must be a list of port numbers")
    if not (names or suffixes or cidrs):
        raise InputError(path, f"{where}: needs at least one of names, suffixes, cidrs")
    return CatalogEntry(
        id=item["id"],
        owner=item["owner"],
        category=item["category"],
        source=item["source"],
        names=names,
        suffixes=suffixes,
        cidrs=tuple(cidrs),
        ports=tuple(ports),
        notes=str(item.get("notes", "")),
        file=path,
    )


def registrable_domain(name: str, splitter: DomainSplitter | None = None) -> str:
    """The registrable domain of ``name`` (offline); pass a splitter to reuse its suffix list."""
    return (splitter or DomainSplitter()).registrable(name)
