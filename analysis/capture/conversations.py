"""The conversation table: TCP connections and UDP conversations counted as Wireshark's conversation table does.

One pass over the frames: every frame gets a number (from 1, across the file), each TCP/UDP segment is
added to its conversation (one dict per transport, keyed by the bytes of source and destination address and
port, both directions stored), payload goes to the flow's
``FlowInspector`` (or, for big captures, its stand-in that passes it to a second process) until it reports
``done``. A pure SYN whose sequence number differs from the first one
seen in that direction starts a new connection on the same ports (Wireshark's ``tcp.stream`` rule).
Client and server: the SYN's sender, else the SYN-ACK's receiver, else the side on a well-known port,
else the first packet's destination. Per TCP connection the table also keeps what Zeek's connection state
and history need (``analysis.capture.connstate``): every SYN, FIN and RST packet, and the first pure ACK
and first packet with payload of each side; per conversation the payload bytes of each side.
"""

from __future__ import annotations

import gc
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from struct import Struct
from typing import TYPE_CHECKING

from analysis.capture.connstate import CONTROL, CONTROL_RECORD, MAX_CONTROL_BYTES, WANT_ALL, tcp_state, udp_state
from analysis.capture.inspect import FlowInspector, apply_inspection
from analysis.capture.ip import CARRIERS_V4, CARRIERS_V6, PORTS, TCP, TUNNEL_PORTS, UDP, IpDecoder
from analysis.capture.linklayer import DECODERS
from analysis.dnsmap import DnsEntries
from analysis.model import Endpoint, Flow
from analysis.protocols.dns import MessageCache

if TYPE_CHECKING:
    from analysis.capture.canaryhits import PayloadHits
    from analysis.capture.parallel import InspectorProxy, RemoteInspection

# UDP ports taken as the server side when the other port is not well known (below 1024 always is);
# the list ../shared/captures/truth.py uses to reproduce tshark's client/server choice.
WELL_KNOWN_UDP = frozenset({53, 67, 68, 123, 137, 138, 161, 443, 500, 1900, 3478, 4500, 5353, 5355, 19302})
# IPv4 (no options) / IPv6 header and the first 14 bytes of TCP (UDP: ports, then length << 16 in "seq")
# The fast path reads what every packet needs: ethertype, IP version, lengths, fragment bits, protocol and
# TCP's offset and flags (UDP: its checksum, unused); ports and sequence number (L4_HEAD) only when needed.
V4_HEAD = Struct("!2xH2xH1xB22xH").unpack_from
V6_HEAD = Struct("!4xHB45xH").unpack_from
ETH_V4_HEAD = Struct("!12xHB1xH2xH1xB22xH").unpack_from  # Ethernet's ethertype, then as V4_HEAD
L4_HEAD = Struct("!HHI").unpack_from  # ports; TCP's sequence number (UDP: length << 16 | checksum)
NO_FAST = (None, None, 0, 0, 0, 0)  # what the fast decoders give for a packet that needs the general path
RAW_LINKTYPES = frozenset({12, 14, 101, 228, 229})
SYN, ACK = 0x02, 0x10
FIRST_SLOT = (0, 0, 1, 0, 2, 0, 0, 0, 3)  # a connstate.WANT_* bit -> its place in Conv.first
GC_YOUNG = 50_000  # allocations between young-generation collections while the table is built
DNS_PORT = 53  # only DNS on port 53 names flows (not mDNS 5353 or LLMNR 5355)


