"""Fast generator of big, realistic, deterministic pcap captures for the benchmark.

Packets come from templates: each conversation prebuilds its Ethernet (+802.1Q) / IPv4|IPv6 / TCP|UDP
headers once, and every packet copies them and patches lengths, IP id, sequence and acknowledgement
numbers, flags and checksums with ``struct.pack_into``. Many sessions run interleaved: DNS lookups,
HTTPS (TLS 1.3 ClientHello with SNI, then encrypted-looking records), QUIC (real protected v1 Initials),
IMAP/POP3/SMTP with STARTTLS or implicit TLS, plain SMTP and HTTP, NTP, refused connections and bulk
transfers with full-size segments. TCP sessions have correct handshakes, sequence numbers, delayed ACKs
and FIN teardown. Names use reserved domains (RFC 2606/6761) and documentation addresses (RFC 5737/3849).

    python -m bench.gen OUT.pcap --packets 1000000 [--seed 7] [--sessions N]
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from bench import wire

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_H = struct.Struct(">H")
_HH = struct.Struct(">HH")
_II = struct.Struct(">II")
_REC = struct.Struct("<IIII")
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)  # microseconds, Ethernet
START_US = 1598605200 * 1_000_000  # 2020-08-28T09:00:00Z
GATEWAY_MAC = bytes.fromhex("020000000001")
NOISE_SIZE = 1 << 18
CLIENTS = 2000  # phones and laptops on 10.20.0.0/16 (a third IPv4-only, every tenth on VLAN 20)


@dataclass
class GenStats:
    """What a generated file holds; flows are conversations as Wireshark's conv,tcp/conv,udp count them."""

    path: str
    packets: int = 0
    bytes: int = 0
    tcp_flows: int = 0
    udp_flows: int = 0
    sessions: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    seconds: float = 0.0  # wall time of the generation
    cpu_seconds: float = 0.0  # CPU time of the generation (the honest figure on a shared machine)

    @property
    def flows(self) -> int:
        return self.tcp_flows + self.udp_flows


