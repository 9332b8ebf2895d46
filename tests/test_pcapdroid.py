"""PCAPdroid captures (pcapng with its UID map blocks and ``u-<uid>`` comments, pcap with its trailer), written
here in PCAPdroid's exact layouts (tests/pcapdroid_files.py) from a phone's traffic of several apps, against
real tshark: Wireshark's frame numbers (custom blocks are frames), ``frame.len``, every flow's app."""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from scapy.all import IP

from analysis.capture import load_capture
from analysis.capture.reader import CaptureReader
from analysis.report.csvout import COLUMNS, flows_csv
from tests import pcapbuild as pb
from tests import pcapdroid_files as pd
from tests import scenarios as sc
from tests.conftest import require_tool
from tests.test_bad_input import EXIT_DAMAGED, EXIT_OK, one_line, run

MAIL_UID, NEWS_UID, SYSTEM_UID, UNMAPPED_UID = 10123, 10200, 1000, 10999
APPS = {
    MAIL_UID: ("com.example.mail", "Example Mail"),
    NEWS_UID: ("org.example.news", "Zeitungsleser ÄÖÜ – News"),  # the trailer's 19 bytes end inside "Ü"
    SYSTEM_UID: ("android", "Android System"),
}
NEWS_IP, NEWS_NAME = "198.51.100.80", "api.news.example"


def _packets(cap: sc.Capture, uid: int, ifidx: int = 0) -> list[pd.Packet]:
    return [pd.Packet(float(p.time), uid, bytes(p[IP]), outbound=p[IP].src == sc.DEVICE, ifidx=ifidx)
            for p in cap.packets]


