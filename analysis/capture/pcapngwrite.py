"""The blocks of a pcapng file, little-endian: section header, interface description, enhanced packet.

Only the layout (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng): each function gives one whole
block as bytes, options included (``(code, value)`` pairs, ``opt_endofopt`` added). What goes in them is the
caller's business (``analysis.capture.rawframes`` gives the source's interfaces and frames).
"""

from __future__ import annotations

from collections.abc import Iterable
from struct import Struct

SHB, IDB, EPB = 0x0A0D0D0A, 1, 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_COMMENT = 1  # opt_comment: UTF-8 text, in any block, repeatable
SHB_USERAPPL = 4  # the application that wrote the section
MAX_OPTION = 0xFFFF  # an option's length is 16 bits
MAX_COMMENT = 4000  # bytes of a comment kept (Wireshark shows them in one line)

Option = tuple[int, bytes]
_HEAD = Struct("<II")
_LEN = Struct("<I")
_OPT = Struct("<HH")
_SHB_BODY = Struct("<IHHq")
_IDB_BODY = Struct("<HHI")
_EPB_BODY = Struct("<IIIII")


def text(code: int, value: str, limit: int = MAX_COMMENT) -> Option:
    """A text option, cut (at a character's end) to ``limit`` bytes of UTF-8."""
    raw = value.encode("utf-8")
    if len(raw) > limit:
        raw = raw[:limit].decode("utf-8", "ignore").encode("utf-8")
    return code, raw


def comment(value: str) -> Option:
    return text(OPT_COMMENT, value)


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _options(options: Iterable[Option]) -> bytes:
    parts = []
    for code, value in options:
        value = value[:MAX_OPTION]
        parts += [_OPT.pack(code, len(value)), value, _pad(len(value))]
    if parts:
        parts.append(_OPT.pack(0, 0))  # opt_endofopt
    return b"".join(parts)


def _block(btype: int, body: bytes) -> bytes:
    body += _pad(len(body))
    length = 12 + len(body)
    return _HEAD.pack(btype, length) + body + _LEN.pack(length)


def section_header(options: Iterable[Option] = ()) -> bytes:
    """A section header block (version 1.0, section length unknown)."""
    return _block(SHB, _SHB_BODY.pack(BYTE_ORDER_MAGIC, 1, 0, -1) + _options(options))


def interface(linktype: int, snaplen: int, options: Iterable[Option] = ()) -> bytes:
    """An interface description block; its number is its place among the section's interfaces (from 0)."""
    return _block(IDB, _IDB_BODY.pack(linktype & 0xFFFF, 0, snaplen & 0xFFFFFFFF) + _options(options))


def packet(iface: int, ticks: int, data: bytes, origlen: int, options: Iterable[Option] = ()) -> bytes:
    """An enhanced packet block: the frame's bytes as captured, ``ticks`` in its interface's time unit."""
    ticks &= 0xFFFFFFFFFFFFFFFF
    head = _EPB_BODY.pack(iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), max(origlen, len(data)))
    return _block(EPB, head + bytes(data) + _pad(len(data)) + _options(options))
