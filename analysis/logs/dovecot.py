"""Dovecot log lines: logins, failed logins (login and auth processes) and session ends.

    imap-login: Info: Login: user=<lft2>, method=PLAIN, rip=192.0.2.7, lip=10.0.0.5, mpid=47, TLS, session=<x>
    imap-login: Info: Disconnected: Aborted login (auth failed, 1 attempts in 2 secs): user=<lft2>, ...
    auth: Info: passwd-file(lft2,192.0.2.7,<x>): Password mismatch
    imap(lft2)<4711><x>: Info: Disconnected: Logged out in=32 out=788 ...

Works on the text after the timestamp, with or without syslog's host and ``dovecot:`` tag.
"""

from __future__ import annotations

import re

from analysis.logs.events import LogEvent, Noise, clip, port_number

_LOGIN_PROC = re.compile(r"\b(?P<svc>imap|pop3|submission|managesieve)-login: (?:Info: )?(?P<msg>.*)$")
_KV = re.compile(
    r"(?:^|, )(?:(?P<key>[a-z_]+)=(?:<(?P<bracketed>[^>]{0,512})>|(?P<value>[^,]*))|(?P<flag>[^,=]+))"
)
_ATTEMPTS = re.compile(r"auth failed, (\d+) attempts?")
_AUTH = re.compile(
    r"\bauth(?:-worker)?(?:\(\d+\))?: (?:Info: |Error: )?(?P<db>[\w-]+)\((?P<user>[^,()]*),(?P<ip>[^,()]*)"
    r"(?:,<(?P<sid>[^>]*)>)?\): (?P<msg>.*)$"
)
_AUTH_FAIL = (
    "password mismatch",
    "unknown user",
    "authentication failure",
    "pam_authenticate() failed",
    "invalid password",
    "user not known",
)
_SESSION_END = re.compile(
    r"\b(?P<svc>imap|pop3|submission|managesieve)\((?P<user>[^)]{0,256})\)(?:<\d+>)?(?:<(?P<sid>[^>]*)>)?: "
    r"(?:Info: )?Disconnected\b(?P<msg>.*)$"
)
_NO_LOGIN = ("Disconnected", "Aborted login", "Login aborted", "Maximum number of connections")
_SERVICE = {"imap": "imap", "pop3": "pop3", "submission": "submission", "managesieve": "imap"}


def _fields(text: str) -> tuple[dict[str, str], list[str]]:
    """``user=<x>, method=PLAIN, rip=..., TLS, session=<y>`` -> ({user: x, ...}, ["TLS"])."""
    values: dict[str, str] = {}
    flags: list[str] = []
    for m in _KV.finditer(text):
        if m["key"]:
            values.setdefault(m["key"], m["bracketed"] if m["bracketed"] is not None else (m["value"] or ""))
        elif m["flag"]:
            flags.append(m["flag"].strip())
    return values, flags


def _tls(flags: list[str]) -> bool:
    """``TLS`` (or ``TLS: ...``) says the session was encrypted; ``secured`` alone means a trusted network."""
    return any(f == "TLS" or f.startswith("TLS:") for f in flags)



def _login_event(kind: str, svc: str, kv_text: str, attempts: int = 1) -> LogEvent | None:
    values, flags = _fields(kv_text)
    if "rip" not in values:
        return None
    return LogEvent(
        kind=kind,
        software="dovecot",
        service=_SERVICE[svc],
        account=clip(values.get("user")),
        address=clip(values.get("rip"), 64),
        port=port_number(values.get("rport")),
        method=clip(values.get("method")),
        tls=_tls(flags),
        session=clip(values.get("session")),
        attempts=attempts,
    )


def parse(message: str) -> LogEvent | Noise | None:
    """One Dovecot line (after the timestamp) -> an event, a recognised non-login line, or None."""
    if "-login: " not in message and "auth" not in message and "Disconnected" not in message:
        return None
    m = _LOGIN_PROC.search(message)
    if m:
        svc, msg = m["svc"], m["msg"]
        if msg.startswith("Login: "):
            return _login_event("login", svc, msg[len("Login: ") :])
        failed = _ATTEMPTS.search(msg)
        start = msg.find("user=<")
        if failed and start >= 0:
            return _login_event("failure", svc, msg[start:], attempts=max(1, int(failed[1])))
        if msg.startswith(_NO_LOGIN):
            return Noise("connection without login")
        return None
    m = _AUTH.search(message)
    if m:
        if any(word in m["msg"].lower() for word in _AUTH_FAIL):
            return LogEvent(
                kind="auth-failure",
                software="dovecot",
                service="",
                account=clip(m["user"]),
                address=clip(m["ip"], 64),
                session=clip(m["sid"]),
            )
        return Noise("auth process message")
    m = _SESSION_END.search(message)
    if m:
        return LogEvent(
            kind="logout",
            software="dovecot",
            service=_SERVICE[m["svc"]],
            account=clip(m["user"]),
            session=clip(m["sid"]),
        )
    return None
