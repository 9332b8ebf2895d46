"""Who holds an address, from the regional Internet registries over RDAP (opt-in: ``--rdap``).

One job: address -> :class:`RdapRecord`, the raw answers cached on disk with their retrieval time. The
client is whoisit (the ``rdap`` extra). Without a server it finds the registry from IANA's bootstrap files
(cached beside the answers for a week; an address no registry is named for is not guessed at); with
``server`` (``--rdap-server URL``) every query goes to that one RDAP base URL, plain http allowed: a mirror,
or a test server on loopback.

Addresses that are not globally routable (private, loopback, documentation, ...) are never looked up, also
not at a ``server``: whoisit refuses them, so tests serve public addresses (only the server is contacted).
The first failure of the network (refused, timeout, HTTP error, an answer that is
not JSON or too big) is one warning and ends the live look-ups of the run; cached answers are still used.
Cache: ``MAILDETOUR_RDAP_CACHE``, else ``$XDG_CACHE_HOME/maildetour/rdap``, else ``~/.cache/maildetour/rdap``;
one ``<address>.json`` per address, written atomically; the oldest go when there are too many.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from analysis.addresses import canonical, parse
from analysis.errors import UsageError
from analysis.model import iso_utc

CACHE_SCHEMA = "maildetour.rdap-cache/1"
MAX_LOOKUPS = 32  # addresses per run; the rest are counted, not looked up
MAX_ANSWER_BYTES = 256 * 1024  # one RDAP answer
MAX_CACHE_FILES = 1000
MAX_CACHE_BYTES = 64 * 1024 * 1024
MAX_BOOTSTRAP_BYTES = 4 * 1024 * 1024
MAX_AGE_SECONDS = 30 * 86400  # a cached answer older than this is asked again
BOOTSTRAP_DAYS = 7
TIMEOUT_SECONDS = 5.0
MAX_TEXT = 200  # characters kept of one text field of an answer
DOCUMENTATION = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20"))  # RFC 5737, 3849, 9637
STATUSES = ("live", "cache", "not-public", "not-found", "unavailable")
# registry (RIR) by a word in its whois host or RDAP URL
REGISTRIES = (("arin", "ARIN"), ("ripe", "RIPE NCC"), ("apnic", "APNIC"), ("lacnic", "LACNIC"),
              ("afrinic", "AFRINIC"), ("registro.br", "LACNIC (registro.br)"), ("jpnic", "APNIC (JPNIC)"),
              ("krnic", "APNIC (KRNIC)"), ("twnic", "APNIC (TWNIC)"), ("idnic", "APNIC (IDNIC)"))


@dataclass(slots=True)
class RdapRecord:
    """One address: the network the registry has for it, or why there is none (``status``, ``reason``)."""

    address: str
    status: str = "unavailable"  # one of STATUSES
    reason: str = ""  # not-public: loopback | private | documentation | link-local | shared | multicast | ...
    start: str = ""
    end: str = ""
    cidr: list[str] = field(default_factory=list)
    handle: str = ""
    name: str = ""
    organisation: str = ""
    country: str = ""
    registry: str = ""
    registered: str = ""
    last_changed: str = ""
    port43: str = ""
    url: str = ""
    retrieved: str | None = None  # ISO 8601 UTC: when the registry answered (for a cached answer too)

    def to_json(self) -> dict:
        return {
            "address": self.address,
            "status": self.status,
            "reason": self.reason,
            "range": {"start": self.start, "end": self.end, "cidr": list(self.cidr)},
            "handle": self.handle,
            "name": self.name,
            "organisation": self.organisation,
            "country": self.country,
            "registry": self.registry,
            "registered": self.registered,
            "last_changed": self.last_changed,
            "port43": self.port43,
            "url": self.url,
            "retrieved": self.retrieved,
        }


def default_cache_dir() -> Path:
    if os.environ.get("MAILDETOUR_RDAP_CACHE"):
        return Path(os.environ["MAILDETOUR_RDAP_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "maildetour" / "rdap"


def check_server(url: str) -> str:
    """An RDAP base URL (http or https, a host); UsageError otherwise."""
    url = url.strip()
    if not re.match(r"https?://[^/\s]+", url):
        raise UsageError(f"--rdap-server: not an http(s) URL: {url[:100]!r}")
    return url if url.endswith("/") else url + "/"


def not_public(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Why the address is not looked up (a word), or "" when it is globally routable."""
    if addr.is_global:
        return ""
    checks = (
        ("unspecified", addr.is_unspecified),
        ("loopback", addr.is_loopback),
        ("documentation", any(addr.version == n.version and addr in n for n in DOCUMENTATION)),
        ("link-local", addr.is_link_local),
        ("multicast", addr.is_multicast),
        ("shared", addr.version == 4 and addr in ipaddress.ip_network("100.64.0.0/10")),
        ("private", addr.is_private),
    )
    return next((word for word, hit in checks if hit), "reserved")


