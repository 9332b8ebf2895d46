"""Damaged gzip captures through ``analysis.cli.main`` in this process: the file's own decompression keeps
every record before the bad byte, one stderr line names the file and the offset in the decompressed stream,
exit 1 when something was read and exit 3 when not even the capture's header was."""

from __future__ import annotations

import functools
import gzip
import json
import struct
import zlib

import pytest
from scapy.all import IP, UDP, Ether, Raw, raw

from analysis.capture import load_capture
from analysis.capture.reader import gunzip_head
from analysis.errors import InputError
from tests import pcapbuild as pb
from tests.conftest import md

EXIT_OK, EXIT_DAMAGED, EXIT_UNREADABLE = 0, 1, 3
N_FRAMES = 600



def one_line(err: str, *needles: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@functools.cache
def frames() -> tuple[bytes, ...]:
    """UDP datagrams of varying size in ten conversations."""
    return tuple(raw(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                     / IP(src="10.0.0.2", dst=f"192.0.2.{1 + i % 10}") / UDP(sport=40000 + i % 10, dport=53)
                     / Raw(bytes([i % 256]) * (20 + i % 300))) for i in range(N_FRAMES))


def pcap_data() -> bytes:
    return pb.pcap_bytes([(1_600_000_000.0 + i, f) for i, f in enumerate(frames())])


def pcapng_data() -> bytes:
    return pb.shb() + pb.idb(1) + b"".join(pb.epb(0, 1_600_000_000.0 + i, f) for i, f in enumerate(frames()))


def records_before(data: bytes, cut: int) -> int:
    """Records (pcap) or blocks with a packet (pcapng) that end at or before byte ``cut``."""
    count = 0
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        pos = 0
        while pos < len(data):
            btype, blen = struct.unpack_from("<II", data, pos)
            if pos + blen > cut:
                break
            count += btype == 6
            pos += blen
        return count
    pos = 24
    while pos < len(data):
        end = pos + 16 + struct.unpack_from("<I", data, pos + 8)[0]
        if end > cut:
            break
        count, pos = count + 1, end
    return count


def broken_at(data: bytes, cut: int) -> bytes:
    """gzip of ``data`` whose deflate stream is good up to decompressed byte ``cut``, then has a block of the
    reserved type 3 (a byte-aligned block starts there after a full flush): zlib's "invalid block type"."""
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    good = z.compress(data[:cut]) + z.flush(zlib.Z_FULL_FLUSH)
    rest = z.compress(data[cut:]) + z.flush()
    return good + b"\xff" + rest[1:]


def damaged_variants(data: bytes, cut: int) -> dict[str, tuple[bytes, int]]:
    """name -> (gzip file, decompressed offset where reading stops)."""
    packed = gzip.compress(data, mtime=0)
    crc = bytearray(packed)
    crc[-8] ^= 0x01  # the member's CRC-32 no longer matches
    return {
        "bad-block": (broken_at(data, cut), cut),  # zlib.error mid-stream
        "cut-short": (packed[: len(packed) // 2], -1),  # EOFError: the member never ends
        "crc": (bytes(crc), len(data)),  # every byte decompressed, the check fails at the end
        "trailing-garbage": (packed + b"not gzip", len(data)),  # the next "member" has no gzip header
    }


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("how", ["bad-block", "cut-short", "crc", "trailing-garbage"])
def test_gzip_damaged_mid_stream_keeps_every_record_before(tmp_path, capsys, fmt, how):
    data = pcap_data() if fmt == "pcap" else pcapng_data()
    blob, stop = damaged_variants(data, len(data) * 3 // 5 + 7)[how]
    path = tmp_path / f"{how}.{fmt}.gz"
    path.write_bytes(blob)

    info = load_capture(str(path)).inputs[0]
    assert info.format == f"{fmt}+gzip" and info.complete is False
    if stop < 0:  # cut short: where zlib stops depends on its buffering; all before it is kept
        stop = info.error_offset
        assert 0 < stop < len(data)
    assert info.error_offset == stop
    want = records_before(data, stop)
    assert info.packets == want and 0 < want <= N_FRAMES
    assert len(info.warnings) == 1 and "compressed stream broken" in info.warnings[0]

    code, out, err = md(capsys, "flows", path, "--format", "jsonl")
    assert code == EXIT_DAMAGED
    one_line(err, str(path), f"offset {stop}")
    assert sum(json.loads(row)["packets"] for row in out.splitlines()) == want


def test_gzip_corrupt_from_the_first_block_is_unreadable(tmp_path, capsys):
    """18 bytes: a gzip header and deflate data of the reserved block type (the file the issue names)."""
    path = tmp_path / "bad18.pcap.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 8)
    assert path.stat().st_size == 18
    for argv in (["flows", path, "--format", "jsonl"], ["analyze", path, "--format", "json"]):
        code, out, err = md(capsys, *argv)
        assert code == EXIT_UNREADABLE
        one_line(err, str(path), "offset 0", "compressed stream broken")
        assert out == ""
    with pytest.raises(InputError) as caught:
        load_capture(str(path))
    assert caught.value.offset == 0


@pytest.mark.parametrize(("fmt", "cut"), [("pcap", 2), ("pcap", 20), ("pcapng", 2), ("pcapng", 20)])
def test_gzip_broken_inside_the_file_header_is_unreadable(tmp_path, capsys, fmt, cut):
    """Not even the capture's header (pcap: 24 bytes; pcapng: the section header) decompresses: exit 3, with
    the decompressed offset where it broke."""
    data = pcap_data() if fmt == "pcap" else pcapng_data()
    path = tmp_path / f"head.{fmt}.gz"
    path.write_bytes(broken_at(data, cut))
    code, out, err = md(capsys, "flows", path, "--format", "csv")
    assert code == EXIT_UNREADABLE and out == ""
    one_line(err, str(path), "compressed stream broken", f"offset {cut}")


def test_gzip_members_and_zero_padding_read_whole(tmp_path, capsys):
    """Concatenated members with zeros between them (as some tools pad) are one capture: exit 0."""
    data = pcapng_data()
    third = len(data) // 3
    blob = (gzip.compress(data[:third]) + bytes(4096) + gzip.compress(data[third:2 * third])
            + gzip.compress(data[2 * third:]) + bytes(3))
    path = tmp_path / "members.pcapng.gz"
    path.write_bytes(blob)
    code, out, err = md(capsys, "flows", path, "--format", "jsonl")
    assert (code, err) == (EXIT_OK, "")
    assert sum(json.loads(row)["packets"] for row in out.splitlines()) == N_FRAMES
    assert gunzip_head(str(path)) == data[:4]


def test_damage_in_a_late_member_keeps_the_earlier_members(tmp_path):
    data = pcap_data()
    half = len(data) // 2
    path = tmp_path / "late.pcap.gz"
    path.write_bytes(gzip.compress(data[:half]) + broken_at(data[half:], 1000))
    info = load_capture(str(path)).inputs[0]
    assert (info.complete, info.error_offset) == (False, half + 1000)
    assert info.packets == records_before(data, half + 1000)
