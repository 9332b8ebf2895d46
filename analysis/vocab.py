"""The words every layer shares: categories, app protocols, mail ports, channels and report languages.

One definition each (../shared/CONTRACTS.md fixes the words). The mail ports answer one question: which
app protocol a connection to a server port speaks when nothing inside it could be read. 2525 is the common
alternative submission port (providers open it where 25 and 587 are blocked); it counts as ``smtp``, a
send port, like 25.
"""

from __future__ import annotations

LANGS = ("en", "de")  # report languages; the first is the default

CATEGORIES = (
    "mail-host",
    "mail-relay",
    "other-mail",
    "auth",
    "telemetry",
    "crash-report",
    "diagnostics",
    "push",
    "cdn",
    "ads-analytics",
    "platform",
    "name-resolution",
    "unknown",
)

APP_PROTOCOLS = (
    "imap", "imaps", "pop3", "pop3s", "smtp", "submission", "smtps",
    "tls", "quic", "dns", "http", "other",
)
RECEIVE_PROTOCOLS = frozenset({"imap", "imaps", "pop3", "pop3s"})
SEND_PROTOCOLS = frozenset({"smtp", "submission", "smtps"})
MAIL_PROTOCOLS = RECEIVE_PROTOCOLS | SEND_PROTOCOLS
IMPLICIT_TLS = frozenset({"imaps", "pop3s", "smtps"})  # mail protocols that start with a TLS handshake
TLS_FORM = {"imap": "imaps", "pop3": "pop3s", "smtp": "smtps", "submission": "smtps"}  # the same inside TLS
UNSEEN = frozenset({"other", "tls", ""})  # app protocols that say nothing about what ran inside

MAIL_PORTS = {  # server port -> the app protocol it serves
    143: "imap",
    993: "imaps",
    110: "pop3",
    995: "pop3s",
    25: "smtp",
    465: "smtps",
    587: "submission",
    2525: "smtp",
}
DNS_PORTS = frozenset({53, 853, 5353, 5355})  # DNS, DNS over TLS, mDNS, LLMNR

CHANNELS = ("receive", "send")


def channel(app_protocol: str, port: int) -> str | None:
    """'receive', 'send' or None (not mail): by the protocol seen, else (nothing seen inside) by the port."""
    if app_protocol in UNSEEN:
        app_protocol = MAIL_PORTS.get(port, "")
    if app_protocol in RECEIVE_PROTOCOLS:
        return "receive"
    if app_protocol in SEND_PROTOCOLS:
        return "send"
    return None