def phone(unmapped: bool = False) -> list[pd.Packet]:
    """A phone's traffic, the apps' packets interleaved in time: the mail app looks its relay up, relays
    through it (TLS) and speaks IMAP to the mail host; a news app talks to its own service; the system
    checks connectivity. With ``unmapped``, one more app whose UID has no map entry."""
    mail = sc.Capture(clock=sc.START)
    sc.dns_lookup(mail, sc.DEVICE, sc.RELAY_NAME, [("A", sc.RELAY_IP)], qid=7)
    sc.https(mail, sc.DEVICE, 50001, sc.RELAY_IP, sc.RELAY_NAME, up=3000, down=9000, seed="relay")
    imap = sc.Tcp(mail, sc.DEVICE, 50002, sc.MAIL_IP, 143).open()
    imap.s(b"* OK [CAPABILITY IMAP4rev1] ready\r\n").c(b"a1 CAPABILITY\r\n")
    imap.s(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na1 OK done\r\n").close()
    news = sc.Capture(clock=sc.START + 0.0013)
    sc.https(news, sc.DEVICE, 50101, NEWS_IP, NEWS_NAME, up=800, down=20000, seed="news")
    system = sc.Capture(clock=sc.START + 0.0021)
    sc.https(system, sc.DEVICE, 50201, sc.CHECK_IP, sc.CHECK_NAME, up=200, down=300, seed="check")
    packets = _packets(mail, MAIL_UID) + _packets(news, NEWS_UID, ifidx=3) + _packets(system, SYSTEM_UID)
    if unmapped:
        other = sc.Capture(clock=sc.START + 0.0007)
        sc.https(other, sc.DEVICE, 50301, "198.51.100.99", "unmapped.example", up=100, down=100, seed="x")
        packets += _packets(other, UNMAPPED_UID)
    return sorted(packets, key=lambda p: p.ts)


def names() -> dict[int, str]:
    return {uid: name for uid, (_package, name) in APPS.items()}


def tshark_streams(path: Path) -> tuple[list[tuple], dict[int, tuple[int, str]]]:
    """tshark's conversations, in first-frame order: (transport, first frame, last frame, packets, bytes);
    and for every frame, its frame.len and comment."""
    out = subprocess.run(
        [require_tool("tshark"), "-r", str(path), "-T", "fields", "-E", "separator=\t", "-e", "frame.number",
         "-e", "frame.len", "-e", "frame.comment", "-e", "tcp.stream", "-e", "udp.stream"],
        capture_output=True, text=True, check=True, timeout=120).stdout
    streams: dict[tuple[str, int], list[int]] = {}
    frames: dict[int, tuple[int, str]] = {}
    for line in out.splitlines():
        number, length, comment, tcp, udp = (line.split("\t") + [""] * 5)[:5]
        frames[int(number)] = (int(length), comment)
        for transport, stream in (("tcp", tcp), ("udp", udp)):
            if stream:
                key = (transport, int(stream.split(",")[0]))
                row = streams.setdefault(key, [int(number), 0, 0, 0])
                row[1], row[2], row[3] = int(number), row[2] + 1, row[3] + int(length)
    rows = sorted((t, first, last, pkts, nbytes) for (t, _s), (first, last, pkts, nbytes) in streams.items())
    return sorted(rows, key=lambda r: r[1]), frames


def ours(cap) -> list[tuple]:
    return [(f.transport, f.first_frame, f.last_frame, f.packets, f.bytes) for f in cap.flows]


def app_of(cap, server_ip: str):
    return next(f.app for f in cap.flows if f.server.ip == server_ip)


# -- pcapng: custom blocks, comments -------------------------------------------------------------------

@pytest.mark.parametrize("root", [False, True], ids=["vpn", "root"])
def test_pcapng_frames_bytes_and_apps_match_tshark(tmp_path, root):
    """Every UID map block is a frame in Wireshark: the flows' frame numbers, packets and bytes are tshark's,
    and each flow's first frame carries the ``u-<uid>`` comment of the app it is given."""
    data = pd.pcapng_bytes(phone(), APPS, root=root, secrets=b"CLIENT_RANDOM 00 11\n")
    path = pb.write(tmp_path / "phone.pcapng", data)
    cap = load_capture(str(path), parallel=False)
    want, frames = tshark_streams(path)
    assert ours(cap) == want
    assert cap.inputs[0].packets == max(frames)  # the last frame number, custom blocks included
    assert cap.inputs[0].complete and cap.inputs[0].warnings == []
    assert sum(1 for _len, comment in frames.values() if not comment) == len(APPS)  # the map blocks
    for flow in cap.flows:
        assert flow.app is not None and flow.app.source == "pcapdroid"
        assert frames[flow.first_frame][1] == f"u-{flow.app.uid}"
        assert (flow.app.id, flow.app.name) == APPS[flow.app.uid]
    assert app_of(cap, sc.RELAY_IP).id == app_of(cap, sc.MAIL_IP).id == "com.example.mail"
    assert app_of(cap, NEWS_IP).name == "Zeitungsleser ÄÖÜ – News"
    assert app_of(cap, sc.CHECK_IP).uid == SYSTEM_UID
    imap = next(f for f in cap.flows if f.server.ip == sc.MAIL_IP)
    assert imap.app_protocol == "imap" and imap.names.sni == []
    assert next(f for f in cap.flows if f.server.ip == sc.RELAY_IP).names.sni == [sc.RELAY_NAME]


def test_other_custom_blocks_are_frames_too(tmp_path):
    """Custom blocks of other vendors, with or without the copy bit, before the first interface too: each
    is a frame, as tshark 4.0 numbers them, and none holds a packet."""
    packets = _udp_exchange()
    blocks = [pb.shb(), pd._block(0x0BAD, struct.pack("<I", 12345) + b"abcd"), pb.idb(101)]
    for i, ip in enumerate(packets):
        blocks.append(pb.epb(0, sc.START + i, ip))
        blocks.append(pd._block(0x40000BAD if i % 2 else 0x0BAD, struct.pack("<I", 99 + i) + bytes(8)))
    path = pb.write(tmp_path / "vendors.pcapng", b"".join(blocks))
    cap = load_capture(str(path))
    want, frames = tshark_streams(path)
    assert ours(cap) == want and [f.first_frame for f in cap.flows] == [2]
    assert cap.inputs[0].packets == max(frames) == 1 + 2 * len(packets)
    assert cap.flows[0].app is None and cap.inputs[0].warnings == []


def _udp_exchange() -> list[bytes]:
    from scapy.all import UDP

    return [bytes(IP(src="10.0.0.2", dst="192.0.2.9") / UDP(sport=40000, dport=9999) / (b"q" * 10)),
            bytes(IP(src="192.0.2.9", dst="10.0.0.2") / UDP(sport=9999, dport=40000) / (b"r" * 20))]


def test_records_give_custom_blocks_no_bytes(tmp_path):
    """A UID map block is a record of no bytes right before its UID's first packet."""
    packets = phone()[:8]
    reader = CaptureReader(str(pb.write(tmp_path / "r.pcapng", pd.pcapng_bytes(packets, APPS))))
    records = list(reader.records())
    empty = [i for i, r in enumerate(records) if r[3] == r[4] == 0]
    firsts = []
    for p in packets:
        if p.uid not in firsts:
            firsts.append(p.uid)
    assert len(records) == len(packets) + len(firsts) and len(empty) == len(firsts)
    rest = [i for i in range(len(records)) if i not in empty]
    assert all(records[i + 1][3] > 0 for i in empty)
    assert [packets[rest.index(i + 1)].uid for i in empty] == firsts


# -- pcap with the PCAPdroid trailer ---------------------------------------------------------------------

def test_pcap_trailer_frames_bytes_and_apps_match_tshark(tmp_path):
    """frame.len counts the placeholder header, padding and trailer (as PCAPdroid writes the original
    length): the flows' bytes are tshark's; the app is the trailer's UID and (cut) name, no package."""
    packets = phone()
    path = pb.write(tmp_path / "phone.pcap", pd.pcap_bytes(packets, names()))
    cap = load_capture(str(path), parallel=False)
    want, frames = tshark_streams(path)
    assert ours(cap) == want
    assert all(frames[i + 1][0] == len(p.ip) + 14 + (-(14 + len(p.ip)) % 4) + 32 for i, p in enumerate(packets))
    assert cap.inputs[0].complete and cap.inputs[0].warnings == []
    news = app_of(cap, NEWS_IP)
    assert (news.id, news.uid, news.source) == (None, NEWS_UID, "pcapdroid")
    assert news.name == "Zeitungsleser ÄÖ"  # 19 bytes, the "Ü" cut in half dropped
    mail = app_of(cap, sc.MAIL_IP)
    assert (mail.name, mail.uid) == ("Example Mail", MAIL_UID)
    imap = next(f for f in cap.flows if f.server.ip == sc.MAIL_IP)
    assert imap.app_protocol == "imap"


def test_trailer_is_cut_off_the_captured_bytes(tmp_path):
    """Each record ends where PCAPdroid's padding ends: placeholder header, IP packet, zero padding."""
    packets = phone()[:12]
    path = pb.write(tmp_path / "t.pcap", pd.pcap_bytes(packets, names()))
    reader = CaptureReader(str(path))
    for (lt, buf, off, caplen, origlen, _ts), p in zip(reader.records(), packets, strict=True):
        frame = bytes(buf[off:off + caplen])
        pad = -(14 + len(p.ip)) % 4
        assert lt == 1 and frame == bytes(12) + b"\x08\x00" + p.ip + bytes(pad)
        assert origlen == len(p.ip) + 14 + pad + 32


def test_trailer_leaves_payload_inspection_as_without_it(tmp_path):
    """The same packets as plain raw IP (no placeholder header, no trailer): every flow alike but for its
    bytes (frame.len counts PCAPdroid's additions) and its app."""
    packets = phone()
    with_trailer = load_capture(str(pb.write(tmp_path / "t.pcap", pd.pcap_bytes(packets, names()))))
    raw_ip = pb.pcap_bytes([(p.ts, p.ip) for p in packets], linktype=pd.LINKTYPE_RAW)
    plain = load_capture(str(pb.write(tmp_path / "raw.pcap", raw_ip)))

    def same(flow) -> dict:
        out = flow.to_json()
        for key in ("bytes", "c2s", "s2c", "app"):
            out.pop(key)
        return out

    assert [same(f) for f in with_trailer.flows] == [same(f) for f in plain.flows]
    assert {f.app_protocol for f in plain.flows} >= {"imap", "tls", "dns"}
    overhead = sum(14 + (-(14 + len(p.ip)) % 4) + 32 for p in packets)
    assert sum(f.bytes for f in with_trailer.flows) - sum(f.bytes for f in plain.flows) == overhead


# -- both layouts through the command, and in the CSV -----------------------------------------------------

def test_flows_command_jsonl_and_csv(tmp_path):
    path = pb.write(tmp_path / "phone.pcapng", pd.pcapng_bytes(phone(), APPS))
    result = run("flows", str(path), "--format", "jsonl")
    assert result.returncode == EXIT_OK, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["app"]["id"] for r in rows} == {package for package, _name in APPS.values()}
    assert all(r["app"]["source"] == "pcapdroid" and isinstance(r["app"]["uid"], int) for r in rows)
    csv_rows = list(csv.reader(io.StringIO(flows_csv(rows))))
    at = COLUMNS.index("app")
    assert COLUMNS[at - 1] == "LastSeen" and csv_rows[0][at] == "app"
    assert {row[at] for row in csv_rows[1:]} == {package for package, _name in APPS.values()}


