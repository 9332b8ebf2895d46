"""bench.realmix: the benchmark's real-traffic file is deterministic and each copy is new conversations."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from analysis.capture.ip import TUNNEL_PORTS
from bench import capture
from bench.capture import tshark_conversations
from bench.realmix import build, capture_paths, copy_mask, ethernet_frames, remapped
from tests.conftest import SHARED_ABSENT, SHARED_CAPTURES, all_shared_captures

CAPTURES = all_shared_captures()
needs_shared = pytest.mark.skipif(not CAPTURES, reason=SHARED_ABSENT)


def _tshark_flows(path) -> dict:
    """tshark's conversations: (transport, both ends) -> frames."""
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed")
    out = subprocess.run([tshark, "-r", str(path), "-q", "-z", "conv,tcp", "-z", "conv,udp"],
                         capture_output=True, text=True, check=True).stdout
    flows: dict = {}
    tshark_conversations(out, flows)
    return flows


def _tunnelled(key) -> bool:
    """A conversation on a tunnel port: its inner addresses are not remapped (see bench.realmix)."""
    return any(int(end.rsplit(":", 1)[1]) in TUNNEL_PORTS for end in key[1])


@needs_shared
def test_same_bytes_every_time(tmp_path):
    paths = capture_paths(SHARED_CAPTURES)
    one, two = tmp_path / "one.pcap", tmp_path / "two.pcap"
    a = build(str(one), paths, 5000)
    b = build(str(two), paths, 5000)
    assert a.packets == b.packets == 5000 and a.sources == b.sources
    assert one.read_bytes() == two.read_bytes()


@needs_shared
def test_each_copy_is_new_conversations(tmp_path):
    """A second copy adds as many conversations again, with the same frames each (tshark's count); only
    conversations inside tunnels (whose addresses are kept) may merge with the first copy's."""
    frames, _used = ethernet_frames(CAPTURES)
    single, double = tmp_path / "one.pcap", tmp_path / "two.pcap"
    build(str(single), CAPTURES, len(frames))
    build(str(double), CAPTURES, 2 * len(frames))
    one, two = _tshark_flows(single), _tshark_flows(double)
    assert {t for t, _ends in one} == {"tcp", "udp"}
    kept = {k: n for k, n in one.items() if not _tunnelled(k)}
    assert all(two.get(k) == n for k, n in kept.items())  # the first copy's conversations, unchanged
    added = {k: n for k, n in two.items() if k not in one}
    assert len(added) >= len(kept)
    assert sum(two.values()) == 2 * sum(one.values())


def test_remapping_changes_only_the_outer_addresses():
    frame = bytes(12) + b"\x08\x00" + bytes([0x45, 0, 0, 20]) + bytes(8) + bytes([10, 1, 2, 3, 192, 168, 0, 9])
    mask = copy_mask(3)
    out = remapped(frame, mask)
    assert out[:26] == frame[:26] and len(out) == len(frame)
    assert out[26] == 10 and out[29] == 3 and out[30] == 192 and out[33] == 9  # first and last bytes kept
    assert out[27:29] != frame[27:29] and out[31:33] != frame[31:33]
    assert remapped(out, mask) == frame  # XOR: the same mask maps it back
    assert copy_mask(0) == 0 and len({copy_mask(k) for k in range(1000)}) == 1000


def test_the_benchmark_skips_the_real_traffic_file_without_captures(tmp_path, capsys):
    assert capture.ensure_real(1000, False, tmp_path / "absent") is None
    assert "skipping the real-traffic file" in capsys.readouterr().out
