"""Write captures in PCAPdroid's exact layouts (its pcap_dump.c), from raw IP packets (scapy in the tests).

``pcapng_bytes``: section header with PCAPdroid's hardware, OS and application options; one raw-IP interface
(VPN mode) or, in root mode, one more per capture interface (with its name) and the direction flags option
on every packet; a UID map custom block (PEN 62652) before each UID's first packet; the ``u-<uid>`` comment
on every Enhanced Packet Block; optionally a TLS key log block. ``pcap_bytes``: link type Ethernet, each
packet between a placeholder Ethernet header and the 32-byte "PCAPdroid trailer". Little-endian, as Android.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

PEN = 62652
SNAPLEN = 65535
LINKTYPE_RAW = 101
LINKTYPE_ETHERNET = 1
TRAILER_MAGIC = 0x01072021


@dataclass
class Packet:
    ts: float  # epoch seconds
    uid: int  # Android UID of the app that sent or received it
    ip: bytes  # the raw IP packet
    outbound: bool = True  # root mode's direction flag
    ifidx: int = 0  # root mode: the capture interface's index (0 in VPN mode)


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _block(btype: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def section_header() -> bytes:
    opts = (_option(2, b"Pixel 7") + _option(3, b"Android 14") + _option(4, b"PCAPdroid v1.7.2")
            + _option(0, b""))
    return _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + opts)


def interface(name: str | None = None, snaplen: int = SNAPLEN) -> bytes:
    opts = _option(2, name.encode()) + _option(0, b"") if name else b""
    return _block(1, struct.pack("<HHI", LINKTYPE_RAW, 0, snaplen) + opts)


def uid_map(uid: int, package: str, name: str, btype: int = 0x0BAD, version: int = 1) -> bytes:
    """PCAPdroid's UID map block: PEN, version, type 1, a reserved byte, UID, the two lengths, the names."""
    pkg, app = package.encode()[:63], name.encode()[:63]
    body = struct.pack("<IHBBiBB", PEN, version, 1, 0, uid, len(pkg), len(app)) + pkg + app
    return _block(btype, _pad(body))


def enhanced_packet(p: Packet, iface: int, root: bool, snaplen: int = SNAPLEN) -> bytes:
    data = p.ip[:snaplen]
    usec = round(p.ts * 1e6)
    head = struct.pack("<IIIII", iface, usec >> 32, usec & 0xFFFFFFFF, len(data), len(p.ip))
    opts = _option(2, struct.pack("<I", 2 if p.outbound else 1)) if root else b""
    opts += _option(1, f"u-{p.uid}".encode()) + _option(0, b"")
    return _block(6, _pad(head + data) + opts)


def keylog(lines: bytes) -> bytes:
    return _block(0x0A, _pad(struct.pack("<II", 0x544C534B, len(lines)) + lines))


def pcapng_bytes(packets: list[Packet], apps: dict[int, tuple[str, str]], root: bool = False,
                 secrets: bytes = b"") -> bytes:
    """A PCAPdroid pcapng capture; ``apps``: UID -> (package, app name); a UID missing there gets no map
    block (as a damaged capture would have it)."""
    out = [section_header(), interface()]
    if secrets:
        out.append(keylog(secrets))
    mapped: set[int] = set()
    ifaces: dict[int, int] = {}
    for p in packets:
        iface = 0
        if root and p.ifidx:
            if p.ifidx not in ifaces:
                out.append(interface(f"wlan{p.ifidx}"))
                ifaces[p.ifidx] = len(ifaces) + 1
            iface = ifaces[p.ifidx]
        if p.uid not in mapped and p.uid in apps:
            out.append(uid_map(p.uid, *apps[p.uid]))
            mapped.add(p.uid)
        out.append(enhanced_packet(p, iface, root))
    return b"".join(out)


def trailer_frame(p: Packet, name: str, snaplen: int = SNAPLEN) -> tuple[bytes, int]:
    """The frame PCAPdroid writes with its trailer, and its original length."""
    data = p.ip[:snaplen]
    pad = -(14 + len(data)) % 4
    overhead = 14 + pad + 32
    eth = bytes(12) + (b"\x08\x00" if p.ip[0] >> 4 == 4 else b"\x86\xdd")
    body = eth + data + bytes(pad) + struct.pack(">Ii", TRAILER_MAGIC, p.uid) + name.encode()[:19].ljust(20, b"\0")
    return body + struct.pack("<I", zlib.crc32(body)), len(p.ip) + overhead


def pcap_bytes(packets: list[Packet], names: dict[int, str], snaplen: int = SNAPLEN) -> bytes:
    """A PCAPdroid pcap capture with its trailer; ``names``: UID -> app name."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET)]
    for p in packets:
        frame, origlen = trailer_frame(p, names.get(p.uid, "???"), snaplen)
        usec = round(p.ts * 1e6)
        out.append(struct.pack("<IIII", usec // 10**6, usec % 10**6, len(frame), origlen) + frame)
    return b"".join(out)
