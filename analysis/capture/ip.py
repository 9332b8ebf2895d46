"""IPv4 / IPv6 down to TCP or UDP: extension headers, tunnels and fragment reassembly.

``IpDecoder.transport(buf, off, end, ts)`` walks from an IP header to the innermost TCP or UDP segment
(IP-in-IP, 6in4, GRE, GTP-U, VXLAN, LISP and Teredo are followed, as Wireshark shows the innermost IP) and
returns ``(proto, src, dst, buf, l4_off, l4_end)`` with raw address bytes, or None for anything else
(ICMP, which also keeps quoted TCP/UDP headers out of the flow table, ESP, a fragment still waiting);
``IpDecoder.segment(linktype, ...)`` goes from a frame to its segment's conversation key and header fields.
Fragments are reassembled in bounded buffers; the reassembled datagram belongs to the frame that
completed it, as in Wireshark.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from struct import Struct

from analysis.capture.linklayer import DECODERS, ip_offset

TCP, UDP = 6, 17
IPIP, IPV6_IN_IP, GRE = 4, 41, 47
EXT_GENERIC = frozenset({0, 43, 60, 135, 139, 140, 253, 254})  # (len + 1) * 8 bytes
EXT_FRAGMENT, EXT_AH = 44, 51
# what may lead on to TCP or UDP after an IPv4 header / an IPv6 header (any other protocol: no segment here)
CARRIERS_V4 = frozenset({TCP, UDP, IPIP, IPV6_IN_IP, GRE})
CARRIERS_V6 = CARRIERS_V4 | EXT_GENERIC | {EXT_FRAGMENT, EXT_AH}
GTPU_PORT, VXLAN_PORT, TEREDO_PORT = 2152, 4789, 3544
LISP_DATA_PORT, LISP_CONTROL_PORT = 4341, 4342  # RFC 9300/9301
TUNNEL_PORTS = frozenset({GTPU_PORT, VXLAN_PORT, TEREDO_PORT, LISP_DATA_PORT, LISP_CONTROL_PORT})
MAX_DEPTH = 4  # nested tunnels followed
MAX_EXT = 16  # IPv6 extension headers followed
MAX_FRAGMENTS = 8192  # per datagram: 64 KiB in the smallest (8-byte) fragments
PIECE_COST = 192  # bytes of bookkeeping per stored fragment (its tuple, bytes object, offset, boundaries)

V4 = Struct("!BBHHHBBH4s4s").unpack_from
V6 = Struct("!IHBB16s16s").unpack_from
TCP_HEAD = Struct("!HHIIH").unpack_from
UDP_HEAD = Struct("!HHH").unpack_from
PORTS = Struct("!HH").pack


class _Datagram:
    """The fragments of one IP datagram so far: (offset, data) pieces as they came, the ranges they cover."""

    __slots__ = ("first_ts", "total", "pieces", "edges", "size")

    def __init__(self, ts: float) -> None:
        self.first_ts = ts
        self.total: int | None = None  # payload length, known from the last fragment (MF clear)
        self.pieces: list[tuple[int, bytes]] | None = []  # None: given up (too many fragments)
        self.edges: list[int] = []  # covered ranges as sorted boundaries [start, end, start, end, ...]
        self.size = 0  # bytes counted against the bound: every piece whole (overlaps too) and its cost

    def cover(self, start: int, end: int) -> bool:
        """Add [start, end) to the covered ranges; True when they are one range from 0 to the total."""
        edges = self.edges
        if start < end:
            lo, hi = bisect_left(edges, start), bisect_right(edges, end)
            edges[lo:hi] = ([] if lo & 1 else [start]) + ([] if hi & 1 else [end])
        total = self.total
        return total is not None and len(edges) == 2 and edges[0] == 0 and edges[1] >= total

    def payload(self) -> bytes:
        """The whole payload: pieces in offset order (arrival order among equal offsets), later over earlier."""
        total = self.total or 0
        out = bytearray(total)
        for start, chunk in sorted(self.pieces or (), key=_offset):
            out[start:start + len(chunk)] = chunk[: max(0, total - start)]
        return bytes(out)


def _offset(piece: tuple[int, bytes]) -> int:
    return piece[0]


class Reassembler:
    """Pending IP fragments, bounded in datagrams, bytes held, fragments per datagram and (capture) time.

    Bytes held count every stored fragment whole (overlapping ones too) plus ``PIECE_COST`` for its
    bookkeeping, and never exceed ``max_bytes``: the oldest datagrams are dropped to make room. A datagram
    with more than ``max_fragments`` fragments is given up: its bytes are freed and its later fragments
    ignored until it expires. Each fragment costs a bounded amount of work, so a flood stays linear."""

    __slots__ = ("pending", "max_datagrams", "max_bytes", "max_fragments", "timeout", "held", "dropped")

    def __init__(self, max_datagrams: int = 1024, max_bytes: int = 32 << 20, timeout: float = 60.0,
                 max_fragments: int = MAX_FRAGMENTS) -> None:
        self.pending: dict[tuple, _Datagram] = {}
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.max_fragments = max_fragments
        self.timeout = timeout
        self.held = 0
        self.dropped = 0

    def add(self, key: tuple, offset: int, more: bool, data: bytes, ts: float) -> bytes | None:
        """Store one fragment; the whole payload when this fragment completes the datagram."""
        end = offset + len(data)
        if end > 65535:
            self.dropped += 1
            self._forget(key)
            return None
        dgram = self.pending.get(key)
        if dgram is None:
            self._expire(ts)
            dgram = self.pending[key] = _Datagram(ts)
        pieces = dgram.pieces
        if pieces is None:
            return None
        if len(pieces) >= self.max_fragments:
            self.held -= dgram.size
            dgram.pieces, dgram.edges, dgram.size = None, [], 0
            return None
        cost = len(data) + PIECE_COST
        while self.held + cost > self.max_bytes:  # make room: the oldest datagrams go first
            oldest = next(iter(self.pending))
            self.dropped += 1
            self._forget(oldest)
            if oldest == key:
                return None
        if not more:
            dgram.total = end
        pieces.append((offset, data))
        dgram.size += cost
        self.held += cost
        if not dgram.cover(offset, end):
            return None
        self._forget(key)
        return dgram.payload()

    def _forget(self, key: tuple) -> None:
        dgram = self.pending.pop(key, None)
        if dgram is not None:
            self.held -= dgram.size

    def _expire(self, ts: float) -> None:
        pending = self.pending
        while pending:
            key, dgram = next(iter(pending.items()))
            if (len(pending) < self.max_datagrams and self.held < self.max_bytes
                    and ts - dgram.first_ts <= self.timeout):
                break
            self.dropped += 1
            self._forget(key)


class IpDecoder:
    """Stateful only for fragment reassembly; one per capture."""

    __slots__ = ("frags",)

    def __init__(self) -> None:
        self.frags = Reassembler()

    def segment(self, lt: int, buf: bytes, off: int, end: int, ts: float):
        """The frame ``buf[off:end]`` of link type ``lt`` down to its TCP or UDP segment: (proto, conversation
        key (source and destination address and port), buf, l4_off, l4_end, source port, destination port,
        TCP sequence number or the UDP length << 16, TCP data offset and flags or 0), or None."""
        decoder = DECODERS.get(lt)
        if decoder is None:
            return None
        ipo = decoder(buf, off, end)
        if ipo < 0:
            return None
        seg = self.transport(buf, ipo, end, ts)
        if seg is None:
            return None
        proto, src, dst, b, p, l4end = seg
        if proto == TCP:
            if p + 16 > l4end:
                return None
            sport, dport, seq, _ack, offflags = TCP_HEAD(b, p)
        else:
            if p + 8 > l4end:
                return None
            sport, dport, ulen = UDP_HEAD(b, p)
            seq, offflags = ulen << 16, 0
        return proto, src + dst + PORTS(sport, dport), b, p, l4end, sport, dport, seq, offflags

    def transport(self, buf: bytes, off: int, end: int, ts: float):
        """(proto, src, dst, buf, l4_off, l4_end) of the innermost TCP/UDP segment, or None."""
        for _ in range(MAX_DEPTH):
            if off + 20 > end:
                return None
            ver = buf[off] >> 4
            if ver == 4:
                vihl, _tos, tot, ident, frag, _ttl, proto, _sum, src, dst = V4(buf, off)
                ihl = (vihl & 15) * 4
                if ihl < 20:
                    return None
                ip_end = off + tot if tot else end  # 0: TSO, trust the frame
                if tot and tot < ihl:
                    return None
                if ip_end > end:
                    ip_end = end
                p = off + ihl
                if p > ip_end:
                    return None
                if frag & 0x3FFF:  # MF set or offset > 0
                    key = (4, src, dst, ident, proto)
                    data = self.frags.add(key, (frag & 0x1FFF) * 8, bool(frag & 0x2000), buf[p:ip_end], ts)
                    if data is None:
                        return None
                    buf, p, ip_end = data, 0, len(data)
            elif ver == 6:
                if off + 40 > end:
                    return None
                _vtf, plen, proto, _hlim, src, dst = V6(buf, off)
                p = off + 40
                ip_end = p + plen if plen else end
                if ip_end > end:
                    ip_end = end
                found = self._v6_ext(buf, p, ip_end, proto, src, dst, ts)
                if found is None:
                    return None
                proto, buf, p, ip_end = found
            else:
                return None
            if proto == TCP or proto == UDP:
                if proto == UDP and p + 8 <= ip_end:
                    inner = _udp_tunnel(buf, p, ip_end)
                    if inner >= 0:
                        off, end = inner, ip_end
                        continue
                return proto, src, dst, buf, p, ip_end
            if proto == IPIP or proto == IPV6_IN_IP:
                off, end = p, ip_end
                continue
            if proto == GRE:
                inner = _gre(buf, p, ip_end)
                if inner < 0:
                    return None
                off, end = inner, ip_end
                continue
            return None
        return None

    def _v6_ext(self, buf: bytes, p: int, end: int, nh: int, src: bytes, dst: bytes, ts: float):
        """Skip IPv6 extension headers (reassembling fragments): (proto, buf, l4_off, end) or None."""
        for _ in range(MAX_EXT):
            if nh in EXT_GENERIC:
                if p + 8 > end:
                    return None
                nh, p = buf[p], p + (buf[p + 1] + 1) * 8
            elif nh == EXT_AH:
                if p + 8 > end:
                    return None
                nh, p = buf[p], p + (buf[p + 1] + 2) * 4
            elif nh == EXT_FRAGMENT:
                if p + 8 > end:
                    return None
                frag = (buf[p + 2] << 8) | buf[p + 3]
                key = (6, src, dst, bytes(buf[p + 4:p + 8]))
                nh = buf[p]
                data = self.frags.add(key, frag & 0xFFF8, bool(frag & 1), bytes(buf[p + 8:end]), ts)
                if data is None:
                    return None
                buf, p, end = data, 0, len(data)
            else:
                return (nh, buf, p, end) if p <= end else None
        return None


def _udp_tunnel(buf: bytes, p: int, end: int) -> int:
    """Offset of the inner IP header when this UDP datagram is a tunnel Wireshark decodes, else -1."""
    sport = (buf[p] << 8) | buf[p + 1]
    dport = (buf[p + 2] << 8) | buf[p + 3]
    q = p + 8
    if sport == GTPU_PORT or dport == GTPU_PORT:
        return _gtpu(buf, q, end)
    if sport == VXLAN_PORT or dport == VXLAN_PORT:
        if q + 8 <= end and buf[q] & 0x08:
            return ip_offset(1, buf, q + 8, end)
        return -1
    if sport == LISP_DATA_PORT or dport == LISP_DATA_PORT:
        return q + 8 if q + 28 <= end and buf[q + 8] >> 4 in (4, 6) else -1
    if sport == LISP_CONTROL_PORT or dport == LISP_CONTROL_PORT:  # Encapsulated Control Message
        return q + 4 if q + 24 <= end and buf[q] >> 4 == 8 and buf[q + 4] >> 4 in (4, 6) else -1
    if sport == TEREDO_PORT or dport == TEREDO_PORT:
        if q + 8 <= end and buf[q] == 0 and buf[q + 1] == 0:  # origin indication
            q += 8
        if q + 40 <= end and buf[q] >> 4 == 6:
            return q
    return -1


def _gtpu(buf: bytes, q: int, end: int) -> int:
    """GTPv1-U G-PDU (3GPP TS 29.281): the inner IP packet's offset, or -1."""
    if q + 8 > end:
        return -1
    flags = buf[q]
    if flags >> 5 != 1 or not flags & 0x10 or buf[q + 1] != 0xFF:
        return -1
    r = q + 8
    if flags & 0x07:
        if r + 4 > end:
            return -1
        next_ext = buf[r + 3]
        r += 4
        for _ in range(MAX_EXT):
            if not next_ext:
                break
            if r + 1 > end or buf[r] == 0:
                return -1
            length = buf[r] * 4
            if r + length > end:
                return -1
            next_ext = buf[r + length - 1]
            r += length
    if r < end and buf[r] >> 4 in (4, 6):
        return r
    return -1


def _gre(buf: bytes, p: int, end: int) -> int:
    """GRE (RFC 2784/2890) and PPTP's enhanced GRE: the inner IP header's offset, or -1."""
    if p + 4 > end:
        return -1
    flags = (buf[p] << 8) | buf[p + 1]
    proto = (buf[p + 2] << 8) | buf[p + 3]
    version = flags & 7
    q = p + 4
    if flags & 0x8000 and version == 0:
        q += 4  # checksum + reserved
    if flags & 0x2000:
        q += 4  # key (PPTP: payload length + call id)
    if flags & 0x1000:
        q += 4  # sequence number
    if version == 1 and flags & 0x0080:
        q += 4  # acknowledgment number
    if q > end:
        return -1
    if proto in (0x0800, 0x86DD):
        return q
    if proto == 0x6558:  # transparent Ethernet bridging
        return ip_offset(1, buf, q, end)
    if proto == 0x880B:  # PPP
        return ip_offset(9, buf, q, end)
    return -1
