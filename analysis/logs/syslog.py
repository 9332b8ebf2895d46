"""Timestamps at the start of a log line: BSD syslog (no year), RFC 5424, ISO 8601 and Exim's own format.

``split_timestamp(line)`` returns the timestamp (or None) and the rest of the line; ``Stamp.epoch(year)``
turns it into UTC epoch seconds. Times without a zone are taken as UTC (a stated assumption; shift them
with a clock offset). A zone of 24 hours or more, or a time outside the years 1-9999 in UTC, is a
``StampError``: the line is malformed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}

_BSD = re.compile(
    r"(?:<\d{1,3}>)?(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(?P<day>\d{1,2}) "
    r"(?:(?P<year>\d{4}) )?(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)(?P<frac>\.\d{1,9})?(?: (?P<year2>\d{4}))? +"
)
_ISO = re.compile(
    r"(?:<\d{1,3}>\d{1,2} )?(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)[T ](?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
    r"(?P<frac>[.,]\d{1,9})?(?P<tz>Z| ?[+-]\d\d:?\d\d)? +"
)


EARLIEST = datetime(1, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC).timestamp()  # a margin for float rounding


class StampError(ValueError):
    """A leading timestamp that cannot be a time: ``str()`` says why (one line)."""


def representable(t: float) -> bool:
    """Whether epoch seconds ``t`` can be written as a UTC date (years 1-9999); False for NaN."""
    return EARLIEST <= t <= LATEST


@dataclass(frozen=True, slots=True)
class Stamp:
    month: int
    day: int
    hour: int
    minute: int
    second: int
    micro: int = 0
    year: int | None = None  # None: a BSD syslog line, the year comes from elsewhere
    utc_offset: int | None = None  # seconds east of UTC; None: no zone given (taken as UTC)

    def epoch(self, year: int | None = None) -> float | None:
        """UTC epoch seconds; ``year`` fills in a missing year. None for an impossible date; StampError when
        the zone moves the time out of the years 1-9999 in UTC."""
        y = self.year if self.year is not None else year
        if y is None:
            return None
        try:
            dt = datetime(y, self.month, self.day, self.hour, self.minute, self.second, self.micro, UTC)
        except (ValueError, OverflowError):
            return None
        t = dt.timestamp() - (self.utc_offset or 0)
        if not representable(t):
            zone = zone_text(self.utc_offset) if self.utc_offset is not None else ""
            raise StampError(f"time {dt.isoformat()[:19]}{zone} is outside the years 1-9999 in UTC")
        return t


def _micro(frac: str | None) -> int:
    if not frac:
        return 0
    return int((frac[1:] + "000000")[:6])


def _offset(tz: str | None) -> int | None:
    """Seconds east of UTC; StampError for 24 hours or more, or 60 minutes or more."""
    if not tz:
        return None
    tz = tz.strip()
    if tz == "Z":
        return 0
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4])
    if hours > 23 or minutes > 59:
        raise StampError(f"time zone {tz} out of range (-23:59 to +23:59)")
    return sign * (hours * 3600 + minutes * 60)


def zone_text(seconds: int) -> str:
    """Seconds east of UTC as ``+HH:MM``."""
    sign, seconds = ("-" if seconds < 0 else "+"), abs(seconds)
    return f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def split_timestamp(line: str) -> tuple[Stamp | None, str]:
    """The leading timestamp of ``line`` and the text after it; (None, line) when there is none;
    StampError for a time zone out of range."""
    m = _ISO.match(line)
    if m:
        stamp = Stamp(
            int(m["mo"]),
            int(m["d"]),
            int(m["h"]),
            int(m["m"]),
            int(m["s"]),
            _micro(m["frac"]),
            int(m["y"]),
            _offset(m["tz"]),
        )
        return stamp, line[m.end() :]
    m = _BSD.match(line)
    if m:
        year = m["year"] or m["year2"]
        stamp = Stamp(
            MONTHS[m["mon"]],
            int(m["day"]),
            int(m["h"]),
            int(m["m"]),
            int(m["s"]),
            _micro(m["frac"]),
            int(year) if year else None,
        )
        return stamp, line[m.end() :]
    return None, line


@dataclass(slots=True)
class YearTracker:
    """Years for one file's year-less lines: from ``year``, counted up when December turns to January."""

    year: int
    last_month: int = 0
    rollovers: int = 0

    def year_for(self, stamp: Stamp) -> int:
        if stamp.year is not None:
            return stamp.year
        if self.last_month and stamp.month + 6 <= self.last_month:  # e.g. Dec -> Jan
            self.year += 1
            self.rollovers += 1
        self.last_month = stamp.month
        return self.year
