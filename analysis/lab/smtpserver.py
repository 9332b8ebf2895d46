"""The lab's SMTP submission server: aiosmtpd on port 587 with STARTTLS and AUTH, logging like Exim.

No packaged MTA runs unprivileged in a test without system-wide configuration, so the lab uses aiosmtpd
(a real SMTP implementation) and writes an Exim-style main log (``<=`` lines with ``H=``, ``P=esmtpsa``,
``A=plain:USER``), the log format the memo quotes. Mail is accepted and stored in a folder, never relayed.
"""

from __future__ import annotations

import hmac
import secrets
import ssl
import string
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

MAX_MESSAGE = 256 * 1024


def exim_time() -> str:
    """Exim's main log timestamp with ``log_timezone = true``."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


def message_id_for_log() -> str:
    """An Exim-looking message id (``1kBaNn-000JZF-ET``)."""
    alphabet = string.ascii_letters + string.digits
    part = "".join(secrets.choice(alphabet) for _ in range(6))
    return f"{part}-{secrets.randbelow(10**6):06d}-{''.join(secrets.choice(alphabet) for _ in range(2))}"


def _printable(text: str, limit: int = 200) -> str:
    """Network text made safe for one log line."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


@dataclass
class SubmissionLog:
    """Appends Exim-style lines to one file (thread-safe)."""

    path: Path
    _lock: threading.Lock = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{exim_time()} {line}\n")


class Authenticator:
    """Accepts exactly one user and password (the password comes from the environment, never a file)."""

    def __init__(self, username: str, password: str, log: SubmissionLog) -> None:
        self.username = username
        self._password = password.encode()
        self.log = log

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        ok = user == self.username and hmac.compare_digest(auth_data.password, self._password)
        if not ok:
            ip, port = session.peer[:2]
            helo = _printable(session.host_name or "")
            self.log.write(f"{mechanism.lower()} authenticator failed for ({helo}) "
                           f"[{ip}]:{port}: 535 Incorrect authentication data (set_id={_printable(user)})")
        return AuthResult(success=ok, auth_data=user if ok else None)


class StoreHandler:
    """Stores each accepted message in ``spool`` and logs it like Exim's ``<=`` line."""

    def __init__(self, spool: Path, log: SubmissionLog) -> None:
        self.spool = spool
        self.log = log

    async def handle_DATA(self, server, session, envelope) -> str:
        ip, port = session.peer[:2]
        msg_id = message_id_for_log()
        data = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        (self.spool / f"{msg_id}.eml").write_bytes(data[:MAX_MESSAGE])
        tls = ""
        if session.ssl:
            cipher = session.ssl.get("cipher") if isinstance(session.ssl, dict) else None
            tls = f" X={cipher[1]}:{cipher[0]}:{cipher[2]}" if cipher else " X=TLS"
        user = session.auth_data if isinstance(session.auth_data, str) else ""
        auth = f" A=plain:{_printable(user)}" if user else ""
        proto = "esmtp" + ("s" if session.ssl else "") + ("a" if user else "")
        self.log.write(
            f"{msg_id} <= {_printable(envelope.mail_from or '')} H=({_printable(session.host_name or '')}) "
            f"[{ip}]:{port} P={proto}{tls} CV=no{auth} S={len(data)}"
        )
        for rcpt in envelope.rcpt_tos[:20]:
            self.log.write(f"{msg_id} => {_printable(rcpt)} R=lab_store T=lab_spool")
        self.log.write(f"{msg_id} Completed")
        return "250 OK id=" + msg_id


def start_submission(address: str, port: int, cert: Path, key: Path, username: str, password: str,
                     log_path: Path, spool: Path, hostname: str) -> Controller:
    """Start the submission server in a background thread; ``.stop()`` ends it."""
    spool.mkdir(parents=True, exist_ok=True)
    log = SubmissionLog(log_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.num_tickets = 0  # no session tickets: smaller captures
    controller = Controller(
        StoreHandler(spool, log),
        hostname=address,
        port=port,
        server_hostname=hostname,
        ident="maildetour-lab ESMTP",
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=Authenticator(username, password, log),
        data_size_limit=MAX_MESSAGE,
        ready_timeout=10,
    )
    controller.start()
    return controller
