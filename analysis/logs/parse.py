"""Read mail server logs and connection snapshots (plain or gzip) into events and connections.

``read_log(path, year, redactor)`` detects the file kind by content (netstat/ss snapshot or log), reads it
line by line with bounded line length, dispatches each log line to the Dovecot, Cyrus, Exim and Postfix
parsers, and counts what matched nothing. A damaged gzip yields what was read and a warning.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from analysis.errors import InputError
from analysis.logs import cyrus, dovecot, exim, netstat, postfix
from analysis.logs.events import Connection, LogEvent, Noise, clip, normalize_ip
from analysis.logs.scrub import scrub
from analysis.logs.syslog import YearTracker, split_timestamp
from analysis.redact import Redactor

MAX_LINE = 64 * 1024  # longer lines are cut (and counted)
PARSERS = (
    ("dovecot", dovecot.parse),
    ("cyrus", cyrus.parse),
    ("exim", exim.parse),
    ("postfix", postfix.parse),
)


@dataclass
class LogFile:
    """One input file and what it gave."""

    path: str
    sha256: str = ""
    kind: str = "log"  # log | netstat | ss
    compressed: bool = False
    lines: int = 0
    parsed: int = 0
    unmatched: int = 0
    software: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True
    events: list[LogEvent] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    yearless: int = 0  # lines whose timestamp had no year
    zoneless: int = 0  # lines whose timestamp had no time zone
    untimed: int = 0  # events on lines without a timestamp
    long_lines: int = 0  # lines cut at MAX_LINE
    zone: int | None = None  # seconds east of UTC the zone-less times were found to be in (Cyrus session ids)
    year_hint: int | None = None  # the year Cyrus session ids give, when it differs from the one used

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "kind": self.kind,
            "compressed": self.compressed,
            "lines": self.lines,
            "parsed": self.parsed,
            "unmatched": self.unmatched,
            "software": list(self.software),
            "complete": self.complete,
            "warnings": list(self.warnings),
            "zone": _zone_text(self.zone) if self.zone is not None else None,
        }


def _zone_text(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    return f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


_CYRUS_SESSION = re.compile(r"\d{1,10}-(?P<epoch>1\d{9})-\d{1,6}-\d{1,24}$")
MAX_ZONE = 14 * 3600


def _infer_zone(info: LogFile, zoneless: list[LogEvent]) -> None:
    """Cyrus SESSIONIDs carry the session's UTC start (``host-pid-EPOCH-n-random``): when every zone-less
    Cyrus login agrees on a whole quarter-hour offset, shift the file's zone-less times to true UTC."""
    deltas = []
    for e in zoneless:
        m = _CYRUS_SESSION.search(e.session) if e.software == "cyrus" and e.time is not None else None
        if m:
            deltas.append((e.time or 0.0) - int(m["epoch"]))
    if not deltas:
        return
    deltas.sort()
    median = deltas[len(deltas) // 2]
    zone = int(round(median / 900) * 900)
    if any(abs(d - zone) > 600 for d in deltas):
        return
    if abs(zone) > MAX_ZONE:  # the year is wrong, not the zone
        first = min(zoneless, key=lambda e: e.time or 0.0)
        m = _CYRUS_SESSION.search(first.session or "")
        if m:
            info.year_hint = datetime.fromtimestamp(int(m["epoch"]), UTC).year
        return
    info.zone = zone
    if zone:
        for e in zoneless:
            if e.time is not None:
                e.time -= zone
        info.warnings.append(
            f"zone-less times read as UTC{_zone_text(zone)}, as {len(deltas)} Cyrus session ids "
            "(which carry UTC) show"
        )


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _lines(fh, info: LogFile) -> Iterator[str]:
    """Decoded lines, each at most MAX_LINE characters; a damaged gzip stops with a warning."""
    try:
        while True:
            raw = fh.readline(MAX_LINE)
            if not raw:
                return
            if len(raw) >= MAX_LINE and not raw.endswith(b"\n"):
                while (rest := fh.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    pass
                if not info.long_lines:
                    info.warnings.append(f"line {info.lines + 1}: longer than {MAX_LINE} bytes, cut")
                info.long_lines += 1
            info.lines += 1
            yield raw.decode("utf-8", "replace").rstrip("\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        info.complete = False
        what = "damaged gzip" if info.compressed else "read error"
        info.warnings.append(
            f"{what} after line {info.lines}: {exc or type(exc).__name__}; the lines before it were read"
        )


def _open(path: str, info: LogFile):
    try:
        fh = open(path, "rb")  # noqa: SIM115 - returned to the caller
        magic = fh.read(2)
    except OSError as exc:
        raise InputError(path, f"cannot read log: {exc.strerror}") from None
    fh.seek(0)
    if magic == b"\x1f\x8b":
        info.compressed = True
        return gzip.GzipFile(fileobj=fh, mode="rb"), fh
    return fh, fh


def read_log(path: str, year: int, redactor: Redactor | None = None) -> LogFile:
    """Parse one log or snapshot file; ``year`` is used for year-less (BSD syslog) timestamps."""
    info = LogFile(path=path)
    stream, raw = _open(path, info)
    with raw:
        info.sha256 = _sha256(path)
        lines = _lines(stream, info)
        head: list[str] = []
        for text in lines:
            head.append(text)
            if len(head) >= 20:
                break
        sample = "".join(head)
        if sample.count("\x00") * 10 > len(sample):  # a stray NUL run (after a crash) is fine, binary is not
            raise InputError(path, "not a text log or snapshot (binary data)", 0)
        kind = netstat.sniff(head)
        info.kind = kind or "log"
        rows = _chain(head, lines)
        if kind:
            _read_snapshot(rows, info, redactor)
        else:
            _read_log_lines(rows, info, year, redactor)
    if info.lines == 0:
        info.warnings.append("empty file")
    if info.long_lines > 1:
        info.warnings.append(f"{info.long_lines} lines longer than {MAX_LINE} bytes were cut")
    return info


def _chain(head: list[str], rest: Iterator[str]) -> Iterator[tuple[int, str]]:
    """(line number, text) for the sniffed head and the rest, without NUL bytes."""
    n = 0
    for part in (head, rest):
        for text in part:
            n += 1
            yield n, text.replace("\x00", "") if "\x00" in text else text


def _read_snapshot(rows: Iterator[tuple[int, str]], info: LogFile, redactor: Redactor | None) -> None:
    for number, text in rows:
        conn = netstat.parse_row(text)
        if conn is None:
            if text.strip():
                info.unmatched += 1
            continue
        info.parsed += 1
        if netstat.is_mail_server_side(conn):
            conn.path, conn.line, conn.raw = info.path, number, scrub(text.strip(), redactor)
            info.connections.append(conn)
    info.software = [info.kind]


def dispatch(message: str) -> tuple[str, LogEvent | Noise | None]:
    """The first parser that recognises the log line: (software, result)."""
    for name, parser in PARSERS:
        result = parser(message)
        if result is not None:
            return name, result
    return "", None


def _read_log_lines(
    rows: Iterator[tuple[int, str]], info: LogFile, year: int, redactor: Redactor | None
) -> None:
    tracker = YearTracker(year)
    software: set[str] = set()
    zoneless: list[LogEvent] = []
    for number, text in rows:
        if not text.strip():
            continue
        name, result = dispatch(text)  # the parsers search; the timestamp is read for matches only
        if result is None:
            info.unmatched += 1
            continue
        info.parsed += 1
        software.add(name)
        if isinstance(result, Noise):
            continue
        event: LogEvent = result
        stamp, _ = split_timestamp(text)
        if stamp is None:
            info.untimed += 1
        else:
            if stamp.year is None:
                info.yearless += 1
            event.time = stamp.epoch(tracker.year_for(stamp))
            if stamp.utc_offset is None:
                info.zoneless += 1
                zoneless.append(event)
        event.account = clip(redactor.text(event.account)) if redactor else event.account
        event.address = normalize_ip(event.address) if event.address else ""
        event.raw = scrub(text, redactor)
        event.path, event.line = info.path, number
        info.events.append(event)
    info.software = sorted(software)
    _infer_zone(info, zoneless)
    if tracker.rollovers:
        info.warnings.append(
            f"year-less timestamps passed from December to January {tracker.rollovers} time(s); "
            "the year was counted up"
        )
