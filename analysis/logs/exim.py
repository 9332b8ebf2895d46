"""Exim main log lines: messages received (``<=``) and failed SMTP AUTH.

    1kBaNn-000JZF-ET <= lft2@example.org H=(mail.outlook.com) [52.125.140.74]:36622 P=esmtpsa L- X=TLS1.2:...
        A=sasl_login:lft2 S=1242 id=...
    login authenticator failed for (helo) [192.0.2.7]:5123: 535 Incorrect authentication data (set_id=lft2)

``A=`` (an authenticated sender) makes it a submission for that account; without it, inbound SMTP.
"""

from __future__ import annotations

import re

from analysis.logs.events import LogEvent, Noise, clip, port_number
from analysis.vocab import MAIL_PORTS

_RECEIVED = re.compile(
    r"\b(?P<id>[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}) <= (?P<sender>\S{0,512}) (?P<rest>.*)$"
)
_HOST = re.compile(
    r"\bH=(?:[^\s\[(]+ )?(?:\([^)]{0,256}\) )?\[(?P<ip>[0-9A-Fa-f:.]{2,45})\](?::(?P<port>\d{1,5}))?"
)
_AUTH = re.compile(r"\bA=(?P<auth>[^:\s]{1,64})(?::(?P<user>\S{1,256}))?")
_PROTO = re.compile(r"\bP=(?P<proto>\S{1,32})")
_TLS = re.compile(r"\bX=\S")
_IFACE = re.compile(r"\bI=\[[^\]]{2,45}\]:(?P<port>\d{1,5})")
_AUTH_FAILED = re.compile(
    r"\b(?P<auth>[\w-]{1,64}) authenticator failed for (?:[^\s\[(]+ )?(?:\([^)]{0,256}\) )?"
    r"\[(?P<ip>[0-9A-Fa-f:.]{2,45})\](?::(?P<port>\d{1,5}))?: "
    r"(?P<msg>.*?)(?: \(set_id=(?P<user>[^)]{0,256})\))?$"
)
_NOISE = (
    "no host name found for IP address",
    "SMTP command timeout",
    "SMTP connection from",
    "Completed",
    "=> ",
    "-> ",
    "** ",
    "== ",
    "TLS error on connection",
)
_SUBMISSION_PORTS = {str(port) for port, word in MAIL_PORTS.items() if word in ("submission", "smtps")}



def _method(auth: str) -> str:
    """Exim names authenticators freely; ``sasl_login``/``dovecot_plain`` -> ``LOGIN``/``PLAIN``."""
    for mech in ("plain", "login", "cram_md5", "cram-md5", "xoauth2", "scram"):
        if mech in auth.lower():
            return mech.upper().replace("_", "-")
    return auth


def parse(message: str) -> LogEvent | Noise | None:
    """One Exim line (after the timestamp) -> an event, a Noise (recognised, no login) or None."""
    m = _RECEIVED.search(message) if " <= " in message else None
    if m:
        rest = m["rest"]
        host = _HOST.search(rest)
        if not host:
            return Noise("local submission")
        auth = _AUTH.search(rest)
        proto = _PROTO.search(rest)
        iface = _IFACE.search(rest)
        submission = bool(auth) or (iface is not None and iface["port"] in _SUBMISSION_PORTS)
        return LogEvent(
            kind="submission",
            software="exim",
            service="submission" if submission else "smtp",
            account=clip(auth["user"] if auth else ""),
            address=host["ip"],
            port=port_number(host["port"]),
            method=_method(auth["auth"]) if auth else "",
            tls=bool(_TLS.search(rest)) or bool(proto and "s" in proto["proto"][4:]),
            session=m["id"],
        )
    m = _AUTH_FAILED.search(message) if "authenticator failed" in message else None
    if m:
        return LogEvent(
            kind="failure",
            software="exim",
            service="submission",
            account=clip(m["user"]),
            address=m["ip"],
            port=port_number(m["port"]),
            method=_method(m["auth"]),
        )
    if any(n in message for n in _NOISE):
        return Noise("no login")
    return None
