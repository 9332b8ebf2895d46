"""Counting settled conversations in bulk (analysis/capture/bulk.py) gives exactly what the plain pass gives.

Big captures take the bulk path; the flows, DNS entries and input description must not depend on it, nor
on where the batches begin and end. ``decode`` is also checked frame by frame on packets built with scapy.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_EOL, IPOption_NOP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1Q, Ether
from scapy.utils import wrpcap

from analysis.capture import bulk, load_capture
from analysis.capture.conversations import ConversationTable
from analysis.capture.reader import CaptureReader
from bench.gen import generate
from bench.realmix import build, ethernet_frames
from tests.conftest import ROOT, SHARED_ABSENT, all_shared_captures, shared_params
from tests.test_parallel import snapshot

CAPTURES = all_shared_captures()
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
SHIPPED = sorted((ROOT / "captures").glob("*/phone.pcapng"))
BATCHES = (1, 7, 64, 8192)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """20,000 frames of the benchmark's mixed traffic: thousands of conversations, most of them settled
    long before they end, VLAN tags, IPv4 and IPv6."""
    path = tmp_path_factory.mktemp("bulk") / "mixed.pcap"
    generate(str(path), 20_000, seed=5)
    return path


def bulk_frames(path, size: int) -> tuple[dict, int]:
    """The capture read with ``run_bulk`` in batches of ``size``: its snapshot and the frames counted in bulk."""
    reader = CaptureReader(str(path))
    table = ConversationTable()
    done = bulk.run_bulk(table, reader, size)
    info = reader.info
    info.packets = table.frames
    flows = table.flows()
    return {"flows": [f.to_json() for f in flows], "packets": info.packets, "complete": info.complete}, done


def same_as_plain(path, monkeypatch, sizes=BATCHES, **kwargs) -> dict:
    """The plain pass's snapshot, after checking the bulk path gives it in batches of each size."""
    plain = snapshot(load_capture(str(path), parallel=False, bulk=False, **kwargs))
    for size in sizes:
        monkeypatch.setattr(bulk, "BATCH", size)
        assert snapshot(load_capture(str(path), parallel=False, bulk=True, **kwargs)) == plain, f"batch {size}"
    return plain


@pytest.mark.parametrize("path", shared_params(CAPTURES))
def test_shared_capture_same_as_plain(path, monkeypatch):
    same_as_plain(path, monkeypatch)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.parent.name for p in SHIPPED])
def test_shipped_capture_same_as_plain(path, monkeypatch):
    same_as_plain(path, monkeypatch)


def test_mixed_traffic_mostly_counted_in_bulk(mixed, monkeypatch):
    plain = same_as_plain(mixed, monkeypatch)
    assert len(plain["flows"]) > 500
    _snap, done = bulk_frames(mixed, 8192)
    assert done > 15_000  # most of the 20,000 frames only moved counters
    _snap, done = bulk_frames(mixed, 1)
    assert done > 10_000  # a batch of one frame: conversations settled earlier still count in bulk


def test_second_process_and_bulk_together(mixed):
    plain = snapshot(load_capture(str(mixed), parallel=False, bulk=False))
    assert snapshot(load_capture(str(mixed), parallel=True, bulk=True)) == plain