def _text(value) -> str:
    """One line of at most MAX_TEXT characters from an untrusted value ("" for anything but text)."""
    if not isinstance(value, str):
        return ""
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())[:MAX_TEXT]


def _vcard(entity: dict, key: str) -> str:
    card = entity.get("vcardArray")
    if not (isinstance(card, list) and len(card) == 2 and isinstance(card[1], list)):
        return ""
    for prop in card[1]:
        if isinstance(prop, list) and len(prop) >= 4 and prop[0] == key:
            value = prop[3]  # org may be a list of units: "Example Inc.", "Mail"
            parts = value if isinstance(value, list) else [value]
            return _text(" ".join(v for v in parts if isinstance(v, str)))
    return ""


def _registrant(entities, depth: int = 0) -> str:
    """The registrant's organisation (vCard ``org``, else ``fn``), searched in nested entities too."""
    if not isinstance(entities, list) or depth > 3:
        return ""
    for entity in entities[:50]:
        if isinstance(entity, dict) and "registrant" in (entity.get("roles") or []):
            found = _vcard(entity, "org") or _vcard(entity, "fn")
            if found:
                return found
    for entity in entities[:50]:
        if isinstance(entity, dict):
            found = _registrant(entity.get("entities"), depth + 1)
            if found:
                return found
    return ""


def _event(events, action: str) -> str:
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict) and event.get("eventAction") == action:
            return _text(event.get("eventDate"))
    return ""


def _range(answer: dict) -> tuple[str, str, list[str]]:
    start, end = _text(answer.get("startAddress")), _text(answer.get("endAddress"))
    try:
        first, last = ipaddress.ip_address(start), ipaddress.ip_address(end)
        cidr = [str(n) for n in ipaddress.summarize_address_range(first, last)][:16]
        return str(first), str(last), cidr
    except (ValueError, TypeError):
        pass
    cidr = []
    for item in answer.get("cidr0_cidrs") or []:  # the cidr0 extension, when the range itself is unusable
        if isinstance(item, dict):
            prefix = item.get("v4prefix") or item.get("v6prefix")
            try:
                cidr.append(str(ipaddress.ip_network(f"{prefix}/{int(item.get('length'))}")))
            except (ValueError, TypeError):
                continue
    return start, end, cidr[:16]


def _registry(*hints: str) -> str:
    for hint in hints:
        low = hint.lower()
        for word, name in REGISTRIES:
            if word in low:
                return name
    return ""


def record_from(address: str, answer: dict, url: str, retrieved: float, status: str) -> RdapRecord:
    """The record of an RDAP ip network object (RFC 9083, section 5.4) answered for ``address``."""
    start, end, cidr = _range(answer)
    links = [_text(x.get("href")) for x in answer.get("links") or [] if isinstance(x, dict)]
    port43 = _text(answer.get("port43"))
    return RdapRecord(
        address=address,
        status=status,
        start=start,
        end=end,
        cidr=cidr,
        handle=_text(answer.get("handle")),
        name=_text(answer.get("name")),
        organisation=_registrant(answer.get("entities")),
        country=_text(answer.get("country")),
        registry=_registry(port43, *links, url),
        registered=_event(answer.get("events"), "registration"),
        last_changed=_event(answer.get("events"), "last changed"),
        port43=port43,
        url=url,
        retrieved=iso_utc(retrieved),
    )


class RdapFailure(Exception):
    """The network or the server failed; ``str()`` is one line."""


