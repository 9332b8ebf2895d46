"""Who owns an address: its autonomous system (number and organisation), offline.

The bundled data (analysis/data/asn.bin, converted by tools/build_asn.py from the npm package
``@ip-location-db/asn``: RouteViews, the five RIRs via the NRO, DB-IP ASN Lite; CC BY 4.0; version and
attribution in analysis/data/asn.json) is read on the first look-up, once per process. ``--asn-db FILE``
adds a CSV (``first_ip,last_ip,asn,organisation``) or a MaxMind-format ``.mmdb`` (GeoLite2-ASN, DB-IP ASN,
IPinfo Lite); a later file wins over an earlier one and every file over the bundled data, address by address.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from analysis.addresses import numeric, packed_text
from analysis.asntable import MAX, RangeTable, Row, TableError
from analysis.errors import InputError

DATA = Path(__file__).resolve().parent / "data"
BUNDLED_TABLE = DATA / "asn.bin"
BUNDLED_META = DATA / "asn.json"
MAX_ORG = 200  # characters of an organisation name kept from an --asn-db file


@dataclass(frozen=True, slots=True)
class AsRange:
    first: str
    last: str
    asn: int
    org: str
    source: str

    @property
    def range(self) -> str:
        return f"{self.first} – {self.last}"


parse_ip = numeric  # (4 or 6, value) of the address a text names by analysis.addresses' rule, or None


def ip_text(version: int, value: int) -> str:
    """The text of an address given as 4 or 6 and its integer (``str`` of its ``ipaddress`` object)."""
    return packed_text(value.to_bytes(4 if version == 4 else 16))


class _Layer(Protocol):
    name: str

    def find(self, version: int, value: int) -> tuple[int, int, int, str] | None: ...

    def describe(self) -> dict: ...


class _TableLayer:
    """A range table: the bundled data (read on first use) or a CSV file (read at once, to fail early)."""

    def __init__(self, name: str, meta: dict, table: RangeTable | None = None) -> None:
        self.name = name
        self._meta = meta
        self._table = table

    def find(self, version: int, value: int) -> tuple[int, int, int, str] | None:
        if self._table is None:
            self._table = bundled_table()
        return self._table.find(version, value)

    def describe(self) -> dict:
        return dict(self._meta)


class _MmdbLayer:
    """A MaxMind DB file; ASN records as GeoLite2-ASN and DB-IP write them, or as IPinfo's ``asn``/``as_name``."""

    def __init__(self, path: str) -> None:
        import maxminddb

        self.name = os.path.basename(path)
        self._path = path
        try:
            self._reader = maxminddb.open_database(path)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise InputError(path, f"not a readable MaxMind DB (.mmdb) file: {_why(exc)}") from None
        meta = self._reader.metadata()
        self._type = str(meta.database_type)
        self._version = str(meta.build_epoch)

    def find(self, version: int, value: int) -> tuple[int, int, int, str] | None:
        import maxminddb

        address = ipaddress.IPv6Address(value) if version == 6 else ipaddress.IPv4Address(value)
        try:
            record, prefix = self._reader.get_with_prefix_len(address)
        except ValueError:  # an IPv6 address in an IPv4-only database
            return None
        except (maxminddb.InvalidDatabaseError, OSError) as exc:
            raise InputError(self._path, f"damaged MaxMind DB: {_why(exc)}") from None
        if not isinstance(record, dict):
            return None
        asn = _asn_number(record.get("autonomous_system_number", record.get("asn")))
        if asn is None:
            return None
        org = record.get("autonomous_system_organization", record.get("as_name", record.get("name", "")))
        bits = 32 if version == 4 else 128
        prefix = max(0, min(prefix, bits))
        first = value & ~((1 << (bits - prefix)) - 1) & MAX[version]
        return first, first | ((1 << (bits - prefix)) - 1), asn, str(org or "")[:MAX_ORG]

    def describe(self) -> dict:
        return {"name": self.name, "format": "mmdb", "version": self._version, "database_type": self._type,
                "licence": "", "attribution": "", "url": ""}


class AsnDatabase:
    """IP -> AS ownership from the bundled data and ``--asn-db`` files (later wins), memoised per address; the
    addresses of one range share one AsRange (its bounds written once)."""

    def __init__(self, layers: Sequence[_Layer]) -> None:
        self._layers = list(layers)
        self._memo: dict[str, AsRange | None] = {}
        self._ranges: dict[tuple, AsRange] = {}  # (layer number, version, first, last, asn, org) -> its AsRange

    @classmethod
    def load(cls, extra_paths: Sequence[str] = ()) -> AsnDatabase:
        """The bundled data plus ``extra_paths`` (each read and checked now; the bundled table on first use)."""
        layers: list[_Layer] = [_TableLayer(bundled_meta()["name"], bundled_meta())]
        for path in extra_paths:
            layers.append(_open_extra(path))
        return cls(layers)

    def lookup(self, ip: str) -> AsRange | None:
        if ip in self._memo:
            return self._memo[ip]
        hit = None
        parsed = numeric(ip)
        if parsed is not None:
            version, value = parsed
            for number in range(len(self._layers) - 1, -1, -1):
                found = self._layers[number].find(version, value)
                if found is not None:
                    hit = self._range(number, version, found)
                    break
        if len(self._memo) < 1_000_000:
            self._memo[ip] = hit
        return hit

    def _range(self, number: int, version: int, found: tuple[int, int, int, str]) -> AsRange:
        key = (number, version, *found)
        hit = self._ranges.get(key)
        if hit is None:
            first, last, asn, org = found
            hit = AsRange(ip_text(version, first), ip_text(version, last), asn, org, self._layers[number].name)
            if len(self._ranges) < 100_000:
                self._ranges[key] = hit
        return hit

    def sources(self) -> list[dict]:
        """Name, version, licence and attribution of every data source, the bundled data first."""
        return [layer.describe() for layer in self._layers]


