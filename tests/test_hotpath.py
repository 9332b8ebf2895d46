"""The capture hot path's shortcuts give the same answers as the general code they bypass.

Mapped reading (plain files) against chunked reading (the same bytes gzip-compressed); the byte-slice
conversation key of the fast path against the general decoder (IP options, VLAN, IPv6 extension
headers); the DNS message cache against ``parse_message``.
"""

from __future__ import annotations

import hashlib

from scapy.all import (
    DNS,
    DNSQR,
    DNSRR,
    ICMP,
    IP,
    UDP,
    Dot1Q,
    Ether,
    ICMPv6EchoRequest,
    IPOption_NOP,
    IPv6,
    IPv6ExtHdrDestOpt,
    fragment,
    raw,
)
from scapy.all import TCP as ScapyTCP

from analysis.capture import load_capture
from analysis.capture.reader import DROP_STEP, CaptureReader
from analysis.protocols import dns as dnsp
from tests import pcapbuild as pb

PHONE, SERVER = "10.0.0.2", "203.0.113.25"
PHONE6, SERVER6 = "2001:db8::2", "2001:db8::25"


def _eth(packet, vlan: int | None = None) -> bytes:
    head = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    return raw(head / Dot1Q(vlan=vlan) / packet if vlan is not None else head / packet)


def _records(path: str) -> tuple[list[tuple], CaptureReader]:
    reader = CaptureReader(path)
    out = [(lt, bytes(buf[off:off + caplen]), origlen, ts) for lt, buf, off, caplen, origlen, ts in reader.records()]
    return out, reader


def _frames(n: int) -> list[tuple[float, bytes]]:
    frames = []
    for i in range(n):
        pkt = IP(src=PHONE, dst=SERVER) / ScapyTCP(sport=40000 + i % 7, dport=993, seq=i) / (b"x" * (i % 1400))
        frames.append((1_600_000_000.0 + i / 1000, _eth(pkt)))
    return frames


def test_mapped_file_reads_like_the_chunked_reader(tmp_path):
    data = pb.pcap_bytes(_frames(300))
    plain = pb.write(tmp_path / "a.pcap", data)
    packed = pb.write(tmp_path / "a.pcap.gz", data, compress=True)
    mapped, r1 = _records(str(plain))
    chunked, r2 = _records(str(packed))
    assert len(mapped) == 300 and mapped == chunked
    assert r1.info.complete and r1.info.format == "pcap" and r2.info.format == "pcap+gzip"
    assert r1.info.sha256 == hashlib.sha256(data).hexdigest()
    assert r2.info.sha256 == hashlib.sha256(packed.read_bytes()).hexdigest()


def test_mapped_file_damage_offset_and_progress(tmp_path):
    data = pb.pcap_bytes(_frames(40))
    cut = len(data) - 30  # inside the last record
    plain = pb.write(tmp_path / "cut.pcap", data[:cut])
    packed = pb.write(tmp_path / "cut.pcap.gz", data[:cut], compress=True)
    seen: list[int] = []
    cap = load_capture(str(plain), progress=seen.append)
    ref = load_capture(str(packed))
    info = cap.inputs[0]
    assert not info.complete and info.error_offset == ref.inputs[0].error_offset
    assert info.error_offset == len(data) - len(_frames(40)[-1][1]) - 16
    assert info.packets == ref.inputs[0].packets == 39
    assert seen and seen[-1] == cut and seen == sorted(seen)


def test_mapped_pcapng_reads_like_the_chunked_reader(tmp_path):
    frames = _frames(50)
    data = pb.shb() + pb.idb(1) + b"".join(pb.epb(0, ts, f) for ts, f in frames)
    mapped, _ = _records(str(pb.write(tmp_path / "a.pcapng", data)))
    chunked, _ = _records(str(pb.write(tmp_path / "a.pcapng.gz", data, compress=True)))
    assert len(mapped) == 50 and mapped == chunked


def test_large_mapped_file_passes_drop_marks(tmp_path):
    frame = _eth(IP(src=PHONE, dst=SERVER) / UDP(sport=5000, dport=6000) / (b"z" * 1400))
    count = 2 * DROP_STEP // len(frame) + 50  # more than two drop windows
    path = pb.write(tmp_path / "big.pcap", pb.pcap_bytes((1.0 + i, frame) for i in range(count)))
    seen: list[int] = []
    cap = load_capture(str(path), progress=seen.append)
    assert cap.inputs[0].packets == count and cap.inputs[0].complete
    assert [f.packets for f in cap.flows] == [count]
    assert len(seen) >= 3 and seen[-1] == path.stat().st_size


