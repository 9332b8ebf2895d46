"""FlowInspector against tshark's ground truth (../shared/captures/**/*.truth.json), fed by scapy.

The packets are split into flows here (by 5-tuple, client/server as the truth file says), so these tests
do not depend on the flow table; test_truth.py covers the end-to-end path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from analysis.capture.inspect import FlowInspector
from analysis.model import Endpoint, Flow
from tests.conftest import all_shared_captures, shared_params
from tests.scenarios import server_hello

scapy_all = pytest.importorskip("scapy.all")
from scapy.contrib.gtp import GTP_U_Header  # noqa: E402,F401  (registers GTP-U on udp/2152)
from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402


@dataclass
class _Conv:
    inspector: FlowInspector
    flow: Flow
    frames: list[int] = field(default_factory=list)


def _innermost(pkt):
    """(ip layer, l4 layer) of the innermost IP header that carries TCP or UDP, skipping ICMP quotes."""
    found = None
    layer = pkt
    while layer is not None and layer.name != "NoPayload":
        if isinstance(layer, (IP, IPv6)):
            l4 = layer.payload
            if isinstance(l4, (TCP, UDP)):
                found = (layer, l4)
            elif l4.name.startswith("ICMP"):
                break
        layer = layer.payload if hasattr(layer, "payload") else None
    return found


def _nflog(raw: bytes):
    """The IP packet in an NFLOG (link type 239) record: TLVs after a 4-byte header, payload type 9."""
    pos = 4
    while pos + 4 <= len(raw):
        length = int.from_bytes(raw[pos : pos + 2], "little")
        kind = int.from_bytes(raw[pos + 2 : pos + 4], "little")
        if length < 4:
            return None
        if kind == 9:
            data = raw[pos + 4 : pos + length]
            return IP(data) if data[:1] and data[0] >> 4 == 4 else IPv6(data)
        pos += (length + 3) & ~3
    return None


def _packets(path: Path):
    reader = scapy_all.PcapReader(str(path))
    for pkt in reader:
        if pkt.name == "Raw" and getattr(reader, "linktype", None) == 239:
            inner = _nflog(bytes(pkt))
            if inner is not None:
                inner.time = pkt.time
                pkt = inner
        elif pkt.name == "Loopback" and pkt.payload.name == "Raw":  # BSD's AF_INET6 values scapy misses
            raw = bytes(pkt.payload)
            inner = IPv6(raw) if raw[:1] and raw[0] >> 4 == 6 else IP(raw)
            inner.time = pkt.time
            pkt = inner
        yield pkt


def inspect_capture(path: Path) -> dict[tuple, _Conv]:
    """Every TCP/UDP conversation in the capture, inspected; keyed by (l4, client, server)."""
    truth = json.loads(Path(f"{path}.truth.json").read_text())
    servers = {}
    for f in truth["conversations"]["flows"]:
        a, b = (f["client"][0], f["client"][1]), (f["server"][0], f["server"][1])
        servers[(f["l4"], frozenset((a, b)))] = b
    convs: dict[tuple, _Conv] = {}
    for number, pkt in enumerate(_packets(path), start=1):
        got = _innermost(pkt)
        if got is None:
            continue
        ip, l4 = got
        kind = "tcp" if isinstance(l4, TCP) else "udp"
        src, dst = (ip.src, l4.sport), (ip.dst, l4.dport)
        server = servers.get((kind, frozenset((src, dst))))
        if server is None:
            continue
        client = dst if server == src else src
        key = (kind, client, server)
        conv = convs.get(key)
        if conv is None:
            conv = convs[key] = _Conv(FlowInspector(kind, client[1], server[1]),
                                      Flow(len(convs) + 1, kind, Endpoint(*client), Endpoint(*server)))
        payload = bytes(l4.payload)
        if kind == "tcp":
            flags = int(l4.flags)
            if isinstance(ip, IP) and ip.len and len(payload) > ip.len - ip.ihl * 4 - l4.dataofs * 4:
                payload = payload[: max(0, ip.len - ip.ihl * 4 - l4.dataofs * 4)]  # Ethernet padding
            if payload or flags & 0x02:
                conv.inspector.feed(src == client, payload, number, float(pkt.time),
                                    seq=l4.seq, tcp_flags=flags)
        elif payload:
            conv.inspector.feed(src == client, payload, number, float(pkt.time))
    for conv in convs.values():
        conv.inspector.apply(conv.flow)
    return convs


CAPTURES = all_shared_captures()


def _id(p: Path) -> str:
    return p.name


@pytest.fixture(scope="module")
def inspected() -> dict[Path, tuple[dict, dict]]:
    return {}


def _load(path: Path, cache: dict) -> tuple[dict, dict]:
    if path not in cache:
        cache[path] = (inspect_capture(path), json.loads(Path(f"{path}.truth.json").read_text()))
    return cache[path]


@pytest.mark.parametrize("path", shared_params(CAPTURES, _id))
def test_names_match_truth(path: Path, inspected, shared_captures) -> None:
    """SNI (TLS over TCP, QUIC, gQUIC), DNS query names and HTTP hosts: the same sets as tshark finds."""
    convs, truth = _load(path, inspected)
    sni = {n for c in convs.values() for n in c.flow.names.sni}
    assert sni == set(truth["tls_sni_tcp"]) | set(truth["quic_sni"]) | set(truth["gquic_sni"])
    hosts = {n for c in convs.values() for n in c.flow.names.http_host}
    assert hosts == set(truth["http_hosts"])
    qnames = {q for c in convs.values() for _f, _t, m in c.inspector.dns for q, _ty in m.questions}
    assert qnames == set(truth["dns"]["dns"]["query_names"])


@pytest.mark.parametrize("path", shared_params(CAPTURES, _id))
def test_client_hellos_and_mail_sessions_match_truth(path: Path, inspected, shared_captures) -> None:
    """Per flow: ALPN of each ClientHello, and each mail session's protocol and STARTTLS flag."""
    convs, truth = _load(path, inspected)
    for ch in truth["tls_client_hellos"]:
        kind = "udp" if ch["transport"] == "quic" else "tcp"
        conv = convs[(kind, tuple(ch["client"]), tuple(ch["server"]))]
        assert conv.flow.alpn == (ch["alpn"] or []), ch
        if ch["sni"]:
            assert ch["sni"] in conv.flow.names.sni
        implicit = {993: "imaps", 995: "pop3s", 465: "smtps"}
        want = "quic" if kind == "udp" else implicit.get(ch["server"][1], "tls")
        if ch["after_starttls"] is None:
            assert conv.flow.app_protocol == want
    for s in truth["mail_sessions"]:
        conv = convs[("tcp", tuple(s["client"]), tuple(s["server"]))]
        expected = {"imap": {"imap"}, "pop3": {"pop3"}, "smtp": {"smtp", "submission"}}[s["protocol"]]
        assert conv.flow.app_protocol in expected, s
        assert conv.flow.starttls == s["starttls"], s
        if s["server"][1] == 587:
            assert conv.flow.app_protocol == "submission"


