"""The capture reader and flow table on captures built here with scapy: every format and link type.

Each test writes the same small session (a TCP connection and a DNS exchange) in one container or link
layer and checks the flow table: endpoints, packets, bytes (sum of frame lengths), who is the client.
"""

from __future__ import annotations

import struct
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from scapy.all import (
    DNS,
    DNSQR,
    GRE,
    ICMP,
    IP,
    UDP,
    CookedLinux,
    CookedLinuxV2,
    Dot1Q,
    Ether,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    Raw,
    fragment,
    fragment6,
    raw,
)
from scapy.all import TCP as ScapyTCP

from analysis.capture import load_capture
from analysis.capture.linklayer import ip_offset
from analysis.model import Capture
from tests import pcapbuild as pb
from tests.conftest import require_tool

T0 = 1_600_000_000.0
C4, S4, DNS4 = "10.0.0.2", "192.0.2.10", "192.0.2.53"
C6, S6 = "2001:db8::2", "2001:db8::10"
A100, B200 = b"a" * 100, b"b" * 200


def session(v6: bool = False) -> list[bytes]:
    """IP packets: TCP handshake, data both ways, FIN; then a DNS query and its answer."""
    L3 = (lambda **kw: IPv6(src=kw["src"], dst=kw["dst"])) if v6 else (lambda **kw: IP(**kw))
    c, s = (C6, S6) if v6 else (C4, S4)
    d = "2001:db8::53" if v6 else DNS4
    cs, ss = 1000, 5000
    pkts = [
        L3(src=c, dst=s) / ScapyTCP(sport=40000, dport=443, flags="S", seq=cs),
        L3(src=s, dst=c) / ScapyTCP(sport=443, dport=40000, flags="SA", seq=ss, ack=cs + 1),
        L3(src=c, dst=s) / ScapyTCP(sport=40000, dport=443, flags="A", seq=cs + 1, ack=ss + 1),
        L3(src=c, dst=s) / ScapyTCP(sport=40000, dport=443, flags="PA", seq=cs + 1, ack=ss + 1) / A100,
        L3(src=s, dst=c) / ScapyTCP(sport=443, dport=40000, flags="PA", seq=ss + 1, ack=cs + 101) / B200,
        L3(src=c, dst=s) / ScapyTCP(sport=40000, dport=443, flags="FA", seq=cs + 101, ack=ss + 201),
        L3(src=c, dst=d) / UDP(sport=40001, dport=53) / DNS(id=7, rd=1, qd=DNSQR(qname="mail.example.org")),
        L3(src=d, dst=c) / UDP(sport=53, dport=40001) / DNS(id=7, qr=1, qd=DNSQR(qname="mail.example.org")),
    ]
    return [raw(p) for p in pkts]


def eth(packet, vlan: int | None = None) -> bytes:
    """An Ethernet frame around an IP packet (bytes or scapy), optionally 802.1Q-tagged."""
    data = raw(packet)
    et = 0x86DD if data[0] >> 4 == 6 else 0x0800
    macs = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
    if vlan is None:
        return raw(Ether(**macs, type=et) / Raw(data))
    return raw(Ether(**macs) / Dot1Q(vlan=vlan, type=et) / Raw(data))


def expected(frames: list[bytes], v6: bool = False) -> list[tuple]:
    c, s = (C6, S6) if v6 else (C4, S4)
    d = "2001:db8::53" if v6 else DNS4
    return [
        ("tcp", (c, 40000), (s, 443), 6, sum(len(f) for f in frames[:6]), 4, "tcp-syn"),
        ("udp", (c, 40001), (d, 53), 2, sum(len(f) for f in frames[6:8]), 1, "first-packet-dst"),
    ]


def summary(cap: Capture) -> list[tuple]:
    return [(f.transport, (f.client.ip, f.client.port), (f.server.ip, f.server.port), f.packets, f.bytes,
             f.c2s_packets, f.server_by) for f in cap.flows]


def timed(frames: list[bytes]) -> list[pb.Frame]:
    return [(T0 + i * 0.25 + 0.000001234, f) for i, f in enumerate(frames)]


def load(tmp_path: Path, data: bytes, name: str = "c.pcap", compress: bool = False) -> Capture:
    return load_capture(str(pb.write(tmp_path / name, data, compress)))


