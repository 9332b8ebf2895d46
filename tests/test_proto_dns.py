"""DNS parser: messages built with scapy and by hand, malformed ones, DNS over TCP framing, real captures."""

from __future__ import annotations

import json
import random
import struct

import pytest

from analysis.protocols.dns import parse_message, read_name, split_tcp

scapy_dns = pytest.importorskip("scapy.layers.dns")
DNS, DNSQR, DNSRR = scapy_dns.DNS, scapy_dns.DNSQR, scapy_dns.DNSRR


def _response() -> bytes:
    return bytes(DNS(
        id=0x1234, qr=1, rd=1, ra=1, qd=[DNSQR(qname="Mail.Example.org", qtype="A")],
        an=[DNSRR(rrname="Mail.Example.org", type="CNAME", rdata="imap.example.net"),
            DNSRR(rrname="imap.example.net", type="A", rdata="203.0.113.25"),
            DNSRR(rrname="imap.example.net", type="AAAA", rdata="2001:db8::25")],
    ).compress())


def test_query_and_response_with_cname_chain() -> None:
    q = parse_message(bytes(DNS(id=7, rd=1, qd=DNSQR(qname="outlook.office365.com.", qtype="AAAA"))))
    assert q is not None and not q.is_response and q.id == 7
    assert q.questions == [("outlook.office365.com", "AAAA")]
    r = parse_message(_response())
    assert r is not None and r.is_response and r.rcode == 0 and not r.truncated
    assert r.questions == [("Mail.Example.org", "A")]  # case as on the wire, no trailing dot
    assert [(a.name, a.rtype, a.value) for a in r.answers] == [
        ("Mail.Example.org", "CNAME", "imap.example.net"),
        ("imap.example.net", "A", "203.0.113.25"),
        ("imap.example.net", "AAAA", "2001:db8::25"),
    ]


def test_compression_pointers_are_followed() -> None:
    raw = _response()
    assert b"\xc0\x0c" in raw  # scapy compressed the answer's owner name
    assert parse_message(raw).answers[0].name == "Mail.Example.org"


def test_nxdomain_and_mx() -> None:
    r = parse_message(bytes(DNS(id=1, qr=1, rcode=3, qd=DNSQR(qname="nothing.example", qtype="MX"))))
    assert r.rcode == 3 and r.questions == [("nothing.example", "MX")] and r.answers == []
    mx = parse_message(bytes(DNS(qr=1, qd=DNSQR(qname="example.org", qtype="MX"),
                                 an=scapy_dns.DNSRRMX(rrname="example.org", preference=10,
                                                      exchange="mx.example.org"))))
    assert [(a.rtype, a.value) for a in mx.answers] == [("MX", "10 mx.example.org")]


def _header(qd=1, an=0, flags=0x8180, ident=1) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, 0, 0)


def _name(*labels: str) -> bytes:
    return b"".join(bytes([len(x)]) + x.encode() for x in labels) + b"\0"


def test_https_record_target_and_address_hints() -> None:
    params = (struct.pack("!HH", 1, 3) + b"\x02h2"  # alpn
              + struct.pack("!HH", 4, 8) + bytes([192, 0, 2, 1, 192, 0, 2, 2])  # ipv4hint
              + struct.pack("!HH", 6, 16) + bytes.fromhex("20010db8000000000000000000000001"))
    rdata = struct.pack("!H", 1) + b"\0" + params  # priority 1, target "." (the owner)
    msg = (_header(qd=1, an=1) + _name("svc", "example") + struct.pack("!HH", 65, 1)
           + b"\xc0\x0c" + struct.pack("!HHIH", 65, 1, 300, len(rdata)) + rdata)
    r = parse_message(msg)
    assert r.questions == [("svc.example", "HTTPS")]
    assert [(a.name, a.rtype, a.value) for a in r.answers] == [
        ("svc.example", "HTTPS", "."),
        ("svc.example", "A", "192.0.2.1"),
        ("svc.example", "A", "192.0.2.2"),
        ("svc.example", "AAAA", "2001:db8::1"),
    ]


