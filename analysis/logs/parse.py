"""Read mail server logs and connection snapshots (plain or gzip) into events and connections.

``read_log(path, year, redactor)`` detects the file kind by content (netstat/ss snapshot or log), reads it
once, as a stream (a FIFO works), line by line with bounded line length, dispatches each log line to the
Dovecot, Cyrus, Exim and Postfix parsers, and counts what matched nothing or had an unreadable timestamp.
A damaged gzip yields what was read and a warning. ``LogFile.retime(year)`` times the year-less lines again
for another year without reading the file again.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from analysis.errors import InputError
from analysis.logs import cyrus, dovecot, exim, netstat, postfix
from analysis.logs.events import Connection, LogEvent, Noise, clip, normalize_ip
from analysis.logs.scrub import scrub
from analysis.logs.syslog import Stamp, StampError, YearTracker, representable, split_timestamp, zone_text
from analysis.redact import Redactor
from analysis.sharedpath import shared_path

MAX_LINE = 64 * 1024  # longer lines are cut (and counted)
PARSERS = (
    ("dovecot", dovecot.parse),
    ("cyrus", cyrus.parse),
    ("exim", exim.parse),
    ("postfix", postfix.parse),
)


@dataclass(frozen=True, slots=True)
class Damage:
    """Where a log stopped being readable: after ``line`` lines, and why (the warning it also gets)."""

    line: int
    reason: str

    def to_json(self) -> dict:
        return {"line": self.line, "reason": self.reason}


@dataclass
class LogFile:
    """One input file and what it gave; ``damage`` says where it could not be read to its end."""

    path: str
    sha256: str = ""
    kind: str = "log"  # log | netstat | ss
    compressed: bool = False
    lines: int = 0
    parsed: int = 0
    unmatched: int = 0
    software: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    damage: Damage | None = None
    events: list[LogEvent] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    yearless: int = 0  # lines whose timestamp had no year
    zoneless: int = 0  # lines whose timestamp had no time zone
    untimed: int = 0  # events on lines without a timestamp
    long_lines: int = 0  # lines cut at MAX_LINE
    bad_times: int = 0  # matched lines refused for an unreadable timestamp (counted as unmatched)
    zone: int | None = None  # seconds east of UTC the zone-less times were found to be in (Cyrus session ids)
    year_hint: int | None = None  # the year Cyrus session ids give, when it differs from the one used
    zoneless_stamps: list[tuple[LogEvent, Stamp]] = field(default_factory=list, repr=False)
    time_warnings: list[str] = field(default_factory=list)  # from timing the zone-less lines

    @property
    def complete(self) -> bool:
        return self.damage is None

    def damaged(self, reason: str) -> None:
        """The file could not be read past the lines counted so far: ``reason`` is a warning, and its damage
        unless an earlier one was found."""
        self.damage = self.damage or Damage(self.lines, reason)
        self.warnings.append(reason)

    def retime(self, year: int) -> None:
        """Time the zone-less lines (year-less ones in ``year``, counted up at each new year) and infer the
        zone from Cyrus session ids; called again with another year, it replaces the earlier result."""
        self.zone, self.year_hint, self.time_warnings = None, None, []
        tracker = YearTracker(year)
        for event, stamp in self.zoneless_stamps:
            try:
                event.time = stamp.epoch(tracker.year_for(stamp))
            except StampError:  # 9999-12-31T23:59:59.9995 and later: too close to the end of time
                event.time = None
        _infer_zone(self, [e for e, _ in self.zoneless_stamps])
        if tracker.rollovers:
            self.time_warnings.append(
                f"year-less timestamps passed from December to January {tracker.rollovers} time(s); "
                "the year was counted up"
            )

    def to_json(self) -> dict:
        """``damage`` ({line, reason}) only for a file that could not be read to its end."""
        out = {
            "path": self.path,
            "sha256": self.sha256,
            "kind": self.kind,
            "compressed": self.compressed,
            "lines": self.lines,
            "parsed": self.parsed,
            "unmatched": self.unmatched,
            "software": list(self.software),
            "complete": self.complete,
            "warnings": self.warnings + self.time_warnings,
            "zone": zone_text(self.zone) if self.zone is not None else None,
        }
        if self.damage is not None:
            out["damage"] = self.damage.to_json()
        return out


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
                e.time = e.time - zone if representable(e.time - zone) else None
        info.time_warnings.append(
            f"zone-less times read as UTC{zone_text(zone)}, as {len(deltas)} Cyrus session ids "
            "(which carry UTC) show"
        )


class _Hashing(io.RawIOBase):
    """A file read once, front to back, its SHA-256 taken on the way (a FIFO cannot be read twice)."""

    def __init__(self, raw) -> None:
        super().__init__()
        self._raw = raw
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        if n:
            self._digest.update(memoryview(buffer)[:n])
        return n or 0

    def close(self) -> None:
        self._raw.close()
        super().close()

    def hexdigest(self) -> str:
        """The digest of the whole file: what was not read yet is read (and hashed) first."""
        while self.read(1 << 20):
            pass
        return self._digest.hexdigest()


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
        what = "damaged gzip" if info.compressed else "read error"
        info.damaged(f"{what} after line {info.lines}: {exc or type(exc).__name__}; the lines before it were read")


def _open(path: str, info: LogFile) -> tuple[io.BufferedIOBase, _Hashing]:
    """The file's decoded byte stream (gunzipped when it starts with gzip's magic) and its hashing raw file."""
    try:
        raw = _Hashing(open(path, "rb", buffering=0))  # noqa: SIM115 - returned to the caller
    except OSError as exc:
        raise InputError(path, f"cannot read log: {exc.strerror}") from None
    fh = io.BufferedReader(raw, 1 << 16)
    try:
        magic = fh.peek(2)[:2]
    except OSError as exc:
        raw.close()
        raise InputError(path, f"cannot read log: {exc.strerror}") from None
    if magic == b"\x1f\x8b":
        info.compressed = True
        return gzip.GzipFile(fileobj=fh, mode="rb"), raw
    return fh, raw


def read_log(path: str, year: int, redactor: Redactor | None = None) -> LogFile:
    """Parse one log or snapshot file; ``year`` is used for year-less (BSD syslog) timestamps."""
    info = LogFile(path=shared_path(path))  # what reports show; errors below name ``path`` as typed
    stream, raw = _open(path, info)
    with raw:
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
            _read_log_lines(rows, info, redactor)
            info.retime(year)
        try:
            info.sha256 = raw.hexdigest()
        except OSError as exc:
            info.damaged(f"read error after line {info.lines}: {exc.strerror}; no SHA-256")
    if info.lines == 0:
        info.warnings.append("empty file")
    if info.long_lines > 1:
        info.warnings.append(f"{info.long_lines} lines longer than {MAX_LINE} bytes were cut")
    if info.bad_times > 1:
        info.warnings.append(f"{info.bad_times} lines with an unreadable timestamp were skipped")
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


def _read_log_lines(rows: Iterator[tuple[int, str]], info: LogFile, redactor: Redactor | None) -> None:
    """Events from the log lines; zone-less times are left to ``LogFile.retime``."""
    software: set[str] = set()
    for number, text in rows:
        if not text.strip():
            continue
        name, result = dispatch(text)  # the parsers search; the timestamp is read for matches only
        if result is None:
            info.unmatched += 1
            continue
        event = result if isinstance(result, LogEvent) else None
        stamp = None
        if event is not None:
            try:
                stamp, _ = split_timestamp(text)
                if stamp is not None and stamp.utc_offset is not None:
                    event.time = stamp.epoch()
            except StampError as exc:
                info.unmatched += 1
                if not info.bad_times:
                    info.warnings.append(f"line {number}: {exc}; line skipped")
                info.bad_times += 1
                continue
        info.parsed += 1
        software.add(name)
        if event is None:
            continue
        if stamp is None:
            info.untimed += 1
        elif stamp.utc_offset is None:
            info.zoneless += 1
            if stamp.year is None:
                info.yearless += 1
            info.zoneless_stamps.append((event, stamp))
        event.account = clip(redactor.text(event.account)) if redactor else event.account
        event.address = normalize_ip(event.address) if event.address else ""
        event.raw = scrub(text, redactor)
        event.path, event.line = info.path, number
        info.events.append(event)
    info.software = sorted(software)