# -- containers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize("compress", [False, True])
def test_pcap_byte_orders_resolutions_gzip(tmp_path, order, nano, compress):
    frames = [eth(p) for p in session()]
    cap = load(tmp_path, pb.pcap_bytes(timed(frames), order=order, nano=nano), compress=compress)
    assert summary(cap) == expected(frames)
    info = cap.inputs[0]
    assert info.format == "pcap+gzip" if compress else "pcap"
    assert info.packets == 8 and info.complete and not info.warnings
    tcp = cap.flows[0]
    assert (tcp.first_frame, tcp.last_frame) == (1, 6)
    assert tcp.first_seen == pytest.approx(T0 + 0.000001234, abs=1e-7 if nano else 1e-6)
    assert tcp.last_seen == pytest.approx(T0 + 5 * 0.25 + 0.000001234, abs=1e-6)
    assert cap.flows[1].first_frame == 7


def test_sha256_is_of_the_stored_file(tmp_path):
    import hashlib

    data = pb.pcap_bytes(timed([eth(p) for p in session()]))
    for compress in (False, True):
        path = pb.write(tmp_path / f"x{compress}.pcap", data, compress)
        assert load_capture(str(path)).inputs[0].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_pcapng_interfaces_sections_and_blocks(tmp_path):
    """Several IDBs with different link types and resolutions, EPB/SPB/obsolete PB, an unknown custom block
    (a frame without packet, frame 1, as Wireshark numbers it), and a second section in big-endian order (its
    interfaces numbered from 0 again)."""
    v4 = session()
    v6 = session(v6=True)
    e4 = [eth(p) for p in v4]
    sll = [raw(CookedLinux(proto=0x86DD) / IPv6(p)) for p in v6]
    data = b"".join([
        pb.shb("<"), pb.idb(1, "<"), pb.idb(113, "<", tsresol=9), pb.unknown_block("<"),
        *[pb.epb(0, T0 + i, f, "<") for i, f in enumerate(e4[:4])],
        *[pb.epb(1, T0 + 10 + i, f, "<", units=10**9) for i, f in enumerate(sll)],
        pb.obsolete_pb(0, T0 + 4, e4[4], "<"),
        pb.shb(">"), pb.idb(1, ">"),
        pb.epb(0, T0 + 5, e4[5], ">"),
        pb.spb(e4[6], ">"), pb.spb(e4[7], ">"),
    ])
    cap = load(tmp_path, data, "x.pcapng")
    info = cap.inputs[0]
    assert info.format == "pcapng" and info.complete and info.packets == 17
    got = {(f.transport, f.client.ip, f.server.ip): (f.packets, f.bytes, f.first_frame) for f in cap.flows}
    assert got[("tcp", C4, S4)] == (6, sum(map(len, e4[:4])) + len(e4[4]) + len(e4[5]), 2)
    assert got[("tcp", C6, S6)] == (6, sum(map(len, sll[:6])), 6)
    assert got[("udp", C4, DNS4)] == (2, len(e4[6]) + len(e4[7]), 16)
    v6flow = next(f for f in cap.flows if f.client.ip == C6 and f.transport == "tcp")
    assert v6flow.first_seen == pytest.approx(T0 + 10, abs=1e-6)


def test_pcapng_multi_idb_mixed_link_types(tmp_path):
    frames = session()
    data = b"".join([
        pb.shb(), pb.idb(1), pb.idb(0), pb.idb(101), pb.idb(147),
        pb.epb(0, T0, eth(frames[0])),
        pb.epb(1, T0 + 1, struct.pack("<I", 2) + frames[1]),
        pb.epb(2, T0 + 2, frames[2]),
        pb.epb(3, T0 + 3, b"\x00" * 40),  # a link type we do not read: counted as a frame, no flow
        pb.epb(2, T0 + 4, frames[3]),
    ])
    cap = load(tmp_path, data, "m.pcapng")
    assert cap.inputs[0].packets == 5
    assert [(f.packets, f.last_frame, f.server_by) for f in cap.flows] == [(4, 5, "tcp-syn")]
    assert any("147" in w for w in cap.inputs[0].warnings)


# -- link layers -----------------------------------------------------------------------------------

def _nflog(ip: bytes) -> bytes:
    def tlv(t: int, v: bytes) -> bytes:
        return struct.pack("<HH", 4 + len(v), t) + v + b"\0" * (-len(v) % 4)
    return bytes([2, 0, 0, 0]) + tlv(1, b"\x08\x00\x03\x00") + tlv(10, b"prefix\0") + tlv(9, ip)