# -- synthetic flows: reassembly, STARTTLS, credentials, bounds ------------------------------------------

def _flow(transport: str, cport: int, sport: int) -> Flow:
    return Flow(1, transport, Endpoint("10.23.42.50", cport), Endpoint("203.0.113.25", sport))


class _Conn:
    """A TCP connection's two sequence spaces; ``send`` feeds one segment to the inspector."""

    def __init__(self, sport: int, isn_c: int = 1000, isn_s: int = 5000, syn: bool = True) -> None:
        self.insp = FlowInspector("tcp", 50123, sport)
        self.seq = {True: isn_c, False: isn_s}
        self.frame = 0
        if syn:
            self.frame += 1
            self.insp.feed(True, b"", self.frame, 0.0, seq=isn_c, tcp_flags=0x02)
            self.frame += 1
            self.insp.feed(False, b"", self.frame, 0.0, seq=isn_s, tcp_flags=0x12)
            self.seq = {True: (isn_c + 1) & 0xFFFFFFFF, False: (isn_s + 1) & 0xFFFFFFFF}

    def send(self, from_client: bool, data: bytes) -> int:
        self.frame += 1
        self.insp.feed(from_client, data, self.frame, float(self.frame),
                       seq=self.seq[from_client], tcp_flags=0x18)
        self.seq[from_client] = (self.seq[from_client] + len(data)) & 0xFFFFFFFF
        return self.frame

    def result(self, sport: int | None = None) -> Flow:
        flow = _flow("tcp", 50123, sport or self.insp.server_port)
        self.insp.apply(flow)
        return flow


