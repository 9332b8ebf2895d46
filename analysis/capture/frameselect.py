"""A second pass over one capture: the frames of given flows (and given frame numbers), copied to a spool.

Frames are numbered as the flow table numbers them (Wireshark's numbers, see ``analysis.capture.reader``).
Each frame's conversation key (addresses and ports, decoded as the flow table decodes them, tunnels and
reassembled fragments included) is looked up among the wanted flows; since a conversation on the same ports
that starts anew (a new SYN) gets a new flow whose frames follow the old one's, a frame belongs to the flow
with its key whose first..last frame range holds it. Each kept frame is stored once, as the file holds it
(``analysis.capture.rawframes``), with the test password overwritten when a matcher is given
(``analysis.capture.scrub``). The pass stops after the last frame wanted; the reader still hashes the file.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from analysis.canary import CanaryMatcher
from analysis.capture.ip import PORTS, TCP, IpDecoder
from analysis.capture.pcapngwrite import Option
from analysis.capture.rawframes import EPB_HASH, Interface, RawFrames
from analysis.capture.reader import CaptureReader
from analysis.capture.scrub import MASK, Scrubber
from analysis.model import InputInfo


@dataclass(frozen=True, slots=True)
class FlowSpan:
    """A flow as the report gives it: its id, transport, both ends and its first and last frame."""

    flow_id: int
    transport: str
    client: tuple[str, int]
    server: tuple[str, int]
    first_frame: int
    last_frame: int


@dataclass(slots=True)
class Kept:
    """One kept frame: its number in the source, record fields and place in the spool."""

    number: int
    iface: int
    ticks: int
    origlen: int
    length: int
    at: int
    options: list[Option]
    flows: tuple[int, ...]
    scrubbed: bool = False


@dataclass
class Selection:
    """The kept frames in source order, their interfaces, the source's description (hash, damage)."""

    frames: list[Kept] = field(default_factory=list)
    interfaces: dict[int, Interface] = field(default_factory=dict)
    info: InputInfo | None = None
    spool: int = -1  # descriptor of the spool file

    def data(self, kept: Kept) -> bytes:
        return os.pread(self.spool, kept.length, kept.at) if kept.length else b""


def _key(ip: str, port: int) -> tuple[bytes, int]:
    return socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip), port


def _wanted(flows: list[FlowSpan]) -> dict[bytes, list[FlowSpan]]:
    """Conversation key (both directions, as the flow table keys them) -> its flows."""
    out: dict[bytes, list[FlowSpan]] = {}
    for span in flows:
        (cip, cport), (sip, sport) = _key(*span.client), _key(*span.server)
        for key in (cip + sip + PORTS(cport, sport), sip + cip + PORTS(sport, cport)):
            out.setdefault(key, []).append(span)
    return out


class _Decoder:
    """A frame's conversation key and payload bounds, decoded as the flow table's general path does."""

    def __init__(self) -> None:
        self.ip = IpDecoder()  # keeps fragments: fed every frame in order, as the flow table is

    def segment(self, lt: int, buf, off: int, end: int, ts: float) -> tuple[int, bytes, int, int, bool] | None:
        """(protocol, key, payload start, payload end, payload lies in ``buf``), offsets in ``buf``."""
        seg = self.ip.segment(lt, buf, off, end, ts)
        if seg is None:
            return None
        proto, key, b, p, l4end, _sport, _dport, seq, offflags = seg
        if proto == TCP:
            start, stop = p + ((offflags >> 12) << 2), l4end
        else:
            ulen = seq >> 16
            start, stop = p + 8, (p + ulen if 8 <= ulen and p + ulen < l4end else l4end)
        return proto, key, start, stop, b is buf


class _Spool:
    """Kept frames' bytes in an unnamed file (written at offsets, patched in place)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.size = os.fstat(fd).st_size

    def add(self, data: bytes) -> int:
        at = self.size
        self._write(data, at)
        self.size += len(data)
        return at

    def _write(self, data: bytes, at: int) -> None:
        view = memoryview(data)
        while view:
            n = os.pwrite(self.fd, view, at)
            view, at = view[n:], at + n

    def patch(self, kept: Kept, offset: int, length: int) -> None:
        """Overwrite ``length`` bytes of a kept frame, from ``offset``, with the mask."""
        self._write(bytes([MASK]) * length, kept.at + offset)
        kept.scrubbed = True
        kept.options = [o for o in kept.options if o[0] != EPB_HASH]


def select_frames(path: str, flows: list[FlowSpan], numbers: set[int], spool_fd: int,
                  matcher: CanaryMatcher | None = None) -> Selection:
    """The frames of ``flows`` and the frames numbered ``numbers`` in the capture at ``path``, appended to the
    spool file ``spool_fd``; with an active ``matcher``, the password it knows overwritten in them."""
    reader = CaptureReader(path)
    raw = RawFrames(reader)
    wanted = _wanted(flows)
    last = max([s.last_frame for s in flows] + list(numbers), default=0)
    spool = _Spool(spool_fd)
    scrub = Scrubber(matcher, spool.patch) if matcher is not None and matcher.active else None
    decoder = _Decoder()
    selection = Selection(spool=spool_fd)
    records = iter(reader.records())
    try:
        for number, (lt, buf, off, caplen, _origlen, ts) in enumerate(records, 1):
            if number > last:
                break
            seg = decoder.segment(lt, buf, off, off + caplen, ts) if wanted else None
            owners: tuple[int, ...] = ()
            if seg is not None:
                spans = wanted.get(seg[1])
                if spans:
                    owners = tuple(s.flow_id for s in spans if s.first_frame <= number <= s.last_frame)
            if not owners and number not in numbers:
                continue
            record = raw.frame(buf, off)
            if record is None:  # a pcapng custom block: no packet
                continue
            if record.iface not in selection.interfaces:
                selection.interfaces[record.iface] = raw.interface(record.iface)
            kept = Kept(number, record.iface, record.ticks, record.origlen, len(record.data), 0, record.options,
                        owners)
            data = record.data
            if scrub is not None:
                data = bytearray(data)
                stream, start, stop = None, 0, 0
                if seg is not None and seg[0] == TCP and seg[4] and owners:
                    stream, start, stop = (owners[0], seg[1]), seg[2] - off, seg[3] - off
                if scrub.frame(kept, data, stream, start, stop):
                    kept.scrubbed = True
                    kept.options = [o for o in kept.options if o[0] != EPB_HASH]
            kept.at = spool.add(bytes(data))
            selection.frames.append(kept)
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()
        reader.close()  # hashes the rest of the file and closes it
    selection.info = reader.info
    return selection
