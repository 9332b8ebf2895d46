"""The canary inside TLS: real TLS clients and servers on 127.0.0.0/8 (certificates from the lab CA), captured
with tcpdump, the client writing a key log; ``maildetour analyze --keylog`` finds the password in what tshark
decrypts (HTTP/1 header and body, HTTP/2 HPACK header and gzip body, IMAP) and never writes it anywhere."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from analysis.capture.tlscanary import CHUNK
from analysis.lab.ca import LabCA
from tests.conftest import require_tool
from tests.test_keylog import HOST, IMAP_HOST, _serve, _stop_tcpdump, _tcpdump

SECRET = "Canary-TLS-Pa55!/x"  # "!" and "/" change under URL encoding
USER = "lft2"
VENDOR = "sync.vendor.test"
MAIL = "imap.mail.test"
ENV = "MD_TLS_CANARY"
HOST6 = "::1"  # one connection over IPv6: tshark is told to print the TLS frames of both address families


def _client(ca: LabCA, keylog: str, addr: str, name: str, alpn: list[str], requests: list[bytes | tuple],
            answers: list[bytes], server: ssl.SSLContext) -> tuple[str, int]:
    """One verified TLS connection to a server of the lab CA; the client appends its keys to ``keylog``. A
    request given as a tuple is sent piece by piece (a TLS record each). Returns the client's (address, port)."""
    listener = socket.create_server((addr, 0), family=socket.AF_INET6 if ":" in addr else socket.AF_INET)
    thread = threading.Thread(target=_serve, args=(listener, server, answers), daemon=True)
    thread.start()
    ctx = ssl.create_default_context(cafile=str(ca.cert_path))
    ctx.keylog_filename = keylog
    if alpn:
        ctx.set_alpn_protocols(alpn)
    with socket.create_connection((addr, listener.getsockname()[1]), timeout=10) as raw:
        me = raw.getsockname()[:2]
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            for request in requests:
                for piece in request if isinstance(request, tuple) else (request,):
                    tls.sendall(piece)
                tls.recv(4096)
    thread.join(10)
    listener.close()
    return me


def _server(ca: LabCA, folder: Path, name: str, addresses: list[str]) -> ssl.SSLContext:
    cert = ca.issue(folder, name, addresses)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert.cert_path), str(cert.key_path))
    ctx.set_alpn_protocols(["http/1.1", "h2", "imap"])
    return ctx


def _h2_post(authority: str, token: str, body: bytes) -> bytes:
    """HTTP/2 preface, SETTINGS, HEADERS (HPACK with Huffman coding: no header is readable in the raw bytes)
    and a DATA frame with the gzip body."""
    hpack = pytest.importorskip("hpack")
    block = hpack.Encoder().encode([(":method", "POST"), (":scheme", "https"), (":path", "/v1/accounts"),
                                    (":authority", authority), ("x-account-token", token),
                                    ("content-encoding", "gzip"), ("content-type", "application/json")],
                                   huffman=True)
    headers = len(block).to_bytes(3, "big") + b"\x01\x04" + (1).to_bytes(4, "big") + block
    data = len(body).to_bytes(3, "big") + b"\x00\x01" + (1).to_bytes(4, "big") + body
    return b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" + headers + data


