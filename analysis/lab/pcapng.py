"""Convert a classic pcap file (what tcpdump writes) to pcapng (pure function over bytes).

tcpdump cannot write pcapng itself; the lab captures with tcpdump and converts, adding a comment that says
how the capture was made. Blocks: one Section Header, one Interface Description, one Enhanced Packet per
record.
"""

from __future__ import annotations

import struct

MAX_SNAPLEN = 262144


class PcapFormatError(ValueError):
    """Not a classic pcap file, or a damaged one; ``offset`` says where."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (offset {offset})")
        self.offset = offset


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _block(block_type: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def pcap_to_pcapng(data: bytes, comment: str = "") -> bytes:
    """The same packets as pcapng; timestamps keep their resolution (micro- or nanoseconds)."""
    if len(data) < 24:
        raise PcapFormatError("too short for a pcap header", 0)
    magic = data[:4]
    formats = {b"\xd4\xc3\xb2\xa1": ("<", 6), b"\xa1\xb2\xc3\xd4": (">", 6),
               b"\x4d\x3c\xb2\xa1": ("<", 9), b"\xa1\xb2\x3c\x4d": (">", 9)}
    if magic not in formats:
        raise PcapFormatError("not a pcap file (unknown magic number)", 0)
    endian, resolution = formats[magic]
    _vmaj, _vmin, _zone, _sigfigs, snaplen, linktype = struct.unpack(endian + "HHiIII", data[4:24])
    linktype &= 0x0FFFFFFF
    options = b""
    if comment:
        options += _option(1, comment.encode()[:4000])
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + options + _option(0, b""))
    idb_options = _option(9, bytes([resolution])) + _option(0, b"")
    idb = _block(1, struct.pack("<HHI", linktype, 0, min(snaplen, MAX_SNAPLEN) or MAX_SNAPLEN) + idb_options)
    out = [shb, idb]
    pos = 24
    scale = 10**resolution
    while pos < len(data):
        if pos + 16 > len(data):
            raise PcapFormatError("truncated record header", pos)
        sec, frac, caplen, origlen = struct.unpack(endian + "IIII", data[pos:pos + 16])
        if caplen > MAX_SNAPLEN:
            raise PcapFormatError(f"record length {caplen} is implausible", pos)
        if pos + 16 + caplen > len(data):
            raise PcapFormatError("truncated record", pos)
        packet = data[pos + 16:pos + 16 + caplen]
        ts = sec * scale + frac
        body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, caplen, origlen) + _pad(packet)
        out.append(_block(6, body))
        pos += 16 + caplen
    return b"".join(out)
