"""A compact IP range table: sorted range starts, each with the (ASN, organisation) it belongs to.

Built once from rows ``(first, last, asn, org)`` (integers, one address family; where rows overlap the later
row wins), kept as flat integer columns and searched with ``bisect``: no per-range Python objects. Gaps
between ranges are entries of their own with the pair index 0 ("no data"). The file form is the columns
themselves, little-endian, each padded to 8 bytes, so ``load`` maps the file and reads nothing until a
look-up touches it (a few pages per look-up):

    magic b"MDASN2" + 2 zero bytes | n4, n6, nx, npairs, blob_len (uint32) + 4 zero bytes
    | v4 starts (uint32) | v4 pair index (uint32) | v6 starts, upper 64 bits (uint64) | v6 pair index (uint32)
    | v6 starts whose lower 64 bits are not 0: their entry number (uint32), lower bits (uint64)
    | pair ASN (uint32) | pair organisation offsets (npairs + 1, uint32) | organisations (UTF-8)
"""

from __future__ import annotations

import heapq
import mmap
import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"MDASN2\0\0"
HEADER = struct.Struct("<8sIIIII4x")
MAX = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
LOW64 = (1 << 64) - 1
Row = tuple[int, int, int, str]  # first, last, asn, organisation
COLUMNS = ("v4_starts", "v4_index", "v6_high", "v6_index", "v6_low_at", "v6_low", "pair_asn", "org_offsets")
CODES = {"v6_high": "Q", "v6_low": "Q"}  # every other column is "I"


class TableError(ValueError):
    """The table bytes are not a table this module wrote."""


def segments(rows: Iterable[Row], top: int) -> tuple[list[int], list[tuple[int, str] | None]]:
    """Elementary ranges of ``rows`` (later rows win where they overlap): starts from 0 and, per start,
    the (asn, org) it belongs to or None for a gap; neighbours with the same owner are joined."""
    rows = list(rows)
    order = sorted(range(len(rows)), key=lambda i: rows[i][0])
    bounds = sorted({r[0] for r in rows} | {r[1] + 1 for r in rows if r[1] < top} | {0})
    starts: list[int] = []
    owners: list[tuple[int, str] | None] = []
    active: list[tuple[int, int]] = []  # (-row index, last): the latest row on top
    j = 0
    for b in bounds:
        while j < len(order) and rows[order[j]][0] <= b:
            heapq.heappush(active, (-order[j], rows[order[j]][1]))
            j += 1
        while active and active[0][1] < b:
            heapq.heappop(active)
        owner = (rows[-active[0][0]][2], rows[-active[0][0]][3]) if active else None
        if not owners or owners[-1] != owner:
            starts.append(b)
            owners.append(owner)
    return starts, owners


