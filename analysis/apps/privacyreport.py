"""The iOS App Privacy Report (Settings > Privacy & Security > App Privacy Report > Save App Activity).

An NDJSON file, one JSON object per line, as Apple documents it ("Inspecting app activity data"):

- ``"type": "networkActivity"``: the app ``bundleID`` connected to ``domain`` (a name or an address):
  ``firstTimeStamp`` and ``timeStamp`` (first and latest connection), ``hits`` (how often in the last seven
  days), ``initiatedType`` (``AppInitiated``, or ``NonAppInitiated``: a page the user opened in an in-app
  browser, whose address is ``context``), ``domainOwner`` (as iOS names it, often empty) and ``domainType``
  (1: known to collect data across apps and sites, 2: not);
- ``"type": "access"``: the start or end (``kind``: ``intervalBegin``, ``intervalEnd``) of an app's
  (``accessor.identifier``) access to a resource (``category``: camera, contacts, location, ...).

Records of the iOS 15 betas (no ``type``; ``hasApp.bundleName``, ``timestamp``, ``tccService``) read alike.
Rows are aggregated per app, domain and initiator (per app and resource for accesses), so memory grows with
what the phone contacted, not with the file. A line that is no JSON object is one warning and marks the input
damaged at its offset (the rest is read); a file without any usable record is an ``InputError`` (exit 3).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from analysis.addresses import canonical
from analysis.catalog import normalize_name
from analysis.errors import InputError
from analysis.model import InputInfo

FORMAT = "app-privacy-report"
NETWORK, ACCESS = "networkActivity", "access"
APP_INITIATED, USER_INITIATED = "AppInitiated", "NonAppInitiated"
MAX_LINE = 1 << 20  # a record is a few hundred bytes; a longer line is damage
MAX_ROWS = 100_000  # aggregated rows kept (per app, domain and initiator; per app and resource)
MAX_TEXT = 512  # bundle ids, owners, contexts and resource names are cut to this
MAX_CONTEXTS = 8  # web pages kept per domain row
MAX_TYPES = 8  # other record types named in the warning


@dataclass(slots=True)
class DomainRow:
    """One app's connections to one domain, as the report counts them, for one initiator."""

    app: str  # bundle id
    domain: str  # lower case, no trailing dot; an address in canonical form
    initiated: str  # "AppInitiated" | "NonAppInitiated" | "" (not said)
    hits: int = 0
    first: float | None = None  # epoch seconds
    last: float | None = None
    owner: str = ""  # domainOwner
    tracker: bool = False  # domainType 1 in any record
    contexts: list[str] = field(default_factory=list)  # the web pages behind user-initiated connections
    records: int = 0

    @property
    def app_initiated(self) -> bool:
        """The app itself made the connection (user-initiated ones are pages opened in an in-app browser)."""
        return self.initiated != USER_INITIATED


@dataclass(slots=True)
class AccessRow:
    """One app's accesses to one resource (camera, contacts, location, ...)."""

    app: str
    category: str
    count: int = 0  # intervals begun (records, when the report says no kind)
    first: float | None = None
    last: float | None = None


@dataclass
class PrivacyReport:
    info: InputInfo
    domains: list[DomainRow] = field(default_factory=list)
    access: list[AccessRow] = field(default_factory=list)

    def apps(self) -> list[str]:
        """Every bundle id the report names, sorted."""
        return sorted({r.app for r in self.domains} | {r.app for r in self.access})

    def app_id(self, wanted: str) -> str | None:
        """The report's spelling of the bundle id ``wanted`` (exact, else ignoring case), or None."""
        apps = self.apps()
        if wanted in apps:
            return wanted
        low = wanted.lower()
        return next((a for a in apps if a.lower() == low), None)


def _time(value) -> float | None:
    """An ISO 8601 time (with offset or ``Z``; none is taken as UTC) as epoch seconds, else None."""
    if not isinstance(value, str) or not 10 <= len(value) <= 64:
        return None
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.timestamp()
    except (OverflowError, ValueError):
        return None


def _text(value) -> str:
    return " ".join(value.split())[:MAX_TEXT] if isinstance(value, str) else ""


def domain_key(value: str) -> str:
    """A domain as the report's rows keep it: an address in canonical form, else a lower-case name."""
    return canonical(value.strip().strip("[]")) or normalize_name(value)


