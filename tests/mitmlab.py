"""Test helpers for the mitmproxy addon: a real mitmdump, a local HTTPS server, clients through SOCKS5.

Everything listens on 127.0.0.0/8 on free ports; processes are stopped by their own pid.
"""

from __future__ import annotations

import imaplib
import json
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from analysis.lab.socks import socks_connect

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "addons" / "maildetour.py"
MITMDUMP = Path(sys.executable).with_name("mitmdump")
TIMEOUT = 10.0


def free_port(address: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def wait_port(address: str, port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mitmdump exited early ({proc.returncode})")
        try:
            socket.create_connection((address, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"mitmdump did not listen on {address}:{port}")


@dataclass
class Mitmdump:
    """``mitmdump`` with the addon in SOCKS5 mode (plus DNS mode when ``dns_port``); ``stop()`` ends it."""

    workdir: Path
    options: dict[str, str] = field(default_factory=dict)
    dns: bool = False
    addon: bool = True
    env: dict[str, str] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    port: int = 0
    dns_port: int = 0
    proc: subprocess.Popen | None = None
    output: str = ""

    @property
    def confdir(self) -> Path:
        return self.workdir / "mitmconf"

    @property
    def ca(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    @property
    def proxy(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self) -> Mitmdump:
        self.port = free_port()
        cmd = [str(MITMDUMP), "--mode", f"socks5@127.0.0.1:{self.port}",
               "--set", f"confdir={self.confdir}", "--set", "ssl_insecure=true"]
        if self.dns:
            self.dns_port = free_port(kind=socket.SOCK_DGRAM)
            cmd += ["--mode", f"dns@127.0.0.1:{self.dns_port}"]
        if self.addon:
            cmd += ["-s", str(ADDON)]
        for key, value in self.options.items():
            cmd += ["--set", f"{key}={value}"]
        cmd += self.extra
        self.log_path = self.workdir / f"mitmdump-{self.port}.log"
        env = {**os.environ, **self.env}
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            wait_port("127.0.0.1", self.port, self.proc)
        except BaseException:
            self.stop()
            raise RuntimeError(f"mitmdump did not start: {self.output[-2000:]}") from None
        return self

    def stop(self) -> str:
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._log.close()
            self.output = self.log_path.read_text(errors="replace")
        return self.output

    def __enter__(self) -> Mitmdump:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def https(self, name: str, ip: str, port: int, method: str = "GET", path: str = "/", body: bytes = b"",
              headers: dict[str, str] | None = None, source: str | None = None) -> tuple[int, bytes]:
        """One HTTP/1.1 request over TLS (mitmproxy's CA trusted) through the SOCKS5 proxy, from ``source``."""
        raw = socks_connect(self.proxy, ip, port, source, TIMEOUT)
        with self.tls_context().wrap_socket(raw, server_hostname=name) as s:
            head = [f"{method} {path} HTTP/1.1", f"Host: {name}", "Connection: close",
                    f"Content-Length: {len(body)}"]
            head += [f"{k}: {v}" for k, v in (headers or {}).items()]
            s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
        return status, data.split(b"\r\n\r\n", 1)[-1]


class SocksIMAP4(imaplib.IMAP4):
    """IMAP through the SOCKS5 proxy, the client socket bound to ``source`` (a loopback address) if given."""

    def __init__(self, proxy: tuple[str, int], host: str, port: int, source: str | None = None):
        self._proxy, self._source = proxy, source
        super().__init__(host, port, timeout=TIMEOUT)

    def _create_socket(self, timeout):
        return socks_connect(self._proxy, self.host, self.port, self._source, TIMEOUT)


class SocksSMTP(smtplib.SMTP):
    """SMTP through the SOCKS5 proxy, the client socket bound to ``source`` (a loopback address) if given."""

    def __init__(self, proxy: tuple[str, int], host: str, port: int, source: str | None = None):
        self._proxy, self._source = proxy, source
        super().__init__(host, port, local_hostname="phone.lab.test", timeout=TIMEOUT)

    def _get_socket(self, host, port, timeout):
        return socks_connect(self._proxy, host, port, self._source, TIMEOUT)


@dataclass
class HttpsServer:
    """A threaded HTTPS server on a loopback address that answers every request with JSON (a path under
    ``/echo`` with the request's body) and keeps (method, host, path, body length) of each request."""

    address: str
    cert: str
    key: str
    requests: list[tuple[str, str, str, int]] = field(default_factory=list)
    port: int = 0

    def __enter__(self) -> HttpsServer:
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen.append((self.command, self.headers.get("Host", ""), self.path, len(body)))
                out = body if self.path.startswith("/echo") else json.dumps({"ok": True}).encode()
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"  # one write, no
                                 b"Content-Length: %d\r\n\r\n%s" % (len(out), out))  # Nagle delay

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer((self.address, 0), Handler)
        self._server.daemon_threads = True
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def all_output_text(*paths: Path) -> bytes:
    """Every byte of the given files (folders: every file inside), to look for secrets."""
    out = b""
    for p in paths:
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else []
        for f in files:
            out += f.read_bytes()
    return out