def test_one_conversation_through_fast_and_general_paths(tmp_path):
    """Plain, VLAN-tagged and IP-options frames of one connection (the last one is decoded by the
    general path) land in one flow; so do IPv6 frames with and without an extension header."""
    c2s = IP(src=PHONE, dst=SERVER) / ScapyTCP(sport=50000, dport=993, flags="S", seq=10)
    s2c = IP(src=SERVER, dst=PHONE) / ScapyTCP(sport=993, dport=50000, flags="SA", seq=70, ack=11)
    opts = IP(src=PHONE, dst=SERVER, options=[IPOption_NOP()] * 4) / ScapyTCP(sport=50000, dport=993,
                                                                           flags="A", seq=11, ack=71)
    v6a = IPv6(src=PHONE6, dst=SERVER6) / UDP(sport=53000, dport=443) / b"q"
    v6b = IPv6(src=SERVER6, dst=PHONE6) / IPv6ExtHdrDestOpt() / UDP(sport=443, dport=53000) / b"r"
    frames = [_eth(c2s), _eth(s2c, vlan=7), _eth(opts), _eth(v6a), _eth(v6b, vlan=9), _eth(v6a)]
    path = pb.write(tmp_path / "paths.pcap", pb.pcap_bytes((1.0 + i, f) for i, f in enumerate(frames)))
    flows = load_capture(str(path)).flows
    assert [(f.transport, f.client.ip, f.client.port, f.server.ip, f.server.port, f.c2s_packets, f.s2c_packets)
            for f in flows] == [("tcp", PHONE, 50000, SERVER, 993, 2, 1),
                                ("udp", PHONE6, 53000, SERVER6, 443, 2, 1)]
    assert flows[0].server_by == "tcp-syn" and flows[0].first_frame == 1 and flows[1].first_frame == 4


def test_icmp_frames_are_skipped_as_the_general_path_skips_them(tmp_path):
    """ICMP and ICMPv6 (no TCP/UDP inside) are passed over by the fast path; an ICMP fragment still goes to
    the reassembler (its missing second half is reported), and a segment after them is counted as ever."""
    icmp = _eth(IP(src=PHONE, dst=SERVER) / ICMP() / (b"p" * 64))
    icmp6 = _eth(IPv6(src=PHONE6, dst=SERVER6) / ICMPv6EchoRequest(data=b"p" * 64))
    first_half = _eth(fragment(IP(src=PHONE, dst=SERVER, id=77) / ICMP() / (b"f" * 200), fragsize=96)[0])
    tcp = _eth(IP(src=PHONE, dst=SERVER) / ScapyTCP(sport=50001, dport=993, flags="S", seq=5))
    frames = [icmp, icmp6, first_half, tcp, icmp]
    path = pb.write(tmp_path / "icmp.pcap", pb.pcap_bytes((1.0 + i, f) for i, f in enumerate(frames)))
    capture = load_capture(str(path))
    assert capture.inputs[0].packets == 5
    assert [(f.transport, f.server.port, f.packets, f.first_frame) for f in capture.flows] == [("tcp", 993, 1, 4)]
    assert any("1 fragmented IP datagrams could not be reassembled" in w for w in capture.inputs[0].warnings)


def test_sha256_only_when_asked(tmp_path):
    data = pb.pcap_bytes(_frames(20))
    for path in (pb.write(tmp_path / "d.pcap", data), pb.write(tmp_path / "d.pcap.gz", data, compress=True)):
        assert load_capture(str(path), digest=False).inputs[0].sha256 == ""
        with_hash = load_capture(str(path)).inputs[0]
        assert with_hash.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert [f.packets for f in load_capture(str(path), digest=False).flows] == [
            f.packets for f in load_capture(str(path)).flows]


def _dns_reply(ident: int, name: str, address: str) -> bytes:
    return raw(DNS(id=ident, qr=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, type="A", rdata=address)))


def test_message_cache_matches_parse_message():
    cache = dnsp.MessageCache()
    first = cache.parse(_dns_reply(1, "imap.example.org", "203.0.113.25"))
    again = cache.parse(_dns_reply(0xBEEF, "imap.example.org", "203.0.113.25"))
    other = cache.parse(_dns_reply(2, "smtp.example.org", "203.0.113.26"))
    for ident, msg, name, addr in [(1, first, "imap", "25"), (0xBEEF, again, "imap", "25"),
                                   (2, other, "smtp", "26")]:
        expected = dnsp.parse_message(_dns_reply(ident, f"{name}.example.org", f"203.0.113.{addr}"))
        assert msg == expected and msg.id == ident
    assert first is not again and first.id != again.id  # each caller gets its own message and ID
    assert cache.parse(b"\x00\x01" + b"\xff" * 10) is None and cache.parse(b"\x00\x02" + b"\xff" * 10) is None
    big = raw(DNS(id=3, qr=1, qd=DNSQR(qname="a.example"),
                  an=DNSRR(rrname="a.example", type="TXT", rdata="t" * 200) / DNSRR(
                      rrname="a.example", type="TXT", rdata="u" * 200) / DNSRR(
                      rrname="a.example", type="TXT", rdata="v" * 200)))
    assert len(big) > dnsp.MAX_CACHED_MESSAGE and cache.parse(big) == dnsp.parse_message(big)


def test_message_cache_is_bounded():
    cache = dnsp.MessageCache(limit=4)
    for n in range(10):
        msg = cache.parse(_dns_reply(n, f"h{n}.example", "192.0.2.1"))
        assert msg is not None and msg.questions == [(f"h{n}.example", "A")]
        assert len(cache._parsed) <= 4
