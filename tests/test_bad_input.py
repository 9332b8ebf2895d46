"""Bad input through the real ``maildetour`` command: one clear stderr line, the right exit code, and for a
file damaged part-way a report of everything read before the damage (complete: false, byte offset)."""

from __future__ import annotations

import gzip
import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.all import IP, UDP, Ether, Raw, raw

from analysis.capture import load_capture
from analysis.errors import InputError
from tests import pcapbuild as pb

EXIT_OK, EXIT_DAMAGED, EXIT_UNREADABLE = 0, 1, 3
N_FRAMES = 8


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("maildetour")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "analysis.cli"]


def run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MAILDETOUR_DEBUG"}
    return subprocess.run([*_cli(), *args], capture_output=True, text=True, env=env, timeout=60)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return lines[0]


def frames() -> list[bytes]:
    return [raw(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                / IP(src="10.0.0.2", dst=f"192.0.2.{1 + i // 2}") / UDP(sport=40000 + i // 2, dport=53)
                / Raw(bytes([i]) * (30 + i))) for i in range(N_FRAMES)]


def good_pcap() -> bytes:
    return pb.pcap_bytes([(1_600_000_000.0 + i, f) for i, f in enumerate(frames())])


def record_offsets(data: bytes) -> list[int]:
    """Byte offset of each pcap record header."""
    out, pos = [], 24
    while pos < len(data):
        out.append(pos)
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return out


# -- nothing readable: exit 3 ------------------------------------------------------------------------

UNREADABLE = {
    "empty": (b"", "empty"),
    "random": (random.Random(7).randbytes(4096), "unknown magic"),
    "short-header": (good_pcap()[:10], "truncated pcap file header"),
    "unknown-linktype": (pb.pcap_bytes([(1.0, b"\x00" * 40)], linktype=147), "link type 147"),
    "snaplen-2^32": (pb.pcap_bytes([(1.0, frames()[0])], snaplen=0xFFFFFFFF), "snap length"),
    "pcapng-all-unknown": (pb.shb() + pb.idb(147) + pb.epb(0, 1.0, b"\x00" * 40), "every interface"),
    "pcapng-shb-lies": (pb.shb()[:4] + struct.pack("<I", 7) + pb.shb()[8:], "block length"),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_unreadable_input_exits_3_with_one_line(tmp_path, case):
    data, words = UNREADABLE[case]
    path = tmp_path / f"{case}.pcap"
    path.write_bytes(data)
    result = run("flows", str(path), "--format", "jsonl")
    assert result.returncode == EXIT_UNREADABLE, result.stderr
    line = one_line(result.stderr)
    assert str(path) in line and words in line
    assert result.stdout == ""
    with pytest.raises(InputError):
        load_capture(str(path))


def test_missing_file_and_directory(tmp_path):
    for target in (tmp_path / "nope.pcap", tmp_path):
        result = run("flows", str(target))
        assert result.returncode == EXIT_UNREADABLE
        assert str(target) in one_line(result.stderr)


# -- damaged part-way: exit 1, everything before the damage --------------------------------------

def _cuts() -> list[tuple[str, int, int, int]]:
    """(name, cut at, expected error offset, complete records before it)."""
    data = good_pcap()
    offs = record_offsets(data)
    return [
        ("in-first-record-header", offs[0] + 5, offs[0], 0),
        ("in-first-record-data", offs[0] + 16 + 10, offs[0], 0),
        ("in-fourth-record-header", offs[3] + 15, offs[3], 3),
        ("in-last-record-data", len(data) - 1, offs[-1], N_FRAMES - 1),
    ]


@pytest.mark.parametrize(("name", "cut", "offset", "records"), _cuts(), ids=[c[0] for c in _cuts()])
def test_truncated_pcap_keeps_what_was_read(tmp_path, name, cut, offset, records):
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(good_pcap()[:cut])
    cap = load_capture(str(path))
    info = cap.inputs[0]
    assert (info.complete, info.error_offset, info.packets) == (False, offset, records)
    assert sum(f.packets for f in cap.flows) == records
    assert len(info.warnings) == 1 and str(offset) in info.warnings[0]
    result = run("flows", str(path), "--format", "jsonl")
    assert result.returncode == EXIT_DAMAGED
    line = one_line(result.stderr)
    assert str(path) in line and f"offset {offset}" in line
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert sum(r["packets"] for r in rows) == records


def test_cut_exactly_between_records_is_complete(tmp_path):
    data = good_pcap()
    path = tmp_path / "clean.pcap"
    path.write_bytes(data[: record_offsets(data)[5]])
    result = run("flows", str(path), "--format", "csv")
    assert result.returncode == EXIT_OK and result.stderr == ""
    assert len(result.stdout.splitlines()) == 1 + 3  # header + flows of the first five frames


def test_implausible_record_length_is_damage(tmp_path):
    data = bytearray(good_pcap())
    third = record_offsets(bytes(data))[2]
    struct.pack_into("<I", data, third + 8, 0x7FFFFFF0)
    path = tmp_path / "huge.pcap"
    path.write_bytes(bytes(data))
    info = load_capture(str(path)).inputs[0]
    assert (info.complete, info.error_offset, info.packets) == (False, third, 2)


def _pcapng() -> tuple[bytes, list[int]]:
    blocks = [pb.shb(), pb.idb(1)] + [pb.epb(0, 1.0 + i, f) for i, f in enumerate(frames())]
    offsets, pos = [], 0
    for b in blocks:
        offsets.append(pos)
        pos += len(b)
    return b"".join(blocks), offsets[2:]


@pytest.mark.parametrize("how", ["past-end", "trailer-differs", "not-multiple-of-4", "tiny", "bad-interface"])
def test_pcapng_block_length_lies(tmp_path, how):
    data, epbs = _pcapng()
    data = bytearray(data)
    victim = epbs[4]
    length = struct.unpack_from("<I", data, victim + 4)[0]
    if how == "past-end":
        struct.pack_into("<I", data, victim + 4, 1 << 20)
    elif how == "trailer-differs":
        struct.pack_into("<I", data, victim + length - 4, length + 4)
    elif how == "not-multiple-of-4":
        struct.pack_into("<I", data, victim + 4, length + 2)
    elif how == "tiny":
        struct.pack_into("<I", data, victim + 4, 8)
    else:
        struct.pack_into("<I", data, victim + 8, 5)  # interface 5 was never described
    path = tmp_path / f"{how}.pcapng"
    path.write_bytes(bytes(data))
    info = load_capture(str(path)).inputs[0]
    assert (info.complete, info.error_offset, info.packets) == (False, victim, 4)
    result = run("flows", str(path), "--format", "table")
    assert result.returncode == EXIT_DAMAGED
    assert f"offset {victim}" in one_line(result.stderr)
    assert "INCOMPLETE" in result.stdout


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    many = pb.pcap_bytes([(1.0 + i, f) for i in range(400) for f in frames()[:1]])
    packed = gzip.compress(many)
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    cap = load_capture(str(path))
    info = cap.inputs[0]
    assert info.format == "pcap+gzip" and not info.complete
    assert 0 < info.packets < 400 and cap.flows[0].packets == info.packets
    result = run("flows", str(path), "--format", "jsonl")
    assert result.returncode == EXIT_DAMAGED
    one_line(result.stderr)


def test_analyze_reports_a_truncated_capture(tmp_path):
    """The analyze command on damaged input: exit 1 and a JSON report marked incomplete, with its flows."""
    data = good_pcap()
    offs = record_offsets(data)
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: offs[6] + 7])
    result = run("analyze", str(path), "--format", "json", "-q")  # -q: the damage line alone, no verdict line
    assert result.returncode == EXIT_DAMAGED, result.stderr
    assert f"offset {offs[6]}" in one_line(result.stderr)
    report = json.loads(result.stdout)
    assert report["inputs"][0]["complete"] is False
    assert report["inputs"][0]["error_offset"] == offs[6]
    assert report["inputs"][0]["packets"] == 6
    assert sum(f["packets"] for f in report["flows"]) == 6