def _reason(exc: BaseException) -> str:
    """One short line for a failed query (whoisit wraps the transport's error)."""
    import requests

    status = getattr(exc, "status_code", 0)
    if status:
        return f"HTTP {status}"
    chain, cause = [], exc
    while cause is not None and len(chain) < 8:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, AnswerTooLarge) for c in chain):
        return f"answer larger than {MAX_ANSWER_BYTES} bytes"
    if any(isinstance(c, requests.Timeout) for c in chain):
        return f"no answer within {TIMEOUT_SECONDS:g} s"
    if any(isinstance(c, requests.ConnectionError) for c in chain):
        m = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
        return m[1].strip().lower() if m else "connection failed"
    if "JSON" in str(exc):
        return "the answer is not JSON"
    return _text(str(exc))[:160] or type(exc).__name__


class AnswerTooLarge(Exception):
    pass


def _session(timeout: float):
    """A requests session with a fixed timeout that reads at most MAX_ANSWER_BYTES of any answer."""
    import requests

    class Bounded(requests.Session):
        def request(self, method, url, *args, **kwargs):
            kwargs["timeout"], kwargs["stream"] = timeout, True
            response = super().request(method, url, *args, **kwargs)
            body = bytearray()
            with response:
                for chunk in response.iter_content(65536):
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise AnswerTooLarge(url)
            response._content = bytes(body)  # what requests' own read would have stored
            return response

    session = Bounded()
    session.max_redirects = 3
    return session


def _bootstrap_for(server: str) -> dict:
    """A bootstrap document (whoisit's saved form) that sends every query to ``server``."""
    def services(selector: str) -> dict:
        return {"version": "1.0", "services": [[[selector], [server]]]}

    return {"timestamp": int(time.time()), "asn": services("0-4294967295"), "dns": services("arpa"),
            "ipv4": services("0.0.0.0/0"), "ipv6": services("::/0"), "object": services("MAILDETOUR")}


