"""A capture's frames as stored: the bytes, the raw timestamp, the interface and the options of each record.

``RawFrames(reader)`` reads what ``CaptureReader.records()`` just yielded straight from the file's own record
(a pcap record header, a pcapng packet block), so nothing is lost to floats or to the reader's trimming: the
timestamp in its interface's ticks, every captured byte (a PCAPdroid trailer included), the packet options
worth keeping. ``interface(n)`` describes interface ``n`` (numbered across all sections) with the source's
link type, snap length and options, time resolution and offset among them, so a copy keeps the same times.
Numbers are given in little-endian (``analysis.capture.pcapngwrite``), whatever the source's byte order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import Struct

from analysis.capture.pcapngoptions import options
from analysis.capture.pcapngwrite import Option
from analysis.capture.reader import CaptureReader

PCAPNG_EPB, PCAPNG_PB, PCAPNG_SPB = 6, 2, 3
NANO = 9  # if_tsresol of nanoseconds (a pcap file's magic says which)
# option code -> struct format of its value ("" = bytes or text, copied as they are)
IDB_OPTIONS = {1: "", 2: "", 3: "", 4: "", 5: "", 6: "", 7: "", 8: "Q", 9: "", 10: "I", 11: "", 12: "", 13: "",
               14: "q", 15: "", 16: "Q", 17: "Q"}
EPB_OPTIONS = {1: "", 2: "I", 3: "", 4: "Q", 5: "Q", 6: "I", 7: ""}
EPB_HASH = 3  # epb_hash: wrong once bytes are overwritten


@dataclass(slots=True)
class Interface:
    linktype: int
    snaplen: int
    options: list[Option] = field(default_factory=list)


@dataclass(slots=True)
class RawFrame:
    """One record as stored: ``data`` every captured byte (a copy), ``iface`` numbered across sections,
    ``ticks`` in that interface's time unit."""

    iface: int
    ticks: int
    data: bytes
    origlen: int
    options: list[Option]


class RawFrames:
    """Reads the record ``reader.records()`` yielded last (call ``frame`` before asking for the next one).
    Made before the records are iterated: it asks the reader to keep the interfaces' descriptions."""

    def __init__(self, reader: CaptureReader) -> None:
        self.reader = reader
        self.pcapng = reader.info.format.startswith("pcapng")
        if self.pcapng:
            reader.idb_bodies = []
        else:
            order, scale, _linktype = reader.pcap_layout
            self._pcap_head = Struct(order + "IIII").unpack_from
            self._units = 10**9 if scale < 1e-6 else 10**6

    def frame(self, buf, off: int) -> RawFrame | None:
        """The record whose frame starts at ``buf[off]``; None for a pcapng custom block (no packet)."""
        if not self.pcapng:
            sec, frac, caplen, origlen = self._pcap_head(buf, off - 16)
            return RawFrame(0, sec * self._units + frac, bytes(buf[off:off + caplen]), origlen, [])
        end = self.reader.block_end()
        found = _block(buf, end, off)
        if found is None:
            return None
        order, start, btype = found
        base = self.reader.section_base
        if btype == PCAPNG_SPB:
            (origlen,) = Struct(order + "I").unpack_from(buf, start + 8)
            snaplen = Struct(order + "I").unpack_from(self.reader.idb_bodies[base][1], 4)[0]
            caplen = min(origlen, end - off - 4, snaplen or origlen)
            return RawFrame(base, 0, bytes(buf[off:off + caplen]), origlen, [])
        if btype == PCAPNG_EPB:
            iface, hi, lo, caplen, origlen = Struct(order + "IIIII").unpack_from(buf, start + 8)
        else:
            iface, _drops, hi, lo, caplen, origlen = Struct(order + "HHIIII").unpack_from(buf, start + 8)
        options = _options(buf, off + ((caplen + 3) & ~3), end - 4, order, EPB_OPTIONS)
        return RawFrame(base + iface, (hi << 32) | lo, bytes(buf[off:off + caplen]), origlen, options)

    def interface(self, n: int) -> Interface:
        """Interface ``n`` as the source describes it."""
        reader = self.reader
        if not self.pcapng:
            return Interface(reader.pcap_layout[2], reader.snaplen, [(9, bytes([NANO]))] if self._units > 10**6
                             else [])
        order, body = reader.idb_bodies[n]
        linktype, _reserved, snaplen = Struct(order + "HHI").unpack_from(body, 0)
        return Interface(linktype, snaplen, _options(body, 8, len(body), order, IDB_OPTIONS))


def _block(buf, end: int, off: int) -> tuple[str, int, int] | None:
    """(byte order, start, type) of the packet block that ends at ``end`` and holds the frame at ``off`` (its
    trailing length reaches back to a packet block whose data starts at ``off``); None for other blocks."""
    for order in ("<", ">"):
        (length,) = Struct(order + "I").unpack_from(buf, end - 4)
        start = end - length
        if start < 0:
            continue
        (btype,) = Struct(order + "I").unpack_from(buf, start)
        if (btype in (PCAPNG_EPB, PCAPNG_PB) and off == start + 28) or (btype == PCAPNG_SPB and off == start + 12):
            return order, start, btype
    return None


def _options(buf, pos: int, end: int, order: str, known: dict[int, str]) -> list[Option]:
    """The known options in ``buf[pos:end]``, numbers re-encoded little-endian."""
    out: list[Option] = []
    for code, value, length in options(buf, pos, end, order):
        fmt = known.get(code)
        if fmt is not None:
            raw = bytes(buf[value:value + length])
            if fmt and length == Struct(fmt).size:
                raw = Struct("<" + fmt).pack(*Struct(order + fmt).unpack(raw))
            out.append((code, raw))
    return out