def test_pointer_loops_and_forward_pointers_are_rejected() -> None:
    self_loop = _header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1)
    assert parse_message(self_loop) is None
    # two pointers that point at each other (the second one backwards): the depth bound ends it
    mutual = _header() + b"\x01a\xc0\x0e\xc0\x0c" + struct.pack("!HH", 1, 1)
    assert read_name(mutual, 12) is None
    forward = _header() + b"\xc0\x40" + struct.pack("!HH", 1, 1) + b"\0" * 80
    assert parse_message(forward) is None


def test_lying_counts_and_truncation() -> None:
    huge = _header(qd=65535, an=65535) + _name("a", "example") + struct.pack("!HH", 1, 1)
    r = parse_message(huge)
    assert r is not None and r.truncated and r.questions == [("a.example", "A")]
    full = _response()
    for cut in range(len(full)):
        r = parse_message(full[:cut])  # never raises; either nothing or what was readable
        assert r is None or r.questions == [("Mail.Example.org", "A")]
    rdlen_lies = (_header(qd=1, an=1) + _name("x") + struct.pack("!HH", 1, 1)
                  + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 400) + b"\x01\x02\x03\x04")
    r = parse_message(rdlen_lies)
    assert r.truncated and r.answers == []


def test_odd_label_bytes_are_escaped_and_long_names_rejected() -> None:
    weird = _header(flags=0x0100) + b"\x05a.b\\\x07" + b"\x03org\0" + struct.pack("!HH", 1, 1)
    assert parse_message(weird).questions == [("a\\046b\\092\\007.org", "A")]
    too_long = _header(flags=0x0100) + b"".join(b"\x3f" + b"x" * 63 for _ in range(5)) + b"\0" + b"\0\1\0\1"
    assert parse_message(too_long) is None


def test_random_bytes_never_raise() -> None:
    rng = random.Random(1)
    base = _response()
    for _ in range(3000):
        data = bytearray(base)
        for _k in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        parse_message(bytes(data))
        parse_message(rng.randbytes(rng.randint(0, 80)))


def test_split_tcp_several_messages_and_split_messages() -> None:
    a, b = _response(), bytes(DNS(id=9, qd=DNSQR(qname="example.org")))
    stream = struct.pack("!H", len(a)) + a + struct.pack("!H", len(b)) + b
    msgs, rest = split_tcp(stream)
    assert msgs == [a, b] and rest == b""
    got, buf = [], b""
    for i in range(0, len(stream), 7):  # arrives in 7-byte segments
        buf += stream[i : i + 7]
        done, buf = split_tcp(buf)
        got += done
    assert got == [a, b] and buf == b""
    assert split_tcp(b"\x00") == ([], b"\x00")


def test_real_answers_match_tshark(shared_captures) -> None:
    rdpcap = pytest.importorskip("scapy.utils").rdpcap
    from scapy.layers.inet import UDP

    for name in ("dns-udp.pcap", "dns-punycode.pcap", "dns-https.pcap"):
        path = shared_captures / "arkime" / name
        truth = json.loads(path.with_name(name + ".truth.json").read_text())["dns"]["dns"]
        qnames, answers = set(), {}
        for pkt in rdpcap(str(path)):
            msg = parse_message(bytes(pkt[UDP].payload))
            assert msg is not None
            qnames.update(q for q, _t in msg.questions)
            if msg.is_response:
                found = answers.setdefault(msg.questions[0][0], set())
                for rec in msg.answers + msg.additional:  # tshark's dns.a also holds additional records
                    if rec.rtype in ("A", "AAAA", "CNAME"):
                        found.add(f"{rec.rtype} {rec.value}")
        assert qnames == set(truth["query_names"])
        for q, want in truth["answers"].items():
            assert answers[q] == set(want), q
