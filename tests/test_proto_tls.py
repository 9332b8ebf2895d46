"""TLS ClientHello parser: scapy-built hellos, split over segments and records, bad input, real captures."""

from __future__ import annotations

import json
import random
import struct

import pytest

from analysis.protocols.tls import (
    looks_like_tls,
    parse_client_hello_body,
    parse_client_hello_stream,
    parse_handshake,
)

tls_all = pytest.importorskip("scapy.layers.tls.all")


def _hello(sni: str | None = "imap.example.org", alpn=(b"imap",), versions=(0x0A0A, 0x0304, 0x0303)) -> bytes:
    """One TLS record with a ClientHello, as scapy builds it."""
    ext = []
    if sni is not None:
        ext.append(tls_all.TLS_Ext_ServerName(servernames=[tls_all.ServerName(servername=sni.encode())]))
    if alpn:
        ext.append(tls_all.TLS_Ext_ALPN(protocols=[tls_all.ProtocolName(protocol=p) for p in alpn]))
    if versions:
        ext.append(tls_all.TLS_Ext_SupportedVersion_CH(versions=list(versions)))
    ch = tls_all.TLSClientHello(version=0x0303, ciphers=[0x1301, 0x1302], ext=ext)
    return bytes(tls_all.TLS(version=0x0301, msg=[ch]))


def test_client_hello_fields() -> None:
    status, ch = parse_client_hello_stream(_hello())
    assert status == "ok"
    assert ch.sni == "imap.example.org"
    assert ch.alpn == ["imap"]
    assert ch.legacy_version == 0x0303 and ch.record_version == 0x0301
    assert ch.supported_versions == [0x0A0A, 0x0304, 0x0303]
    assert ch.max_version == 0x0304  # the GREASE value 0x0a0a is ignored


def test_no_extensions_and_no_sni() -> None:
    status, ch = parse_client_hello_stream(_hello(sni=None, alpn=(), versions=()))
    assert status == "ok" and ch.sni is None and ch.alpn == [] and ch.max_version == 0x0303


def test_split_over_tcp_segments() -> None:
    raw = _hello(alpn=(b"h2", b"http/1.1"))
    for cut in range(len(raw)):
        assert parse_client_hello_stream(raw[:cut])[0] == "need-more", cut
    assert parse_client_hello_stream(raw)[1].alpn == ["h2", "http/1.1"]
    # and with application data after it (a TLS 1.3 client may send early data right away)
    assert parse_client_hello_stream(raw + b"\x17\x03\x03\x00\x05hello")[0] == "ok"


def test_split_over_several_records() -> None:
    handshake = _hello()[5:]
    parts = [handshake[:3], handshake[3:40], handshake[40:]]  # the 4-byte header itself is split
    stream = b"".join(b"\x16\x03\x01" + struct.pack("!H", len(p)) + p for p in parts)
    status, ch = parse_client_hello_stream(stream)
    assert status == "ok" and ch.sni == "imap.example.org"
    for cut in range(len(stream)):
        assert parse_client_hello_stream(stream[:cut])[0] == "need-more"


def test_not_tls() -> None:
    others = (b"GET / HTTP/1.1\r\n", b"* OK IMAP4rev1 ready\r\n", b"SSH-2.0-OpenSSH_9.6\r\n",
              b"\x17\x03\x03\x00\x10")
    for data in others:
        assert parse_client_hello_stream(data) == ("not-tls", None)
        assert not looks_like_tls(data)
    server_hello = b"\x16\x03\x03\x00\x04\x02\x00\x00\x00"
    assert parse_client_hello_stream(server_hello)[0] == "not-tls"
    assert parse_client_hello_stream(b"\x16\x03\x01\x00\x04\x01\xff\xff\xff")[0] == "not-tls"  # 16 MiB hello


def test_sslv2_compatible_hello() -> None:
    v2 = bytes.fromhex("802b0103010012000000100700c0030080010080060040040080020080") + bytes(16)
    assert looks_like_tls(v2)
    status, ch = parse_client_hello_stream(v2)
    assert status == "ok" and ch.legacy_version == 0x0301 and ch.sni is None


def test_lying_lengths_never_raise() -> None:
    raw = bytearray(_hello())
    body = bytes(raw[9:])
    assert parse_client_hello_body(body).sni == "imap.example.org"
    rng = random.Random(7)
    for _ in range(4000):
        data = bytearray(raw)
        for _k in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        status, ch = parse_client_hello_stream(bytes(data))
        assert status in ("ok", "need-more", "not-tls")
        parse_client_hello_body(bytes(data[9:]))
        parse_handshake(bytes(data[5:]))
    assert parse_client_hello_body(b"\x03\x03" + bytes(40)) is not None  # no cipher suites, no extensions
    assert parse_client_hello_body(b"\x03\x03" + bytes(32) + b"\xff") is None  # session id longer than 32


def test_real_single_packet_hellos_match_tshark(shared_captures) -> None:
    rdpcap = pytest.importorskip("scapy.utils").rdpcap
    from scapy.layers.inet import TCP

    base = shared_captures / "pcapplusplus" / "Packet++Test" / "PacketExamples"
    for name in ("SSL-ClientHello1.pcap", "tls_grease.pcap"):
        truth = json.loads((base / f"{name}.truth.json").read_text())["tls_client_hellos"][0]
        pkt = rdpcap(str(base / name))[0]
        status, ch = parse_client_hello_stream(bytes(pkt[TCP].payload))
        assert status == "ok"
        assert ch.sni == truth["sni"]
        assert ch.alpn == (truth["alpn"] or [])
        assert f"0x{ch.legacy_version:04x}" == truth["legacy_version"]
        assert [f"0x{v:04x}" for v in ch.supported_versions] == (truth["supported_versions"] or [])
