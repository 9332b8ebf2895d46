"""IP fragment reassembly under floods: the documented bounds (1024 pending datagrams, 32 MiB, 60 s) hold
exactly, memory included, a datagram of endless overlapping fragments is given up after ``MAX_FRAGMENTS``,
and ordinary fragmented traffic (out of order, duplicated, IPv4 and IPv6) still counts as tshark counts it."""

from __future__ import annotations

import random
import subprocess
import tracemalloc
from collections import Counter

from scapy.all import IP, UDP, Ether, IPv6, IPv6ExtHdrFragment, Raw, fragment, fragment6, raw

from analysis import cli
from analysis.capture import load_capture
from analysis.capture.ip import MAX_FRAGMENTS, Reassembler
from tests import pcapbuild as pb
from tests.conftest import require_tool

KEY = (4, b"\x0a\x00\x00\x02", b"\xc0\x00\x02\x01", 7, 17)
T0 = 1_600_000_000.0


def eth(packet) -> bytes:
    return raw(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / packet)


def test_documented_bounds():
    r = Reassembler()
    assert (r.max_datagrams, r.max_bytes, r.timeout) == (1024, 32 << 20, 60.0)
    assert MAX_FRAGMENTS == 65536 // 8  # a 64 KiB datagram cut into the smallest fragments there are


def test_one_datagram_of_overlapping_fragments_is_bounded_and_given_up():
    """60,000 overlapping fragments that never complete one datagram (the issue's flood): the bytes held
    never pass the bound, the datagram is given up at MAX_FRAGMENTS and its bytes freed, later fragments of
    it are ignored, and it counts once among the datagrams that could not be reassembled."""
    r = Reassembler()
    assert r.add(KEY, 64000, False, b"e" * 8, T0) is None  # the end is known, the start never comes
    peak = 0
    for i in range(60_000):
        assert r.add(KEY, 8 + (i % 50) * 8, True, b"x" * 1400, T0 + i * 1e-4) is None
        peak = max(peak, r.held)
        if i == MAX_FRAGMENTS - 2:  # the datagram holds MAX_FRAGMENTS pieces: the next one gives it up
            assert r.held > 10 << 20 and len(r.pending[KEY].pieces) == MAX_FRAGMENTS
    assert peak <= r.max_bytes
    assert r.held == 0 and r.pending[KEY].pieces is None
    assert len(r.pending) + r.dropped == 1
    assert r.add(KEY, 0, True, b"s" * 8, T0 + 7) is None  # even the missing start no longer completes it
    # once it has expired, a new datagram under the same key is reassembled as usual
    later = T0 + 120
    assert r.add((4, b"a", b"b", 1, 17), 0, True, b"n" * 8, later) is None
    assert KEY not in r.pending and r.dropped == 1
    assert r.add(KEY, 8, False, b"2" * 8, later) is None
    assert r.add(KEY, 0, True, b"1" * 8, later) == b"1" * 8 + b"2" * 8


def test_bytes_held_never_exceed_the_bound_and_match_memory():
    """Many datagrams of tiny, disjoint fragments (the most bookkeeping per byte): the bytes counted stay
    within the bound after every fragment, and what tracemalloc sees the buffers use stays within it too."""
    bound = 1 << 20
    tracemalloc.start()
    try:
        r = Reassembler(max_bytes=bound)
        base = tracemalloc.get_traced_memory()[0]
        payload = b"z"
        for d in range(16):
            key = (4, b"a", b"b", d, 17)
            for i in range(0, 2 * 4096, 2):  # every other 8-byte slot: nothing merges, nothing completes
                r.add(key, i * 8, True, payload, T0)
                assert r.held <= bound
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert r.dropped > 0  # the bound was reached: the oldest datagrams made room
    assert used <= bound, (used, r.held)


def test_bound_counts_overlapping_bytes_for_one_datagram():
    """One datagram alone may not pass the bound through overlapping fragments (it held 40 MiB before)."""
    r = Reassembler(max_fragments=1 << 20)
    for _i in range(40_000):
        r.add(KEY, 0, True, b"o" * 1400, T0)
        assert r.held <= r.max_bytes
    assert r.dropped >= 1  # it was dropped when full, and started over with the next fragment