def test_truncated_capture_same_as_plain(mixed, tmp_path):
    cut = tmp_path / "cut.pcap"
    data = mixed.read_bytes()
    cut.write_bytes(data[: len(data) // 2 + 5])
    plain = snapshot(load_capture(str(cut), parallel=False, bulk=False))
    assert plain["inputs"][0]["complete"] is False
    assert snapshot(load_capture(str(cut), parallel=False, bulk=True)) == plain


def test_gzip_input_takes_the_plain_path(tmp_path):
    """Not mapped, so not decoded in bulk: asking for bulk still reads it."""
    import gzip
    import shutil

    packed = tmp_path / "phone.pcapng.gz"
    with open(SHIPPED[0], "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert snapshot(load_capture(str(packed), bulk=True)) == snapshot(load_capture(str(packed), bulk=False))


def _reuse(tmp_path, options: bool = False, port: int = 443):
    """One TCP connection that settles, then a new SYN on the same ports with another sequence number
    (a new connection in Wireshark's count) and more data; a UDP conversation in between. With ``options``
    the SYNs, SYN-ACKs and some data carry IPv4 options (frames the bulk decoder leaves to the table)."""
    c, s = "192.0.2.10", "198.51.100.7"
    frames = []

    def add(pkt):
        pkt.time = 1_600_000_000 + len(frames) / 1000
        frames.append(pkt)

    def tcp(client: bool, opt: bool = False, **kw):
        ip = IP(src=c, dst=s) if client else IP(src=s, dst=c)
        if opt and options:
            ip.options = [IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()]
        return ETH / ip / TCP(sport=40000 if client else port, dport=port if client else 40000, **kw)

    for isn in (1000, 900_000):
        add(tcp(True, True, flags="S", seq=isn))
        add(tcp(False, True, flags="SA", seq=5000, ack=isn + 1))
        add(tcp(True, flags="A", seq=isn + 1, ack=5001))
        for n in range(6):
            data = b"\x17\x03\x03\x00\x05" + bytes(5) if port == 443 else b"z" * 1000  # 2 KB: nothing known
            add(tcp(True, n == 3, flags="PA", seq=isn + 1 + len(data) * n, ack=5001) / data)
            add(ETH / IP(src=s, dst=c) / UDP(sport=53, dport=5353) / b"x")
    path = tmp_path / f"reuse{'-options' if options else ''}.pcap"
    wrpcap(str(path), frames)
    return path


def test_port_reuse_after_settling(tmp_path, monkeypatch):
    plain = same_as_plain(_reuse(tmp_path), monkeypatch, sizes=(1, 2, 3, 5, 8, 13, 8192))
    tcp = [f for f in plain["flows"] if f["transport"] == "tcp"]
    assert [f["packets"] for f in tcp] == [9, 9]
    assert len(plain["flows"]) == 3


def test_port_reuse_by_a_frame_left_to_the_table(tmp_path, monkeypatch):
    """The new connection's SYN has IPv4 options: the table starts the conversation while settled frames of
    the same ports are around it in the batch."""
    path = _reuse(tmp_path, options=True, port=7777)  # no protocol on this port: the first connection settles
    plain = same_as_plain(path, monkeypatch, sizes=(1, 2, 3, 5, 8, 13, 8192))
    tcp = [f for f in plain["flows"] if f["transport"] == "tcp"]
    assert [f["packets"] for f in tcp] == [9, 9]
    assert len(plain["flows"]) == 3
    _snap, done = bulk_frames(path, 8192)
    assert done > 0  # the batch holds frames left to the table, yet the others are counted in bulk


@pytest.fixture(scope="module")
def real_mix(tmp_path_factory):
    """Every Ethernet frame of the shared captures, then two copies with the addresses remapped (new
    conversations): real traffic with fragments, IPv6 extension headers, tunnels and VLAN tags."""
    if not CAPTURES:
        pytest.skip(SHARED_ABSENT)
    path = tmp_path_factory.mktemp("bulk") / "real.pcap"
    frames, _used = ethernet_frames(CAPTURES)
    stats = build(str(path), CAPTURES, 3 * len(frames))
    assert stats.copies == 3
    return path


def test_real_traffic_mix_same_as_plain(real_mix, monkeypatch):
    plain = same_as_plain(real_mix, monkeypatch, sizes=(1, 7, 64, 300, 8192))
    assert len(plain["flows"]) > 100
    frames = plain["inputs"][0]["packets"]
    reader = CaptureReader(str(real_mix))
    with reader.file_map()[0] as buf:
        views = bulk.FileViews(buf)
        starts = [s for batch in reader.record_starts(frames) for s in batch]
        order, scale, linktype = reader.pcap_layout
        d = bulk.decode(views, bulk.pcap_columns(views, starts, order, scale, linktype))
        unknown = int(d.unknown.sum())
        del views, d
    assert unknown > 0  # frames the bulk decoder leaves to the table are spread through the batch
    _snap, done = bulk_frames(real_mix, 8192)
    assert done > frames // 4  # yet the batch's other frames are counted in bulk


# -- decode, frame by frame -----------------------------------------------------------------------------

def _decode(frames: list[bytes], linktype: int = 1) -> bulk.Decoded:
    buf = b"".join(frames) + bytes(bulk.REACH + 8)
    offs = np.cumsum([0] + [len(f) for f in frames[:-1]]).astype(np.int64)
    lens = np.array([len(f) for f in frames], np.int64)
    cols = bulk.Columns(np.full(len(frames), linktype, np.int64), offs, lens, lens, np.zeros(len(frames)))
    return bulk.decode(bulk.FileViews(buf), cols)


def _kinds(d: bulk.Decoded) -> list[str]:
    return ["plain" if p else "unknown" if u else "ignored" for p, u in zip(d.plain, d.unknown, strict=True)]


def test_decode_kinds_ethernet():
    v4 = IP(src="192.0.2.1", dst="192.0.2.2")
    frames = [
        ETH / v4 / TCP(sport=1, dport=2, flags="S"),
        ETH / v4 / UDP(sport=1, dport=53) / b"q",
        ETH / Dot1Q(vlan=20) / v4 / TCP(sport=1, dport=2, flags="A"),
        ETH / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=1, dport=2, flags="A"),
        ETH / ARP(),
        ETH / v4 / ICMP(),
        ETH / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() / UDP(),
        ETH / IP(src="192.0.2.1", dst="192.0.2.2", options=b"\x01\x01\x01\x00") / TCP(),
        ETH / IP(src="192.0.2.1", dst="192.0.2.2", flags="MF") / UDP(sport=1, dport=2) / bytes(40),
        ETH / v4 / UDP(sport=1, dport=4789) / bytes(60),  # VXLAN's port: may hold a tunnel
    ]
    d = _decode([bytes(f) for f in frames])
    assert _kinds(d) == ["plain", "plain", "plain", "plain", "ignored", "ignored", "unknown", "unknown",
                         "unknown", "unknown"]
    assert d.syn.tolist()[:4] == d.control.tolist()[:4] == [True, False, False, False]
    assert d.v6.tolist()[3] and d.proto.tolist()[:4] == [6, 17, 6, 6]
    assert d.ipo.tolist()[:4] == [14, 14, 18, 14]


def test_decode_truncated_segments_are_ignored_as_the_table_skips_them():
    whole = bytes(ETH / IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=1, dport=2))
    d = _decode([whole[:48], whole[:40], whole[:10], whole])
    # 48 bytes: IP and 14 bytes of TCP, too short for the table's TCP header: skipped, as the table does
    assert _kinds(d) == ["ignored", "ignored", "ignored", "plain"]
    short_udp = bytes(ETH
                      / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=1, dport=2) / b"q")
    assert _kinds(_decode([short_udp])) == ["plain"]  # 43 bytes: the table counts it (its general path)
    no_total = bytearray(whole)
    no_total[16:18] = b"\0\0"  # IPv4 total length 0, as segmentation offload leaves it: the frame counts
    assert _kinds(_decode([bytes(no_total)])) == ["plain"]


