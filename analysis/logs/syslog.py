"""Timestamps at the start of a log line: BSD syslog (no year), RFC 5424, ISO 8601 and Exim's own format.

``split_timestamp(line)`` returns the timestamp (or None) and the rest of the line; ``Stamp.epoch(year)``
turns it into UTC epoch seconds. Times without a zone are taken as UTC (a stated assumption; shift them
with a clock offset).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

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
        """UTC epoch seconds; ``year`` fills in a missing year. None for an impossible date."""
        y = self.year if self.year is not None else year
        if y is None:
            return None
        tz = UTC if not self.utc_offset else timezone(timedelta(seconds=self.utc_offset))
        try:
            dt = datetime(y, self.month, self.day, self.hour, self.minute, self.second, self.micro, tz)
        except ValueError:
            return None
        return dt.timestamp()


def _micro(frac: str | None) -> int:
    if not frac:
        return 0
    return int((frac[1:] + "000000")[:6])


def _offset(tz: str | None) -> int | None:
    if not tz:
        return None
    tz = tz.strip()
    if tz == "Z":
        return 0
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


def split_timestamp(line: str) -> tuple[Stamp | None, str]:
    """The leading timestamp of ``line`` and the text after it; (None, line) when there is none."""
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