class Rdap:
    """Look-ups for one run: the cache, the source (IANA's bootstrap or one server), the warnings so far."""

    def __init__(self, server: str | None = None, cache_dir: str | Path | None = None) -> None:
        self.server = check_server(server) if server else None
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.warnings: list[str] = []
        self.over_limit = 0
        self.records: list[RdapRecord] = []
        self._down = False
        self._client = None
        self._http = None
        self._cache_warned = False

    @property
    def source(self) -> str:
        return self.server or "IANA bootstrap"

    # ---- the run --------------------------------------------------------------------------------------

    def lookup_all(self, addresses, limit: int = MAX_LOOKUPS) -> list[RdapRecord]:
        """Records for the first ``limit`` distinct addresses (canonical text), in their order."""
        unique = list(dict.fromkeys(a for a in (canonical(str(x)) or str(x) for x in addresses) if a))
        self.over_limit += max(0, len(unique) - limit)
        found = [self.lookup(a) for a in unique[:limit]]
        self.records += found
        return found

    def lookup(self, text: str) -> RdapRecord:
        addr = parse(str(text))
        if addr is None:
            return RdapRecord(address=_text(text), status="not-public", reason="invalid")
        address = str(addr)
        why = not_public(addr)
        if why:
            return RdapRecord(address=address, status="not-public", reason=why)
        cached = self._cached(address)
        if cached is not None:
            return cached
        if self._down:
            return RdapRecord(address=address, status="unavailable")
        try:
            url, answer = self._query(address)
        except LookupError:
            return RdapRecord(address=address, status="not-found")
        except RdapFailure as exc:
            self._fail(str(exc))
            return RdapRecord(address=address, status="unavailable")
        now = time.time()
        self._store(address, url, answer, now)
        return record_from(address, answer, url, now, "live")

    def summary(self) -> dict:
        """The method note: where the answers came from, how many of each status, the warnings."""
        counts = {s: sum(r.status == s for r in self.records) for s in STATUSES}
        return {"source": self.source, "cache_dir": str(self.cache_dir), "limit": MAX_LOOKUPS,
                "addresses": len(self.records), "over_limit": self.over_limit, **counts,
                "warnings": list(self.warnings)}

    def _fail(self, why: str) -> None:
        self._down = True
        self.warnings.append(f"rdap: {self.source}: {why}; no further RDAP look-ups in this run")

    # ---- the network ----------------------------------------------------------------------------------

    def _ready(self):
        """whoisit with bootstrap data loaded (from the server, the cache or IANA); RdapFailure otherwise."""
        if self._client is not None:
            return self._client
        try:
            import whoisit
        except ImportError:
            raise RdapFailure("the whoisit package is not installed (pip install 'maildetour[rdap]')") from None
        whoisit.clear_bootstrapping()  # module state: a run never inherits another run's registries
        try:
            if self.server:
                whoisit.load_bootstrap_data(json.dumps(_bootstrap_for(self.server)), allow_insecure=True)
            else:
                self._iana_bootstrap(whoisit)
        except whoisit.errors.WhoisItError as exc:
            raise RdapFailure(f"bootstrap: {_reason(exc)}") from None
        self._client = whoisit
        return whoisit

    def _iana_bootstrap(self, whoisit) -> None:
        path = self.cache_dir / "bootstrap.json"
        try:
            if path.stat().st_size <= MAX_BOOTSTRAP_BYTES:
                whoisit.load_bootstrap_data(path.read_text(encoding="utf-8"))
                if not whoisit.bootstrap_is_older_than(BOOTSTRAP_DAYS):
                    return
                whoisit.clear_bootstrapping()
        except (OSError, ValueError, whoisit.errors.WhoisItError):
            whoisit.clear_bootstrapping()
        whoisit.bootstrap()
        self._write(path, whoisit.save_bootstrap_data())

    def _query(self, address: str) -> tuple[str, dict]:
        whoisit = self._ready()
        errors = whoisit.errors
        try:
            _, url, exact = whoisit.build_query(query_type="ip", query_value=address)
            if not exact:  # whoisit would ask a guessed registry: no record here rather than a wrong one
                raise LookupError(address)
            self._http = self._http or _session(TIMEOUT_SECONDS)
            answer = whoisit.ip(address, raw=True, session=self._http)
        except errors.ResourceDoesNotExist:
            raise LookupError(address) from None
        except (errors.BootstrapError, errors.UnsupportedError):
            raise LookupError(address) from None
        except errors.WhoisItError as exc:
            raise RdapFailure(_reason(exc)) from None
        if not isinstance(answer, dict):
            raise RdapFailure("the answer is not an RDAP object")
        return url, answer

    # ---- the cache ------------------------------------------------------------------------------------

    def _path(self, address: str) -> Path:
        return self.cache_dir / (address.replace(":", "_") + ".json")

    def _cached(self, address: str) -> RdapRecord | None:
        path = self._path(address)
        try:
            if path.stat().st_size > 2 * MAX_ANSWER_BYTES:
                return None
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not (isinstance(entry, dict) and entry.get("schema") == CACHE_SCHEMA and entry.get("address") == address
                and entry.get("source") == self.source and isinstance(entry.get("answer"), dict)):
            return None
        retrieved = entry.get("retrieved")
        if not isinstance(retrieved, (int, float)) or not 0 <= time.time() - retrieved <= MAX_AGE_SECONDS:
            return None
        return record_from(address, entry["answer"], str(entry.get("url", "")), float(retrieved), "cache")

    def _store(self, address: str, url: str, answer: dict, retrieved: float) -> None:
        entry = {"schema": CACHE_SCHEMA, "address": address, "source": self.source, "url": url,
                 "retrieved": retrieved, "retrieved_utc": iso_utc(retrieved), "answer": answer}
        if self._write(self._path(address), json.dumps(entry, ensure_ascii=False)):
            self._prune()

    def _write(self, path: Path, text: str) -> bool:
        """``text`` to ``path`` atomically (a temp file renamed into place); one warning when it fails."""
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
            return True
        except OSError as exc:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            if not self._cache_warned:
                self._cache_warned = True
                self.warnings.append(f"rdap: cannot write the cache {path.parent}: {exc.strerror or exc}")
            return False

    def _prune(self) -> None:
        """Keep the newest answers: at most MAX_CACHE_FILES files and MAX_CACHE_BYTES bytes."""
        try:
            files = []
            for entry in os.scandir(self.cache_dir):
                if entry.name.endswith(".json") and entry.name != "bootstrap.json" and entry.is_file():
                    st = entry.stat()
                    files.append((st.st_mtime, st.st_size, entry.path))
        except OSError:
            return
        files.sort(reverse=True)
        total = 0
        for i, (_, size, path) in enumerate(files):
            total += size
            if i >= MAX_CACHE_FILES or total > MAX_CACHE_BYTES:
                try:
                    os.unlink(path)
                except OSError:
                    pass
