"""Bulk counting for big captures: frames that only move counters are counted with numpy, a batch at a time.

A conversation is settled once the flow table has nothing left to learn from its packets (``Conv.todo``
False), and it only waits for its inspector once both sequence bases are known (or it is UDP): then the
table would just count its frames and hand their payload to the inspector. In a big capture most frames
are of such conversations. Here a batch of frames is decoded at once from the mapped file (link layer, IP,
TCP/UDP header fields), each frame's conversation is found with one dictionary look-up per distinct
address/port key, and packets, bytes, payload bytes, the last frame and the times are added up per
conversation, in arrays that the conversations get at the end; the first pure ACK and first payload of
each side of a TCP connection (for its Zeek history, ``analysis.capture.connstate``) are taken per batch.
The other frames go through ``ConversationTable.count`` in frame order; payloads of waiting conversations go to
their inspector in frame order too. The table ends exactly as after the plain pass (tests/test_bulk.py
compares both on every capture, in batches of many sizes).

What keeps it exact:
- a key (one direction of a conversation) is counted in bulk only while its conversation is settled or
  waiting; its SYNs always go to the table (one may start a new connection on the same ports), after
  which both directions are looked up again; its FINs and RSTs go to the table too (the connection's
  state), one by one, while its other frames are still counted in bulk;
- frames the table ignores (ARP, ICMP, truncated headers...) go to it anyway, as they come;
- a frame whose conversation cannot be told here (IP options, extension headers, fragments, tunnel ports,
  MPLS, link types not decoded here) goes to the table in frame order, among the others; it may start a
  conversation on any key, so only frames before it are counted at once, and the keys of conversations
  it started are looked up again. A batch is cut after such frames where a long run of other frames
  follows, so that the run is counted at once again. When such a batch had few frames counted at once
  (short conversations), the next few batches go to the table whole: its own loop is faster then.
"""

from __future__ import annotations

from itertools import islice, repeat
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from analysis.capture.connstate import CONTROL
from analysis.capture.conversations import ACK, FIRST_SLOT, SYN, TCP, UDP, few_collections, reverse_key
from analysis.capture.ip import CARRIERS_V4, CARRIERS_V6, TUNNEL_PORTS
from analysis.capture.linklayer import ETH_IPV4, ETH_IPV6, MPLS, PPPOE_SESSION, VLAN_TAGS

if TYPE_CHECKING:
    from analysis.capture.conversations import Conv, ConversationTable
    from analysis.capture.reader import CaptureReader

BATCH = 8192  # frames decoded at once (their pages of the file stay mapped until the batch is done)
ETHERNET, SLL, SLL2 = 1, 113, 276
RAW_IP = frozenset({12, 14, 101, 228, 229})
DECODED = RAW_IP | {ETHERNET, SLL, SLL2}  # link types decoded here
MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))


class Columns(NamedTuple):
    """One batch of frames, one array each: link type, offset of the frame in the file, lengths, time."""

    lt: np.ndarray
    off: np.ndarray
    caplen: np.ndarray
    origlen: np.ndarray
    ts: np.ndarray


class FileViews:
    """The mapped file as bytes, and as unaligned 16/32-bit (big- and little-endian) and 64-bit words at
    every byte offset, so that one fancy index gathers a field of every frame."""

    def __init__(self, buf) -> None:
        n = len(buf)
        self.u8 = np.frombuffer(buf, np.uint8)
        self.be16 = np.ndarray((n - 1,), ">u2", buffer=buf, strides=(1,))
        self.be32 = np.ndarray((n - 3,), ">u4", buffer=buf, strides=(1,))
        self.le32 = np.ndarray((n - 3,), "<u4", buffer=buf, strides=(1,))
        self.u64 = np.ndarray((n - 7,), "<u8", buffer=buf, strides=(1,))