def _tls_hello(sni: str = "imap.example.org") -> bytes:
    tls_all = pytest.importorskip("scapy.layers.tls.all")
    ch = tls_all.TLSClientHello(version=0x0303, ciphers=[0x1301], ext=[
        tls_all.TLS_Ext_ServerName(servernames=[tls_all.ServerName(servername=sni.encode())]),
        tls_all.TLS_Ext_ALPN(protocols=[tls_all.ProtocolName(protocol=b"imap")])])
    return bytes(tls_all.TLS(version=0x0301, msg=[ch]))


def test_client_hello_out_of_order_with_retransmission_and_wraparound() -> None:
    hello = _tls_hello()
    conn = _Conn(993, isn_c=0xFFFFFFF0)  # sequence numbers wrap inside the ClientHello
    base = conn.seq[True]
    parts = [(0, hello[:20]), (20, hello[20:50]), (50, hello[50:])]
    for off, data in (parts[2], parts[0], parts[0], parts[1]):  # third first, then a retransmission
        conn.frame += 1
        conn.insp.feed(True, data, conn.frame, 0.0, seq=(base + off) & 0xFFFFFFFF, tcp_flags=0x18)
    assert not conn.insp.done  # the ClientHello is read; the server's answer is still to come
    conn.send(False, server_hello("wrap"))
    assert conn.insp.done
    flow = conn.result()
    assert flow.names.sni == ["imap.example.org"] and flow.alpn == ["imap"]
    assert flow.app_protocol == "imaps" and flow.tls_established is True


def test_overlapping_retransmission_with_new_bytes_and_no_syn() -> None:
    hello = _tls_hello("smtp.example.org")
    conn = _Conn(465, syn=False)
    conn.frame += 1
    conn.insp.feed(True, hello[:30], conn.frame, 0.0, seq=7000, tcp_flags=0x18)
    conn.frame += 1
    conn.insp.feed(True, hello[10:], conn.frame, 0.0, seq=7010, tcp_flags=0x18)  # overlaps, then continues
    flow = conn.result()
    assert flow.names.sni == ["smtp.example.org"] and flow.app_protocol == "smtps"


