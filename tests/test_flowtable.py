"""The flow table's DNS knowledge, its renderings (``maildetour flows``) and the fragment buffers' bounds."""

from __future__ import annotations

import csv
import io
import json

from scapy.all import DNS, DNSQR, DNSRR, IP, UDP, Ether, Raw, raw
from scapy.all import TCP as ScapyTCP

from analysis.capture import load_capture
from analysis.capture.ip import Reassembler
from analysis.model import Capture, Endpoint, Flow, InputInfo
from analysis.report.csvout import COLUMNS as CSV_COLUMNS
from analysis.report.flowlist import BATCH, iter_flows, render_flows
from tests import pcapbuild as pb

PHONE, RESOLVER, MAIL, WEB = "10.0.0.2", "192.0.2.53", "203.0.113.25", "203.0.113.80"


def eth(packet) -> bytes:
    return raw(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / packet)


def dns_exchange(qname: str, answers: list, sport: int, dport: int = 53,
                 server: str = RESOLVER) -> list[bytes]:
    rr = None
    for a in answers:
        rr = a if rr is None else rr / a
    question = DNSQR(qname=qname)
    query = IP(src=PHONE, dst=server) / UDP(sport=sport, dport=dport) / DNS(id=sport, rd=1, qd=question)
    reply = IP(src=server, dst=PHONE) / UDP(sport=dport, dport=sport) / DNS(
        id=sport, qr=1, qd=DNSQR(qname=qname), an=rr, ancount=len(answers))
    return [eth(query), eth(reply)]


def capture_with_dns(tmp_path) -> Capture:
    chain = [DNSRR(rrname="imap.example.org", type="CNAME", rdata="mx.provider.example"),
             DNSRR(rrname="mx.provider.example", type="A", rdata=MAIL)]
    frames = dns_exchange("imap.example.org", chain, 41000)
    frames += dns_exchange("www.example.org", [DNSRR(rrname="www.example.org", type="A", rdata=WEB)], 41001)
    # mDNS on 5353 names nothing here
    frames += dns_exchange("printer.local", [DNSRR(rrname="printer.local", type="A", rdata=MAIL)], 5353,
                           dport=5353, server="224.0.0.251")
    frames += [eth(IP(src=PHONE, dst=MAIL) / ScapyTCP(sport=50000, dport=993, flags="S")),
               eth(IP(src=PHONE, dst=WEB) / ScapyTCP(sport=50001, dport=80, flags="S")),
               eth(IP(src=PHONE, dst="198.51.100.7") / ScapyTCP(sport=50002, dport=443, flags="S"))]
    path = tmp_path / "dns.pcap"
    path.write_bytes(pb.pcap_bytes([(1_600_000_000.0 + i, f) for i, f in enumerate(frames)]))
    return load_capture(str(path))


def test_dns_entries_and_names_on_flows(tmp_path):
    cap = capture_with_dns(tmp_path)
    entries = {d.query: d for d in cap.dns}
    assert set(entries) == {"imap.example.org", "www.example.org"}
    imap = entries["imap.example.org"]
    assert imap.answers == ["mx.provider.example", MAIL]
    assert (imap.types, imap.first_frame, imap.client) == (["A"], 1, PHONE)
    by_server = {f.server.ip: f for f in cap.flows if f.transport == "tcp"}
    assert by_server[MAIL].names.dns == ["imap.example.org", "mx.provider.example"]
    assert by_server[WEB].names.dns == ["www.example.org"]
    assert by_server["198.51.100.7"].names.dns == []


def _flow(n: int, sni: str = "") -> Flow:
    f = Flow(n, "tcp", Endpoint("10.0.0.2", 40000 + n), Endpoint("2001:db8::1", 443), packets=3, bytes=180,
             c2s_packets=2, c2s_bytes=120, s2c_packets=1, s2c_bytes=60, first_frame=n, last_frame=n + 2,
             first_seen=1_600_000_000.0, last_seen=1_600_000_001.5, server_by="tcp-syn")
    if sni:
        f.names.add("sni", sni)
    return f


