"""Network clients the lab's apps and vendor use: IMAPS with IDLE, SMTP submission with STARTTLS, HTTPS, DNS.

Every connection starts from a chosen source address (the phone's, or the vendor's) and, for the proxy
variant, may go through a SOCKS5 proxy. All reads are bounded.
"""

from __future__ import annotations

import json
import secrets
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from analysis.lab import dnswire
from analysis.lab.socks import socks_connect

MAX_LINE = 8192
MAX_BODY = 1024 * 1024
TIMEOUT = 10.0


class LabClientError(OSError):
    """A lab server answered something unexpected."""


@dataclass(frozen=True, slots=True)
class Net:
    """Where connections come from and how they are made."""

    source: str  # bind address (the phone or the vendor)
    tls: ssl.SSLContext  # trusts the lab CA (and, for the proxy variant, mitmproxy's CA)
    proxy: tuple[str, int] | None = None  # SOCKS5 proxy for TCP

    def tcp(self, ip: str, port: int) -> socket.socket:
        if self.proxy:
            return socks_connect(self.proxy, ip, port, self.source, TIMEOUT)
        return socket.create_connection((ip, port), timeout=TIMEOUT, source_address=(self.source, 0))

    def tls_connect(self, name: str, ip: str, port: int) -> ssl.SSLSocket:
        raw = self.tcp(ip, port)
        try:
            return self.tls.wrap_socket(raw, server_hostname=name)
        except BaseException:
            raw.close()
            raise


def client_context(*ca_files: str, keylog: str | None = None) -> ssl.SSLContext:
    """Trusting the lab CA (and the proxy's); with ``keylog``, the TLS secrets are written there in the
    SSLKEYLOGFILE format, so ``maildetour analyze --keylog`` can look inside the app's TLS."""
    context = ssl.create_default_context(cafile=ca_files[0])
    for extra in ca_files[1:]:
        context.load_verify_locations(cafile=extra)
    if keylog:
        context.keylog_filename = keylog
    return context


def resolve(source: str, server: str, name: str, port: int = 53) -> str:
    """The first A record for ``name`` from the DNS server ``server`` (a real UDP query from ``source``)."""
    ident = secrets.randbelow(0x10000)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.bind((source, 0))
        sock.sendto(dnswire.build_query(ident, name), (server, port))
        data, _ = sock.recvfrom(dnswire.MAX_MESSAGE)
    answers = dnswire.parse_a_answers(data, ident)
    if not answers:
        raise LabClientError(f"DNS: no A record for {name}")
    return answers[0]


class _Lines:
    """Bounded line reader over a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise LabClientError("line too long")
            chunk = self.sock.recv(4096)
            if not chunk:
                raise LabClientError("connection closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def imap_session(net: Net, name: str, ip: str, port: int, user: str, password: str,
                 idle_seconds: float = 0.0) -> int:
    """Log in over IMAPS, select INBOX, fetch headers, optionally IDLE, log out; returns the message count."""
    with net.tls_connect(name, ip, port) as sock:
        reader = _Lines(sock)
        if not reader.line().startswith(b"* OK"):
            raise LabClientError("IMAP: no greeting")
        counter = 0

        def command(text: str) -> list[bytes]:
            nonlocal counter
            counter += 1
            tag = f"a{counter}".encode()
            sock.sendall(tag + b" " + text.encode() + b"\r\n")
            lines = []
            for _ in range(10000):
                line = reader.line()
                if line.startswith(tag + b" "):
                    if not line[len(tag) + 1:].startswith(b"OK"):
                        raise LabClientError(f"IMAP: {text.split()[0]} failed")
                    return lines
                lines.append(line)
            raise LabClientError("IMAP: response too long")

        command("CAPABILITY")
        command(f"LOGIN {_quote(user)} {_quote(password)}")
        exists = 0
        for line in command("SELECT INBOX"):
            parts = line.split()
            if len(parts) == 3 and parts[2] == b"EXISTS":
                exists = int(parts[1])
        if exists:
            command("FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])")
        if idle_seconds > 0:
            counter += 1
            tag = f"a{counter}".encode()
            sock.sendall(tag + b" IDLE\r\n")
            if not reader.line().startswith(b"+"):
                raise LabClientError("IMAP: IDLE refused")
            sock.settimeout(idle_seconds)
            try:
                reader.line()  # an untagged update, or the timeout
            except TimeoutError:
                pass
            sock.settimeout(TIMEOUT)
            sock.sendall(b"DONE\r\n")
            while not reader.line().startswith(tag + b" "):
                pass
        command("LOGOUT")
        return exists


class _LabSMTP(smtplib.SMTP):
    """smtplib that connects through ``Net`` to a fixed address while using the host name for TLS."""

    def __init__(self, net: Net, ip: str, local_hostname: str) -> None:
        self._net = net
        self._ip = ip
        super().__init__(local_hostname=local_hostname, timeout=TIMEOUT)

    def _get_socket(self, host, port, timeout):
        return self._net.tcp(self._ip, port)


def build_message(sender: str, recipient: str, subject: str, body: str, domain: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(body)
    return msg


def submit(net: Net, name: str, ip: str, port: int, user: str, password: str, message: EmailMessage,
           helo: str) -> None:
    """Submit one message: EHLO, STARTTLS, EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""
    smtp = _LabSMTP(net, ip, helo)
    smtp._host = name  # smtplib uses it as the TLS server name in starttls()
    try:
        smtp.connect(name, port)
        smtp.starttls(context=net.tls)
        smtp.login(user, password)
        smtp.send_message(message)
        smtp.quit()
    finally:
        smtp.close()


def https_json(net: Net, name: str, ip: str, method: str, path: str, body: dict | None = None,
               port: int = 443, user_agent: str = "maildetour-lab") -> tuple[int, dict]:
    """One HTTP/1.1 request over TLS (``Connection: close``); returns the status and the JSON body."""
    payload = json.dumps(body).encode() if body is not None else b""
    head = [f"{method} {path} HTTP/1.1", f"Host: {name}", f"User-Agent: {user_agent}",
            "Accept: application/json", "Connection: close"]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    with net.tls_connect(name, ip, port) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        data = b""
        while len(data) <= MAX_BODY:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    header, _, content = data.partition(b"\r\n\r\n")
    status_line = header.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise LabClientError(f"HTTP: no status line from {name}")
    try:
        parsed = json.loads(content) if content else {}
    except ValueError:
        raise LabClientError(f"HTTP: {name} did not answer JSON") from None
    return int(status_line[1]), parsed