def test_fragment_flood_in_a_capture_keeps_the_other_traffic(tmp_path, capsys):
    """A capture with 20,000 overlapping fragments of a datagram that never completes, among ordinary
    fragmented and unfragmented traffic: the other flows are all there and one warning names the loss."""
    whole = fragment(IP(src="10.0.0.2", dst="192.0.2.53", id=1) / UDP(sport=5000, dport=53) / Raw(b"q" * 2400),
                     fragsize=800)
    overlapping = [eth(IP(src="10.0.0.2", dst="192.0.2.9", id=2, flags="MF", frag=k, proto=17) / Raw(b"f" * 64))
                   for k in range(1, 41)]  # offset 0 never comes
    frames = [eth(f) for f in whole[:2]] + overlapping * 500 + [eth(f) for f in whole[2:]]
    completed_at = len(frames)  # the last fragment of the ordinary datagram completes it
    frames.append(eth(IP(src="10.0.0.2", dst="192.0.2.80") / UDP(sport=6000, dport=443) / Raw(b"u" * 30)))
    path = tmp_path / "flood.pcap"
    path.write_bytes(pb.pcap_bytes([(T0 + i * 1e-3, f) for i, f in enumerate(frames)]))

    cap = load_capture(str(path))
    got = sorted((f.server.ip, f.server.port, f.packets, f.first_frame) for f in cap.flows)
    assert got == [("192.0.2.53", 53, 1, completed_at), ("192.0.2.80", 443, 1, len(frames))]
    info = cap.inputs[0]
    assert info.complete and info.packets == len(frames)
    assert info.warnings == ["1 fragmented IP datagrams could not be reassembled (fragments missing)"]

    capsys.readouterr()
    assert cli.main(["flows", str(path), "--format", "jsonl"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and len(out.splitlines()) == 2


def test_shuffled_and_duplicated_fragments_match_tshark(tmp_path):
    """Interleaved IPv4 and IPv6 datagrams whose fragments come out of order, some twice: the flows and
    the frame each datagram is counted at agree with tshark's conversations."""
    tshark = require_tool("tshark")
    rng = random.Random(13)
    pieces: list[list] = []
    for n in range(6):
        v4 = IP(src="10.0.0.2", dst=f"192.0.2.{10 + n}", id=100 + n) / UDP(sport=7000 + n, dport=53)
        pieces.append(fragment(v4 / Raw(bytes([n]) * (1500 + 700 * n)), fragsize=512 + 8 * n))
        v6 = (IPv6(src="2001:db8::2", dst=f"2001:db8::{10 + n:x}") / IPv6ExtHdrFragment(id=200 + n)
              / UDP(sport=8000 + n, dport=53) / Raw(bytes([n]) * (2000 + 900 * n)))
        pieces.append(fragment6(v6, 1280))
    frames = []
    for frags in pieces:
        order = list(frags)
        rng.shuffle(order)
        order += rng.sample(list(frags), 1)  # one duplicate, somewhere before or after completion
        frames.append([eth(f) for f in order])
    stream = []
    while any(frames):
        group = rng.choice([g for g in frames if g])
        stream.append(group.pop(0))
    path = tmp_path / "frags.pcap"
    path.write_bytes(pb.pcap_bytes([(T0 + i * 1e-3, f) for i, f in enumerate(stream)]))

    out = subprocess.run([tshark, "-n", "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "udp.stream"],
                         capture_output=True, text=True, check=True).stdout
    want = Counter()
    for line in out.splitlines():
        number, stream_id = line.split("\t")
        if stream_id:
            want[(int(stream_id), int(number))] += 1
    cap = load_capture(str(path))
    assert len(cap.flows) == len(pieces) == len(want)
    assert sorted(f.first_frame for f in cap.flows) == sorted(number for _s, number in want)
    assert all(f.packets == 1 for f in cap.flows)