def test_imap_starttls_then_client_hello() -> None:
    conn = _Conn(143)
    conn.send(False, b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
    conn.send(True, b"a1 STARTTLS\r\n")
    assert not conn.insp.done
    conn.send(False, b"a1 OK Begin TLS\r\n")
    hello = _tls_hello("mail.example.org")
    conn.send(True, hello[:40])
    conn.send(True, hello[40:])
    assert not conn.insp.done
    conn.send(False, server_hello("starttls")[:20])
    assert not conn.insp.done
    conn.send(False, server_hello("starttls")[20:])
    assert conn.insp.done
    flow = conn.result()
    assert (flow.app_protocol, flow.starttls, flow.names.sni) == ("imap", True, ["mail.example.org"])
    assert not flow.cleartext_credentials and flow.tls_established is True


def test_cleartext_login_frames_and_no_password_kept() -> None:
    secret = "Canary-Pa55word!"
    conn = _Conn(110)
    conn.send(False, b"+OK POP3 ready\r\n")
    conn.send(True, b"USER lft2\r\n")
    conn.send(False, b"+OK\r\n")
    conn.send(True, b"PA")
    frame = conn.send(True, f"SS {secret}\r\n".encode())  # the line ends in this frame
    flow = conn.result()
    assert flow.app_protocol == "pop3" and flow.cleartext_credentials
    assert flow.credential_frames == [frame]
    assert flow.auth_mechanisms == ["USER"]
    assert secret not in json.dumps(flow.to_json()) and secret not in repr(conn.insp._mail)


def test_smtp_submission_and_nonstandard_port_by_banner() -> None:
    conn = _Conn(587)
    conn.send(False, b"220 smtp.example.org ESMTP\r\n")
    conn.send(True, b"EHLO phone\r\n")
    assert conn.result().app_protocol == "submission"
    odd = _Conn(10025)
    odd.send(False, b"220 relay ESMTP Exim\r\n")
    odd.send(True, b"EHLO phone\r\nAUTH PLAIN AGx0ZjIAc2VjcmV0\r\n")
    flow = odd.result()
    assert flow.app_protocol == "smtp" and flow.auth_mechanisms == ["PLAIN"] and flow.cleartext_credentials
    imap_odd = _Conn(10143)
    imap_odd.send(True, b"a1 CAPABILITY\r\n")
    assert imap_odd.result().app_protocol == "imap"
    ftp = _Conn(21)
    ftp.send(False, b"220 ProFTPD Server\r\n")
    ftp.send(True, b"USER anonymous\r\n")
    assert ftp.result().app_protocol == "other"


def test_port_fallback_without_payload_and_http_host() -> None:
    assert _Conn(993).result().app_protocol == "imaps"
    assert _Conn(8443).result().app_protocol == "other"
    web = _Conn(80)
    web.send(True, b"GET / HTTP/1.1\r\nHost: autodiscover.example.org\r\n\r\n")
    assert web.insp.done
    flow = web.result()
    assert flow.app_protocol == "http" and flow.names.http_host == ["autodiscover.example.org"]


def test_dns_over_tcp_and_udp_messages() -> None:
    scapy_dns = pytest.importorskip("scapy.layers.dns")
    q = bytes(scapy_dns.DNS(id=1, qd=[scapy_dns.DNSQR(qname="imap.example.org", qtype="A")]))
    r = bytes(scapy_dns.DNS(id=1, qr=1, qd=[scapy_dns.DNSQR(qname="imap.example.org", qtype="A")],
                            an=[scapy_dns.DNSRR(rrname="imap.example.org", rdata="203.0.113.25")]))
    conn = _Conn(53)
    stream = len(q).to_bytes(2, "big") + q
    conn.send(True, stream[:1])
    conn.send(True, stream[1:] + len(q).to_bytes(2, "big") + q)  # a message over two segments, two in one
    conn.send(False, len(r).to_bytes(2, "big") + r)
    assert [m.is_response for _f, _t, m in conn.insp.dns] == [False, False, True]
    assert conn.result().app_protocol == "dns"
    udp = FlowInspector("udp", 40000, 53)
    udp.feed(True, q, 1, 1.0)
    udp.feed(False, r, 2, 1.5)
    udp.feed(False, b"\x00garbage", 3, 2.0)
    seen = [(f, m.answers[0].value if m.answers else None) for f, _t, m in udp.dns]
    assert seen == [(1, None), (2, "203.0.113.25")]


def test_quic_initial_sets_sni() -> None:
    from tests.test_proto_quic import RFC9001_CLIENT_INITIAL

    insp = FlowInspector("udp", 50000, 443)
    insp.feed(True, RFC9001_CLIENT_INITIAL, 1, 0.0)
    assert insp.done
    flow = _flow("udp", 50000, 443)
    insp.apply(flow)
    assert (flow.app_protocol, flow.names.sni, flow.alpn) == ("quic", ["example.com"], ["alpn"])


def test_socks5_tunnel_to_tls() -> None:
    conn = _Conn(1080)
    conn.send(True, b"\x05\x01\x00")
    conn.send(False, b"\x05\x00")
    conn.send(True, b"\x05\x01\x00\x03\x10imap.example.org\x03\xe1")
    conn.send(False, b"\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38")
    conn.send(True, _tls_hello())
    flow = conn.result(sport=1080)
    assert flow.names.sni == ["imap.example.org"] and flow.app_protocol == "imaps"
    assert flow.notes == ["SOCKS5 tunnel to imap.example.org:993"]


def test_bounded_state_on_endless_unknown_and_mail_streams() -> None:
    blob = FlowInspector("tcp", 50000, 8000)
    for i in range(2000):
        blob.feed(True, b"\x00" * 1400, i + 1, 0.0, seq=1 + 1400 * i)
        if blob.done:
            break
    assert blob.done and i < 10
    imap = _Conn(143)
    imap.send(False, b"* OK ready\r\n")
    imap.send(True, b"a1 LOGIN u p\r\na2 SELECT INBOX\r\n")
    for _ in range(200):  # a long mailbox download
        imap.send(False, b"* 1 FETCH (BODY[] {1000}\r\n" + b"x" * 1000 + b")\r\n")
        if imap.insp.done:
            break
    assert imap.insp.done  # 64 KiB per direction at most
    assert len(imap.insp._s.buf) == 0
    gaps = _Conn(143)
    for k in range(40):  # segments after a hole that is never filled
        gaps.frame += 1
        gaps.insp.feed(True, b"a%d NOOP\r\n" % k, gaps.frame, 0.0, seq=gaps.seq[True] + 100 + 12 * k)
    assert len(gaps.insp._c.pending) < 16 and gaps.insp._c.gaps >= 1


def test_http_connect_tunnel_to_imaps_and_refused_tunnel() -> None:
    conn = _Conn(8080)
    conn.send(True, b"CONNECT imap.example.org:993 HTTP/1.1\r\nHost: imap.example.org:993\r\n\r\n")
    assert not conn.insp.done
    conn.send(False, b"HTTP/1.1 200 Connection established\r\n\r\n")
    conn.send(True, _tls_hello("imap.example.org"))
    conn.send(False, server_hello("tunnel"))
    assert conn.insp.done
    flow = conn.result(sport=8080)
    assert flow.names.http_host == ["imap.example.org:993"] and flow.names.sni == ["imap.example.org"]
    assert flow.app_protocol == "imaps" and flow.notes == ["HTTP CONNECT tunnel to imap.example.org:993"]
    assert flow.tls_established is True
    refused = _Conn(3128)
    refused.send(True, b"CONNECT smtp.example.org:25 HTTP/1.1\r\n\r\n")
    refused.send(False, b"HTTP/1.1 403 Forbidden\r\n\r\n")
    assert refused.insp.done
    flow = refused.result(sport=3128)
    assert flow.app_protocol == "http" and flow.names.http_host == ["smtp.example.org:25"]
    assert flow.notes == []


def test_unreadable_payload_on_mail_ports_is_named_by_port() -> None:
    for port, want in ((2525, "smtp"), (587, "submission"), (143, "imap")):
        conn = _Conn(port, syn=False)
        conn.send(True, b"\x00\x01binary\n")
        conn.send(False, b"\x02\x03binary\n")
        assert conn.result().app_protocol == want, port


def test_imap_literals_by_exact_count_and_the_command_after_them() -> None:
    """The capture path and the mitmproxy converter follow mail with one follower (analysis.protocols.mail).
    Changed with it: the rest of an IMAP command after a literal is read as that command's continuation, so
    the size of a second literal there (MULTIAPPEND) is honoured; before, that line was parsed as a command
    and the second literal's content (here a message quoting a LOGIN) as the next one."""
    conn = _Conn(143)
    conn.send(False, b"* OK ready\r\n")
    quoted = b"c LOGIN bob secret\r\n"
    conn.send(True, b"a APPEND INBOX {5}\r\nhello {%d}\r\n" % len(quoted))
    conn.send(True, quoted + b"\r\n")
    conn.send(False, b"a OK appended\r\n")
    frame = conn.send(True, b"b LOGIN lft2 pw\r\n")
    flow = conn.result()
    assert flow.app_protocol == "imap" and flow.credential_frames == [frame]
