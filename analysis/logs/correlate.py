"""Tie the mail server's logs to the case and the capture: who logged in to the test account, from where.

``correlate_logs(...)`` returns the "mail server view" dict the report renders and the findings
``third-party-login``, ``login-after-removal`` and ``persistent-connection``; ``maildetour logs`` shows the same
view alone (analysis.pipeline.logs_view, rendered by analysis.report.logsview).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from analysis.addresses import canonical
from analysis.case import Case
from analysis.logs.events import Connection, LogEvent, time_text
from analysis.logs.parse import LogFile, read_log
from analysis.logs.syslog import representable
from analysis.model import Capture, Finding
from analysis.text import message, word

LONG_SESSION = 15 * 60  # a logged session at least this long counts as a connection held open
MAX_QUOTED = 20  # raw lines quoted per finding
MAX_EVENTS = 5000  # events listed in the view
NOT_IN_CATALOG = "not in any catalog"


@dataclass
class Origin:
    account: str
    address: str
    logins: int = 0
    submissions: int = 0
    failures: int = 0
    first: float | None = None
    last: float | None = None
    after_removal: int = 0
    services: set[str] = field(default_factory=set)
    software: set[str] = field(default_factory=set)
    events: list[LogEvent] = field(default_factory=list)

    failed_first: float | None = None
    failed_last: float | None = None

    @property
    def count(self) -> int:
        return self.logins + self.submissions

    def add_time(self, t: float | None, success: bool) -> None:
        """First/last cover the successful logins; an address with failures only gets their times."""
        if t is None:
            return
        if success:
            self.first = t if self.first is None else min(self.first, t)
            self.last = t if self.last is None else max(self.last, t)
        else:
            self.failed_first = t if self.failed_first is None else min(self.failed_first, t)
            self.failed_last = t if self.failed_last is None else max(self.failed_last, t)

    @property
    def span(self) -> tuple[float | None, float | None]:
        return (self.first, self.last) if self.count else (self.failed_first, self.failed_last)


@dataclass(frozen=True)
class Owner:
    owner: str
    category: str
    source: str
    in_catalog: bool
    asn: int | None = None  # the address's autonomous system (analysis.owners), None when unknown
    as_org: str = ""
    as_range: str = ""  # the range matched, "first – last"
    as_source: str = ""  # the AS data it came from


def resolve_year(year: int | None, case: Case | None, capture: Capture | None) -> tuple[int, str]:
    """The year for year-less syslog lines and where it comes from (a key of text.WORDS after ``year.``)."""
    if year:
        return year, "--year"
    for label, value in (
        ("account_added", getattr(case, "account_added", None)),
        ("app_removed", getattr(case, "app_removed", None)),
    ):
        if value is not None:
            return value.year, label
    times = [f.first_seen for f in (capture.flows if capture else []) if f.first_seen is not None]
    times = [t for t in times if representable(t)]
    if times:
        return datetime.fromtimestamp(min(times), UTC).year, "capture"
    return datetime.now(UTC).year, "now"


def _owner(catalog, address: str, asn_db=None) -> Owner:
    """The catalog's owner of ``address`` and, with ``asn_db`` (analysis.owners.AsnDatabase), its AS."""
    match = catalog.match_ip(address) if catalog is not None else None
    hit = asn_db.lookup(address) if asn_db is not None else None
    as_fields = (hit.asn, hit.org, hit.range, hit.source) if hit is not None else ()
    if match is None:
        return Owner(NOT_IN_CATALOG, "unknown", "", False, *as_fields)
    return Owner(match.owner, match.category, match.source, True, *as_fields)


def _devices(case: Case | None, capture: Capture | None, catalog) -> set[str]:
    """The case's device addresses and every client address in the capture, except clients the catalog
    names as a mail relay (a capture taken on the server side sees the vendor as a client)."""
    devices = set(getattr(case, "devices", []) or [])
    if capture is not None:
        for ip in {canonical(f.client.ip) or f.client.ip for f in capture.flows} - devices:
            if _owner(catalog, ip).category != "mail-relay":
                devices.add(ip)
    return devices