LINK_LAYERS = {
    "ethernet": (1, lambda p, v6: raw(Ether(type=0x86DD if v6 else 0x800) / Raw(p))),
    "vlan": (1, lambda p, v6: eth(p, vlan=20)),
    "qinq": (1, lambda p, v6: b"\x02" * 12 + b"\x88\xa8\x00\x64\x81\x00\x00\x14"
             + (b"\x86\xdd" if v6 else b"\x08\x00") + p),
    "mpls": (1, lambda p, v6: b"\x02" * 12 + b"\x88\x47" + b"\x00\x01\x01\x40" + p),
    "pppoe": (1, lambda p, v6: b"\x02" * 12 + b"\x88\x64\x11\x00\x00\x01" + struct.pack(">H", len(p) + 2)
              + (b"\x00\x57" if v6 else b"\x00\x21") + p),
    "null": (0, lambda p, v6: struct.pack("<I", 30 if v6 else 2) + p),
    "loop": (108, lambda p, v6: struct.pack(">I", 24 if v6 else 2) + p),
    "sll": (113, lambda p, v6: raw(CookedLinux(proto=0x86DD if v6 else 0x800) / Raw(p))),
    "sll2": (276, lambda p, v6: raw(CookedLinuxV2(proto=0x86DD if v6 else 0x800) / Raw(p))),
    "raw101": (101, lambda p, v6: p),
    "raw12": (12, lambda p, v6: p),
    "raw14": (14, lambda p, v6: p),
    "ipv4": (228, lambda p, v6: p),
    "ppp": (9, lambda p, v6: b"\xff\x03" + (b"\x00\x57" if v6 else b"\x00\x21") + p),
    "ppp_hdlc": (50, lambda p, v6: b"\xff\x03" + (b"\x00\x57" if v6 else b"\x00\x21") + p),
    "c_hdlc": (104, lambda p, v6: b"\x0f\x00" + (b"\x86\xdd" if v6 else b"\x08\x00") + p),
    "nflog": (239, lambda p, v6: _nflog(p)),
}


@pytest.mark.parametrize("name", sorted(LINK_LAYERS))
@pytest.mark.parametrize("v6", [False, True])
def test_link_types(tmp_path, name, v6):
    if name == "ipv4" and v6:
        name_lt, wrap = 229, LINK_LAYERS["raw101"][1]
    else:
        name_lt, wrap = LINK_LAYERS[name]
    frames = [wrap(p, v6) for p in session(v6)]
    cap = load(tmp_path, pb.pcap_bytes(timed(frames), linktype=name_lt))
    assert summary(cap) == expected(frames, v6)


def test_non_ip_frames_are_counted_but_make_no_flow(tmp_path):
    from scapy.all import ARP

    frames = [eth(ARP())] + [eth(p) for p in session()]
    cap = load(tmp_path, pb.pcap_bytes(timed(frames)))
    assert cap.inputs[0].packets == 9
    assert [f.first_frame for f in cap.flows] == [2, 8]


def test_linklayer_returns_minus_one_on_garbage():
    assert ip_offset(1, b"\x00" * 14 + b"\x08\x06", 0, 16) == -1  # ARP
    assert ip_offset(239, b"\x02\x00\x00\x00\xff\xff\x09\x00", 0, 8) == -1  # TLV length runs off the end
    assert ip_offset(0, b"\x07\x00\x00\x00", 0, 4) == -1
    assert ip_offset(9, b"\xff\x03\x80\x21", 0, 4) == -1  # IPCP, not IP
    assert ip_offset(147, b"\x45" * 40, 0, 40) == -1


# -- IP ------------------------------------------------------------------------------------------

def test_ipv4_fragments_reassembled_and_counted_at_the_last(tmp_path):
    big = IP(src=C4, dst=DNS4, id=99) / UDP(sport=40001, dport=53) / Raw(b"q" * 3000)
    frags = fragment(big, fragsize=1000)
    assert len(frags) == 4
    order = [frags[0], frags[2], frags[3], frags[1]]  # out of order: frame 4 completes it
    frames = [eth(f) for f in order] + [eth(p) for p in session()[:1]]
    cap = load(tmp_path, pb.pcap_bytes(timed(frames)))
    udp = next(f for f in cap.flows if f.transport == "udp")
    assert (udp.packets, udp.bytes, udp.first_frame) == (1, len(frames[3]), 4)
    assert (udp.client.ip, udp.client.port, udp.server.port) == (C4, 40001, 53)