class Conv:
    """One conversation while the capture is read; side A sent the first packet."""

    __slots__ = (
        "proto", "key", "a_port", "b_port", "first_frame", "last_frame", "first_ts", "last_ts",
        "a_pkts", "a_bytes", "b_pkts", "b_bytes", "syn_from_a", "synack_from_a", "base_a", "base_b",
        "client_is_a", "inspector", "querier", "todo", "index", "a_pay", "b_pay", "controls", "first", "want",
    )

    def __init__(self, proto: int, key: bytes, a_port: int, b_port: int, frame: int, ts: float,
                 flags: int) -> None:
        self.proto = proto
        self.key = key  # side A's address, B's address, A's and B's port: A's key in the table's lookup
        self.a_port, self.b_port = a_port, b_port
        self.first_frame = self.last_frame = frame
        self.first_ts = self.last_ts = ts
        self.a_pkts = self.a_bytes = self.b_pkts = self.b_bytes = 0
        self.a_pay = self.b_pay = 0  # payload bytes (TCP/UDP), as captured
        tcp = proto == TCP
        self.controls: bytes | None = b"" if tcp else None  # TCP's SYN, FIN and RST packets (CONTROL_RECORDs)
        self.first: list[int] | None = [0, 0, 0, 0] if tcp else None  # see connstate.tcp_state
        self.want = WANT_ALL if tcp else 0  # bits of ``first`` still to find (connstate.WANT_*)
        self.syn_from_a: bool | None = None
        self.synack_from_a: bool | None = None
        self.base_a: int | None = None
        self.base_b: int | None = None
        self.client_is_a = _client_is_a(proto, a_port, b_port,
                                        True if flags & (SYN | ACK) == SYN else None,
                                        True if flags & (SYN | ACK) == SYN | ACK else None)[0]
        self.querier = self._querier()
        self.todo = True  # something is still to learn from its packets (see ConversationTable.run)
        self.index = 0  # its place in ConversationTable.convs
        self.inspector: FlowInspector | InspectorProxy = None  # type: ignore[assignment]  # set by the table

    def addresses(self) -> tuple[bytes, bytes]:
        """Side A's and side B's address (kept in ``key`` only: a conversation holds no other copy)."""
        n = (len(self.key) - 4) >> 1
        return self.key[:n], self.key[n:2 * n]

    def _querier(self) -> str | None:
        """The DNS client's address text for a flow on port 53 (the side not on 53), else None."""
        if DNS_PORT not in (self.a_port, self.b_port):
            return None
        a_ip, b_ip = self.addresses()
        if self.a_port == DNS_PORT != self.b_port:
            return _ip_text(b_ip)
        if self.b_port == DNS_PORT != self.a_port:
            return _ip_text(a_ip)
        return _ip_text(a_ip if self.client_is_a else b_ip)

    def to_flow(self, flow_id: int, input_index: int, texts: dict[bytes, str] | None = None) -> Flow:
        """The flow record; ``texts`` caches address texts across the flows of one table (one string each)."""
        client_is_a, how = _client_is_a(self.proto, self.a_port, self.b_port, self.syn_from_a,
                                        self.synack_from_a)
        if texts is None:
            texts = {}
        a_raw, b_raw = self.addresses()
        a_ip, b_ip = texts.get(a_raw), texts.get(b_raw)
        if a_ip is None:
            a_ip = texts[a_raw] = _ip_text(a_raw)
        if b_ip is None:
            b_ip = texts[b_raw] = _ip_text(b_raw)
        a = Endpoint(a_ip, self.a_port)
        b = Endpoint(b_ip, self.b_port)
        if client_is_a:
            client, server, c2s, s2c = a, b, (self.a_pkts, self.a_bytes), (self.b_pkts, self.b_bytes)
            payload = self.a_pay, self.b_pay
        else:
            client, server, c2s, s2c = b, a, (self.b_pkts, self.b_bytes), (self.a_pkts, self.a_bytes)
            payload = self.b_pay, self.a_pay
        if self.controls is not None:
            state, history = tcp_state(self.controls, self.first, client_is_a)
        else:
            state, history = udp_state(c2s[0], s2c[0], client_is_a)
        return Flow(
            id=flow_id, transport="tcp" if self.proto == TCP else "udp", client=client, server=server,
            packets=c2s[0] + s2c[0], bytes=c2s[1] + s2c[1], c2s_packets=c2s[0], c2s_bytes=c2s[1],
            s2c_packets=s2c[0], s2c_bytes=s2c[1], first_frame=self.first_frame, last_frame=self.last_frame,
            first_seen=self.first_ts, last_seen=self.last_ts, server_by=how, source="pcap",
            input_index=input_index, state=state, history=history, c2s_payload=payload[0], s2c_payload=payload[1],
        )


def _client_is_a(proto: int, a_port: int, b_port: int, syn_from_a: bool | None,
                 synack_from_a: bool | None) -> tuple[bool, str]:
    """Is side A (the first packet's sender) the client, and by which rule."""
    if syn_from_a is not None:
        return syn_from_a, "tcp-syn"
    if synack_from_a is not None:
        return not synack_from_a, "tcp-synack"
    udp = proto != TCP
    a_low = a_port < 1024 or (udp and a_port in WELL_KNOWN_UDP)
    b_low = b_port < 1024 or (udp and b_port in WELL_KNOWN_UDP)
    if a_low and not b_low:
        return False, "port-heuristic"
    if not udp and not a_low and not b_low and a_port < b_port:
        return False, "port-heuristic"
    return True, "first-packet-dst"