def _record(tmp: Path) -> tuple[Path, Path, dict[str, tuple[str, int]]]:
    """The capture, the key log and each connection's client endpoint."""
    tcpdump = require_tool("tcpdump")
    ca = LabCA.create(tmp / "ca")
    vendor, mail = _server(ca, tmp / "certs", VENDOR, [HOST, HOST6]), _server(ca, tmp / "certs", MAIL, [IMAP_HOST])
    keylog, pcap = tmp / "keys.log", tmp / "tls.pcap"
    basic = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
    form = f"user={USER}&password={quote_plus(SECRET)}".encode()
    post = (f"POST /v1/accounts HTTP/1.1\r\nHost: {VENDOR}\r\nAuthorization: Basic {basic}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(form)}\r\n\r\n").encode() + form
    digest = hashlib.sha256(SECRET.encode()).hexdigest()  # in the gzip body only: found once decompressed
    body = gzip.compress(json.dumps({"imap": {"user": USER, "password_sha256": digest}}).encode())
    split = f"POST /v1/login HTTP/1.1\r\nHost: {VENDOR}\r\nContent-Length: 40\r\n\r\n{SECRET:<40}".encode()
    cut = split.index(SECRET[:4].encode()) + 4  # the password split over two TLS records
    hashed = hashlib.sha1(SECRET.encode()).hexdigest().encode()
    big = gzip.compress(b"a" * (CHUNK - 20) + hashed + b"a" * 5000)  # decompressed, it spans CHUNK bytes
    big_post = (f"POST /v1/backup HTTP/1.1\r\nHost: {VENDOR}\r\nContent-Encoding: gzip\r\n"
                f"Content-Length: {len(big)}\r\n\r\n").encode() + big
    proc = _tcpdump(tcpdump, pcap, f"tcp and (host {HOST} or host {IMAP_HOST} or host {HOST6})")
    try:
        ends = {
            "http1": _client(ca, str(keylog), HOST, VENDOR, ["http/1.1"], [post],
                             [b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"], vendor),
            "split": _client(ca, str(keylog), HOST, VENDOR, ["http/1.1"], [(split[:cut], split[cut:])],
                             [b"HTTP/1.1 204 No Content\r\n\r\n"], vendor),
            "big": _client(ca, str(keylog), HOST, VENDOR, ["http/1.1"], [big_post],
                           [b"HTTP/1.1 204 No Content\r\n\r\n"], vendor),
            "http1-v6": _client(ca, str(keylog), HOST6, VENDOR, ["http/1.1"], [post],
                                [b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"], vendor),
            "h2": _client(ca, str(keylog), HOST, VENDOR, ["h2"], [_h2_post(VENDOR, SECRET, body)],
                          [b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"], vendor),
            "imap-vendor": _client(ca, str(keylog), HOST, VENDOR, ["imap"],
                                   [f"a1 LOGIN {USER} {SECRET}\r\n".encode()], [b"a1 OK\r\n"], vendor),
            "imap-mail": _client(ca, str(keylog), IMAP_HOST, MAIL, ["imap"],
                                 [f"a1 LOGIN {USER} {SECRET}\r\n".encode()], [b"a1 OK\r\n"], mail),
        }
    finally:
        _stop_tcpdump(proc, pcap)
    return pcap, keylog, ends


def _analyze(tmp: Path, pcap: Path, keylog: Path | None, fmt: str) -> tuple[subprocess.CompletedProcess, str]:
    case = tmp / "case.toml"
    case.write_text(f'[account]\nusername = "{USER}"\ncanary_env = "{ENV}"\n\n[mail]\nhosts = ["{MAIL}"]\n'
                    f'addresses = ["{IMAP_HOST}"]\n')
    out = tmp / f"report-{'keylog' if keylog else 'plain'}.{fmt}"
    cmd = [sys.executable, "-m", "analysis.cli", "analyze", str(pcap), "--case", str(case), "-o", str(out)]
    cmd += ["--keylog", str(keylog)] if keylog else []
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), ENV: SECRET}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc, out.read_text()


def _tshark_frames(pcap: Path, keylog: Path, display: str) -> set[int]:
    cmd = [require_tool("tshark"), "-n", "-r", str(pcap), "-o", f"tls.keylog_file:{keylog}",
           "-Y", display, "-T", "fields", "-e", "frame.number"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    return {int(x) for x in done.stdout.split()}


def test_password_inside_tls_is_a_credential_leak_with_decrypted_frames(tmp_path: Path) -> None:
    require_tool("tshark")
    pcap, keylog, ends = _record(tmp_path)
    assert keylog.stat().st_size > 0

    _, plain_text = _analyze(tmp_path, pcap, None, "json")  # without the keys, TLS hides the password
    assert not [f for f in json.loads(plain_text)["findings"] if f["kind"] == "credential-leak"
                and f["details"]["secret"] == "password"]

    proc, text = _analyze(tmp_path, pcap, keylog, "json")
    report = json.loads(text)
    flows = {f["id"]: f for f in report["flows"]}
    by_client = {(f["client"]["ip"], f["client"]["port"]): f for f in report["flows"]}
    mine = {name: by_client[end] for name, end in ends.items()}
    leaks = [f for f in report["findings"]
             if f["kind"] == "credential-leak" and f["details"]["secret"] == "password"]
    forms: dict[str, set[str]] = {}
    for leak in leaks:
        (flow_id,) = leak["flows"]
        name = next((n for n, f in mine.items() if f["id"] == flow_id), None)
        if name is None:
            continue  # another test's loopback traffic in the same capture
        forms.setdefault(name, set()).add(leak["details"]["form"])
        assert leak["details"]["inside_tls"] is True and leak["severity"] == "high"
        assert "inside TLS, decrypted with the key log" in leak["message"]
        server = flows[flow_id]["server"]
        assert leak["frames"] and leak["details"]["server"] == f"{server['ip']}:{server['port']}"
        # the frames cited are the client's own TLS frames of that connection, which tshark decrypts
        client_port = flows[flow_id]["client"]["port"]
        decrypted = _tshark_frames(pcap, keylog, f"tcp.srcport == {client_port} && tls.app_data")
        assert set(leak["frames"]) <= decrypted
        if name == "http1":  # the very frame that carries the request
            assert set(leak["frames"]) == _tshark_frames(pcap, keylog, f"tcp.srcport == {client_port} && http.request")
    for name in ("http1", "http1-v6"):
        assert forms[name] & {"url", "url-plus"}  # the form body (both encodings are the same for this password)
        assert "base64/2" in forms[name]  # "lft2:" + password in the Authorization header
    assert forms["h2"] == {"plain", "sha256"}  # the Huffman-coded HPACK header and the gzip body
    assert forms["imap-vendor"] == {"plain"}
    assert forms["split"] == {"plain"} and forms["big"] == {"sha1"}
    big_where = [leak["details"]["where"] for leak in leaks if leak["flows"] == [mine["big"]["id"]]]
    assert big_where[0].startswith("HTTP body (decompressed)")
    assert "imap-mail" not in forms  # the mail host is where the password belongs
    where = {leak["details"]["form"]: leak["details"]["where"].split(" (frame")[0] for leak in leaks
             if leak["flows"] == [mine["h2"]["id"]]}
    assert where == {"plain": "HTTP/2 header", "sha256": "HTTP body (decompressed)"}

    # the relay verdict takes the leak as its canary basis
    relays = [r for r in report["verdict"]["relays"] if "canary" in r["basis"]]
    assert relays and {mine["http1"]["id"], mine["h2"]["id"]} <= {i for r in relays for i in r["flows"]}
    assert {f for leak in leaks for f in leak["frames"]} <= {f for r in relays for f in r["frames"]}

    # never the password, in any form, in any output
    secrets = [SECRET, quote_plus(SECRET), base64.b64encode(f"{USER}:{SECRET}".encode()).decode(),
               hashlib.sha256(SECRET.encode()).hexdigest()]
    outputs = [text, proc.stdout, proc.stderr]
    for fmt in ("md", "html", "csv"):
        other, rendered = _analyze(tmp_path, pcap, keylog, fmt)
        outputs += [rendered, other.stdout, other.stderr]
        assert "inside TLS" in rendered or fmt == "csv"
    for output in outputs:
        for secret in secrets:
            assert secret.lower() not in output.lower()


def test_the_words_in_german(tmp_path: Path) -> None:
    from analysis.text import message

    details = {"secret": "password", "form": "plain", "where": "TCP stream (frame 9)", "destination": VENDOR,
               "server": f"{HOST}:443", "category": "unknown", "owner": "", "inside_tls": True}
    assert message("credential-leak", "de", **details).endswith(
        "innerhalb von TLS, mit dem Schlüsselprotokoll (--keylog) entschlüsselt.")
    assert "TLS" not in message("credential-leak", "en", **{**details, "inside_tls": False})


def test_client_filter_is_what_tshark_accepts(tmp_path: Path) -> None:
    """The display filter that keeps tshark to the clients' frames, on packets of both address families."""
    tshark = require_tool("tshark")
    pytest.importorskip("scapy")
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    from analysis.capture.tlscanary import MAX_FILTER_CLIENTS, _source_filter
    from tests.pcapbuild import pcap_bytes

    packets = [Ether() / IP(src="10.0.0.1", dst="192.0.2.1") / TCP(sport=40000, dport=443),
               Ether() / IPv6(src="fe80::1", dst="2001:db8::1") / TCP(sport=40001, dport=443),
               Ether() / IP(src="192.0.2.1", dst="10.0.0.1") / TCP(sport=443, dport=40000)]
    path = tmp_path / "f.pcap"
    path.write_bytes(pcap_bytes((1_700_000_000.0 + i, bytes(p)) for i, p in enumerate(packets)))
    display = _source_filter({"10.0.0.1", "127.0.0.1", "fe80::1", "::1"})
    done = subprocess.run([tshark, "-r", str(path), "-Y", display, "-T", "fields", "-e", "frame.number"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "2"]
    assert _source_filter({f"10.0.{i // 256}.{i % 256}" for i in range(MAX_FILTER_CLIENTS + 1)}) == ""
    assert _source_filter({"10.0.0.1", "not-an-address"}) == ""
