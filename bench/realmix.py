"""A big capture of real traffic: every Ethernet frame of the captures under a folder, then copies of them
with the IP addresses remapped, so that each copy is new conversations, up to a number of frames.

    python -m bench.realmix OUT [--captures ../shared/captures] [--packets 1000000]

Deterministic: the captures are read in path order and copy ``k`` (0 is the original) XORs bytes 1-2 of
every outer IPv4 address, and bytes 2-3 of every outer IPv6 address, with one 16-bit constant of its own
(addresses inside tunnels are kept); times and checksums are kept as they were (neither tshark nor
maildetour checks checksums by default).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from analysis.capture.reader import CaptureReader
from analysis.errors import InputError

ETHERNET = 1
VLAN = frozenset({0x8100, 0x88A8, 0x9100})
_REC = struct.Struct("<IIII")
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, ETHERNET)  # microseconds
SUFFIXES = (".pcap", ".pcapng", ".cap")


@dataclass
class MixStats:
    """What went into the file."""

    path: str
    packets: int = 0
    copies: int = 0
    sources: list[str] = field(default_factory=list)  # captures with Ethernet frames, in the order used
    source_frames: int = 0  # Ethernet frames of one copy


def capture_paths(folder: Path) -> list[Path]:
    """Every capture file under ``folder``, in path order."""
    return sorted(p for p in folder.rglob("*") if p.suffix in SUFFIXES and p.is_file())


def ethernet_frames(paths: list[Path]) -> tuple[list[tuple[bytes, int, float]], list[str]]:
    """``(frame bytes, original length, time)`` of every Ethernet frame of the captures ``paths``, in that
    order, and the captures that gave any (damaged captures give the frames before the damage)."""
    frames: list[tuple[bytes, int, float]] = []
    used = []
    for path in paths:
        try:
            reader = CaptureReader(str(path))
        except InputError:
            continue
        got = [(bytes(buf[off:off + caplen]), origlen, ts)
               for lt, buf, off, caplen, origlen, ts in reader.records() if lt == ETHERNET and caplen]
        if got:
            frames += got
            used.append(str(path))
    return frames, used


def _ip_offset(frame: bytes) -> tuple[int, int]:
    """(offset of the outer IP header, its ethertype) of an Ethernet frame, past VLAN tags; (-1, 0) if none."""
    pos = 12
    while pos + 2 <= len(frame):
        et = (frame[pos] << 8) | frame[pos + 1]
        if et in VLAN:
            pos += 4
            continue
        return pos + 2, et
    return -1, 0


def remapped(frame: bytes, mask: int) -> bytes:
    """``frame`` with the outer IP addresses XORed with ``mask`` (IPv4: bytes 1-2, IPv6: bytes 2-3)."""
    ipo, et = _ip_offset(frame)
    out = bytearray(frame)
    hi, lo = mask >> 8, mask & 0xFF
    if et == 0x0800 and ipo + 20 <= len(frame):
        for a in (ipo + 12, ipo + 16):
            out[a + 1] ^= hi
            out[a + 2] ^= lo
    elif et == 0x86DD and ipo + 40 <= len(frame):
        for a in (ipo + 8, ipo + 24):
            out[a + 2] ^= hi
            out[a + 3] ^= lo
    return bytes(out)


def copy_mask(k: int) -> int:
    """Copy ``k``'s 16-bit constant (0 for the original; distinct for k < 65536)."""
    return (k * 0x9E37) & 0xFFFF


def build(out: str, captures: list[Path], packets: int) -> MixStats:
    """Write the capture from the frames of ``captures`` (``packets`` frames; none when they have no
    Ethernet frame at all)."""
    stats = MixStats(path=out)
    frames, stats.sources = ethernet_frames(captures)
    stats.source_frames = len(frames)
    pack = _REC.pack
    with open(out, "wb", buffering=1 << 20) as fh:
        fh.write(PCAP_HEADER)
        k = 0
        while frames and stats.packets < packets:
            mask = copy_mask(k)
            for frame, origlen, ts in frames[:packets - stats.packets]:
                data = remapped(frame, mask) if mask else frame
                sec = int(ts)
                usec = min(int(round((ts - sec) * 1e6)), 999_999)
                fh.write(pack(sec & 0xFFFFFFFF, usec, len(data), max(origlen, len(data))))
                fh.write(data)
                stats.packets += 1
            k += 1
        stats.copies = k
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.realmix", description=__doc__.splitlines()[0])
    p.add_argument("out", help="pcap file to write")
    p.add_argument("--captures", default=str(Path(__file__).resolve().parents[2] / "shared" / "captures"))
    p.add_argument("--packets", type=int, default=1_000_000)
    args = p.parse_args(argv)
    folder = Path(args.captures)
    if not folder.is_dir():
        print(f"bench.realmix: {folder}: no such folder", file=sys.stderr)
        return 3
    stats = build(args.out, capture_paths(folder), args.packets)
    json.dump(asdict(stats), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