@dataclass(slots=True)
class RangeTable:
    v4_starts: Sequence[int]
    v4_index: Sequence[int]  # 0 = no data, else 1 + the pair's number
    v6_high: Sequence[int]  # upper 64 bits of each IPv6 start
    v6_index: Sequence[int]
    v6_low_at: Sequence[int]  # the few IPv6 starts with lower 64 bits: entry numbers, ascending
    v6_low: Sequence[int]  # and those lower bits
    pair_asn: Sequence[int]
    org_offsets: Sequence[int]  # one more than pairs
    orgs: bytes | memoryview
    _low: dict[int, int] | None = None
    _org_text: dict[int, str] | None = None  # pair number -> organisation, as look-ups decode them

    @classmethod
    def build(cls, v4_rows: Iterable[Row], v6_rows: Iterable[Row]) -> RangeTable:
        v4_starts, v4_owners = segments(v4_rows, MAX[4])
        v6_starts, v6_owners = segments(v6_rows, MAX[6])
        pairs = sorted({o for o in v4_owners + v6_owners if o is not None})
        number = {pair: i + 1 for i, pair in enumerate(pairs)}
        texts = [org.encode("utf-8") for _, org in pairs]
        offsets = array("I", [0])
        for text in texts:
            offsets.append(offsets[-1] + len(text))
        low_at = [i for i, start in enumerate(v6_starts) if start & LOW64]
        return cls(
            array("I", v4_starts),
            array("I", [number.get(o, 0) for o in v4_owners]),
            array("Q", [s >> 64 for s in v6_starts]),
            array("I", [number.get(o, 0) for o in v6_owners]),
            array("I", low_at),
            array("Q", [v6_starts[i] & LOW64 for i in low_at]),
            array("I", [asn for asn, _ in pairs]),
            offsets,
            b"".join(texts),
        )

    @property
    def pairs(self) -> int:
        return len(self.pair_asn)

    def _v6_start(self, k: int) -> int:
        if self._low is None:
            self._low = dict(zip(self.v6_low_at, self.v6_low, strict=True))
        return (self.v6_high[k] << 64) | self._low.get(k, 0)

    def find(self, version: int, value: int) -> tuple[int, int, int, str] | None:
        """(first, last, asn, org) of the range holding the address ``value``, or None."""
        if version == 4:
            starts = self.v4_starts
            i = bisect_right(starts, value) - 1
            pair = self.v4_index[i] if i >= 0 else 0
            first = starts[i] if i >= 0 else 0
            last = starts[i + 1] - 1 if i + 1 < len(starts) else MAX[4]
        else:
            high, n = self.v6_high, len(self.v6_high)
            top = value >> 64
            end = bisect_right(high, top)  # entries before ``end`` start at or below ``top``'s upper bits
            i = end - 1
            if i >= 0 and high[i] == top:  # a few starts share their upper bits: compare whole starts there
                i = bisect_right(range(n), value, bisect_left(high, top, 0, i), end, key=self._v6_start) - 1
            pair = self.v6_index[i] if i >= 0 else 0
            first = self._v6_start(i) if i >= 0 else 0
            last = self._v6_start(i + 1) - 1 if i + 1 < n else MAX[6]
        if not pair or pair > len(self.pair_asn):
            return None
        if self._org_text is None:
            self._org_text = {}
        org = self._org_text.get(pair)
        if org is None:
            offsets = self.org_offsets
            org = self._org_text[pair] = bytes(self.orgs[offsets[pair - 1]:offsets[pair]]).decode("utf-8", "replace")
        return first, last, self.pair_asn[pair - 1], org

    def encode(self) -> bytes:
        counts = (len(self.v4_starts), len(self.v6_high), len(self.v6_low_at), self.pairs, len(self.orgs))
        parts = [HEADER.pack(MAGIC, *counts)]
        for name in COLUMNS:
            column = array(CODES.get(name, "I"), getattr(self, name))
            if sys.byteorder == "big":
                column.byteswap()
            data = column.tobytes()
            parts.append(data + bytes(-len(data) % 8))
        parts.append(bytes(self.orgs))
        return b"".join(parts)

    @classmethod
    def load(cls, path: Path) -> RangeTable:
        """The table in a file ``encode`` wrote, mapped into memory (read on use)."""
        with open(path, "rb") as fh:
            try:
                view = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
            except ValueError:  # an empty file cannot be mapped
                raise TableError("not an ASN range table (empty)") from None
        return cls.decode(view)

    @classmethod
    def decode(cls, data: bytes | memoryview) -> RangeTable:
        view = memoryview(data)
        if len(view) < HEADER.size or bytes(view[:8]) != MAGIC:
            raise TableError("not an ASN range table (wrong magic)")
        n4, n6, nx, npairs, blob = HEADER.unpack_from(view)[1:]
        counts = {"v4_starts": n4, "v4_index": n4, "v6_high": n6, "v6_index": n6, "v6_low_at": nx, "v6_low": nx,
                  "pair_asn": npairs, "org_offsets": npairs + 1}
        pos = HEADER.size
        columns = []
        for name in COLUMNS:
            code = CODES.get(name, "I")
            size = struct.calcsize(code) * counts[name]
            part = view[pos:pos + size]
            if len(part) != size:
                raise TableError("ASN range table is truncated")
            if sys.byteorder == "little":
                columns.append(part.cast(code))
            else:
                column = array(code, part.tobytes())
                column.byteswap()
                columns.append(column)
            pos += size + (-size % 8)
        orgs = view[pos:pos + blob]
        if len(orgs) != blob or not n4 or columns[0][0] != 0 or (n6 and columns[2][0]):
            raise TableError("ASN range table is truncated or damaged")
        return cls(*columns, orgs)