def _flows_with(capture: Capture | None, addresses: list[str]) -> list[int]:
    """Ids of capture flows with one of these (canonical) addresses at either end."""
    wanted = set(addresses)
    flows = capture.flows if capture is not None else []
    canon: dict[str, bool] = {}  # a capture's flows share few addresses

    def listed(ip: str) -> bool:
        found = canon.get(ip)
        if found is None:
            found = canon[ip] = (canonical(ip) or ip) in wanted
        return found

    return [f.id for f in flows if listed(f.client.ip) or listed(f.server.ip)][:200]


def _selected_accounts(case: Case | None, events: list[LogEvent]) -> list[str]:
    accounts = list(getattr(case, "accounts", []) or [])
    if accounts:
        return accounts
    return sorted({e.account.lower() for e in events if e.account and e.kind != "logout"})


def _origins(
    events: list[LogEvent], accounts: set[str], offset: float, removed: float | None
) -> list[Origin]:
    """Per (account, source address): successes, failures, first/last, logins after removal."""
    table: dict[tuple[str, str], Origin] = {}
    failure_sessions = {e.session for e in events if e.kind == "failure" and e.session}
    for e in events:
        account = e.account.lower()
        if account not in accounts or not e.address or e.kind == "logout":
            continue
        if e.kind == "auth-failure" and e.session in failure_sessions:
            continue  # the login process already reported this failure
        origin = table.setdefault((account, e.address), Origin(account, e.address))
        t = e.time + offset if e.time is not None else None
        origin.events.append(e)
        origin.software.add(e.software)
        if e.service:
            origin.services.add(e.service)
        if e.success:
            if e.kind == "login":
                origin.logins += 1
            else:
                origin.submissions += 1
            origin.add_time(t, True)
            if removed is not None and t is not None and t > removed:
                origin.after_removal += 1
        else:
            origin.failures += e.attempts
            origin.add_time(t, False)
    return sorted(table.values(), key=lambda o: (o.account, o.span[0] or 0, o.address))


def _long_sessions(events: list[LogEvent]) -> list[tuple[LogEvent, float, bool]]:
    """(login, seconds, still open at the end of the log) for Dovecot sessions of at least LONG_SESSION."""
    ends = {e.session: e for e in events if e.kind == "logout" and e.session}
    last_time = max((e.time for e in events if e.time is not None), default=None)
    out = []
    for e in events:
        if e.kind != "login" or not e.session or e.time is None:
            continue
        end = ends.get(e.session)
        if end is not None and end.time is not None:
            seconds, still_open = end.time - e.time, False
        elif end is None and e.software == "dovecot" and last_time is not None:
            seconds, still_open = last_time - e.time, True
        else:
            continue
        if seconds >= LONG_SESSION:
            out.append((e, seconds, still_open))
    return out


@dataclass(frozen=True, slots=True)
class Login:
    """A successful login or submission to the test account, as the relay evidence (analysis.relays) uses it."""

    account: str
    address: str
    time: float | None  # epoch seconds, UTC, the log offset applied
    kind: str  # login | submission
    service: str
    raw: str  # the line, redacted
    file: str = ""
    line: int = 0


@dataclass
class Correlation:
    """What :func:`correlate_logs` found: the view, its findings, the test account's successful logins (in
    time order) and the addresses taken as the device's."""

    view: dict
    findings: list[Finding]
    logins: list[Login]
    devices: set[str]


