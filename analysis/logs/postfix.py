"""Postfix smtpd log lines: accepted clients with SASL logins, and failed SASL logins.

postfix/submission/smtpd[4711]: 5D2B21C0: client=unknown[192.0.2.7], sasl_method=PLAIN, sasl_username=lft2
postfix/smtpd[4711]: warning: unknown[192.0.2.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6
"""

from __future__ import annotations

import re

from analysis.logs.events import LogEvent, Noise, clip, port_number

_PROG = r"\bpostfix(?P<inst>-[\w-]{1,32})?(?:/(?P<svc>[\w-]{1,32}))?/smtpd(?:\[\d+\])?: "
_CLIENT = re.compile(
    _PROG + r"(?P<qid>[0-9A-Za-z]{5,20}): client=(?P<host>[^\[\s]{0,256})\[(?P<ip>[0-9A-Fa-f:.]{2,45})\]"
    r"(?::(?P<port>\d{1,5}))?(?P<rest>.*)$"
)
_SASL_METHOD = re.compile(r", sasl_method=(?P<v>[\w-]{1,64})")
_SASL_USER = re.compile(r", sasl_username=(?P<v>[^,\s]{1,256})")
_FAILED = re.compile(
    _PROG + r"warning: (?P<host>[^\[\s]{0,256})\[(?P<ip>[0-9A-Fa-f:.]{2,45})\](?::(?P<port>\d{1,5}))?: "
    r"SASL (?P<method>[\w-]{1,64}) authentication failed(?P<rest>.*)$"
)
_NOISE = re.compile(
    _PROG + r"(?:connect from|disconnect from|lost connection|Anonymous TLS|Trusted TLS|"
    r"Untrusted TLS|Verified TLS|NOQUEUE|timeout after)"
)


def _service(svc: str | None, authenticated: bool) -> str:
    if svc in ("submission", "smtps", "submissions") or authenticated:
        return "submission"
    return "smtp"



def parse(message: str) -> LogEvent | Noise | None:
    """One Postfix line (after the timestamp) -> an event, a Noise (recognised, no login) or None."""
    if "postfix" not in message:
        return None
    m = _CLIENT.search(message)
    if m:
        user = _SASL_USER.search(m["rest"])
        method = _SASL_METHOD.search(m["rest"])
        return LogEvent(
            kind="submission",
            software="postfix",
            service=_service(m["svc"], user is not None),
            account=clip(user["v"] if user else ""),
            address=m["ip"],
            port=port_number(m["port"]),
            method=method["v"] if method else "",
            tls=True if m["svc"] in ("smtps", "submissions") else None,
            session=m["qid"],
        )
    m = _FAILED.search(message)
    if m:
        user = _SASL_USER.search(m["rest"])
        return LogEvent(
            kind="failure",
            software="postfix",
            service=_service(m["svc"], True),
            account=clip(user["v"] if user else ""),
            address=m["ip"],
            port=port_number(m["port"]),
            method=m["method"],
        )
    if _NOISE.search(message):
        return Noise("no login")
    return None