def test_decode_other_link_types():
    seg = IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=1, dport=2, flags="S")
    assert _kinds(_decode([bytes(CookedLinux(proto=0x0800) / seg)], 113)) == ["plain"]
    assert _decode([bytes(CookedLinux(proto=0x0800) / seg)], 113).ipo.tolist() == [16]
    assert _decode([bytes(CookedLinuxV2(proto=0x0800) / seg)], 276).ipo.tolist() == [20]
    assert _kinds(_decode([bytes(seg)], 101)) == ["plain"]
    assert _kinds(_decode([bytes(seg)], 9)) == ["unknown"]  # PPP: not decoded here, the table does it


def test_decode_reads_no_further_than_the_file():
    """The last frame of a file: fields past its end are never read from outside the buffer."""
    frame = bytes(ETH / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=1, dport=2))
    cols = bulk.Columns(np.array([1], np.int64), np.array([0], np.int64), np.array([len(frame)], np.int64),
                        np.array([len(frame)], np.int64), np.zeros(1))
    d = bulk.decode(bulk.FileViews(frame), cols)
    assert _kinds(d) == ["plain"]


def test_record_starts_stop_at_a_truncated_record(tmp_path):
    """Whole records are walked; the reader's own pass then reports the truncated last one."""
    path = tmp_path / "t.pcap"
    wrpcap(str(path), [ETH / IP() / UDP() / bytes(n) for n in range(10)])
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    reader = CaptureReader(str(path))
    starts = [s for batch in reader.record_starts(4) for s in batch]
    assert len(starts) == 9 and starts[0] == 24
    assert struct.unpack_from("<I", data, starts[1] + 8)[0] == 42 + 1
    assert list(reader.records()) == []
    assert reader.info.complete is False
    assert reader.info.error_offset == len(data) - (16 + 42 + 9)  # the last record's header