def correlate_logs(
    log_paths: list[str],
    case: Case | None,
    capture: Capture | None,
    catalog,
    offset: float = 0.0,
    year: int | None = None,
    lang: str = "en",
    asn_db=None,
) -> Correlation:
    """The mail server view, its findings and the logins of the case's account (none when the case names no
    account); ``offset`` seconds are added to every log time. ``asn_db``: the AS data for the login origins
    (default: the bundled data)."""
    if asn_db is None:
        from analysis.owners import AsnDatabase

        asn_db = AsnDatabase.load()
    redactor = case.redactor() if case is not None else None
    used_year, year_from = resolve_year(year, case, capture)
    files = [read_log(p, used_year, redactor) for p in log_paths]
    hints = sorted({f.year_hint for f in files if f.year_hint})
    notes = []
    if len(hints) == 1 and year_from != "--year":  # the log's own evidence beats a guess
        used_year, year_from = hints[0], "cyrus"
        for f in files:
            f.retime(used_year)
    elif hints:
        notes.append(word("assume.year-hint", lang, years=", ".join(map(str, hints))))
    events = sorted((e for f in files for e in f.events), key=lambda e: (e.time is None, e.time or 0.0))
    accounts = _selected_accounts(case, events)
    removed = case.app_removed.timestamp() if case is not None and case.app_removed else None
    devices = _devices(case, capture, catalog)
    device_known = bool(devices)
    owners: dict[str, Owner] = {}

    def owner(address: str) -> Owner:
        if address not in owners:
            owners[address] = _owner(catalog, address, asn_db)
        return owners[address]

    def third_party(address: str) -> bool:
        return address not in devices and (device_known or owner(address).in_catalog)

    origins = _origins(events, set(accounts), offset, removed)
    connections = [c for f in files for c in f.connections]
    view = {
        "logs": [f.to_json() for f in files],
        "log_offset": offset,
        "accounts": accounts,
        "year": used_year,
        "assumptions": _assumptions(
            files, offset, used_year, year_from, device_known, capture is not None, lang
        )
        + notes,
        "origins": [_origin_json(o, owner(o.address), o.address in devices, removed) for o in origins],
        "connections": [_connection_json(c, owner(c.remote), c.remote in devices) for c in connections],
        "events": [
            e.to_json(offset)
            for e in events
            if e.account.lower() in accounts or (e.kind == "logout" and not accounts)
        ][:MAX_EVENTS],
    }
    findings: list[Finding] = []
    for account in accounts:
        mine = [o for o in origins if o.account == account]
        findings += _third_party_finding(
            account,
            [o for o in mine if o.count and third_party(o.address)],
            owner,
            device_known,
            lang,
        )
        findings += _after_removal_finding(account, mine, case, offset, lang)
    findings += _snapshot_findings(files, owner, third_party, lang)
    findings += _session_findings(events, set(accounts), owner, third_party, lang)
    for finding in findings:
        finding.flows = _flows_with(
            capture, finding.details.get("addresses") or finding.details.get("remotes") or []
        )
    return Correlation(view, findings, _logins(origins, case, offset), devices)


def _logins(origins: list[Origin], case: Case | None, offset: float) -> list[Login]:
    """The successful logins and submissions of the case's own account, in time order."""
    if case is None or not case.accounts:
        return []
    logins = [
        Login(o.account, o.address, e.time + offset if e.time is not None else None, e.kind, e.service, e.raw,
              e.path, e.line)
        for o in origins
        for e in o.events
        if e.success
    ]
    return sorted(logins, key=lambda x: (x.time is None, x.time or 0.0))


def _origin_json(o: Origin, own: Owner, is_device: bool, removed: float | None) -> dict:
    return {
        "account": o.account,
        "address": o.address,
        "owner": own.owner,
        "category": own.category,
        "catalog_source": own.source,
        "in_catalog": own.in_catalog,
        "asn": own.asn,
        "as_org": own.as_org,
        "as_range": own.as_range,
        "as_source": own.as_source,
        "first": time_text(o.span[0]),
        "last": time_text(o.span[1]),
        "count": o.count,
        "logins": o.logins,
        "submissions": o.submissions,
        "failures": o.failures,
        "is_device": is_device,
        "after_removal": bool(o.after_removal),
        "after_removal_count": o.after_removal,
        "services": sorted(o.services),
        "software": sorted(o.software),
    }


def _connection_json(c: Connection, own: Owner, is_device: bool) -> dict:
    return {
        "file": c.path,
        "line": c.line,
        "local": c.local,
        "remote": c.remote,
        "remote_port": c.remote_port,
        "remote_owner": own.owner,
        "remote_asn": own.asn,
        "remote_as_org": own.as_org,
        "category": own.category,
        "port": c.local_port,
        "service": c.service,
        "state": c.state,
        "is_device": is_device,
    }


def _assumptions(
    files: list[LogFile],
    offset: float,
    year: int,
    year_from: str,
    device_known: bool,
    with_capture: bool,
    lang: str,
) -> list[str]:
    out = []
    if offset:
        out.append(word("assume.offset", lang, offset=f"{offset:+g}"))
    elif with_capture:
        out.append(word("assume.no-offset", lang))
    if any(f.yearless for f in files):
        out.append(word("assume.year", lang, year=year, source=word(f"year.{year_from}", lang)))
    if any(f.zoneless and f.zone is None for f in files):
        out.append(word("assume.utc", lang))
    if not device_known:
        out.append(word("assume.no-device", lang))
    return out


