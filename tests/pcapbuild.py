"""Write small pcap / pcapng files from frames (bytes) for reader tests: every format variant we read.

Frames come from scapy in the tests; this module only lays out the file formats (libpcap and pcapng,
https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html), so tests can vary byte order,
timestamp resolution, interfaces and block types independently of the frames.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterable
from pathlib import Path

Frame = tuple[float, bytes]  # (epoch seconds, frame bytes)


def pcap_bytes(frames: Iterable[Frame], linktype: int = 1, order: str = "<", nano: bool = False,
               snaplen: int = 262144, origlen_extra: int = 0) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    scale = 10**9 if nano else 10**6
    for ts, frame in frames:
        ticks = round(ts * scale)
        out.append(struct.pack(order + "IIII", ticks // scale, ticks % scale, len(frame),
                               len(frame) + origlen_extra))
        out.append(frame)
    return b"".join(out)


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _block(order: str, btype: int, body: bytes) -> bytes:
    body = _pad(body)
    length = 12 + len(body)
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def _option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + _pad(value)


def shb(order: str = "<") -> bytes:
    return _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(linktype: int, order: str = "<", tsresol: int | None = None, snaplen: int = 0) -> bytes:
    opts = b""
    if tsresol is not None:
        opts = _option(order, 9, bytes([tsresol])) + _option(order, 0, b"")
    return _block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts)


def epb(iface: int, ts: float, frame: bytes, order: str = "<", units: int = 10**6) -> bytes:
    ticks = round(ts * units)
    head = struct.pack(order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
    return _block(order, 6, head + frame)


def spb(frame: bytes, order: str = "<") -> bytes:
    return _block(order, 3, struct.pack(order + "I", len(frame)) + frame)


def obsolete_pb(iface: int, ts: float, frame: bytes, order: str = "<") -> bytes:
    ticks = round(ts * 10**6)
    head = struct.pack(order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
    return _block(order, 2, head + frame)


def unknown_block(order: str = "<") -> bytes:
    return _block(order, 0x0BAD, b"ignore me")


def write(path: Path, data: bytes, compress: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path
