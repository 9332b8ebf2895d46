"""HTTP/1.x request heads: fields, split heads, bounds, not-HTTP input, and real captures."""

from __future__ import annotations

import json
import random

import pytest

from analysis.protocols.http import MAX_HEAD, host_name, looks_like_request, parse_request_head


def test_request_head_fields() -> None:
    head = (b"GET /owa/?x=1 HTTP/1.1\r\nHost: outlook.office365.com\r\nUser-Agent: Outlook-iOS/2.0\r\n"
            b"Accept: */*\r\n\r\nBODY")
    status, req = parse_request_head(head)
    assert status == "ok"
    assert (req.method, req.target, req.version) == ("GET", "/owa/?x=1", "HTTP/1.1")
    assert req.host == "outlook.office365.com" and req.user_agent == "Outlook-iOS/2.0"
    assert req.head_length == len(head) - 4


def test_header_names_are_case_insensitive_and_first_wins() -> None:
    _, req = parse_request_head(b"POST /a HTTP/1.0\nhOsT:  a.example:8080 \nHost: b.example\n\n")
    assert req.host == "a.example:8080" and req.user_agent is None
    assert host_name(req.host) == "a.example"
    assert host_name("[2001:db8::1]:443") == "2001:db8::1" and host_name("[2001:db8::1]") == "2001:db8::1"
    assert host_name("example.org") == "example.org"


def test_split_head_needs_more() -> None:
    head = b"CONNECT imap.example.org:993 HTTP/1.1\r\nHost: imap.example.org:993\r\n\r\n"
    for cut in range(1, len(head)):
        assert parse_request_head(head[:cut])[0] == "need-more", cut
    assert parse_request_head(head)[1].target == "imap.example.org:993"


def test_not_http_and_bounds() -> None:
    for data in (b"\x16\x03\x01\x02\x00", b"* OK IMAP4rev1\r\n", b"EHLO x\r\n", b"GETX / HTTP/1.1\r\n\r\n",
                 b"GET / FTP/1.0\r\n\r\n"):
        assert parse_request_head(data)[0] == "not-http", data
    assert not looks_like_request(b"HELO example.org")
    assert looks_like_request(b"OPTIONS * HTTP/1.1")
    endless = b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * MAX_HEAD
    assert parse_request_head(endless) == ("not-http", None)
    _, req = parse_request_head(b"GET / HTTP/1.1\r\nHost: <script>\x00\x7f" + b"x" * 2000 + b"\r\n\r\n")
    assert req.host.startswith("<script>\\x00\\x7f")  # control bytes escaped
    assert len(req.host) <= 530  # and the value bounded


def test_random_bytes_never_raise() -> None:
    rng = random.Random(5)
    base = b"GET /x HTTP/1.1\r\nHost: h.example\r\nUser-Agent: u\r\n\r\n"
    for _ in range(2000):
        data = bytearray(base)
        data[rng.randrange(len(data))] = rng.randrange(256)
        assert parse_request_head(bytes(data))[0] in ("ok", "need-more", "not-http")


def test_real_request_heads(shared_captures) -> None:
    rdpcap = pytest.importorskip("scapy.utils").rdpcap
    from scapy.layers.inet import TCP

    path = shared_captures / "chrissanders" / "http_google.pcapng"
    truth = json.loads(path.with_name(path.name + ".truth.json").read_text())["http_requests"]
    heads = [parse_request_head(bytes(p[TCP].payload))[1] for p in rdpcap(str(path))
             if TCP in p and looks_like_request(bytes(p[TCP].payload)[:10])]
    assert [(r.method, r.host, r.target[:200], r.user_agent) for r in heads] == [
        (t["method"], t["host"], t["uri"], t["user_agent"]) for t in truth
    ]


def test_response_head_and_connect_target() -> None:
    from analysis.protocols.http import connect_target, parse_response_head

    head = b"HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n"
    assert parse_response_head(head + b"\x16\x03\x03") == ("ok", 200, len(head))
    assert parse_response_head(head[:20])[0] == "need-more"
    assert parse_response_head(b"HTTP/1.")[0] == "need-more"
    assert parse_response_head(b"SSH-2.0-OpenSSH_9.6\r\n")[0] == "not-http"
    assert connect_target("imap.example.org:993") == ("imap.example.org", 993)
    assert connect_target("[2001:db8::1]:443") == ("2001:db8::1", 443)
    assert connect_target("example.org") is None and connect_target("example.org:99999") is None