def test_no_trailers_or_no_pcapdroid_no_app(tmp_path):
    """PCAPdroid's placeholder header without trailers (one warning), and an ordinary capture (none)."""
    data = pb.pcap_bytes([(p.ts, bytes(14) + b"\x08\x00" + p.ip) for p in phone()[:20]])  # zero MACs, no trailer
    cap = load_capture(str(pb.write(tmp_path / "z.pcap", data)))
    assert all(f.app is None for f in cap.flows)
    assert len(cap.inputs[0].warnings) == 1 and "no trailer magic" in cap.inputs[0].warnings[0]
    plain = sc.Capture()
    sc.imaps(plain, sc.DEVICE, 50000)
    cap = load_capture(str(plain.write(tmp_path / "plain.pcapng", pcapng=True)))
    assert cap.flows and all(f.app is None and f.to_json()["app"] is None for f in cap.flows)
    assert cap.inputs[0].warnings == []


# -- bad input: one warning each, nothing lost, the contract's exit codes ---------------------------------

def _report(path: Path) -> tuple[dict, subprocess.CompletedProcess]:
    result = run("analyze", str(path), "--mail-host", sc.MAIL_HOST, "--format", "json")
    return json.loads(result.stdout), result


def test_truncated_custom_block_keeps_what_was_read(tmp_path):
    """The file ends inside a UID map block: damaged at that block (exit 1, one stderr line), every frame
    before it counted and attributed."""
    data = pd.pcapng_bytes(phone(), APPS)
    block = data.index(struct.pack("<I", pd.PEN) + struct.pack("<HBBi", 1, 1, 0, SYSTEM_UID)) - 8
    path = pb.write(tmp_path / "cut.pcapng", data[:block + 20])
    cap = load_capture(str(path))
    info = cap.inputs[0]
    assert (info.complete, info.error_offset, len(info.warnings)) == (False, block, 1)
    assert "truncated block" in info.warnings[0]
    whole = load_capture(str(pb.write(tmp_path / "whole.pcapng", data)))
    before = [f for f in whole.flows if f.first_frame <= info.packets]
    assert before and all(f.app is not None for f in cap.flows)
    assert [(f.first_frame, f.app) for f in cap.flows] == [(f.first_frame, f.app) for f in before]
    report, result = _report(path)
    assert result.returncode == EXIT_DAMAGED
    assert f"offset {block}" in result.stderr and "Traceback" not in result.stderr
    assert report["inputs"][0]["complete"] is False and len(report["flows"]) == len(cap.flows)