def _table(values, size: int) -> np.ndarray:
    """A lookup table: ``table[x]`` is True for x in ``values`` (one gather instead of ``np.isin``)."""
    table = np.zeros(size, bool)
    table[sorted(values)] = True
    return table


TAG = _table(VLAN_TAGS, 1 << 16)
IP = _table((ETH_IPV4, ETH_IPV6), 1 << 16)
ONWARD = _table(VLAN_TAGS | MPLS | {PPPOE_SESSION}, 1 << 16)  # ethertypes that may still lead to IP
TUNNEL = _table(TUNNEL_PORTS, 1 << 16)
V4_ONWARD = _table(CARRIERS_V4, 256)  # IPv4 protocols that may carry TCP or UDP
V6_ONWARD = _table(CARRIERS_V6, 256)
REACH = 80  # every field read lies within this many bytes of the frame's start
RUN = 256  # a batch is cut after a frame the table must decode when at least this many frames follow it
# a batch with frames left to the table and fewer than 1/FEW of its frames counted at once: the next SKIP
# batches go to the table whole (short conversations: the table's own loop is then faster), twice as many
# after each such batch in a row, up to MAX_SKIP (a capture of short conversations throughout)
FEW, SKIP, MAX_SKIP = 4, 4, 64


class Decoded(NamedTuple):
    """Per frame of a batch: ``plain`` (a TCP/UDP segment the table counts, decoded here) and ``unknown``
    (its conversation cannot be told here); for plain frames the IP offset (from the frame's start), the
    protocol, the IP version (``v6``), whether the TCP SYN flag is set and whether any of SYN, FIN or RST
    is (``control``)."""

    plain: np.ndarray
    unknown: np.ndarray
    ipo: np.ndarray
    proto: np.ndarray
    v6: np.ndarray
    syn: np.ndarray
    control: np.ndarray
    l4: np.ndarray  # offset of the TCP/UDP header in the file
    l4end: np.ndarray  # where the segment ends (IP length, cut at the captured length)


def _link(lt: np.ndarray) -> tuple:
    """Offsets of the ethertype field, of IP after it, of the ethertype after one VLAN tag, the shortest
    frame with an ethertype; whether the link type has an ethertype, whether it is raw IP. One value for
    the whole batch when it has one link type, else one per frame."""
    first = int(lt[0])
    if (lt == first).all():
        sll2 = first == SLL2
        etpos = 14 if first == SLL else 0 if sll2 else 12
        return (etpos, 20 if sll2 else etpos + 2, 22 if sll2 else etpos + 4, 20 if sll2 else etpos + 2,
                np.bool_(first in (ETHERNET, SLL, SLL2)), np.bool_(first in RAW_IP))
    sll2 = lt == SLL2
    etpos = np.where(lt == SLL, 14, np.where(sll2, 0, 12))
    return (etpos, np.where(sll2, 20, etpos + 2), np.where(sll2, 22, etpos + 4), np.where(sll2, 20, etpos + 2),
            (lt == ETHERNET) | (lt == SLL) | sll2, np.isin(lt, sorted(RAW_IP)))