def annotate(flows: Iterable, db: AsnDatabase) -> None:
    """Set ``asn`` and ``as_org`` of every flow from its server address (one look-up per distinct address)."""
    for flow in flows:
        hit = db.lookup(flow.server.ip)
        flow.asn, flow.as_org = (hit.asn, hit.org) if hit is not None else (None, "")


@cache
def bundled_meta() -> dict:
    try:
        meta = json.loads(BUNDLED_META.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(str(BUNDLED_META), f"bundled AS data description unreadable: {_why(exc)}") from None
    return {
        "name": f"{meta.get('package', 'ip-location-db/asn')} {meta.get('version', '')}".strip(),
        "format": "bundled",
        "version": str(meta.get("version", "")),
        "licence": str(meta.get("licence", "")),
        "attribution": str(meta.get("attribution", "")),
        "url": str(meta.get("url", "")),
    }


@cache
def bundled_table() -> RangeTable:
    try:
        return RangeTable.load(BUNDLED_TABLE)
    except (OSError, TableError) as exc:
        raise InputError(str(BUNDLED_TABLE), f"bundled AS data unreadable: {_why(exc)}") from None


def _open_extra(path: str) -> _Layer:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise InputError(path, f"cannot read the AS data: {exc.strerror}") from None
    if path.endswith(".mmdb") or (b"\x00" in head and _mmdb_marker(path)):
        return _MmdbLayer(path)
    if b"\x00" in head:
        raise InputError(path, "not an AS data file (a CSV first_ip,last_ip,asn,organisation or a .mmdb)", 0)
    v4, v6 = read_csv(path)
    table = RangeTable.build(v4, v6)
    meta = {"name": os.path.basename(path), "format": "csv", "version": "", "licence": "", "attribution": "",
            "url": ""}
    return _TableLayer(os.path.basename(path), meta, table)


def _mmdb_marker(path: str) -> bool:
    """Whether the file ends with a MaxMind DB metadata section (it lies within the last 128 KiB)."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 128 * 1024))
        return b"\xab\xcd\xefMaxMind.com" in fh.read()


def read_csv(path: str) -> tuple[list[Row], list[Row]]:
    """IPv4 and IPv6 rows of a ``first_ip,last_ip,asn,organisation`` CSV (addresses as text or integers;
    an optional header line); a bad line ends the read with an InputError naming the line."""
    v4: list[Row] = []
    v6: list[Row] = []
    for number, row in _rows(path):
        if len(row) < 3:
            if number == 1 or not "".join(row).strip():
                continue
            raise InputError(path, f"line {number}: expected first_ip,last_ip,asn,organisation")
        first, last = _address(row[0]), _address(row[1])
        asn = _asn_number(row[2])
        if first is None or last is None or asn is None:
            if number == 1:
                continue  # a header line
            bad = "asn" if first is not None and last is not None else "address"
            raise InputError(path, f"line {number}: not an {bad}: {row[0 if bad == 'address' else 2][:60]!r}")
        if first[0] != last[0] or first[1] > last[1]:
            raise InputError(path, f"line {number}: the range {row[0][:45]}-{row[1][:45]} is not a range")
        org = (row[3] if len(row) > 3 else "").strip()[:MAX_ORG]
        (v4 if first[0] == 4 else v6).append((first[1], last[1], asn, org))
    if not v4 and not v6:
        raise InputError(path, "no address ranges (expected CSV lines first_ip,last_ip,asn,organisation)")
    return v4, v6


def _rows(path: str) -> Iterator[tuple[int, list[str]]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            for row in reader:
                yield reader.line_num, row
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text (byte {exc.start} of a read block)") from None
    except csv.Error as exc:
        raise InputError(path, f"not a CSV file: {exc}") from None
    except OSError as exc:
        raise InputError(path, f"cannot read the AS data: {exc.strerror}") from None


def _address(text: str) -> tuple[int, int] | None:
    text = text.strip()
    if text.isdigit() and len(text) <= 39:  # the "-num" CSV form: the address as an integer
        value = int(text)
        return (4, value) if value <= MAX[4] else (6, value) if value <= MAX[6] else None
    return parse_ip(text)


def _asn_number(value) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= MAX[4] else None
    text = str(value or "").strip().upper().removeprefix("AS")
    return int(text) if text.isdigit() and len(text) <= 10 and int(text) <= MAX[4] else None


def _why(exc: Exception) -> str:
    return " ".join(str(getattr(exc, "strerror", None) or exc).split())[:200]