def test_uid_map_block_with_names_past_its_end(tmp_path):
    """A UID map block whose name lengths run past the block: one warning, the capture read to its end,
    that UID's flows keep the UID."""
    data = pd.pcapng_bytes(phone(), APPS)
    head = struct.pack("<I", pd.PEN) + struct.pack("<HBBi", 1, 1, 0, NEWS_UID)
    at = data.index(head) + len(head)
    bad = data[:at] + bytes([200, 200]) + data[at + 2:]
    path = pb.write(tmp_path / "bad-block.pcapng", bad)
    cap = load_capture(str(path))
    info = cap.inputs[0]
    assert info.complete and len(info.warnings) == 1 and "UID map block is truncated" in info.warnings[0]
    assert str(at - len(head) - 8) in info.warnings[0]  # the block's offset
    assert app_of(cap, NEWS_IP).to_json() == {"id": None, "name": None, "uid": NEWS_UID, "source": "pcapdroid"}
    assert app_of(cap, sc.MAIL_IP).id == "com.example.mail"
    good = load_capture(str(pb.write(tmp_path / "good.pcapng", data)))
    assert ours(cap) == ours(good)
    report, result = _report(path)
    assert result.returncode == EXIT_OK and report["inputs"][0]["warnings"] == info.warnings


def test_uid_comment_without_map_entry(tmp_path):
    path = pb.write(tmp_path / "unmapped.pcapng", pd.pcapng_bytes(phone(unmapped=True), APPS))
    cap = load_capture(str(path))
    info = cap.inputs[0]
    assert info.complete and len(info.warnings) == 1
    assert f"UID {UNMAPPED_UID}" in info.warnings[0] and "without a UID map entry" in info.warnings[0]
    assert app_of(cap, "198.51.100.99").to_json() == {"id": None, "name": None, "uid": UNMAPPED_UID,
                                                      "source": "pcapdroid"}
    assert ours(cap) == tshark_streams(path)[0]
    report, result = _report(path)
    assert result.returncode == EXIT_OK and report["inputs"][0]["warnings"] == info.warnings


