"""Google QUIC (Q024..Q046): the client's unencrypted CHLO handshake message and its ``SNI`` tag.

The CHLO is a tag/value map (tag "CHLO", entry count, then (tag, end offset) pairs and the values) that
old gQUIC versions send in clear inside a STREAM frame. Pure, bounded, never raises.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

MAX_TAGS = 128
_VERSION = re.compile(rb"Q0\d\d")


@dataclass(slots=True)
class GQuicHello:
    version: str  # e.g. "Q043"
    sni: str | None = None
    user_agent: str | None = None  # the UAID tag


def gquic_version(datagram: bytes) -> str | None:
    """The Q0xx version in a client packet's public header (or Q046's long header), else None."""
    if len(datagram) < 5:
        return None
    flags = datagram[0]
    if flags & 0x80:  # Q046+: IETF-style long header
        version = datagram[1:5]
    else:
        if not flags & 0x01:
            return None
        pos = 1 + (8 if flags & 0x08 else 0)
        version = datagram[pos : pos + 4]
    return version.decode("ascii") if _VERSION.fullmatch(version) else None


def _text(raw: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in raw[:255])


def parse_chlo(message: bytes) -> dict[bytes, bytes] | None:
    """A handshake message starting with b"CHLO": its tags and values; None when malformed."""
    if len(message) < 8 or message[:4] != b"CHLO":
        return None
    count = struct.unpack_from("<H", message, 4)[0]
    if count > MAX_TAGS:
        return None
    table = 8
    values = table + 8 * count
    if values > len(message):
        return None
    out: dict[bytes, bytes] = {}
    prev = 0
    for i in range(count):
        tag = message[table + 8 * i : table + 8 * i + 4]
        end = struct.unpack_from("<I", message, table + 8 * i + 4)[0]
        if end < prev or values + end > len(message):
            return out or None
        out[tag] = message[values + prev : values + end]
        prev = end
    return out


def parse_client_hello(datagram: bytes) -> GQuicHello | None:
    """The CHLO in a gQUIC client datagram, None when the datagram is not one."""
    version = gquic_version(datagram)
    if version is None:
        return None
    start = datagram.find(b"CHLO", 5, 200)
    if start < 0:
        return None
    tags = parse_chlo(datagram[start:])
    if tags is None:
        return None
    sni = tags.get(b"SNI\x00")
    uaid = tags.get(b"UAID")
    return GQuicHello(version, _text(sni) if sni else None, _text(uaid) if uaid else None)
