"""PCAPdroid's record of which app sent or received each packet (Android, no root needed).

PCAPdroid writes it in two layouts (its ``pcap_dump.c``), both read here exactly as written:

- pcapng: a custom block (type 0x00000BAD, Private Enterprise Number 62652, in the section's byte order)
  maps a UID to its package and app name before that UID's first packet: after the PEN, version (16 bits,
  1), block type (8 bits, 1 = UID map), a reserved byte, the UID (32 bits, signed), the package name's and
  the app name's length (8 bits each), the two names (UTF-8, no terminator), zero padding. Every Enhanced
  Packet Block then carries the comment option ``u-<uid>``.
- pcap with the "PCAPdroid trailer": link type Ethernet; each raw IP packet gets a placeholder Ethernet
  header in front (both MAC addresses zero) and, after zero padding to a multiple of 4 bytes, 32 bytes
  behind it: magic 0x01072021 and the UID (both big-endian), the app name (20 bytes, cut to 19 and
  NUL-terminated; no package name), a CRC-32 of the frame before it. The record's lengths include all of it,
  so Wireshark's ``frame.len`` does too (and so do the flows' bytes).

The reader marks each frame's UID in an ``AppMarks`` (runs of equal UIDs: memory grows with the changes
between apps, not with the frames); once the flows exist, ``attach`` gives each flow the app of its first
frame (PCAPdroid attributes whole connections) and says what was wrong with the records, once per kind.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable
from struct import Struct

from analysis.capture.pcapngoptions import options
from analysis.model import App, Flow

PEN = 62652  # PCAPdroid's Private Enterprise Number
CUSTOM_BLOCKS = frozenset({0x00000BAD, 0x40000BAD})  # pcapng custom blocks (copy allowed / not allowed)
BLOCK_VERSION = 1
UID_MAP = 1
UID_MAP_HEAD = 10  # after the PEN: version, type, reserved, UID, two name lengths
TRAILER_MAGIC = b"\x01\x07\x20\x21"
TRAILER = 32  # magic, UID, app name (20), CRC-32
TRAILER_NAME = slice(8, 28)  # the app name's bytes within the trailer
ETH_ZERO = bytes(12)  # the placeholder Ethernet header's MAC addresses
MIN_TRAILER_FRAME = 14 + 20 + TRAILER  # placeholder header, the shortest IP header, trailer
NONE = 1 << 40  # "no UID" in the runs (UIDs are 32-bit)
COMMENT = 1  # pcapng option code opt_comment
MAX_COMMENT = 16  # "u-" and a 32-bit number fit (PCAPdroid's reader reads 15 bytes)
SOURCE = "pcapdroid"
UID_BE = Struct(">i").unpack_from


class AppMarks:
    """Frame -> UID marks of one capture, PCAPdroid's UID -> (package, app name) map, and its troubles."""

    def __init__(self) -> None:
        self._frames = array("q")  # the first frame of each run
        self._uids = array("q")  # its UID, or NONE
        self._last = NONE
        self.packages: dict[int, tuple[str, str]] = {}  # from UID map blocks: (package, app name)
        self.trailer_names: dict[int, str] = {}  # from pcap trailers: the (cut) app name
        self._bad_blocks = 0
        self._first_bad_block = 0
        self._bad_block_uids: set[int] = set()  # their UIDs (no second warning for them as unmapped)
        self._old_blocks: dict[int, int] = {}  # unknown block version or type -> first offset
        self._bad_trailers = 0
        self._first_bad_trailer = 0
        self._apps: dict[int, App] = {}  # UID -> the record its flows share
        self._unmapped: dict[int, int] = {}  # UID -> flows given the UID only

    def mark(self, frame: int, uid: int) -> None:
        """Frame ``frame`` (numbered as Wireshark does) belongs to ``uid`` (NONE: no UID)."""
        if uid != self._last:
            self._frames.append(frame)
            self._uids.append(uid)
            self._last = uid

    def uid_at(self, frame: int) -> int | None:
        i = bisect_right(self._frames, frame) - 1
        if i < 0 or self._uids[i] == NONE:
            return None
        return self._uids[i]

    # -- pcapng ---------------------------------------------------------------------------------------
    def custom_block(self, buf, start: int, end: int, order: str, offset: int) -> None:
        """A custom block's body ``buf[start:end]`` (from its PEN to its trailing length), at file ``offset``."""
        if end - start < 4 or Struct(order + "I").unpack_from(buf, start)[0] != PEN:
            return  # another vendor's block: Wireshark numbers it as a frame, nothing more
        data = start + 4
        if end - data < 4:
            self._bad_block(offset)
            return
        version, kind = Struct(order + "HB").unpack_from(buf, data)
        if version != BLOCK_VERSION or kind != UID_MAP:
            self._old_blocks.setdefault((version << 8) | kind, offset)
            return
        if end - data < UID_MAP_HEAD:
            self._bad_block(offset)
            return
        uid, plen, alen = Struct(order + "iBB").unpack_from(buf, data + 4)
        names = data + UID_MAP_HEAD
        if names + plen + alen > end:
            self._bad_block(offset)
            self._bad_block_uids.add(uid)
            return
        if uid not in self.packages:  # as PCAPdroid's reader: the first mapping of a UID holds
            package = _text(bytes(buf[names:names + plen]))
            self.packages[uid] = (package, _text(bytes(buf[names + plen:names + plen + alen])))

    def _bad_block(self, offset: int) -> None:
        if not self._bad_blocks:
            self._first_bad_block = offset
        self._bad_blocks += 1

    def comment_uid(self, buf, start: int, end: int, order: str) -> int:
        """The UID in an Enhanced Packet Block's options ``buf[start:end]`` (a ``u-<uid>`` comment), or NONE."""
        for code, value, length in options(buf, start, end, order):
            if code == COMMENT and 2 < length <= MAX_COMMENT and buf[value:value + 2] == b"u-":
                uid = _uid(bytes(buf[value + 2:value + length]))
                if uid is not None:
                    return uid
        return NONE

    # -- pcap -----------------------------------------------------------------------------------------
    def trailer(self, buf, off: int, caplen: int, frame: int) -> int:
        """Frame ``frame``'s PCAPdroid trailer: its UID (the app name is kept), or NONE; a frame with the
        placeholder Ethernet header but no trailer magic is counted as a bad trailer."""
        end = off + caplen
        if caplen >= MIN_TRAILER_FRAME and buf[end - TRAILER:end - TRAILER + 4] == TRAILER_MAGIC:
            uid = UID_BE(buf, end - TRAILER + 4)[0]
            if uid not in self.trailer_names:
                self.trailer_names[uid] = _text(bytes(buf[end - TRAILER:end][TRAILER_NAME]))
            return uid
        if caplen >= 14 and buf[off:off + 12] == ETH_ZERO:
            if not self._bad_trailers:
                self._first_bad_trailer = frame
            self._bad_trailers += 1
        return NONE

    # -- flows ----------------------------------------------------------------------------------------
    def has_frames(self) -> bool:
        """True when some frame carries an app (``attach`` has flows to mark)."""
        return bool(self._frames)

    def attach(self, flows: Iterable[Flow]) -> None:
        """Give each flow the app of its first frame (the flows may come in several parts)."""
        apps, unmapped = self._apps, self._unmapped
        if self._frames:
            for flow in flows:
                uid = self.uid_at(flow.first_frame)
                if uid is None:
                    continue
                app = apps.get(uid)
                if app is None:
                    app = apps[uid] = self._app(uid)
                if app.id is None and app.name is None and uid not in self._bad_block_uids:
                    unmapped[uid] = unmapped.get(uid, 0) + 1
                flow.app = app

    def _app(self, uid: int) -> App:
        mapped = self.packages.get(uid)
        if mapped is not None:
            return App(id=mapped[0] or None, name=mapped[1] or None, uid=uid, source=SOURCE)
        return App(id=None, name=self.trailer_names.get(uid) or None, uid=uid, source=SOURCE)

    def warnings(self) -> list[str]:
        """The warnings about PCAPdroid's records (one per kind), once every flow is attached."""
        unmapped = self._unmapped
        out = []
        if self._bad_blocks:
            some = "1 PCAPdroid UID map block is" if self._bad_blocks == 1 else \
                f"{self._bad_blocks} PCAPdroid UID map blocks are"
            out.append(f"{some} truncated (first at offset {self._first_bad_block}): its names run past the "
                       "block; packets of its UID show the UID only")
        for key, offset in sorted(self._old_blocks.items()):
            out.append(f"PCAPdroid block of version {key >> 8}, type {key & 0xFF} at offset {offset} not read "
                       f"(known: version {BLOCK_VERSION}, type {UID_MAP} = UID map)")
        if unmapped:
            uids = ", ".join(map(str, sorted(unmapped)[:10])) + (", ..." if len(unmapped) > 10 else "")
            flows = sum(unmapped.values())
            out.append(f"PCAPdroid UID comment without a UID map entry (UID {uids}): "
                       f"{flows} flow{'s show' if flows != 1 else ' shows'} the UID only")
        if self._bad_trailers:
            some = "1 frame has" if self._bad_trailers == 1 else f"{self._bad_trailers} frames have"
            out.append(f"{some} PCAPdroid's placeholder Ethernet header but no trailer magic 0x01072021 "
                       f"(first: frame {self._first_bad_trailer}); read as plain Ethernet, app unknown")
        return out


def _uid(text: bytes) -> int | None:
    """The UID of a ``u-<uid>`` comment's number part (PCAPdroid writes it with ``%d``), else None."""
    digits = text[1:] if text[:1] == b"-" else text
    if not digits or not digits.isdigit() or not digits.isascii():
        return None
    value = int(text)
    if not -(1 << 31) <= value < (1 << 32):
        return None
    return value - (1 << 32) if value >= (1 << 31) else value  # as the 32-bit UID of the map block


def _text(raw: bytes) -> str:
    """A name from the file: up to its first NUL, UTF-8 (a character cut at the end dropped)."""
    raw = raw.split(b"\0", 1)[0]
    return raw.decode("utf-8", "replace").rstrip("\ufffd")