def test_trailer_with_bad_magic(tmp_path):
    """One frame's trailer magic damaged: one warning naming it, the frame still counted (as plain Ethernet),
    its flow and the others attributed as before."""
    packets = phone()
    data = bytearray(pd.pcap_bytes(packets, names()))
    pos, frame_no, target = 24, 0, None
    while pos < len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        frame_no += 1
        if frame_no == 5:
            target = frame_no
            data[pos + 16 + caplen - 32] ^= 0xFF
        pos += 16 + caplen
    path = pb.write(tmp_path / "magic.pcap", bytes(data))
    cap = load_capture(str(path))
    info = cap.inputs[0]
    assert info.complete and len(info.warnings) == 1
    assert "no trailer magic" in info.warnings[0] and f"frame {target}" in info.warnings[0]
    good = load_capture(str(pb.write(tmp_path / "good.pcap", pd.pcap_bytes(packets, names()))))
    assert ours(cap) == ours(good) == tshark_streams(path)[0]
    assert [f.app for f in cap.flows if f.first_frame != target] == \
        [f.app for f in good.flows if f.first_frame != target]
    report, result = _report(path)
    assert result.returncode == EXIT_OK and report["inputs"][0]["warnings"] == info.warnings


def test_custom_block_too_short_for_its_pen(tmp_path):
    """tshark calls a custom block under 16 bytes damage: so does the reader (exit 1), frames before kept."""
    packets = phone()[:4]
    good = pd.pcapng_bytes(packets, APPS)
    path = pb.write(tmp_path / "short.pcapng",
                    good + pd._block(0x0BAD, b"") + pd.enhanced_packet(packets[0], 0, False))
    cap = load_capture(str(path))
    assert (cap.inputs[0].complete, cap.inputs[0].error_offset) == (False, len(good))
    assert cap.inputs[0].packets == len(packets) + len({p.uid for p in packets})  # packets and map blocks
    result = run("flows", str(path), "--format", "jsonl")
    assert result.returncode == EXIT_DAMAGED and str(len(good)) in one_line(result.stderr)


def test_unknown_pcapdroid_block_version(tmp_path):
    data = pd.pcapng_bytes(phone()[:6], APPS)
    newer = pd.uid_map(MAIL_UID + 1, "x", "y", version=2)
    path = pb.write(tmp_path / "v2.pcapng", data + newer)
    cap = load_capture(str(path))
    assert cap.inputs[0].complete and len(cap.inputs[0].warnings) == 1
    assert "version 2" in cap.inputs[0].warnings[0]


def test_streams_and_gzip_read_alike(tmp_path):
    """The mapped and the chunked (gzip) reader mark the same apps on the same frames."""
    for name, data in (("p.pcapng", pd.pcapng_bytes(phone(), APPS)), ("p.pcap", pd.pcap_bytes(phone(), names()))):
        plain = load_capture(str(pb.write(tmp_path / name, data)))
        packed = load_capture(str(pb.write(tmp_path / (name + ".gz"), data, compress=True)))
        assert [(f.first_frame, f.app) for f in plain.flows] == [(f.first_frame, f.app) for f in packed.flows]
        assert all(f.app is not None for f in plain.flows)


def test_many_app_changes_stay_exact(tmp_path):
    """Packets of two apps alternating frame by frame: every flow still gets its own app."""
    mail = [p for p in phone() if p.uid == MAIL_UID]
    news = [p for p in phone() if p.uid == NEWS_UID]
    mixed = []
    for a, b in zip(mail, news, strict=False):
        mixed += [a, b]
    path = pb.write(tmp_path / "alt.pcapng", pd.pcapng_bytes(mixed, APPS))
    cap = load_capture(str(path))
    by_uid = defaultdict(set)
    for f in cap.flows:
        by_uid[f.app.uid].add(f.server.ip)
    assert by_uid[MAIL_UID] >= {sc.RESOLVER, sc.RELAY_IP} and by_uid[NEWS_UID] == {NEWS_IP}


def test_second_process_reads_alike(tmp_path):
    """Payloads inspected in a second process (big captures): the same flows and apps."""
    from tests.test_parallel import both

    for name, data in (("p.pcapng", pd.pcapng_bytes(phone(), APPS)), ("p.pcap", pd.pcap_bytes(phone(), names()))):
        remote, local = both(pb.write(tmp_path / name, data))
        assert remote == local and all(f["app"] for f in local["flows"])
