"""Cyrus imapd/pop3d log lines: logins and bad logins.

imaps[68216]: login: [52.125.140.74] lft2 LOGIN+TLS User logged in SESSIONID=<host-68216-1598605676-1-72518>
imaps[4711]: login: client.example.net [192.0.2.7] lft2 plaintext+TLS User logged in
imaps[4711]: badlogin: [192.0.2.7] PLAIN [SASL(-13): authentication failure: checkpass failed]
pop3s[4711]: badlogin: client.example.net [192.0.2.7] plaintext lft2 SASL(-13): authentication failure: ...
"""

from __future__ import annotations

import re

from analysis.logs.events import LogEvent, clip

_PROG = r"(?:^|(?<=\s))(?P<prog>[\w./-]{0,64}?)(?:\[\d+\])?"
_LOGIN = re.compile(
    _PROG + r": login: (?:(?P<host>[^\s\[]+) )?\[(?P<ip>[0-9A-Fa-f:.]{2,45})\] (?P<user>\S{1,256}) "
    r"(?P<mech>\S{1,64}) User logged in(?: SESSIONID=<(?P<sid>[^>]{0,256})>)?"
)
_BADLOGIN = re.compile(
    _PROG
    + r": badlogin: (?:(?P<host>[^\s\[]+) )?\[(?P<ip>[0-9A-Fa-f:.]{2,45})\] (?P<mech>\S{1,64})(?P<rest>.*)$"
)


def _service(prog: str) -> str:
    return "pop3" if "pop3" in prog.lower() else "imap"


def _mech(text: str) -> tuple[str, bool]:
    """``LOGIN+TLS`` -> ("LOGIN", True)."""
    base, plus, extra = text.partition("+")
    return base, plus == "+" and extra.upper().startswith("TLS")


def _failed_user(rest: str) -> str:
    """The account a bad login tried, when Cyrus logs one (a bare word or ``(user)`` before the reason)."""
    token = rest.strip().split(" ", 1)[0] if rest.strip() else ""
    token = token.strip("()")
    if not token or token.startswith(("[", "SASL", '"')):
        return ""
    return token


def _event(kind: str, m: re.Match, account: str, session: str | None = None) -> LogEvent:
    """The event of a login or bad-login match: service and TLS from the program and the mechanism."""
    mech, tls = _mech(m["mech"])
    return LogEvent(kind=kind, software="cyrus", service=_service(m["prog"]), account=clip(account),
                    address=m["ip"], method=mech, tls=tls or m["prog"].endswith("s"), session=clip(session))


def parse(message: str) -> LogEvent | None:
    """One Cyrus line (after the timestamp) -> a login or failure event, or None."""
    if "login: " not in message:
        return None
    if m := _LOGIN.search(message):
        return _event("login", m, m["user"], m["sid"])
    if m := _BADLOGIN.search(message):
        return _event("failure", m, _failed_user(m["rest"]))
    return None