def test_big_mapped_files_take_the_bulk_path(tmp_path):
    from analysis.capture import BULK_MIN_BYTES, worth_bulk

    small = tmp_path / "small.pcap"
    small.write_bytes(b"\0" * 100)
    big = tmp_path / "big.pcap"
    with open(big, "wb") as fh:
        fh.truncate(BULK_MIN_BYTES)  # sparse: no disk used
    assert worth_bulk(str(big))
    assert not worth_bulk(str(small))
    assert not worth_bulk(str(tmp_path / "missing.pcap"))


def test_a_canary_search_keeps_the_plain_pass(tmp_path, monkeypatch):
    """The canary search reads every client payload, so nothing is ever settled: no bulk counting."""
    from analysis.case import Case, MailHost
    from tests.scenarios import MAIL_HOST, MAIL_IP
    from tests.test_capture_canary import CANARY, write_leaky

    path = tmp_path / "leaky.pcap"
    write_leaky(path)
    case = Case(username="lft2", mail_hosts=[MailHost(MAIL_HOST)], mail_addresses=[MAIL_IP])
    case.set_canary(CANARY)

    def refuse(*_args, **_kwargs):
        raise AssertionError("bulk counting with a canary to search for")

    monkeypatch.setattr(bulk, "run_bulk", refuse)
    capture = load_capture(str(path), case=case, bulk=True)
    assert {h.secret for h in capture.hits} == {"password", "username"}


def test_a_link_type_not_decoded_here_is_read_by_the_table(tmp_path):
    """PPP (9) is not decoded in bulk: the whole file goes through the table, with the same result."""
    from scapy.layers.ppp import PPP

    frames = [PPP(proto=0x0021) / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=1, dport=53) / (b"q" * n)
              for n in range(1, 20)]
    path = tmp_path / "ppp.pcap"
    wrpcap(str(path), frames, linktype=9)
    _snap, done = bulk_frames(path, 4)
    assert done == 0
    plain = snapshot(load_capture(str(path), parallel=False, bulk=False))
    assert len(plain["flows"]) == 1 and plain["flows"][0]["packets"] == 19
    assert snapshot(load_capture(str(path), parallel=False, bulk=True)) == plain


def test_pcapdroid_captures_same_as_plain(tmp_path, monkeypatch):
    """PCAPdroid's pcapng (its UID map blocks are frames of no bytes, in the batches) and its pcap with
    trailers (no bulk counting: the reader cuts the trailers) give what the plain pass gives, apps included."""
    from tests import pcapdroid_files as pd
    from tests.test_pcapdroid import APPS, names, phone

    packets = phone()
    for name, data in (("pd.pcapng", pd.pcapng_bytes(packets, APPS)), ("pd.pcap", pd.pcap_bytes(packets, names()))):
        path = tmp_path / name
        path.write_bytes(data)
        plain = same_as_plain(path, monkeypatch)
        assert plain["flows"] and all(f["app"]["source"] == "pcapdroid" for f in plain["flows"])
    assert bulk_frames(tmp_path / "pd.pcapng", 8)[1] > 20  # settled TLS conversations counted in bulk
    assert bulk_frames(tmp_path / "pd.pcap", 8)[1] == 0


def test_a_conversation_with_itself_is_counted_in_one_direction(tmp_path, monkeypatch):
    """Both ends the same address and port: every frame goes from A to B, as tshark's conversation table
    counts it (until 2026-12-05 the table counted the first frame from A and the rest from B)."""
    path = tmp_path / "self.pcap"
    same = IP(src="127.0.0.5", dst="127.0.0.5")
    wrpcap(str(path), [ETH / same / UDP(sport=5000, dport=5000) / (b"x" * n) for n in (1, 2, 3)]
           + [ETH / same / TCP(sport=6000, dport=6000, flags=f) for f in ("S", "A", "A")])
    plain = same_as_plain(path, monkeypatch, sizes=(1, 2, 8192))
    counts = [(f["transport"], f["c2s"]["packets"], f["s2c"]["packets"]) for f in plain["flows"]]
    assert counts == [("udp", 3, 0), ("tcp", 3, 0)]