def address_filter(addresses: list[str]) -> str:
    """A Wireshark display filter for any packet to or from these addresses (IPv4 and IPv6); ``==`` joined by
    ``||`` works in every Wireshark version (set syntax changed in 4.0)."""
    return " || ".join(f"{'ipv6' if ':' in a else 'ip'}.addr=={a}" for a in addresses[:64])


def _quote(events: list[LogEvent]) -> list[str]:
    return [e.raw for e in events[:MAX_QUOTED]]


def _third_party_finding(
    account: str, origins: list[Origin], owner, device_known: bool, lang: str
) -> list[Finding]:
    if not origins:
        return []
    successes = [[e for e in o.events if e.success] for o in origins]
    firsts = [s[0] for s in successes]  # one line per address first, then the rest
    rest = [e for s in successes for e in s[1:]]
    details = {
        "account": account,
        "count": sum(o.count for o in origins),
        "n_addresses": len(origins),
        "addresses": [o.address for o in origins],
        "owners": sorted({owner(o.address).owner for o in origins}),
        "first": time_text(min((o.first for o in origins if o.first is not None), default=None)),
        "last": time_text(max((o.last for o in origins if o.last is not None), default=None)),
        "device_known": device_known,
        "services": sorted({s for o in origins for s in o.services}),
    }
    return [
        Finding(
            kind="third-party-login",
            severity="high",
            message=message("third-party-login", lang, **details),
            log_lines=_quote(firsts + rest),
            wireshark_filter=address_filter(details["addresses"]),
            details=details,
        )
    ]


def _after_removal_finding(
    account: str, origins: list[Origin], case: Case | None, offset: float, lang: str
) -> list[Finding]:
    if case is None or case.app_removed is None:
        return []
    removed = case.app_removed.timestamp()
    late = [
        e for o in origins for e in o.events if e.success and e.time is not None and e.time + offset > removed
    ]
    if not late:
        return []
    late.sort(key=lambda e: e.time or 0.0)
    details = {
        "account": account,
        "removed": case.app_removed.isoformat(),
        "count": len(late),
        "addresses": sorted({e.address for e in late}),
        "first": time_text(late[0].time + offset),
        "last": time_text(late[-1].time + offset),
    }
    return [
        Finding(
            kind="login-after-removal",
            severity="high",
            message=message("login-after-removal", lang, **details),
            log_lines=_quote(late),
            wireshark_filter=address_filter(details["addresses"]),
            details=details,
        )
    ]


def _snapshot_findings(files: list[LogFile], owner, third_party, lang: str) -> list[Finding]:
    findings = []
    for f in files:
        held = [c for c in f.connections if c.established and third_party(c.remote)]
        if not held:
            continue
        details = {
            "source": "snapshot",
            "file": f.path,
            "count": len(held),
            "remotes": sorted({c.remote for c in held}),
            "holders": sorted({owner(c.remote).owner for c in held}),
            "ports": sorted({c.local_port for c in held}),
        }
        findings.append(
            Finding(
                kind="persistent-connection",
                severity="medium",
                message=message("persistent-connection", lang, **details),
                log_lines=[c.raw for c in held[:MAX_QUOTED]],
                wireshark_filter=address_filter(details["remotes"]),
                details=details,
            )
        )
    return findings


def _session_findings(
    events: list[LogEvent], accounts: set[str], owner, third_party, lang: str
) -> list[Finding]:
    sessions = [
        (e, s, o)
        for e, s, o in _long_sessions(events)
        if e.account.lower() in accounts and third_party(e.address)
    ]
    if not sessions:
        return []
    by_address: dict[str, list] = defaultdict(list)
    for item in sessions:
        by_address[item[0].address].append(item)
    details = {
        "source": "log",
        "count": len(sessions),
        "remotes": sorted(by_address),
        "holders": sorted({owner(a).owner for a in by_address}),
        "ports": sorted({e.service for e, _, _ in sessions}),
        "longest_minutes": round(max(s for _, s, _ in sessions) / 60),
        "still_open": sum(1 for _, _, o in sessions if o),
    }
    return [
        Finding(
            kind="persistent-connection",
            severity="medium",
            message=message("persistent-connection", lang, **details),
            log_lines=[e.raw for e, _, _ in sessions[:MAX_QUOTED]],
            wireshark_filter=address_filter(details["remotes"]),
            details=details,
        )
    ]