@contextmanager
def few_collections() -> Iterator[None]:
    """Collect young objects every ``GC_YOUNG`` allocations instead of 700 while the table is built and
    its records are made: it only grows, and new records hold no cycles (restored afterwards)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], GC_YOUNG), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def reverse_key(key: bytes, sport: int, dport: int) -> bytes:
    """The key of the other direction: a key is the source address, the destination address, then the
    source and destination port (``sport``, ``dport``)."""
    n = (len(key) - 4) >> 1
    return key[n:2 * n] + key[:n] + PORTS(dport, sport)


def _ip_text(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


class ConversationTable:
    """Feed it frames with ``run(records)``; ``convs`` lists every conversation in first-frame order."""

    def __init__(self, canary: PayloadHits | None = None, remote: RemoteInspection | None = None) -> None:
        """``remote``: inspect the payloads in that second process instead of this one (big captures)."""
        self.remote = remote
        self.canary = canary if canary is not None and canary.active else None  # canary search (case with one)
        self.convs: list[Conv] = []
        self.frames = 0
        self.unknown_linktypes: dict[int, int] = {}
        self.dns = DnsEntries()  # one entry per query name seen on port 53
        # key: source and destination address, source and destination port, as in the IP and L4 headers
        self._live_tcp: dict[bytes, Conv] = {}  # each conversation under both sides' keys (Conv.key: A's)
        self._live_udp: dict[bytes, Conv] = {}
        self._ip = IpDecoder()
        self._dns_cache = MessageCache()
        self.flow_of: dict[Conv, int] = {}  # conversation -> its flow's id, for the canary search's hits
        self._results: list[tuple] | None = None  # the second process's, from ``end`` to ``records``

    def run(self, records) -> None:
        """Count every frame of ``records`` (``(linktype, buf, off, caplen, origlen, ts)`` tuples)."""
        with few_collections():
            self.count(enumerate(records, self.frames + 1))

    def count(self, numbered) -> None:
        """Count frames given as ``(frame number, record)`` pairs, in frame order (numbers may skip frames
        that were counted in bulk, see ``analysis.capture.bulk``).

        The common case (Ethernet or raw IP; IPv4 without options or IPv6 without extension headers,
        straight to TCP/UDP, no tunnel port) is decoded with one ``unpack_from``; everything else takes
        ``_segment``. Once a conversation has nothing left to learn (``todo`` False: both sequence bases
        known, its inspector done, no canary search), a packet without SYN, FIN or RST only moves its
        counters (and, until each side's first pure ACK and first payload are found, is looked at for them).
        """
        live_tcp, live_udp = self._live_tcp, self._live_udp
        canary = self.canary
        decoders = DECODERS
        slow = self._segment
        new_conv = self._new_conv
        eth4, head6, l4head = ETH_V4_HEAD, V6_HEAD, L4_HEAD
        pack_control = CONTROL_RECORD.pack
        tunnel_ports = TUNNEL_PORTS
        carriers4, carriers6 = CARRIERS_V4, CARRIERS_V6
        frame = self.frames
        try:
            for frame, (lt, buf, off, caplen, origlen, ts) in numbered:
                key = None
                if lt == 1 and caplen >= 48:
                    et, v, tot, frag, proto, offflags = eth4(buf, off)
                    if et == 0x0800:
                        if v == 0x45 and (proto == TCP or proto == UDP) and not frag & 0x3FFF and tot >= 28:
                            b = buf
                            p = off + 34
                            l4end = off + 14 + tot
                            if l4end > off + caplen:
                                l4end = off + caplen
                            key = buf[off + 26:off + 38]  # addresses and ports: the conversation's key
                        elif v >> 4 == 4 and not frag & 0x3FFF and proto not in carriers4:
                            continue  # ICMP, IGMP...: the general path would find no segment either
                    elif et == 0x86DD:
                        if v >> 4 == 6 and caplen >= 68:
                            plen, proto, offflags = head6(buf, off + 14)
                            if proto == TCP or proto == UDP:
                                b = buf
                                p = off + 54
                                l4end = p + plen if plen else off + caplen
                                if l4end > off + caplen:
                                    l4end = off + caplen
                                key = buf[off + 22:off + 58]
                            elif proto not in carriers6:
                                continue  # ICMPv6...: no segment
                    elif et == 0x8100:  # one 802.1Q tag
                        key, b, p, l4end, proto, offflags = self._vlan(buf, off, off + caplen)
                elif lt in RAW_LINKTYPES and caplen >= 34:
                    key, b, p, l4end, proto, offflags = self._ip_fast(buf, off, off + caplen)
                if key is not None and proto == UDP:
                    sport, dport, seq = l4head(b, p)
                    if sport in tunnel_ports or dport in tunnel_ports:
                        key = None
                if key is None:
                    seg = slow(lt, buf, off, off + caplen, ts, decoders)
                    if seg is None:
                        continue
                    proto, key, b, p, l4end, sport, dport, seq, offflags = seg
                if proto == TCP:
                    if p + 16 > l4end:
                        continue
                    flags = offflags & 0x01FF
                    pay = l4end - p - ((offflags >> 12) << 2)  # payload bytes, as captured
                    if pay < 0:
                        pay = 0
                    conv = live_tcp.get(key)
                    if conv is None or flags & CONTROL or conv.todo:  # else only counted: no need
                        sport, dport, seq = l4head(b, p)
                else:
                    if p + 8 > l4end:
                        continue
                    flags = 0
                    pay = l4end - p - 8
                    conv = live_udp.get(key)
                if conv is None:
                    conv = new_conv(proto, key, sport, dport, frame, ts, flags)
                    is_a = True
                else:
                    is_a = key == conv.key
                    if flags & 0x12 == SYN:
                        base = conv.base_a if is_a else conv.base_b
                        if base is not None and base != seq:  # a new connection on the same ports
                            conv = new_conv(proto, key, sport, dport, frame, ts, flags)
                            is_a = True
                if is_a:
                    conv.a_pkts += 1
                    conv.a_bytes += origlen
                    conv.a_pay += pay
                else:
                    conv.b_pkts += 1
                    conv.b_bytes += origlen
                    conv.b_pay += pay
                conv.last_frame = frame
                if ts > conv.last_ts:  # times of merged interfaces may go backwards: keep min and max
                    conv.last_ts = ts
                elif ts < conv.first_ts:
                    conv.first_ts = ts
                if conv.want and not flags & CONTROL:  # a side's first pure ACK or payload? (TCP only)
                    bit = (2 if pay else 1 if flags & ACK else 0) << (0 if is_a else 2)
                    if conv.want & bit:
                        conv.want ^= bit
                        conv.first[FIRST_SLOT[bit]] = frame
                if not conv.todo and not flags & CONTROL:
                    continue
                if flags & CONTROL and len(conv.controls) < MAX_CONTROL_BYTES:
                    conv.controls += pack_control(frame, is_a, flags, seq, pay)
                if flags:
                    if is_a:
                        if conv.base_a is None:
                            conv.base_a = seq if flags & SYN else (seq - 1) & 0xFFFFFFFF
                    elif conv.base_b is None:
                        conv.base_b = seq if flags & SYN else (seq - 1) & 0xFFFFFFFF
                    if flags & SYN:
                        if flags & ACK:
                            if conv.synack_from_a is None:
                                conv.synack_from_a = is_a
                        elif conv.syn_from_a is None:
                            conv.syn_from_a = is_a
                insp = conv.inspector
                if not insp.done:
                    if flags:
                        data_off = p + ((offflags >> 12) << 2)
                        if data_off < l4end or flags & SYN:
                            insp.feed_at(is_a == conv.client_is_a, b, data_off, l4end, frame, ts, seq, flags)
                    elif proto == UDP:
                        ulen = seq >> 16
                        data_end = p + ulen if 8 <= ulen and p + ulen < l4end else l4end
                        if p + 8 < data_end:
                            insp.feed_at(is_a == conv.client_is_a, b, p + 8, data_end, frame, ts, None, 0)
                    elif p + ((offflags >> 12) << 2) < l4end:  # TCP without flags
                        insp.feed_at(is_a == conv.client_is_a, b, p + ((offflags >> 12) << 2), l4end, frame,
                                     ts, seq, 0)
                    if insp.dns:
                        self.dns.take(conv.querier, insp.dns)
                if canary is not None:
                    if is_a == conv.client_is_a:
                        self._search(conv, proto, b, p, l4end, offflags, seq, flags, frame)
                elif insp.done and (proto == UDP or conv.base_a is not None and conv.base_b is not None):
                    conv.todo = False
        finally:
            self.frames = frame

    def _vlan(self, buf, off: int, end: int) -> tuple:
        """Ethernet with one 802.1Q tag: the fast decode of the IP packet inside (else ``key`` None)."""
        if end >= off + 52:
            et = (buf[off + 16] << 8) | buf[off + 17]
            if et == 0x0800 or et == 0x86DD:
                return self._ip_fast(buf, off + 18, end)
        return NO_FAST

    def _ip_fast(self, buf, ipo: int, end: int) -> tuple:
        """IPv4 without options or IPv6 without extension headers at ``ipo``, straight to TCP or UDP:
        ``(key, buf, l4 offset, l4 end, proto, offflags)``; ``key`` None when it needs the general path."""
        v = buf[ipo]
        if v == 0x45 and end >= ipo + 34:
            tot, frag, proto, offflags = V4_HEAD(buf, ipo)
            if (proto == TCP or proto == UDP) and not frag & 0x3FFF and tot >= 28:
                l4end = ipo + tot
                return buf[ipo + 12:ipo + 24], buf, ipo + 20, l4end if l4end < end else end, proto, offflags
        elif v >> 4 == 6 and end >= ipo + 54:
            plen, proto, offflags = V6_HEAD(buf, ipo)
            if proto == TCP or proto == UDP:
                l4end = ipo + 40 + plen if plen else end
                return buf[ipo + 8:ipo + 44], buf, ipo + 40, l4end if l4end < end else end, proto, offflags
        return NO_FAST

    def _search(self, conv: Conv, proto: int, b, p: int, l4end: int, offflags: int, seq: int, flags: int,
              frame: int) -> None:
        """Hand one client-to-server payload to the canary search (only runs when the case has a canary)."""
        if proto == UDP:
            ulen = seq >> 16
            start, end = p + 8, (p + ulen if 8 <= ulen and p + ulen < l4end else l4end)
        else:
            start, end = p + ((offflags >> 12) << 2), l4end
        if start < end:
            self.canary.feed(conv, "udp" if proto == UDP else "tcp", bytes(b[start:end]), frame)

    def unassembled_datagrams(self) -> int:
        """IP datagrams whose fragments never all arrived (or overflowed the bounded buffers)."""
        frags = self._ip.frags
        return len(frags.pending) + frags.dropped

    def _segment(self, lt: int, buf: bytes, off: int, end: int, ts: float, decoders):
        """The general path: any link type, options, extension headers, fragments, tunnels."""
        if lt not in decoders:
            self.unknown_linktypes[lt] = self.unknown_linktypes.get(lt, 0) + 1
            return None
        return self._ip.segment(lt, buf, off, end, ts)

    def _new_conv(self, proto: int, key: bytes, sport: int, dport: int, frame: int, ts: float,
                  flags: int) -> Conv:
        """A conversation from its first packet's key (source, destination address; ports)."""
        conv = Conv(proto, key, sport, dport, frame, ts, flags)
        transport = "tcp" if proto == TCP else "udp"
        client_port, server_port = (sport, dport) if conv.client_is_a else (dport, sport)
        if self.remote is not None:
            conv.inspector = self.remote.new(transport, client_port, server_port, conv.querier)
        else:
            conv.inspector = FlowInspector(transport, client_port, server_port, self._dns_cache)
        conv.index = len(self.convs)
        self.convs.append(conv)
        live = self._live_tcp if proto == TCP else self._live_udp
        live[key] = live[reverse_key(key, sport, dport)] = conv
        return conv

    def end(self) -> None:
        """No more frames: the lookup is released and, with a second process, its results are collected (the
        DNS entries are complete from here on)."""
        self._live_tcp = {}
        self._live_udp = {}
        if self.remote is not None:
            self.remote.end()
            self._results, self.dns = self.remote.finish()

    def records(self, input_index: int = 0, part: int = 512,
                mine: Callable[[int], bool] | None = None) -> Iterator[list[Flow]]:
        """Flow records (ids from 1 in first-frame order) in parts of up to ``part``, each filled in by its
        inspector, made as they are taken (after ``end``; once). With ``mine``, only the parts whose number
        (from 0) it accepts are made and yielded (another process makes the others). Without ``mine``, each
        conversation is let go once its record is made, so a caller that takes every record at once holds one
        copy of the table at most; with it the table is kept whole: letting go writes to every conversation's
        memory, which a forked process shares with its parent until either writes (``analysis.twoprocess``)."""
        convs = self.convs
        results = self._results
        if mine is None:
            self.convs, self._results = [], None
        keep = self.canary is not None  # flow_of holds the conversations: they stay alive
        texts: dict[bytes, str] = {}
        with few_collections():  # only new records, no cycles
            for number, start in enumerate(range(0, len(convs), part)):
                stop = min(start + part, len(convs))
                if mine is not None and not mine(number):
                    continue
                flows = []
                for n in range(start + 1, stop + 1):
                    conv = convs[n - 1]
                    flow = conv.to_flow(n, input_index, texts)
                    if results is None:
                        conv.inspector.apply(flow)
                    else:
                        apply_inspection(results[n - 1], flow)
                    if mine is None:
                        convs[n - 1] = None
                        conv.inspector = None
                    if keep:
                        self.flow_of[conv] = n
                    flows.append(flow)
                yield flows

    def flows(self, input_index: int = 0) -> list[Flow]:
        """``end``, then every record."""
        self.end()
        return [flow for part in self.records(input_index) for flow in part]