class Conn:
    """Both directions of one conversation: prebuilt header bytes and live TCP sequence numbers."""

    __slots__ = (
        "hdr",
        "syn_hdr",
        "l3",
        "l4",
        "v6",
        "pseudo",
        "seq",
        "ipid",
        "mss",
        "tcp_proto",
        "stats",
        "started",
    )

    def __init__(
        self,
        stats: GenStats,
        tcp: bool,
        client: Client,
        caddr: bytes,
        saddr: bytes,
        cport: int,
        sport: int,
        rng: random.Random,
    ) -> None:
        self.stats = stats
        self.started = False
        self.tcp_proto = tcp
        self.v6 = len(caddr) == 16
        proto = 6 if tcp else 17
        ethertype = b"\x86\xdd" if self.v6 else b"\x08\x00"
        tag = b"\x81\x00" + _H.pack(client.vlan) if client.vlan else b""
        l2 = (GATEWAY_MAC + client.mac + tag + ethertype, client.mac + GATEWAY_MAC + tag + ethertype)
        self.l3 = len(l2[0])
        ends = ((caddr, saddr, cport, sport, 64), (saddr, caddr, sport, cport, 54))
        hdr, syn_hdr = [], []
        for (src, dst, sp, dp, ttl), link in zip(ends, l2, strict=True):
            if self.v6:
                l3 = struct.pack(">IHBB", 0x60000000 | rng.getrandbits(20), 0, proto, ttl) + src + dst
            else:
                l3 = struct.pack(">BBHHHBBH", 0x45, 0, 0, 0, 0x4000, ttl, proto, 0) + src + dst
            if tcp:
                window = 502 if sp == cport else 501
                base = struct.pack(">HHIIBBHHH", sp, dp, 0, 0, 0x50, 0, window, 0, 0)
                # SYN options: MSS, SACK permitted, timestamps, NOP, window scale 7 (40-byte header)
                opts = (
                    struct.pack(
                        ">BBHBBBBII", 2, 4, 1460 if not self.v6 else 1440, 4, 2, 8, 10, rng.getrandbits(32), 0
                    )
                    + b"\x01\x03\x03\x07"
                )
                syn = struct.pack(">HHIIBBHHH", sp, dp, 0, 0, 0xA0, 0, 65535, 0, 0) + opts
                hdr.append(link + l3 + base)
                syn_hdr.append(link + l3 + syn)
            else:
                hdr.append(link + l3 + struct.pack(">HHHH", sp, dp, 0, 0))
        self.hdr = tuple(hdr)
        self.syn_hdr = tuple(syn_hdr)
        self.l4 = self.l3 + (40 if self.v6 else 20)
        self.pseudo = wire.word_sum(caddr + saddr) + proto
        self.seq = [rng.getrandbits(32), rng.getrandbits(32)]
        self.ipid = [rng.getrandbits(16), rng.getrandbits(16)]
        self.mss = 1440 if self.v6 else 1460

    def _start(self) -> None:
        self.started = True
        if self.tcp_proto:
            self.stats.tcp_flows += 1
        else:
            self.stats.udp_flows += 1

    def tcp(self, d: int, flags: int, payload: bytes | memoryview = b"") -> bytearray:
        """One TCP segment in direction ``d`` (0: client to server); advances the sender's sequence."""
        if not self.started:
            self._start()
        syn = flags & SYN
        h = bytearray(self.syn_hdr[d] if syn else self.hdr[d])
        l4 = self.l4
        n = len(payload)
        seglen = (40 if syn else 20) + n
        if self.v6:
            _H.pack_into(h, self.l3 + 4, seglen)
        else:
            l3 = self.l3
            ipid = self.ipid[d] = (self.ipid[d] + 1) & 0xFFFF
            _HH.pack_into(h, l3 + 2, 20 + seglen, ipid)
            r = int.from_bytes(h[l3:l4], "big") % 0xFFFF
            _H.pack_into(h, l3 + 10, 0xFFFF - r if r else 0)
        seq = self.seq[d]
        _II.pack_into(h, l4 + 4, seq, self.seq[1 - d] if flags & ACK else 0)
        h[l4 + 13] = flags
        total = self.pseudo + seglen + int.from_bytes(h[l4:], "big")
        if n:
            total += int.from_bytes(payload, "big") << 8 if n & 1 else int.from_bytes(payload, "big")
        r = total % 0xFFFF
        _H.pack_into(h, l4 + 16, 0xFFFF - r if r else 0)
        self.seq[d] = (seq + n + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        h += payload
        return h

    def udp(self, d: int, payload: bytes) -> bytearray:
        """One UDP datagram in direction ``d``."""
        if not self.started:
            self._start()
        h = bytearray(self.hdr[d])
        l4 = self.l4
        length = 8 + len(payload)
        if self.v6:
            _H.pack_into(h, self.l3 + 4, length)
        else:
            l3 = self.l3
            ipid = self.ipid[d] = (self.ipid[d] + 1) & 0xFFFF
            _HH.pack_into(h, l3 + 2, 20 + length, ipid)
            r = int.from_bytes(h[l3:l4], "big") % 0xFFFF
            _H.pack_into(h, l3 + 10, 0xFFFF - r if r else 0)
        _H.pack_into(h, l4 + 4, length)
        csum = wire.ones_complement(
            self.pseudo + length + int.from_bytes(h[l4:], "big") + wire.word_sum(payload)
        )
        _H.pack_into(h, l4 + 6, csum or 0xFFFF)
        h += payload
        return h


@dataclass
class Client:
    mac: bytes
    v4: bytes
    v6: bytes | None
    vlan: int
    next_port: int

    def port(self) -> int:
        port = self.next_port
        self.next_port = 32768 if port >= 60999 else port + 1
        return port


@dataclass
class Host:
    name: str
    v4: bytes
    v6: bytes
    cname: str | None = None


def _hosts() -> dict[str, list[Host]]:
    """Server names by role, on reserved names and documentation address blocks."""
    v4_blocks = (bytes([192, 0, 2]), bytes([198, 51, 100]), bytes([203, 0, 113]))
    v6_prefix = bytes.fromhex("20010db8000100000000000000000000")[:14]
    counter = iter(range(10, 10_000))

    def host(name: str, cname: str | None = None) -> Host:
        i = next(counter)
        return Host(name, v4_blocks[i % 3] + bytes([i % 240 + 10]), v6_prefix + _H.pack(i), cname)

    sites = [
        "example.com",
        "example.net",
        "example.org",
        "shop.example",
        "news.example",
        "video.example",
        "social.example",
        "cloud.example",
        "maps.example",
        "games.example",
        "bank.example",
        "weather.example",
    ]
    prefixes = [
        "www",
        "api",
        "static",
        "img",
        "assets",
        "login",
        "telemetry",
        "push",
        "updates",
        "m",
        "graph",
        "edge",
        "events",
        "config",
    ]
    web = [
        host(f"{p}.{s}", f"{p}-{s.split('.')[0]}.cdn.example" if p in ("static", "img", "assets") else None)
        for s in sites
        for p in prefixes
    ]
    quic = [h for h in web if h.name.startswith(("www.", "api.", "static.", "img.", "edge."))]
    mail = [
        host("imap.mail.example"),
        host("smtp.mail.example"),
        host("pop.mail.example"),
        host("outlook.mail.example"),
        host("imap.corp.example"),
    ]
    ntp = [host(f"{i}.pool.ntp.example") for i in range(4)]
    return {"web": web, "quic": quic, "mail": mail, "ntp": ntp}


RESOLVER4 = bytes([192, 0, 2, 53])
RESOLVER6 = bytes.fromhex("20010db8005300000000000000000053")

# session kind -> weight in the mix
MIX = {
    "web": 34,
    "quic": 15,
    "dns": 14,
    "http": 8,
    "imap": 6,
    "smtp": 4,
    "pop3": 2,
    "ntp": 3,
    "refused": 2,
    "bulk": 4,
}
# many short conversations (about 40,000 flows in 300,000 packets): per-flow costs dominate
FLOW_HEAVY = {"dns": 50, "refused": 20, "ntp": 10, "web": 12, "http": 8}
MIXES = {"default": MIX, "flow-heavy": FLOW_HEAVY}


class TrafficGenerator:
    """Deterministic traffic: ``packets()`` yields Ethernet frames; ``stats`` counts what was produced."""

    def __init__(
        self, stats: GenStats, seed: int, sessions: int | None = None, concurrency: int = 96,
        mix: dict[str, int] | None = None,
    ) -> None:
        self.stats = stats
        self.rng = random.Random(seed)
        self.session_budget = sessions if sessions is not None else 1 << 62
        self.concurrency = concurrency
        self.hosts = _hosts()
        self.noise = self.rng.randbytes(NOISE_SIZE)
        self.clients = [
            Client(
                bytes([2, 0x10]) + k.to_bytes(4, "big"),
                bytes([10, 20, k >> 8, k & 255]),
                bytes.fromhex("20010db8002000000000000000000000")[:12] + k.to_bytes(4, "big")
                if k % 3
                else None,
                20 if k % 10 == 7 else 0,
                32768 + (k * 337) % 20000,
            )
            for k in range(1, CLIENTS + 1)
        ]
        kinds, weights = zip(*(mix or MIX).items(), strict=True)
        self.kinds, self.cum = kinds, list(self._cumulative(weights))

    @staticmethod
    def _cumulative(weights: Iterable[int]) -> Iterator[int]:
        total = 0
        for w in weights:
            total += w
            yield total

    # -- helpers -------------------------------------------------------------------------------------

    def bytes_(self, n: int) -> memoryview:
        start = self.rng.randrange(NOISE_SIZE - n) if n < NOISE_SIZE else 0
        return memoryview(self.noise)[start : start + n]

    def records(self, n: int) -> Iterator[bytes]:
        """TLS application-data records carrying ``n`` bytes in total (random, like ciphertext)."""
        while n > 0:
            size = min(n, 16401)
            n -= size
            yield wire.tls_record(23, bytes(self.bytes_(size)))

    def conn(self, tcp: bool, client: Client, addr: bytes, port: int) -> Conn:
        src = client.v6 if len(addr) == 16 else client.v4
        return Conn(self.stats, tcp, client, src, addr, client.port(), port, self.rng)

    def tcp_conn(self, client: Client, addr: bytes, port: int) -> Conn:
        return self.conn(True, client, addr, port)

    def udp_conn(self, client: Client, addr: bytes, port: int) -> Conn:
        return self.conn(False, client, addr, port)

    def handshake(self, c: Conn) -> Iterator[bytearray]:
        yield c.tcp(0, SYN)
        yield c.tcp(1, SYN | ACK)
        yield c.tcp(0, ACK)

    def send(self, c: Conn, d: int, data: bytes | Iterable[bytes]) -> Iterator[bytearray]:
        """Segments of at most MSS bytes; the receiver ACKs every second segment and the last one."""
        mss = c.mss
        chunks = (data,) if isinstance(data, bytes) else data
        pending = b""
        unacked = 0
        for chunk in chunks:
            buf = pending + chunk if pending else chunk
            view = memoryview(buf)
            off = 0
            while len(buf) - off > mss:
                yield c.tcp(d, ACK, view[off : off + mss])
                off += mss
                unacked += 1
                if unacked == 2:
                    yield c.tcp(1 - d, ACK)
                    unacked = 0
            pending = bytes(view[off:])
        if pending:
            yield c.tcp(d, ACK | PSH, pending)
            unacked += 1
        if unacked:
            yield c.tcp(1 - d, ACK)

    def close(self, c: Conn, first: int) -> Iterator[bytearray]:
        yield c.tcp(first, FIN | ACK)
        yield c.tcp(1 - first, FIN | ACK)
        yield c.tcp(first, ACK)

    def tls_handshake(self, c: Conn, sni: str, alpn: list[bytes]) -> Iterator[bytearray]:
        hello = wire.client_hello(self.rng, sni, alpn)
        yield from self.send(c, 0, wire.tls_record(22, hello, 0x0301))
        session_id = hello[39:71]
        body = (
            b"\x03\x03"
            + bytes(self.bytes_(32))
            + b"\x20"
            + session_id
            + b"\x13\x01\x00"
            + struct.pack(">HHHH", 46, 43, 2, 0x0304)
            + struct.pack(">HHHH", 51, 36, 0x001D, 32)
            + bytes(self.bytes_(32))
        )
        server_hello = wire.tls_record(22, b"\x02" + len(body).to_bytes(3, "big") + body)
        flight = (
            server_hello
            + wire.tls_record(20, b"\x01")
            + b"".join(self.records(self.rng.randrange(2400, 5200)))
        )
        yield from self.send(c, 1, flight)
        yield from self.send(c, 0, wire.tls_record(20, b"\x01") + wire.tls_record(23, bytes(self.bytes_(53))))

    def exchange(self, c: Conn, request: int, response: int) -> Iterator[bytearray]:
        yield from self.send(c, 0, b"".join(self.records(request)))
        yield from self.send(c, 1, self.records(response))

    def lines(self, c: Conn, script: list[tuple[int, bytes]]) -> Iterator[bytearray]:
        for d, text in script:
            yield from self.send(c, d, text)

    def resolve(self, client: Client, host: Host, v6: bool, extra_https: bool = False) -> Iterator[bytearray]:
        """A stub resolver lookup over UDP: one port, the A or AAAA query (and maybe HTTPS) with answers."""
        dns = self.udp_conn(client, RESOLVER6 if v6 and client.v6 else RESOLVER4, 53)
        qtypes = ["AAAA" if v6 else "A"] + (["HTTPS"] if extra_https else [])
        for qtype in qtypes:
            qid = self.rng.getrandbits(16)
            yield dns.udp(0, wire.dns_query(qid, host.name, qtype))
            addrs = [host.v6 if qtype == "AAAA" else host.v4] if qtype != "HTTPS" else []
            yield dns.udp(1, wire.dns_response(qid, host.name, qtype, host.cname, addrs))

    def pick(self, role: str) -> Host:
        return self.rng.choice(self.hosts[role])

    # -- sessions ------------------------------------------------------------------------------------

    def session(self) -> Iterator[bytearray]:
        r = self.rng.randrange(self.cum[-1])
        kind = next(k for k, c in zip(self.kinds, self.cum, strict=True) if r < c)
        if sum(self.stats.sessions.values()) >= self.session_budget:
            kind = "bulk"  # past the budget: long transfers only, so the flow count stays put
        self.stats.sessions[kind] = self.stats.sessions.get(kind, 0) + 1
        client = self.rng.choice(self.clients)
        v6 = client.v6 is not None and self.rng.random() < 0.25
        return getattr(self, f"s_{kind}")(client, v6)

    def s_web(self, client: Client, v6: bool) -> Iterator[bytearray]:
        host = self.pick("web")
        yield from self.resolve(client, host, v6)
        c = self.tcp_conn(client, host.v6 if v6 else host.v4, 443)
        yield from self.handshake(c)
        yield from self.tls_handshake(c, host.name, [b"h2", b"http/1.1"])
        for _ in range(self.rng.randint(1, 6)):
            yield from self.exchange(c, self.rng.randrange(60, 900), int(self.rng.expovariate(1 / 9000)) + 90)
        yield from self.close(c, self.rng.randrange(2))

    def s_bulk(self, client: Client, v6: bool) -> Iterator[bytearray]:
        host = self.pick("web")
        yield from self.resolve(client, host, v6)
        c = self.tcp_conn(client, host.v6 if v6 else host.v4, 443)
        yield from self.handshake(c)
        yield from self.tls_handshake(c, host.name, [b"h2", b"http/1.1"])
        size = self.rng.randrange(150_000, 1_200_000)
        if self.rng.random() < 0.2:
            yield from self.exchange(c, size, 200)  # upload
        else:
            yield from self.exchange(c, 400, size)
        yield from self.close(c, 0)

    def s_quic(self, client: Client, v6: bool) -> Iterator[bytearray]:
        host = self.pick("quic")
        yield from self.resolve(client, host, v6, extra_https=True)
        dcid, scid, server_cid = self.rng.randbytes(8), self.rng.randbytes(8), self.rng.randbytes(8)
        hello = wire.client_hello(self.rng, host.name, [b"h3"], wire.quic_transport_params(scid))
        c = self.udp_conn(client, host.v6 if v6 else host.v4, 443)
        yield c.udp(0, wire.quic_client_initial(dcid, scid, hello))
        server_initial = self.quic_long(0, scid, server_cid, 130)
        yield c.udp(1, server_initial + self.quic_long(2, scid, server_cid, 1252 - len(server_initial) - 26))
        yield c.udp(1, self.quic_long(2, scid, server_cid, 1226))
        yield c.udp(1, self.quic_long(2, scid, server_cid, self.rng.randrange(300, 900)))
        client_ack = self.quic_long(0, server_cid, scid, 40)
        yield c.udp(0, client_ack + self.quic_long(2, server_cid, scid, 1226 - len(client_ack)))
        for _ in range(self.rng.randint(1, 4)):
            yield c.udp(0, bytes([0x41]) + server_cid + bytes(self.bytes_(self.rng.randrange(40, 400))))
            for i in range(int(self.rng.expovariate(1 / 14)) + 1):
                yield c.udp(1, bytes([0x41]) + scid + bytes(self.bytes_(1243)))
                if i % 2:
                    yield c.udp(
                        0, bytes([0x41]) + server_cid + bytes(self.bytes_(self.rng.randrange(24, 40)))
                    )

    def quic_long(self, ptype: int, dcid: bytes, scid: bytes, body: int) -> bytes:
        """A long-header packet (0: Initial, 2: Handshake), 2-byte packet number, ``body`` random bytes."""
        token = b"\x00" if ptype == 0 else b""
        return (
            bytes([0xC1 | ptype << 4])
            + struct.pack(">I", 1)
            + bytes([len(dcid)])
            + dcid
            + bytes([len(scid)])
            + scid
            + token
            + struct.pack(">H", 0x4000 | (body + 2))
            + bytes(self.bytes_(body + 2))
        )

    def s_dns(self, client: Client, v6: bool) -> Iterator[bytearray]:
        for _ in range(self.rng.randint(1, 3)):
            yield from self.resolve(client, self.pick("web"), v6)

    def s_http(self, client: Client, v6: bool) -> Iterator[bytearray]:
        host = self.pick("web")
        yield from self.resolve(client, host, v6)
        c = self.tcp_conn(client, host.v6 if v6 else host.v4, 80)
        yield from self.handshake(c)
        for i in range(self.rng.randint(1, 3)):
            request = (
                f"GET /app/{i}/index.html HTTP/1.1\r\nHost: {host.name}\r\n"
                "User-Agent: Mozilla/5.0 (Linux; Android 10) Mobile\r\nAccept: */*\r\n"
                "Connection: keep-alive\r\n\r\n"
            ).encode()
            body = int(self.rng.expovariate(1 / 6000)) + 20
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {body}\r\n\r\n"
            ).encode()
            yield from self.send(c, 0, request)
            yield from self.send(c, 1, head + bytes(self.bytes_(min(body, NOISE_SIZE - 1))))
        yield from self.close(c, 1)

    def _mail(
        self, client: Client, v6: bool, host: Host, port: int, plain: list[tuple[int, bytes]], tls: bool
    ) -> Iterator[bytearray]:
        yield from self.resolve(client, host, v6)
        c = self.tcp_conn(client, host.v6 if v6 else host.v4, port)
        yield from self.handshake(c)
        yield from self.lines(c, plain)
        if tls:
            yield from self.tls_handshake(c, host.name, [b"imap"] if port in (143, 993) else [])
            for _ in range(self.rng.randint(2, 8)):
                yield from self.exchange(
                    c, self.rng.randrange(30, 200), int(self.rng.expovariate(1 / 5000)) + 40
                )
        yield from self.close(c, 0)

    def s_imap(self, client: Client, v6: bool) -> Iterator[bytearray]:
        host = self.hosts["mail"][self.rng.choice((0, 0, 0, 4))]
        if self.rng.random() < 0.6:
            return self._mail(client, v6, host, 993, [], True)
        caps = b"IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED"
        script = [
            (1, b"* OK [CAPABILITY " + caps + b"] Dovecot ready.\r\n"),
            (0, b"a001 CAPABILITY\r\n"),
            (1, b"* CAPABILITY " + caps + b"\r\na001 OK Pre-login capabilities listed.\r\n"),
            (0, b"a002 STARTTLS\r\n"),
            (1, b"a002 OK Begin TLS negotiation now.\r\n"),
        ]
        return self._mail(client, v6, host, 143, script, True)

    def s_pop3(self, client: Client, v6: bool) -> Iterator[bytearray]:
        host = self.hosts["mail"][2]
        if self.rng.random() < 0.5:
            return self._mail(client, v6, host, 995, [], True)
        script = [
            (1, b"+OK Dovecot ready.\r\n"),
            (0, b"CAPA\r\n"),
            (1, b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nSTLS\r\nSASL PLAIN\r\n.\r\n"),
            (0, b"STLS\r\n"),
            (1, b"+OK Begin TLS negotiation now.\r\n"),
        ]
        return self._mail(client, v6, host, 110, script, True)

    def s_smtp(self, client: Client, v6: bool) -> Iterator[bytearray]:
        host = self.hosts["mail"][self.rng.choice((1, 1, 3))]
        greet = f"220 {host.name} ESMTP Postfix\r\n".encode()
        ehlo = b"EHLO [10.20.0.1]\r\n"
        caps = (
            f"250-{host.name}\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-STARTTLS\r\n"
            "250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"
        ).encode()
        r = self.rng.random()
        if r < 0.5:
            script = [
                (1, greet),
                (0, ehlo),
                (1, caps),
                (0, b"STARTTLS\r\n"),
                (1, b"220 2.0.0 Ready to start TLS\r\n"),
            ]
            return self._mail(client, v6, host, 587, script, True)
        if r < 0.75:
            return self._mail(client, v6, host, 465, [], True)
        body = b"".join(
            b"Line %d of a plain test message body, nothing secret in here.\r\n" % i
            for i in range(self.rng.randrange(5, 400))
        )
        message = (
            b"From: bench@mail.example\r\nTo: someone@example.org\r\nSubject: benchmark\r\n\r\n"
            + body
            + b".\r\n"
        )
        script = [
            (1, greet),
            (0, ehlo),
            (1, caps.replace(b"250-STARTTLS\r\n", b"")),
            (0, b"MAIL FROM:<bench@mail.example>\r\n"),
            (1, b"250 2.1.0 Ok\r\n"),
            (0, b"RCPT TO:<someone@example.org>\r\n"),
            (1, b"250 2.1.5 Ok\r\n"),
            (0, b"DATA\r\n"),
            (1, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
            (0, message),
            (1, b"250 2.0.0 Ok: queued as 4BX3Zk1vQz\r\n"),
            (0, b"QUIT\r\n"),
            (1, b"221 2.0.0 Bye\r\n"),
        ]
        return self._mail(client, v6, host, 25, script, False)

    def s_ntp(self, client: Client, v6: bool) -> Iterator[bytearray]:
        c = self.udp_conn(client, self.pick("ntp").v4, 123)
        for _ in range(self.rng.randint(1, 4)):
            yield c.udp(0, b"\x23" + bytes(39) + bytes(self.bytes_(8)))
            yield c.udp(1, b"\x24\x02\x00\xe7" + bytes(self.bytes_(44)))

    def s_refused(self, client: Client, v6: bool) -> Iterator[bytearray]:
        host = self.pick("web")
        c = self.tcp_conn(client, host.v6 if v6 else host.v4, self.rng.choice((5228, 8443, 8080)))
        yield c.tcp(0, SYN)
        c.seq[1] = 0
        yield c.tcp(1, RST | ACK)

    # -- the interleaving ----------------------------------------------------------------------------

    def packets(self, count: int) -> Iterator[bytearray]:
        """Exactly ``count`` frames from ``concurrency`` interleaved sessions (the last ones may be cut)."""
        rng = self.rng
        active = [self.session() for _ in range(self.concurrency)]
        produced = 0
        while produced < count:
            i = int(rng.random() * len(active))
            try:
                frame = next(active[i])
            except StopIteration:
                active[i] = self.session()
                continue
            produced += 1
            yield frame


def generate(path: str, packets: int, seed: int = 7, sessions: int | None = None,
             mix: dict[str, int] | None = None) -> GenStats:
    """Write a pcap of exactly ``packets`` frames.

    ``sessions`` caps the mixed sessions: after that many, only long bulk transfers start, so a bigger
    file keeps the flow count of a smaller one (the memory run measures packets, not flows).
    """
    stats = GenStats(path=path, seed=seed)
    began, cpu = time.perf_counter(), time.process_time()
    gen = TrafficGenerator(stats, seed, sessions, mix=mix)
    rng = random.Random(seed + 1)
    rand = rng.random
    clock = START_US
    total = 0
    pack = _REC.pack
    with open(path, "wb", buffering=1 << 20) as out:
        write = out.write
        write(PCAP_HEADER)
        for frame in gen.packets(packets):
            clock += 1 + int(rand() * 240)
            n = len(frame)
            total += n
            write(pack(clock // 1_000_000, clock % 1_000_000, n, n))
            write(frame)
    stats.packets = packets
    stats.bytes = total
    stats.seconds = round(time.perf_counter() - began, 2)
    stats.cpu_seconds = round(time.process_time() - cpu, 2)
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gen", description=__doc__.splitlines()[0])
    p.add_argument("out", help="pcap file to write")
    p.add_argument("--packets", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--sessions", type=int, help="mixed sessions before only bulk transfers start (default: no cap)"
    )
    p.add_argument("--mix", choices=sorted(MIXES), default="default",
                   help="kinds of sessions (flow-heavy: mostly DNS and refused connections)")
    args = p.parse_args(argv)
    stats = generate(args.out, args.packets, args.seed, args.sessions, MIXES[args.mix])
    json.dump(asdict(stats), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
