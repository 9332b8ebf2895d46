"""--keylog: TLS connections on 127.0.0.0/8 captured with tcpdump, decrypted by tshark with the key log."""

from __future__ import annotations

import base64
import datetime
import os
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from analysis.capture.decrypt import apply_keylog
from analysis.errors import InputError
from analysis.model import Capture, Endpoint, Flow
from tests.conftest import require_tool

SECRET = "Canary-Keylog-Pa55!"
HOST = "127.0.0.1"
IMAP_HOST = "127.0.0.77"  # a loopback address of its own, so port 993 is free for this test


def _cert(tmp: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "maildetour test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _serve(listener: socket.socket, ctx: ssl.SSLContext, answers: list[bytes]) -> None:
    conn, _ = listener.accept()
    with ctx.wrap_socket(conn, server_side=True) as tls:
        tls.settimeout(10)
        for answer in answers:
            tls.recv(4096)
            tls.sendall(answer)
        tls.recv(4096)  # until the client closes


def _talk(server_ctx, keylog: str, addr: str, port: int, alpn: list[str], requests: list[bytes],
          answers: list[bytes]) -> tuple[Endpoint, Endpoint]:
    """One TLS connection: the client writes the key log; returns (client, server) as on the wire."""
    listener = socket.create_server((addr, port))
    thread = threading.Thread(target=_serve, args=(listener, server_ctx, answers), daemon=True)
    thread.start()
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.keylog_filename = keylog
    ctx.set_alpn_protocols(alpn)
    with socket.create_connection((addr, listener.getsockname()[1]), timeout=10) as raw:
        client = Endpoint(*raw.getsockname()[:2])
        server = Endpoint(*raw.getpeername()[:2])
        with ctx.wrap_socket(raw, server_hostname="mail.example.org") as tls:
            for request in requests:
                tls.sendall(request)
                tls.recv(4096)
    thread.join(10)
    listener.close()
    return client, server


def _h2_request(authority: str) -> bytes:
    """HTTP/2 preface, empty SETTINGS, and a HEADERS frame (HPACK: GET, https, /, literal :authority)."""
    block = b"\x82\x87\x84\x41" + bytes([len(authority)]) + authority.encode()
    headers = len(block).to_bytes(3, "big") + b"\x01\x05" + (1).to_bytes(4, "big") + block
    return b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" + headers


def _tcpdump(tcpdump: str, out: Path, expression: str = "tcp and (host 127.0.0.1 or host 127.0.0.77)"
             ) -> subprocess.Popen:
    cmd = [tcpdump, "-i", "lo", "-U", "--immediate-mode", "-n", "-w", str(out), expression]
    if os.geteuid() == 0:
        cmd[1:1] = ["-Z", "root"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    line = proc.stderr.readline().decode()  # "listening on lo, ..." once the capture runs
    if "listening" not in line:
        proc.kill()
        pytest.fail(f"tcpdump did not start: {line.strip()}")
    return proc


def _stop_tcpdump(proc: subprocess.Popen, out: Path) -> None:
    """Stop tcpdump once every packet sent so far is in ``out``.

    tcpdump reads the kernel's buffer in order, so a marker sent last proves that the packets before it are
    written (-U writes each packet); stopping without it lost the last connection's packets now and then.
    """
    marker = b"maildetour-capture-end-" + os.urandom(8).hex().encode()
    with socket.create_server((HOST, 0)) as listener:
        with socket.create_connection(listener.getsockname()[:2], timeout=10) as sock:
            sock.sendall(marker)
            deadline = time.monotonic() + 10
            while marker not in out.read_bytes() and time.monotonic() < deadline:
                time.sleep(0.05)
    proc.terminate()
    proc.wait(10)


def test_keylog_reveals_http_host_and_mail_commands_inside_tls(tmp_path: Path) -> None:
    tcpdump, _ = require_tool("tcpdump"), require_tool("tshark")
    cert, key = _cert(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    server_ctx.set_alpn_protocols(["http/1.1", "h2", "imap"])
    keylog, pcap = str(tmp_path / "keys.log"), tmp_path / "tls.pcap"
    proc = _tcpdump(tcpdump, pcap)
    try:
        web_ends = _talk(server_ctx, keylog, HOST, 0, ["http/1.1"],
                         [b"GET /autodiscover HTTP/1.1\r\nHost: hidden.example.org\r\n\r\n"],
                         [b"HTTP/1.1 204 No Content\r\n\r\n"])
        imap_ends = _talk(server_ctx, keylog, IMAP_HOST, 993, ["imap"],
                          [f"a1 LOGIN lft2 {SECRET}\r\n".encode(), b"a2 SELECT INBOX\r\n"],
                          [b"a1 OK done\r\n", b"a2 OK done\r\n"])
        h2_ends = _talk(server_ctx, keylog, HOST, 0, ["h2"], [_h2_request("h2.example.org")],
                        [b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"])  # SETTINGS ack
        plain = base64.b64encode(f"\0lft2\0{SECRET}".encode())
        smtp_ends = _talk(server_ctx, keylog, IMAP_HOST, 465, [],
                          [b"EHLO phone.local\r\n", b"AUTH PLAIN " + plain + b"\r\n"],
                          [b"250 mx\r\n", b"235 2.7.0 Authentication successful\r\n"])
    finally:
        _stop_tcpdump(proc, pcap)
    assert os.path.getsize(keylog) > 0
    web = Flow(1, "tcp", *web_ends, app_protocol="tls")
    imap = Flow(2, "tcp", *imap_ends, app_protocol="imaps")
    smtp = Flow(3, "tcp", *smtp_ends, app_protocol="smtps")
    h2 = Flow(4, "tcp", *h2_ends, app_protocol="tls")
    capture = Capture(flows=[web, imap, smtp, h2])
    apply_keylog(capture, [str(pcap)], keylog)
    assert web.names.http_host == ["hidden.example.org"]
    assert h2.names.http_host == ["h2.example.org"]  # HTTP/2 :authority
    assert imap.auth_mechanisms == ["LOGIN"]
    assert imap.app_protocol == "imaps" and not imap.cleartext_credentials
    assert any("LOGIN SELECT" in n for n in imap.notes)
    assert smtp.auth_mechanisms == ["PLAIN"] and any("EHLO AUTH" in n for n in smtp.notes)
    assert SECRET not in repr(capture.flows) and plain.decode() not in repr(capture.flows)
    # the same through the flow table's own records (other loopback traffic may be in the capture too)
    from analysis.pipeline import load

    loaded = load([str(pcap)])
    found = [f for f in loaded.flows if (f.client, f.server) == web_ends]
    assert len(found) == 1
    apply_keylog(loaded, [str(pcap)], keylog)
    assert "hidden.example.org" in found[0].names.http_host


def test_missing_keylog_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the TLS key log"):
        apply_keylog(Capture(), [], str(tmp_path / "absent.log"))
