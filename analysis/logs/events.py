"""What the log parsers produce: login and submission events, and connections from netstat/ss snapshots."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.addresses import canonical
from analysis.logs.syslog import representable
from analysis.model import iso_utc
from analysis.vocab import MAIL_PORTS

SERVICES = ("imap", "pop3", "submission", "smtp")
MAX_FIELD = 256  # longest account, session id or method kept from a log line (untrusted text)


def clip(value: str | None, limit: int = MAX_FIELD) -> str:
    return (value or "")[:limit]


def port_number(value: str | None) -> int | None:
    """A port field of a log line as a number (None when absent or not a port)."""
    return int(value) if value and value.isascii() and value.isdigit() and int(value) < 65536 else None


def time_text(t: float | None) -> str | None:
    """A log time as ISO 8601 UTC text; None when there is none, or when a clock offset moved it out of the
    years 1-9999."""
    return iso_utc(t) if t is not None and representable(t) else None


def normalize_ip(text: str) -> str:
    """A logged client address in canonical text (analysis.addresses), or other text kept, cut to 64 characters."""
    return canonical(text) or clip(text, 64)


@dataclass(slots=True)
class LogEvent:
    """One login, failed login, mail submission or session end, as one log line reports it.

    kind: ``login`` (success), ``failure`` (a failed login; ``attempts`` when the server counts them),
    ``auth-failure`` (the auth process's own line for a failure, merged by session), ``submission``
    (a message accepted, authenticated when ``account`` is set), ``logout`` (a session ended).
    """

    kind: str
    software: str  # dovecot | cyrus | exim | postfix
    service: str  # imap | pop3 | submission | smtp
    account: str = ""
    address: str = ""  # the client's (source) address
    port: int | None = None
    method: str = ""  # SASL mechanism or login method
    tls: bool | None = None  # None: the line does not say
    session: str = ""
    attempts: int = 1
    time: float | None = None  # epoch seconds, UTC, as logged (before any clock offset)
    raw: str = ""  # the line, redacted
    path: str = ""
    line: int = 0

    @property
    def success(self) -> bool:
        return self.kind in ("login", "submission")

    def to_json(self, offset: float = 0.0) -> dict:
        return {
            "time": time_text(self.time + offset) if self.time is not None else None,
            "kind": self.kind,
            "software": self.software,
            "service": self.service,
            "account": self.account,
            "address": self.address,
            "port": self.port,
            "method": self.method,
            "tls": self.tls,
            "success": self.success,
            "session": self.session,
            "attempts": self.attempts,
            "file": self.path,
            "line": self.line,
            "raw": self.raw,
        }


@dataclass(frozen=True, slots=True)
class Noise:
    """A line a parser recognises that reports no login (e.g. a connection closed before any login)."""

    reason: str


@dataclass(slots=True)
class Connection:
    """One row of a netstat/ss snapshot: a TCP connection to one of the server's mail ports."""

    local: str
    local_port: int
    remote: str
    remote_port: int
    state: str
    path: str = ""
    line: int = 0
    raw: str = ""

    @property
    def service(self) -> str:
        return MAIL_PORTS.get(self.local_port, "")

    @property
    def established(self) -> bool:
        return self.state.upper() in ("ESTABLISHED", "ESTAB")