def test_render_jsonl_is_one_flow_json_per_line():
    cap = Capture(inputs=[InputInfo("x.pcap", format="pcap", packets=9)],
                  flows=[_flow(1), _flow(2, "a.example")])
    lines = render_flows(cap, "jsonl").splitlines()
    assert [json.loads(x) for x in lines] == [f.to_json() for f in cap.flows]


def test_render_csv_flat_columns_and_formula_guard():
    cap = Capture(flows=[_flow(1, "=cmd|' /C calc'!A0"), _flow(2, "mail.example.org")])
    rows = list(csv.reader(io.StringIO(render_flows(cap, "csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["sni"].startswith("'=")  # a spreadsheet shows it, never runs it
    assert (first["DstIP"], first["BytesSent"], first["duration"]) == ("2001:db8::1", "120", "1.5")
    assert (first["IPProto"], first["SrcPort"], first["packets"], first["starttls"]) == ("6", "40001", "3", "false")
    assert dict(zip(rows[0], rows[2], strict=True))["sni"] == "mail.example.org"


def test_render_table_truncates_and_escapes_names():
    long_name = "x" * 100 + ".example"
    cap = Capture(inputs=[InputInfo("cut.pcap", format="pcap", packets=5, complete=False, error_offset=77,
                                    warnings=["damaged at offset 77: truncated record"])],
                  flows=[_flow(1, long_name), _flow(2, "evil\x1b[31m.example")])
    text = render_flows(cap, "table")
    assert long_name not in text and "x" * 40 in text
    assert "\x1b" not in text and "\\x1b" in text
    assert "[2001:db8::1]:443" in text
    assert "INCOMPLETE at offset 77" in text


def test_iter_flows_pieces_join_to_the_whole():
    cap = Capture(flows=[_flow(n) for n in range(1, 2 * BATCH + 3)])
    for fmt in ("jsonl", "csv"):
        pieces = list(iter_flows(cap, fmt))
        assert len(pieces) == 3
        assert "".join(pieces) == render_flows(cap, fmt)
    assert render_flows(Capture(), "csv").strip() == ",".join(CSV_COLUMNS)
    assert render_flows(Capture(), "jsonl") == ""


def test_reassembler_is_bounded():
    r = Reassembler(max_datagrams=4, timeout=10.0)
    for i in range(10):
        assert r.add((4, b"a", b"b", i, 17), 0, True, b"x" * 8, float(i)) is None
    assert len(r.pending) <= 4 and r.dropped >= 6
    assert r.add((4, b"a", b"b", 99, 17), 65530, False, b"y" * 10, 11.0) is None  # beyond 64 KiB
    r.add((4, b"a", b"b", 100, 17), 100, False, b"z" * 4, 100.0)  # later: everything older has expired
    assert list(r.pending) == [(4, b"a", b"b", 100, 17)]
    assert r.add((4, b"a", b"b", 100, 17), 0, True, b"w" * 100, 100.5) == b"w" * 100 + b"z" * 4
    assert r.pending == {} and r.held == 0


def test_garbage_after_ip_headers_makes_no_flow_and_no_error(tmp_path):
    frames = [eth(IP(src=PHONE, dst=MAIL, proto=6) / Raw(b"\x00\x35")),  # TCP header cut short
              eth(IP(src=PHONE, dst=MAIL, ihl=15) / Raw(b"\x01" * 4)),  # IHL beyond the packet
              eth(IP(src=PHONE, dst=MAIL, len=10) / UDP() / Raw(b"z")),  # total length < header
              raw(Ether(type=0x86DD) / Raw(b"\x60" + b"\x00" * 10))]  # IPv6 header cut short
    path = tmp_path / "junk.pcap"
    path.write_bytes(pb.pcap_bytes([(1.0 + i, f) for i, f in enumerate(frames)]))
    cap = load_capture(str(path))
    assert cap.flows == [] and cap.inputs[0].packets == 4 and cap.inputs[0].complete