def _hits(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        return 0
    return int(min(value, 1 << 53))


def _span(row, at: float | None) -> None:
    if at is not None:
        row.first = at if row.first is None else min(row.first, at)
        row.last = at if row.last is None else max(row.last, at)


class _Reader:
    """Aggregates the records of one file and counts what could not be read."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.domains: dict[tuple[str, str, str], DomainRow] = {}
        self.access: dict[tuple[str, str], AccessRow] = {}
        self.bad = 0  # lines that are no JSON object
        self.bad_at: tuple[int, int, str] | None = None  # (line, offset, why) of the first
        self.incomplete = 0  # records of a known type without the fields that make them usable
        self.incomplete_at = 0
        self.other_types: dict[str, int] = {}
        self.dropped = 0  # rows over MAX_ROWS

    def bad_line(self, number: int, offset: int, why: str) -> None:
        self.bad += 1
        if self.bad_at is None:
            self.bad_at = (number, offset, why)

    def record(self, rec: dict, number: int) -> None:
        kind = rec.get("type")
        if kind is None:  # the iOS 15 betas wrote no type
            kind = NETWORK if "domain" in rec else ACCESS if "accessor" in rec else None
        if kind == NETWORK:
            self._network(rec, number)
        elif kind == ACCESS:
            self._access(rec, number)
        else:
            name = _text(kind)[:40] if kind is not None else "(none)"
            if name in self.other_types or len(self.other_types) < MAX_TYPES:
                self.other_types[name] = self.other_types.get(name, 0) + 1
            else:
                self.other_types["…"] = self.other_types.get("…", 0) + 1

    def _skip(self, number: int) -> None:
        self.incomplete += 1
        self.incomplete_at = self.incomplete_at or number

    def _room(self, table: dict, key) -> bool:
        if key in table or len(self.domains) + len(self.access) < MAX_ROWS:
            return True
        self.dropped += 1
        return False

    def _network(self, rec: dict, number: int) -> None:
        app = _text(rec.get("bundleID") or rec.get("hasApp.bundleName"))
        domain = domain_key(rec["domain"]) if isinstance(rec.get("domain"), str) else ""
        if not app or not domain:
            self._skip(number)
            return
        initiated = _text(rec.get("initiatedType"))[:40]
        key = (app, domain, initiated)
        if not self._room(self.domains, key):
            return
        row = self.domains.get(key)
        if row is None:
            row = self.domains[key] = DomainRow(app, domain, initiated)
        row.records += 1
        row.hits += _hits(rec.get("hits"))
        _span(row, _time(rec.get("firstTimeStamp")))
        _span(row, _time(rec.get("timeStamp")))
        row.owner = row.owner or _text(rec.get("domainOwner"))
        row.tracker = row.tracker or rec.get("domainType") == 1
        context = _text(rec.get("context"))
        if context and context not in row.contexts and len(row.contexts) < MAX_CONTEXTS:
            row.contexts.append(context)

    def _access(self, rec: dict, number: int) -> None:
        accessor = rec.get("accessor")
        app = _text(accessor.get("identifier")) if isinstance(accessor, dict) else ""
        category = _text(rec.get("category") or rec.get("tccService"))[:80]
        if not app or not category:
            self._skip(number)
            return
        key = (app, category)
        if not self._room(self.access, key):
            return
        row = self.access.get(key)
        if row is None:
            row = self.access[key] = AccessRow(app, category)
        if rec.get("kind") != "intervalEnd":
            row.count += 1
        _span(row, _time(rec.get("timeStamp") or rec.get("timestamp")))

    def warnings(self) -> list[str]:
        out = []
        if self.bad_at is not None:
            number, offset, why = self.bad_at
            some = "1 line is" if self.bad == 1 else f"{self.bad} lines are"
            out.append(f"{some} not a JSON object (first: line {number}, offset {offset}: {why}); "
                       "the other lines were read")
        if self.incomplete:
            some = "1 record" if self.incomplete == 1 else f"{self.incomplete} records"
            out.append(f"{some} without an app or a domain (resource) skipped (first: line {self.incomplete_at})")
        if self.other_types:
            n = sum(self.other_types.values())
            types = ", ".join(sorted(self.other_types))
            out.append(f"{n} record{'s' if n != 1 else ''} of other types not read ({types})")
        if self.dropped:
            out.append(f"more than {MAX_ROWS} app and domain rows: {self.dropped} records not kept")
        return out


def _lines(fh, sha):
    """(line number, offset, bytes or None for an overlong line) of a binary file, hashing every byte."""
    offset, number = 0, 0
    while True:
        line = fh.readline(MAX_LINE + 1)
        if not line:
            return
        number += 1
        sha.update(line)
        start, size = offset, len(line)
        if size > MAX_LINE and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest of the overlong line
                line = fh.readline(MAX_LINE)
                sha.update(line)
                size += len(line)
            yield number, start, None
        else:
            yield number, start, line
        offset += size


def read_privacy_report(path: str) -> PrivacyReport:
    """The report at ``path``, aggregated; ``InputError`` when it cannot be read or holds no usable record."""
    reader = _Reader(path)
    sha = hashlib.sha256()
    lines = 0
    try:
        with open(path, "rb") as fh:
            for number, offset, raw in _lines(fh, sha):
                lines = number
                if raw is None:
                    reader.bad_line(number, offset, f"longer than {MAX_LINE} bytes")
                    continue
                if number == 1:
                    raw = raw.removeprefix(b"\xef\xbb\xbf")
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    reader.bad_line(number, offset + exc.start, "not UTF-8")
                    continue
                except (ValueError, RecursionError) as exc:
                    reader.bad_line(number, offset, getattr(exc, "msg", None) or "not JSON")
                    continue
                if not isinstance(rec, dict):
                    reader.bad_line(number, offset, "not a JSON object")
                    continue
                reader.record(rec, number)
    except OSError as exc:
        raise InputError(path, f"cannot read the App Privacy Report: {exc.strerror or exc}") from None
    if not reader.domains and not reader.access:
        what = f"none of its {lines} lines" if lines else "the file is empty: no line"
        raise InputError(path, f"not an App Privacy Report: {what} is a networkActivity or access record "
                               "(Settings > Privacy & Security > App Privacy Report > Save App Activity)")
    info = InputInfo(path=path, sha256=sha.hexdigest(), format=FORMAT, packets=0, warnings=reader.warnings())
    if reader.bad_at is not None:
        info.complete, info.error_offset = False, reader.bad_at[1]
    domains = sorted(reader.domains.values(), key=lambda r: (r.app, r.domain, r.initiated))
    access = sorted(reader.access.values(), key=lambda r: (r.app, r.category))
    return PrivacyReport(info, domains, access)
