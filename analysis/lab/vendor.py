"""The lab's "vendor cloud": HTTPS services on their own addresses, like the memo's app vendor.

- ``sync`` (``sync.vendor.test``) receives the account's credentials from the app, then itself logs in to
  the mail host's IMAP server and submits mail over SMTP from the vendor's own address, and keeps polling
  the mailbox (the memo's servers kept logging in after the app was deleted);
- ``telemetry`` and ``crash`` accept event and crash-report uploads and keep nothing but a log line.

Requests are logged without bodies, so the password never reaches a file.
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from analysis.lab import clients

MAX_REQUEST = 64 * 1024
ROLES = ("sync", "telemetry", "crash")


@dataclass
class VendorConfig:
    role: str
    address: str  # listen and source address
    port: int
    cert: str
    key: str
    ca: str  # the lab CA, trusted when the vendor itself connects to the mail host
    dns: str  # the lab's DNS server, used to resolve the account's mail host
    log_path: str
    poll_interval: float = 0.5
    egress: str = ""  # source address of the vendor's own logins and submissions (default: ``address``)


@dataclass
class Account:
    username: str
    address: str
    password: str = field(repr=False)
    imap_host: str = ""
    imap_port: int = 993
    smtp_host: str = ""
    smtp_port: int = 587


class VendorState:
    """What the sync service knows: accounts by id; a poller thread per account."""

    def __init__(self, config: VendorConfig) -> None:
        self.config = config
        self.accounts: dict[str, Account] = {}
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.source = config.egress or config.address
        self.net = clients.Net(self.source, clients.client_context(config.ca))

    def log(self, line: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self.lock, open(self.config.log_path, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {self.config.role} {line}\n")

    def _resolve(self, name: str) -> str:
        return clients.resolve(self.source, self.config.dns, name)

    def fetch(self, account_id: str) -> int:
        acc = self.accounts[account_id]
        count = clients.imap_session(self.net, acc.imap_host, self._resolve(acc.imap_host), acc.imap_port,
                                     acc.username, acc.password)
        self.counts[account_id] = count
        self.log(f"imap-login account={account_id} host={acc.imap_host} messages={count}")
        return count

    def send(self, account_id: str, to: str, subject: str, body: str) -> None:
        acc = self.accounts[account_id]
        msg = clients.build_message(acc.address, to, subject, body, "sync.vendor.test")
        clients.submit(self.net, acc.smtp_host, self._resolve(acc.smtp_host), acc.smtp_port, acc.username,
                       acc.password, msg, helo="sync.vendor.test")
        self.log(f"smtp-submit account={account_id} host={acc.smtp_host}")

    def poll_forever(self, account_id: str) -> None:
        while not self.stop.wait(self.config.poll_interval):
            try:
                self.fetch(account_id)
            except OSError as exc:
                self.log(f"poll-error account={account_id} {type(exc).__name__}")


def _handler(state: VendorState) -> type[BaseHTTPRequestHandler]:
    role = state.config.role

    class Handler(BaseHTTPRequestHandler):
        server_version = f"vendor-{role}/1.0"
        sys_version = ""

        def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
            state.log(f"http {self.client_address[0]} " + (format % args).replace("\n", " ")[:300])

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict | None:
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                return None
            if not 0 <= length <= MAX_REQUEST:
                return None
            try:
                data = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return None
            return data if isinstance(data, dict) else None

        def do_GET(self) -> None:
            if role == "sync" and self.path.startswith("/v1/accounts/") and self.path.endswith("/messages"):
                account_id = self.path.split("/")[3]
                if account_id in state.accounts:
                    self._json(200, {"account": account_id, "messages": state.counts.get(account_id, 0)})
                    return
            self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = self._body()
            if body is None:
                self._json(400, {"error": "bad request"})
                return
            if role == "sync" and self.path == "/v1/accounts":
                self._add_account(body)
            elif role == "sync" and self.path.startswith("/v1/accounts/") and self.path.endswith("/send"):
                self._send(self.path.split("/")[3], body)
            elif role == "telemetry" and self.path == "/v1/events":
                self._json(200, {"accepted": len(body.get("events", []))})
            elif role == "crash" and self.path == "/api/crashes":
                self._json(200, {"id": "crash-1"})
            else:
                self._json(404, {"error": "not found"})

        def _add_account(self, body: dict) -> None:
            try:
                acc = Account(username=str(body["username"]), address=str(body["email"]),
                              password=str(body["password"]), imap_host=str(body["imap_host"]),
                              imap_port=int(body.get("imap_port", 993)), smtp_host=str(body["smtp_host"]),
                              smtp_port=int(body.get("smtp_port", 587)))
            except (KeyError, ValueError, TypeError):
                self._json(400, {"error": "incomplete account"})
                return
            account_id = f"acc{len(state.accounts) + 1}"
            state.accounts[account_id] = acc
            try:
                count = state.fetch(account_id)
            except OSError as exc:
                state.log(f"imap-error account={account_id} {type(exc).__name__}")
                self._json(502, {"error": "mail server login failed"})
                return
            threading.Thread(target=state.poll_forever, args=(account_id,), daemon=True).start()
            self._json(201, {"account": account_id, "messages": count})

        def _send(self, account_id: str, body: dict) -> None:
            if account_id not in state.accounts:
                self._json(404, {"error": "no such account"})
                return
            try:
                state.send(account_id, str(body.get("to", "")), str(body.get("subject", ""))[:200],
                           str(body.get("body", ""))[:10000])
            except (OSError, ValueError) as exc:
                state.log(f"smtp-error account={account_id} {type(exc).__name__}")
                self._json(502, {"error": "submission failed"})
                return
            self._json(202, {"queued": True})

    return Handler


class VendorServer:
    """One vendor service listening with TLS; ``serve_forever`` in a thread, ``close`` to stop."""

    def __init__(self, config: VendorConfig) -> None:
        if config.role not in ROLES:
            raise ValueError(f"unknown vendor role {config.role!r}")
        self.state = VendorState(config)
        Path(config.log_path).touch()
        self.httpd = ThreadingHTTPServer((config.address, config.port), _handler(self.state))
        self.httpd.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(config.cert, config.key)
        context.num_tickets = 0  # no session tickets: smaller captures, nothing resumes in the lab
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        self.state.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