def decode(v: FileViews, c: Columns) -> Decoded:
    """Classify every frame of ``c`` as the flow table would decode it (see the module's rules)."""
    off, cap = c.off, c.caplen
    if int(off.max()) + REACH < len(v.u64):
        def at(view: np.ndarray, idx: np.ndarray) -> np.ndarray:
            return view[idx]
    else:  # near the end of the file: indices past it are clamped (their values are masked out below)
        def at(view: np.ndarray, idx: np.ndarray) -> np.ndarray:
            return view[np.minimum(idx, len(view) - 1)]
    etpos, ip_after, inner, minlen, has_et, raw = _link(c.lt)
    short = cap < minlen
    et = at(v.be16, off + etpos)
    tagged = TAG[et] & ~short
    short |= tagged & (cap < inner + 2)
    et = np.where(tagged, at(v.be16, off + inner), et)
    ipo = np.where(tagged, inner + 2, ip_after)
    if raw.any():
        ipo = np.where(raw, 0, ipo)
    is_ip = IP[et]
    unknown = (~has_et & ~raw) | (has_et & ~short & ~is_ip & ONWARD[et])
    # IP: anything that is not IPv4/IPv6, or too short for its header, is ignored by the table
    ip = ((has_et & ~short & is_ip) | raw) & (cap >= ipo + 20)
    base = off + ipo
    b0 = at(v.u8, base)
    ver = b0 >> 4
    v4 = ip & (ver == 4)
    v6 = ip & (ver == 6) & (cap >= ipo + 40)
    proto = np.where(v6, at(v.u8, base + 6), at(v.u8, base + 9))
    word = at(v.be32, base + 4)  # IPv4: identification, flags and fragment offset; IPv6: payload length...
    tot = at(v.be16, base + 2)
    l4_proto = (proto == TCP) | (proto == UDP)
    # straight to TCP/UDP: IPv4 without options or fragmentation, IPv6 without extension headers
    plain4 = v4 & (b0 == 0x45) & l4_proto & (word & 0x3FFF == 0)
    plain6 = v6 & l4_proto
    unknown |= v4 & ~plain4 & V4_ONWARD[proto]
    unknown |= v6 & ~plain6 & V6_ONWARD[proto]
    no_total = tot == 0  # IPv4 total length 0 (segmentation offload): the frame's length counts
    plain = (plain4 & (no_total | (tot >= 20))) | plain6
    plen = word >> 16
    l4 = base + np.where(v6, 40, 20)
    end = off + cap
    l4end = np.where(v6, np.where(plen > 0, l4 + plen, end), np.where(no_total, end, base + tot))
    tcp = proto == TCP
    l4end = np.minimum(l4end, end)
    plain &= l4 + np.where(tcp, 16, 8) <= l4end  # a shorter segment is skipped by the table
    ports = at(v.be32, l4)
    tunnel = plain & ~tcp & (TUNNEL[ports >> 16] | TUNNEL[ports & 0xFFFF])  # may be a tunnel: not decoded here
    unknown |= tunnel
    plain &= ~tunnel
    tcp_flags = np.where(plain & tcp, at(v.u8, l4 + 13), 0)
    return Decoded(plain, unknown, ipo, proto, v6, tcp_flags & SYN != 0, tcp_flags & CONTROL != 0, l4, l4end)


def _payloads(v: FileViews, d: Decoded, idx: np.ndarray) -> tuple[list, list, list, list]:
    """Where the payload of each plain frame ``idx`` starts and ends, its TCP sequence number and flags
    (UDP: None and 0), as the flow table hands them to a conversation's inspector. Other frames of
    ``idx`` get values that are never used (read from the file's start, so always inside it)."""
    plain = d.plain[idx]
    l4, l4end = np.where(plain, d.l4[idx], 0), np.where(plain, d.l4end[idx], 0)
    tcp = d.proto[idx] == TCP
    head = v.be32[l4 + 4]  # TCP: sequence number; UDP: length and checksum
    ulen = head >> 16
    udp_end = np.where((ulen >= 8) & (l4 + ulen < l4end), l4 + ulen, l4end)
    tcp_l4 = np.where(tcp, l4, 0)  # TCP's fields lie inside its frame; a UDP frame's place may not have them
    start = np.where(tcp, l4 + (v.u8[tcp_l4 + 12] >> 4) * 4, l4 + 8)
    end = np.where(tcp, l4end, udp_end)
    seq = [s if t else None for s, t in zip(head.tolist(), tcp.tolist(), strict=True)]
    flags = np.where(tcp, v.be16[tcp_l4 + 12] & 0x01FF, 0)
    return start.tolist(), end.tolist(), seq, flags.tolist()