def test_ipv4_fragments_never_completed_make_no_flow(tmp_path):
    frags = fragment(IP(src=C4, dst=DNS4, id=5) / UDP(sport=1, dport=53) / Raw(b"x" * 2000), fragsize=1000)
    cap = load(tmp_path, pb.pcap_bytes(timed([eth(f) for f in frags[:-1]])))
    assert cap.flows == [] and cap.inputs[0].packets == len(frags) - 1
    assert cap.inputs[0].complete
    assert cap.inputs[0].warnings == [
        "1 fragmented IP datagrams could not be reassembled (fragments missing)"]


def test_ipv6_fragments_and_extension_headers(tmp_path):
    big = IPv6(src=C6, dst=S6) / IPv6ExtHdrFragment(id=77) / UDP(sport=4000, dport=53) / Raw(b"z" * 3000)
    frags = fragment6(big, 1280)
    ext = (IPv6(src=C6, dst=S6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting(addresses=[])
           / IPv6ExtHdrDestOpt() / ScapyTCP(sport=40000, dport=443, flags="S"))
    frames = [eth(f) for f in frags] + [eth(ext)]
    cap = load(tmp_path, pb.pcap_bytes(timed(frames)))
    got = [(f.transport, f.server.port, f.packets, f.bytes, f.first_frame) for f in cap.flows]
    assert got == [("udp", 53, 1, len(frames[len(frags) - 1]), len(frags)),
                   ("tcp", 443, 1, len(frames[-1]), len(frags) + 1)]


def test_icmp_error_quoting_udp_is_not_a_flow(tmp_path):
    quoted = IP(src=C4, dst=DNS4) / UDP(sport=40001, dport=53) / Raw(b"x" * 8)
    err = IP(src=DNS4, dst=C4) / ICMP(type=3, code=3) / quoted
    cap = load(tmp_path, pb.pcap_bytes(timed([eth(err)])))
    assert cap.flows == [] and cap.inputs[0].packets == 1


def _gtpu(inner: bytes) -> bytes:
    return struct.pack(">BBHI", 0x30, 0xFF, len(inner), 1234) + inner


TUNNELS = {
    "6in4": lambda p: raw(IP(src="198.51.100.1", dst="198.51.100.2", proto=41) / Raw(p)),
    "ipip": lambda p: raw(IP(src="198.51.100.1", dst="198.51.100.2", proto=4) / Raw(p)),
    "gre": lambda p: raw(IP(src="198.51.100.1", dst="198.51.100.2") / GRE(proto=0x86DD if p[0] >> 4 == 6
                                                                          else 0x800) / Raw(p)),
    "gtpu": lambda p: raw(IP(src="198.51.100.1", dst="198.51.100.2") / UDP(sport=2152, dport=2152)
                          / Raw(_gtpu(p))),
}


@pytest.mark.parametrize(("tunnel", "v6"), [("6in4", True), ("ipip", False), ("gre", False), ("gre", True),
                                           ("gtpu", False), ("gtpu", True)])
def test_tunnels_use_the_innermost_ip(tmp_path, tunnel, v6):
    frames = [eth(TUNNELS[tunnel](p)) for p in session(v6)]
    cap = load(tmp_path, pb.pcap_bytes(timed(frames)))
    assert summary(cap) == expected(frames, v6)


# -- TCP streams and client/server ---------------------------------------------------------------

def test_port_reuse_starts_a_new_flow_and_syn_retransmission_does_not(tmp_path):
    def conn(isn: int) -> list[bytes]:
        return [eth(IP(src=C4, dst=S4) / ScapyTCP(sport=40000, dport=143, flags="S", seq=isn)),
                eth(IP(src=C4, dst=S4) / ScapyTCP(sport=40000, dport=143, flags="S", seq=isn)),
                eth(IP(src=S4, dst=C4) / ScapyTCP(sport=143, dport=40000, flags="SA", seq=9,
                                                             ack=isn + 1)),
                eth(IP(src=C4, dst=S4) / ScapyTCP(sport=40000, dport=143, flags="R", seq=isn + 1))]
    frames = conn(100) + conn(5000)
    cap = load(tmp_path, pb.pcap_bytes(timed(frames)))
    assert [(f.packets, f.first_frame, f.last_frame, f.server.port) for f in cap.flows] == [(4, 1, 4, 143),
                                                                                          (4, 5, 8, 143)]


def test_server_by_rules(tmp_path):
    frames = [
        # SYN-ACK seen first (the SYN was missed): its sender is the server
        eth(IP(src=S4, dst=C4) / ScapyTCP(sport=8443, dport=50000, flags="SA")),
        # no handshake, the first packet comes from the well-known port: that side is the server
        eth(IP(src=S4, dst=C4) / ScapyTCP(sport=993, dport=50001, flags="PA") / Raw(b"* OK")),
        # both ports high, TCP: the lower port is the server
        eth(IP(src=S4, dst=C4) / ScapyTCP(sport=5060, dport=50002, flags="A")),
        # UDP between two high ports: the first packet's destination is the server
        eth(IP(src=C4, dst=S4) / UDP(sport=50003, dport=40000) / Raw(b"x")),
        # UDP reply from a well-known UDP port (NTP) seen first
        eth(IP(src=S4, dst=C4) / UDP(sport=123, dport=50004) / Raw(b"x")),
    ]
    cap = load(tmp_path, pb.pcap_bytes(timed(frames)))
    got = [(f.client.port, f.server.port, f.server_by) for f in cap.flows]
    assert got == [(50000, 8443, "tcp-synack"), (50001, 993, "port-heuristic"),
                   (50002, 5060, "port-heuristic"), (50003, 40000, "first-packet-dst"),
                   (50004, 123, "port-heuristic")]
    assert all(f.c2s_packets == 0 and f.s2c_packets == 1 for f in cap.flows[:3])


def test_truncated_frames_still_count_with_original_length(tmp_path):
    frames = [eth(p) for p in session()]
    cut = [(ts, f[:54]) for ts, f in timed(frames)]  # snaplen 54: headers only
    cap = load(tmp_path, pb.pcap_bytes(cut, snaplen=54, origlen_extra=0))
    assert [(f.transport, f.packets) for f in cap.flows] == [("tcp", 6), ("udp", 2)]


# -- against the real tshark -------------------------------------------------------------------

def _tshark_conversations(path: Path) -> Counter:
    tshark = require_tool("tshark")
    out = subprocess.run(
        [tshark, "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=l", "-e", "frame.len",
         "-e", "frame.protocols", "-e", "tcp.stream", "-e", "udp.stream"],
        capture_output=True, text=True, check=True,
    ).stdout
    streams: dict[tuple, list[int]] = {}
    for line in out.splitlines():
        flen, protos, tcp, udp = line.split("\t")
        layers = protos.split(":")
        if "icmp" in layers or "icmpv6" in layers:
            continue
        key = ("tcp", tcp) if "tcp" in layers else ("udp", udp) if "udp" in layers else None
        if key is None or not key[1]:
            continue
        acc = streams.setdefault(key, [0, 0])
        acc[0] += 1
        acc[1] += int(flen)
    return Counter((k[0], v[0], v[1]) for k, v in streams.items())


def test_mixed_capture_matches_tshark(tmp_path):
    """VLAN, IPv6 extension headers, fragments, tunnels, ICMP errors and port reuse in one file."""
    frames = [eth(p) for p in session()]
    frames += [eth(p, vlan=7) for p in session(v6=True)]
    frames += [eth(f) for f in fragment(IP(src=C4, dst=DNS4, id=3) / UDP(sport=7, dport=53)
                                                  / Raw(b"f" * 2500), fragsize=800)]
    frames += [eth(TUNNELS["gtpu"](p)) for p in session()[:3]]
    frames += [eth(IP(src=DNS4, dst=C4) / ICMP(type=3, code=3) / IP(src=C4, dst=DNS4)
                   / UDP(sport=40001, dport=53))]
    frames += [eth(IP(src=C4, dst=S4) / ScapyTCP(sport=40000, dport=443, flags="S", seq=777))]
    path = pb.write(tmp_path / "mixed.pcap", pb.pcap_bytes(timed(frames)))
    want = _tshark_conversations(path)
    cap = load_capture(str(path))
    assert Counter((f.transport, f.packets, f.bytes) for f in cap.flows) == want
    assert cap.inputs[0].packets == len(frames)