def _key_rows(v: FileViews, c: Columns, d: Decoded, idx: np.ndarray) -> np.ndarray:
    """The conversation key of the plain frames ``idx``: protocol and version, then the addresses and ports
    as 64-bit words (IPv4: 12 bytes, IPv6: 36 bytes, zero-padded)."""
    base = c.off[idx] + d.ipo[idx]
    six = d.v6[idx]
    rows = np.zeros((len(idx), 6), np.uint64)
    rows[:, 0] = d.proto[idx].astype(np.uint64) | (six.astype(np.uint64) << np.uint64(8))
    addr = base + np.where(six, 8, 12)  # every field read lies inside the frame (see decode)
    rows[:, 1] = v.u64[addr]
    four, addr6 = ~six, addr[six]
    rows[four, 2] = v.le32[addr[four] + 8]
    rows[six, 2] = v.u64[addr6 + 8]
    rows[six, 3] = v.u64[addr6 + 16]
    rows[six, 4] = v.u64[addr6 + 24]
    rows[six, 5] = v.le32[addr6 + 32]
    return rows


def _distinct(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of one row per distinct key, each row's distinct-key number): a hash first, checked row by
    row; on a collision the rows themselves are compared."""
    h = rows[:, 0] * MIX[0]
    for j in range(1, rows.shape[1]):
        h = (h ^ rows[:, j]) * MIX[1]
    _, first, inv = np.unique(h, return_index=True, return_inverse=True)
    if not (rows == rows[first][inv]).all():
        whole = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.shape[1] * 8))).ravel()
        _, first, inv = np.unique(whole, return_index=True, return_inverse=True)
    return first, inv.ravel()


class BulkCounter:
    """Feeds batches to one ``ConversationTable``; ``buf`` is the mapped file the frames' offsets point into."""

    def __init__(self, table: ConversationTable, buf) -> None:
        self.table = table
        self.buf = buf
        self.views = FileViews(buf)
        self.bulk_frames = 0  # frames counted here (for tests and the benchmark)
        self.sums = _Sums()
        self.static = 0  # frames of the current batch counted at once
        self.skip = 0  # batches still to hand to the table whole (the frames counted at once were few)
        self.misses = 0  # batches in a row that counted few frames at once

    def batch(self, c: Columns) -> None:
        """Count the frames of one batch (numbered on from ``table.frames``).

        Keys (one direction of a conversation) whose conversation is settled, with no SYN in the batch,
        are counted in bulk at once. The other frames are handed to the table in frame order, except for
        keys whose conversation is settled by then, or only waits for its inspector (both sequence bases
        known): their frames are set aside for the bulk sums and their payloads go to the inspector here,
        as the table would hand them over. A SYN always goes to the table: it may start a new connection
        on the same ports.
        """
        n = len(c.off)
        if self.skip:
            self.skip -= 1
            base = self.table.frames
            self.table.count(zip(range(base + 1, base + n + 1), zip(
                c.lt.tolist(), repeat(self.buf), c.off.tolist(), c.caplen.tolist(), c.origlen.tolist(),
                c.ts.tolist()), strict=True))
            self.table.frames = base + n
            return
        d = decode(self.views, c)
        unknown = np.flatnonzero(d.unknown)
        if not len(unknown):
            self._part(c, d, n)
            return
        self.static = 0
        self._parts(c, d, unknown)
        if self.static * FEW < n:
            self.skip = min(SKIP << self.misses, MAX_SKIP)
            self.misses += 1
        else:
            self.misses = 0

    def _parts(self, c: Columns, d: Decoded, unknown: np.ndarray) -> None:
        """A batch with frames left to the table (``unknown``), cut where a long run of others follows."""
        # cut after an unknown frame followed by a long run of frames that can be counted at once
        gaps = np.diff(np.append(unknown, len(c.off)))
        ends = (unknown[gaps > RUN] + 1).tolist()
        cuts = [0, *ends] if ends and ends[-1] == len(c.off) else [0, *ends, len(c.off)]
        for lo, hi in zip(cuts, cuts[1:], strict=False):
            part = slice(lo, hi)
            first = unknown[(unknown >= lo) & (unknown < hi)]
            self._part(Columns(*(a[part] for a in c)), Decoded(*(a[part] for a in d)),
                       int(first[0]) - lo if len(first) else hi - lo)

    def _part(self, c: Columns, d: Decoded, before: int) -> None:
        """Count the frames of ``c`` (decoded as ``d``); only frames before ``before`` (the first one whose
        conversation cannot be told here) may be counted at once."""
        table, n = self.table, len(c.off)
        base = table.frames
        plain = np.flatnonzero(d.plain)
        keys = _Keys(self, c, d, plain)
        found = [keys.look(j) for j in range(len(keys.bytes))]
        u = len(found)
        code_of_key = np.array([code for code, _wait in found] + [-1], np.int64)
        code = code_of_key[keys.inv]
        slot = code >> 1  # -1 for a key that is not settled
        nosyn = np.ones(len(keys.convs) + 1, bool)
        nosyn[slot[d.syn[plain]]] = False
        nosyn[-1] = False
        static = nosyn[slot] & ~d.control[plain]  # a FIN or RST of a settled key goes to the table alone
        static &= plain < before
        self.static += int(static.sum())
        rest = np.ones(n, bool)
        rest[plain[static]] = False
        ci = np.flatnonzero(rest)
        key_of = np.full(n, u, np.int64)  # u: not a plain frame (the table decodes it)
        key_of[plain] = keys.inv
        # a frame's entry in ``state``: its key's code (slot * 2 + side B) once settled, else -1, and in
        # ``waiting`` what its inspector needs while it waits; SYNs, FINs, RSTs and frames without a key look at
        # the entries past the end, which stay -1 and None
        look = np.where(d.control, u, key_of)
        state = [code for code, _wait in found] + [-1]
        waiting = [wait for _code, wait in found] + [None]
        codes: list[int] = []
        table.count(self._frames(c, d, base, ci, look[ci].tolist(), key_of[ci].tolist(), keys, state, waiting,
                                 codes))
        table.frames = base + n
        later = np.array(codes, np.int64)
        kept = later >= 0
        later = later[kept]
        idx = np.concatenate([plain[static], ci[kept]])
        if len(idx):
            code = np.concatenate([code[static], later])
            self._add(c, d, base, idx, keys.convs, code >> 1, (code & 1) == 0)

    def _frames(self, c: Columns, d: Decoded, base: int, ci: np.ndarray, look: list, key_of: list, keys: _Keys,
                state: list, waiting: list, codes: list):
        """``(frame, record)`` for the table: the frames ``ci``, but those of keys whose conversation is
        settled or waiting, which only get their key's code appended to ``codes`` (others: -1)."""
        lt, off, caplen = c.lt[ci].tolist(), c.off[ci].tolist(), c.caplen[ci].tolist()
        origlen, ts = c.origlen[ci].tolist(), c.ts[ci].tolist()
        start, end, seq, flags = _payloads(self.views, d, ci)
        buf, dns, convs = self.buf, self.table.dns, self.table.convs
        first = base + 1
        add = codes.append
        u = len(state) - 1
        known = len(convs)
        for k, (i, g) in enumerate(zip(ci.tolist(), look, strict=True)):
            code = state[g]
            if code >= 0:
                add(code)
                continue
            wait = waiting[g]
            if wait is not None:  # counted in bulk; the payload goes to the inspector, as the table does
                conv, insp, from_client, code = wait
                add(code)
                if not insp.done:
                    if start[k] < end[k]:
                        insp.feed_at(from_client, buf, start[k], end[k], first + i, ts[k], seq[k], flags[k])
                    if insp.dns:
                        dns.take(conv.querier, insp.dns)
                if insp.done:
                    conv.todo = False
                    state[g], waiting[g] = code, None
                continue
            add(-1)
            yield first + i, (lt[k], buf, off[k], caplen[k], origlen[k], ts[k])
            j = key_of[k]
            if j == u:
                if len(convs) != known:  # it started conversations, maybe on keys of this batch
                    for r in keys.of(convs[known:]):
                        state[r], waiting[r] = keys.look(r)
                    known = len(convs)
                continue
            if g == u and flags[k] & SYN:  # a new connection may have replaced the conversation, both ways
                state[j], waiting[j] = -1, None
                r = keys.reverse(j)
                if r >= 0:
                    state[r], waiting[r] = -1, None
            if state[j] < 0:
                state[j], waiting[j] = keys.look(j)

    def _add(self, c: Columns, d: Decoded, base: int, bulk: np.ndarray, slots: list, slot: np.ndarray,
             is_a: np.ndarray) -> None:
        """Add the bulk frames' counts to their conversations' sums (the conversations get them in
        ``finish``); mark the first pure ACK and payload of each side of a TCP connection at once."""
        m = len(slots)
        code = slot * 2 + (~is_a)
        pkts = np.bincount(code, minlength=2 * m).reshape(m, 2)
        nbytes = np.bincount(code, weights=c.origlen[bulk], minlength=2 * m).astype(np.int64).reshape(m, 2)
        pay, tcp, tcp_flags = self._payload(d, bulk)
        payload = np.bincount(code, weights=pay, minlength=2 * m).astype(np.int64).reshape(m, 2)
        if tcp.any():
            self._firsts(slots, slot[tcp], is_a[tcp], pay[tcp], tcp_flags[tcp], bulk[tcp] + (base + 1))
        last = np.zeros(m, np.int64)
        np.maximum.at(last, slot, bulk + (base + 1))
        hi = np.full(m, -np.inf)
        lo = np.full(m, np.inf)
        ts = c.ts[bulk]
        np.maximum.at(hi, slot, ts)
        np.minimum.at(lo, slot, ts)
        self.sums.add(np.array([conv.index for conv in slots], np.int64), pkts, nbytes, payload, last, lo, hi)
        self.bulk_frames += len(bulk)

    def _payload(self, d: Decoded, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Payload bytes of the plain frames ``idx`` as the flow table counts them, which are TCP, and their
        TCP flags (UDP frames: 0)."""
        v = self.views
        l4, l4end = d.l4[idx], d.l4end[idx]
        tcp = d.proto[idx] == TCP
        udp_pay = l4end - l4 - 8
        tcp_l4 = np.where(tcp, l4, 0)  # TCP's fields lie inside its frame; a UDP frame's place may not have them
        tcp_pay = np.maximum(l4end - l4 - (v.u8[tcp_l4 + 12] >> 4).astype(np.int64) * 4, 0)
        return np.where(tcp, tcp_pay, udp_pay), tcp, np.where(tcp, v.u8[tcp_l4 + 13], 0)

    @staticmethod
    def _firsts(slots: list, slot: np.ndarray, is_a: np.ndarray, pay: np.ndarray, tcp_flags: np.ndarray,
                frames: np.ndarray) -> None:
        """Each side's first pure ACK and first packet with payload among bulk TCP frames (never SYN, FIN or
        RST: those go to the table), into ``Conv.first`` when earlier than what it holds (the table marks
        the frames it sees)."""
        bit = np.where(pay > 0, 2, np.where(tcp_flags & ACK, 1, 0)) << np.where(is_a, 0, 2)
        sel = np.flatnonzero(bit)
        if not len(sel):
            return
        key = slot[sel] * 16 + bit[sel]
        order = np.lexsort((frames[sel], key))
        key, at = key[order], frames[sel][order]
        head = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        for k, frame in zip(key[head].tolist(), at[head].tolist(), strict=True):
            conv, b = slots[k >> 4], k & 15
            first = conv.first
            i = FIRST_SLOT[b]
            if not first[i] or frame < first[i]:
                first[i] = frame
            conv.want &= ~b

    def finish(self) -> None:
        """Give every conversation its bulk sums."""
        self.sums.apply(self.table.convs)


class _Sums:
    """Bulk counts per conversation, by its place in ``ConversationTable.convs``: packets, bytes and payload bytes
    from side A and side B, the last frame, the first and last time."""

    def __init__(self) -> None:
        self.counts = np.zeros((0, 6), np.int64)
        self.last = np.zeros(0, np.int64)
        self.lo = np.zeros(0)
        self.hi = np.zeros(0)

    def add(self, where: np.ndarray, pkts: np.ndarray, nbytes: np.ndarray, payload: np.ndarray, last: np.ndarray,
            lo: np.ndarray, hi: np.ndarray) -> None:
        """Add per-conversation sums; ``where``: the conversations' places (each once)."""
        need = int(where.max()) + 1
        if need > len(self.last):
            size = max(need, 2 * len(self.last), 1024)
            self.counts = np.concatenate([self.counts, np.zeros((size - len(self.last), 6), np.int64)])
            self.last = np.concatenate([self.last, np.zeros(size - len(self.last), np.int64)])
            self.lo = np.concatenate([self.lo, np.full(size - len(self.lo), np.inf)])
            self.hi = np.concatenate([self.hi, np.full(size - len(self.hi), -np.inf)])
        self.counts[where] += np.concatenate([pkts[:, :1], nbytes[:, :1], payload[:, :1], pkts[:, 1:], nbytes[:, 1:],
                                              payload[:, 1:]], axis=1)
        self.last[where] = np.maximum(self.last[where], last)
        self.lo[where] = np.minimum(self.lo[where], lo)
        self.hi[where] = np.maximum(self.hi[where], hi)

    def apply(self, convs: list) -> None:
        """Add the sums to the conversations (counters add up; last frame and times are max and min)."""
        n = len(self.last)
        rows = zip(convs[:n], self.counts.tolist(), self.last.tolist(), self.lo.tolist(), self.hi.tolist(),
                   strict=False)
        for conv, (a_pkts, a_bytes, a_pay, b_pkts, b_bytes, b_pay), last, lo, hi in rows:
            if a_pkts or b_pkts:
                conv.a_pkts += a_pkts
                conv.a_bytes += a_bytes
                conv.a_pay += a_pay
                conv.b_pkts += b_pkts
                conv.b_bytes += b_bytes
                conv.b_pay += b_pay
                if last > conv.last_frame:
                    conv.last_frame = last
                if hi > conv.last_ts:
                    conv.last_ts = hi
                if lo < conv.first_ts:
                    conv.first_ts = lo


class _Keys:
    """The distinct keys (protocol, addresses, ports in one direction) of a batch's plain frames: each
    frame's key number (``inv``), each key's bytes as the flow table's dictionaries hold them, and the
    conversations found settled or waiting so far (``convs``, numbered by slot)."""

    def __init__(self, counter: BulkCounter, c: Columns, d: Decoded, plain: np.ndarray) -> None:
        self.convs: list = []
        self._slot: dict[Conv, int] = {}  # by identity (id() would raise an audit event per call)
        self._index: dict[tuple[int, bytes], int] | None = None
        if not len(plain):
            self.inv, self.bytes, self.protos = plain, [], []
            return
        first, self.inv = _distinct(_key_rows(counter.views, c, d, plain))
        rep = plain[first]
        six = d.v6[rep]
        starts = (c.off[rep] + d.ipo[rep] + np.where(six, 8, 12)).tolist()
        buf = counter.buf
        self.bytes = [buf[s:s + (36 if v else 12)] for s, v in zip(starts, six.tolist(), strict=True)]
        self.protos = d.proto[rep].tolist()
        table = counter.table
        self._live = (table._live_tcp, table._live_udp)

    def look(self, j: int) -> tuple[int, tuple | None]:
        """Key ``j``'s conversation as it is now: ``(code, None)`` when it is settled (code: its slot * 2,
        plus 1 for a key of side B); ``(-1, (conversation, inspector, from client?, code))`` when it only
        waits for its inspector (a UDP conversation, or TCP with both sequence bases known); else
        ``(-1, None)``: the table must see its frames."""
        key = self.bytes[j]
        conv = self._live[self.protos[j] != TCP].get(key)
        if conv is None:
            return -1, None
        is_a = key == conv.key
        if conv.todo and conv.proto == TCP and (conv.base_a is None or conv.base_b is None):
            return -1, None
        slot = self._slot.get(conv)
        if slot is None:
            slot = self._slot[conv] = len(self.convs)
            self.convs.append(conv)
        code = slot * 2 + (not is_a)
        if not conv.todo:
            return code, None
        return -1, (conv, conv.inspector, is_a == conv.client_is_a, code)

    def _numbers(self) -> dict[tuple[int, bytes], int]:
        if self._index is None:
            self._index = {(p, k): n for n, (p, k) in enumerate(zip(self.protos, self.bytes, strict=True))}
        return self._index

    def of(self, convs: list) -> list[int]:
        """The numbers of the batch's keys (both directions) of the conversations ``convs``."""
        index = self._numbers()
        found = []
        for conv in convs:
            for key in (conv.key, reverse_key(conv.key, conv.a_port, conv.b_port)):
                n = index.get((conv.proto, key), -1)
                if n >= 0:
                    found.append(n)
        return found

    def reverse(self, j: int) -> int:
        """The number of the key in the other direction, or -1 when the batch has no frame with it."""
        key = self.bytes[j]
        index = self._numbers()
        half = (len(key) - 4) >> 1
        other = key[half:2 * half] + key[:half] + key[-2:] + key[-4:-2]
        return index.get((self.protos[j], other), -1)


def pcap_columns(v: FileViews, starts: list[int], order: str, scale: float, linktype: int) -> Columns:
    """Columns of pcap records from the offsets of their 16-byte headers."""
    s = np.array(starts, np.int64)
    words = v.le32 if order == "<" else v.be32
    sec = words[s].astype(np.float64)
    frac = words[s + 4].astype(np.float64)
    return Columns(np.full(len(s), linktype, np.int64), s + 16, words[s + 8].astype(np.int64),
                   words[s + 12].astype(np.int64), sec + frac * scale)


def run_bulk(table: ConversationTable, reader: CaptureReader, size: int | None = None) -> int:
    """Count every frame of a mapped capture into ``table`` (bulk where it can); the frames counted in bulk."""
    size = size or BATCH
    if reader.info.format == "pcap" and reader.pcap_layout[2] not in DECODED:
        table.run(reader.records())  # every batch would go to the table whole
        return 0
    with few_collections():  # (the batches' lists and arrays would start one every 700 allocations)
        return _run_bulk(table, reader, size)


def _run_bulk(table: ConversationTable, reader: CaptureReader, size: int) -> int:
    buf, _fd = reader.file_map()
    counter = BulkCounter(table, buf)
    if reader.info.format == "pcap":
        order, scale, linktype = reader.pcap_layout
        for starts in reader.record_starts(size):
            counter.batch(pcap_columns(counter.views, starts, order, scale, linktype))
        records = reader.records()  # the rest: none, or a damaged end that the reader reports
    else:
        records = reader.records()
        while batch := list(islice(records, size)):
            if any(rec[1] is not buf for rec in batch):
                table.run(batch)
                continue
            lt, _bufs, off, caplen, origlen, ts = zip(*batch, strict=True)
            counter.batch(Columns(np.array(lt, np.int64), np.array(off, np.int64), np.array(caplen, np.int64),
                                  np.array(origlen, np.int64), np.array(ts, np.float64)))
    counter.finish()
    done = counter.bulk_frames
    del counter  # let go of the map's views before the reader closes it
    table.run(records)
    return done
