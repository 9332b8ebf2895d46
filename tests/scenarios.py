"""Scenario captures built with scapy: the memo's relaying app, a direct client, mixed, no DNS, wrong device.

Each ``write_*`` function writes a small, realistic capture (Ethernet/IPv4, TCP handshakes with correct
sequence and acknowledgement numbers, DNS queries and answers, TLS ClientHellos with SNI, IMAP/SMTP
plaintext with STARTTLS) and returns its path. ``SCENARIOS`` maps a name to its writer and the verdict
``maildetour analyze`` must reach with ``ARGS``. Addresses follow the memo: the phone 10.23.42.50, the
mail host mail.example.org at 203.0.113.25, Microsoft's relay at 52.125.140.74.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap, wrpcapng

DEVICE = "10.23.42.50"
OTHER_DEVICE = "10.23.42.77"
RESOLVER = "10.23.42.1"
MAIL_HOST = "mail.example.org"
MAIL_IP = "203.0.113.25"
RELAY_NAME = "eas.outlookmobile.com"
RELAY_IP = "52.125.140.74"
RELAY2_NAME = "prod-api.acompli.net"
RELAY2_IP = "52.125.138.94"
TELEMETRY_NAME = "mobile.pipe.aria.microsoft.com"
TELEMETRY_IP = "52.182.143.212"
CRASH_NAME = "gate.hockeyapp.net"
CRASH_IP = "52.178.17.3"
DIAG_NAME = "olmprodpowerlift-cdn.azureedge.net"
DIAG_IP = "13.107.246.40"
CHECK_NAME = "connectivitycheck.gstatic.com"
CHECK_IP = "142.250.185.99"
HOSTILE_SNI = "<img src=x onerror=alert(1)>.example"
START = 1598605620.0  # 2020-08-28T09:07:00Z, the memo's first login minute (11:07 CEST)

PHONE_MAC = "02:00:00:23:42:50"
ROUTER_MAC = "02:00:00:23:42:01"

# The memo's endpoints and the category each must get.
MEMO_CATEGORIES = {
    RELAY_NAME: "mail-relay",
    RELAY2_NAME: "mail-relay",
    TELEMETRY_NAME: "telemetry",
    CRASH_NAME: "crash-report",
    DIAG_NAME: "diagnostics",
}


def _u16(n: int) -> bytes:
    return struct.pack("!H", n)


def _u24(n: int) -> bytes:
    return struct.pack("!I", n)[1:]


def client_hello(sni: str | None, alpn: tuple[str, ...] = (), seed: str = "") -> bytes:
    """One TLS record holding a ClientHello (TLS 1.2 legacy version, offers TLS 1.3), SNI optional."""
    rnd = hashlib.sha256(f"client-random:{sni}:{seed}".encode()).digest()
    sid = hashlib.sha256(f"session:{sni}:{seed}".encode()).digest()
    exts = b""
    if sni is not None:
        name = sni.encode()
        entry = b"\x00" + _u16(len(name)) + name
        exts += b"\x00\x00" + _u16(len(entry) + 2) + _u16(len(entry)) + entry
    if alpn:
        protos = b"".join(bytes([len(p)]) + p.encode() for p in alpn)
        exts += b"\x00\x10" + _u16(len(protos) + 2) + _u16(len(protos)) + protos
    exts += b"\x00\x0a" + _u16(4) + _u16(2) + b"\x00\x1d"  # supported_groups: x25519
    exts += b"\x00\x0d" + _u16(6) + _u16(4) + b"\x04\x03\x08\x04"  # signature_algorithms
    exts += b"\x00\x2b" + _u16(5) + b"\x04\x03\x04\x03\x03"  # supported_versions: 1.3, 1.2
    key = hashlib.sha256(f"key:{sni}:{seed}".encode()).digest()
    share = b"\x00\x1d" + _u16(32) + key
    exts += b"\x00\x33" + _u16(len(share) + 2) + _u16(len(share)) + share  # key_share
    suites = b"\x13\x01\x13\x02\xc0\x2f\xc0\x30"
    body = b"\x03\x03" + rnd + bytes([32]) + sid + _u16(len(suites)) + suites + b"\x01\x00"
    body += _u16(len(exts)) + exts
    handshake = b"\x01" + _u24(len(body)) + body
    return b"\x16\x03\x01" + _u16(len(handshake)) + handshake


def server_hello(seed: str = "") -> bytes:
    """A TLS 1.3 ServerHello record followed by a ChangeCipherSpec record."""
    rnd = hashlib.sha256(f"server-random:{seed}".encode()).digest()
    sid = hashlib.sha256(f"session:{seed}".encode()).digest()
    key = hashlib.sha256(f"server-key:{seed}".encode()).digest()
    exts = b"\x00\x2b" + _u16(2) + b"\x03\x04"
    exts += b"\x00\x33" + _u16(36) + b"\x00\x1d" + _u16(32) + key
    body = b"\x03\x03" + rnd + bytes([32]) + sid + b"\x13\x01" + b"\x00" + _u16(len(exts)) + exts
    handshake = b"\x02" + _u24(len(body)) + body
    return b"\x16\x03\x03" + _u16(len(handshake)) + handshake + b"\x14\x03\x03\x00\x01\x01"


def app_data(size: int, seed: str) -> bytes:
    """TLS application-data records carrying ``size`` opaque bytes (at most 16 KiB per record)."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    records = [out[i : i + 16384] for i in range(0, size, 16384)]
    return b"".join(b"\x17\x03\x03" + _u16(len(r)) + r for r in records)


@dataclass
class Capture:
    """Packets in time order; ``clock`` advances as packets are added."""

    clock: float = START
    packets: list = field(default_factory=list)

    def add(self, pkt, gap: float = 0.002) -> None:
        self.clock += gap
        pkt.time = self.clock
        self.packets.append(pkt)

    def wait(self, seconds: float) -> None:
        self.clock += seconds

    def write(self, path: Path, pcapng: bool = False) -> Path:
        path = Path(path)
        (wrpcapng if pcapng else wrpcap)(str(path), self.packets)
        return path


def _frame(src: str, dst: str):
    from_phone = src.startswith("10.23.42.") and not src.endswith(".1")
    return Ether(src=PHONE_MAC if from_phone else ROUTER_MAC, dst=ROUTER_MAC if from_phone else PHONE_MAC)


class Tcp:
    """One TCP connection with consistent sequence numbers (handshake, data both ways, FIN close)."""

    MSS = 1400

    def __init__(self, cap: Capture, client: str, cport: int, server: str, sport: int) -> None:
        self.cap, self.client, self.cport, self.server, self.sport = cap, client, cport, server, sport
        digest = hashlib.sha256(f"{client}:{cport}:{server}:{sport}".encode()).digest()
        self.cseq = int.from_bytes(digest[:4], "big")
        self.sseq = int.from_bytes(digest[4:8], "big")

    def _pkt(self, from_client: bool, flags: str, payload: bytes = b""):
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        sp, dp = (self.cport, self.sport) if from_client else (self.sport, self.cport)
        seq, ack = (self.cseq, self.sseq) if from_client else (self.sseq, self.cseq)
        tcp = TCP(
            sport=sp,
            dport=dp,
            flags=flags,
            seq=seq & 0xFFFFFFFF,
            ack=(ack & 0xFFFFFFFF) if "A" in flags else 0,
            window=65535,
        )
        pkt = _frame(src, dst) / IP(src=src, dst=dst, ttl=64 if from_client else 52) / tcp
        return pkt / payload if payload else pkt

    def open(self) -> Tcp:
        self.cap.add(self._pkt(True, "S"))
        self.cseq += 1
        self.cap.add(self._pkt(False, "SA"), 0.03)
        self.sseq += 1
        self.cap.add(self._pkt(True, "A"), 0.0005)
        return self

    def send(self, from_client: bool, data: bytes, gap: float = 0.01) -> Tcp:
        for i in range(0, len(data), self.MSS):
            chunk = data[i : i + self.MSS]
            self.cap.add(self._pkt(from_client, "PA", chunk), gap)
            if from_client:
                self.cseq += len(chunk)
            else:
                self.sseq += len(chunk)
        self.cap.add(self._pkt(not from_client, "A"), 0.001)
        return self

    def c(self, data: bytes, gap: float = 0.01) -> Tcp:
        return self.send(True, data, gap)

    def s(self, data: bytes, gap: float = 0.03) -> Tcp:
        return self.send(False, data, gap)

    def close(self) -> None:
        self.cap.add(self._pkt(True, "FA"), 0.01)
        self.cseq += 1
        self.cap.add(self._pkt(False, "FA"), 0.02)
        self.sseq += 1
        self.cap.add(self._pkt(True, "A"), 0.0005)


def dns_lookup(
    cap: Capture, client: str, name: str, answers: list[tuple[str, str]], qid: int, sport: int = 0
) -> None:
    """An A query and its answer; ``answers`` are (type, value) pairs: ("CNAME", name) or ("A", ip)."""
    sport = sport or 40000 + qid % 20000
    query = DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype="A"))
    cap.add(
        _frame(client, RESOLVER) / IP(src=client, dst=RESOLVER) / UDP(sport=sport, dport=53) / query, 0.05
    )
    records = []
    owner = name
    for rtype, value in answers:
        records.append(DNSRR(rrname=owner, type=rtype, ttl=300, rdata=value))
        if rtype == "CNAME":
            owner = value
    reply = DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype="A"), an=records)
    cap.add(
        _frame(RESOLVER, client) / IP(src=RESOLVER, dst=client) / UDP(sport=53, dport=sport) / reply, 0.02
    )


def https(
    cap: Capture,
    client: str,
    cport: int,
    server: str,
    sni: str | None,
    up: int,
    down: int,
    seed: str,
    linger: float = 0.0,
) -> None:
    """A TLS connection on 443: ClientHello (SNI), ServerHello, ``up``/``down`` bytes of application data."""
    conn = Tcp(cap, client, cport, server, 443).open()
    conn.c(client_hello(sni, ("h2", "http/1.1"), seed)).s(server_hello(seed) + app_data(2400, seed + "cert"))
    conn.c(app_data(up, seed + "up")).s(app_data(down, seed + "down"))
    if linger:
        cap.wait(linger)
        conn.c(app_data(64, seed + "keepalive")).s(app_data(64, seed + "keepalive-reply"))
    conn.close()


def imaps(cap: Capture, client: str, cport: int, seed: str = "imaps") -> None:
    """IMAP over TLS on 993 to the mail host."""
    conn = Tcp(cap, client, cport, MAIL_IP, 993).open()
    conn.c(client_hello(MAIL_HOST, ("imap",), seed)).s(server_hello(seed) + app_data(1800, seed + "cert"))
    conn.c(app_data(180, seed + "login")).s(app_data(900, seed + "select"))
    conn.close()


def submission_starttls(cap: Capture, client: str, cport: int, seed: str = "smtp") -> None:
    """SMTP submission on 587: banner, EHLO, STARTTLS, then TLS."""
    conn = Tcp(cap, client, cport, MAIL_IP, 587).open()
    conn.s(f"220 {MAIL_HOST} ESMTP ready\r\n".encode())
    conn.c(f"EHLO [{client}]\r\n".encode())
    conn.s(
        f"250-{MAIL_HOST}\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250 STARTTLS\r\n".encode()
    )
    conn.c(b"STARTTLS\r\n").s(b"220 2.0.0 Ready to start TLS\r\n")
    conn.c(client_hello(MAIL_HOST, (), seed)).s(server_hello(seed) + app_data(1800, seed + "cert"))
    conn.c(app_data(1300, seed + "message")).s(app_data(120, seed + "queued"))
    conn.close()


def imap_starttls(cap: Capture, client: str, cport: int, seed: str = "imap143") -> None:
    """IMAP on 143 with STARTTLS."""
    conn = Tcp(cap, client, cport, MAIL_IP, 143).open()
    conn.s(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] Dovecot ready.\r\n")
    conn.c(b"a1 CAPABILITY\r\n").s(b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\na1 OK done\r\n")
    conn.c(b"a2 STARTTLS\r\n").s(b"a2 OK Begin TLS negotiation now.\r\n")
    conn.c(client_hello(MAIL_HOST, (), seed)).s(server_hello(seed) + app_data(1800, seed + "cert"))
    conn.c(app_data(200, seed + "login")).s(app_data(600, seed + "ok"))
    conn.close()


def connectivity_check(cap: Capture, client: str, qid: int) -> None:
    dns_lookup(cap, client, CHECK_NAME, [("A", CHECK_IP)], qid)
    conn = Tcp(cap, client, 41000 + qid, CHECK_IP, 80).open()
    conn.c(f"GET /generate_204 HTTP/1.1\r\nHost: {CHECK_NAME}\r\nConnection: close\r\n\r\n".encode())
    conn.s(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
    conn.close()


def _memo_sdk_traffic(cap: Capture, client: str, with_dns: bool, qid: int) -> None:
    """Telemetry, crash-report and diagnostics uploads the memo saw."""
    for i, (name, ip, up) in enumerate(
        ((TELEMETRY_NAME, TELEMETRY_IP, 5200), (CRASH_NAME, CRASH_IP, 2100), (DIAG_NAME, DIAG_IP, 900))
    ):
        if with_dns:
            dns_lookup(cap, client, name, [("A", ip)], qid + i)
        https(cap, client, 50100 + i, ip, name, up, 400, f"sdk-{i}")


def _relay_traffic(cap: Capture, client: str, with_dns: bool, with_sni: bool, qid: int) -> None:
    """The Outlook app's connections to Microsoft's mail relay (one of them long-lived)."""
    if with_dns:
        dns_lookup(
            cap, client, RELAY_NAME, [("CNAME", "eas-outlookmobile.trafficmanager.net"), ("A", RELAY_IP)], qid
        )
        dns_lookup(cap, client, RELAY2_NAME, [("A", RELAY2_IP)], qid + 1)
    https(cap, client, 50001, RELAY_IP, RELAY_NAME if with_sni else None, 3100, 48000, "relay-1", linger=900)
    https(cap, client, 50002, RELAY2_IP, RELAY2_NAME if with_sni else None, 1500, 9000, "relay-2")


def _direct_traffic(cap: Capture, client: str, with_dns: bool, qid: int) -> None:
    if with_dns:
        dns_lookup(cap, client, MAIL_HOST, [("A", MAIL_IP)], qid)
    imaps(cap, client, 50201)
    submission_starttls(cap, client, 50202)


def write_relayed(path: Path, device: str = DEVICE, pcapng: bool = True) -> Path:
    """The memo: DNS and HTTPS to Outlook's relay and SDK endpoints; the mail host is never contacted."""
    cap = Capture()
    connectivity_check(cap, device, 1)
    _relay_traffic(cap, device, with_dns=True, with_sni=True, qid=10)
    _memo_sdk_traffic(cap, device, with_dns=True, qid=20)
    return cap.write(path, pcapng)


def write_direct(path: Path, device: str = DEVICE) -> Path:
    """A plain IMAP/SMTP client: IMAPS, IMAP with STARTTLS and submission with STARTTLS to the mail host."""
    cap = Capture()
    connectivity_check(cap, device, 1)
    _direct_traffic(cap, device, with_dns=True, qid=10)
    imap_starttls(cap, device, 50203)
    return cap.write(path)


def write_mixed(path: Path, device: str = DEVICE) -> Path:
    """Both: the phone reads mail directly while the vendor's relay also handles the account."""
    cap = Capture()
    _direct_traffic(cap, device, with_dns=True, qid=10)
    _relay_traffic(cap, device, with_dns=True, with_sni=True, qid=20)
    _memo_sdk_traffic(cap, device, with_dns=True, qid=30)
    return cap.write(path, pcapng=True)


def write_no_dns(path: Path, device: str = DEVICE) -> Path:
    """The relay reached by address only: no DNS in the capture and no SNI on the relay connections."""
    cap = Capture()
    _relay_traffic(cap, device, with_dns=False, with_sni=False, qid=10)
    _memo_sdk_traffic(cap, device, with_dns=False, qid=20)
    return cap.write(path)


def write_wrong_device(path: Path) -> Path:
    """Traffic of another phone (10.23.42.77) only; analysed with --device 10.23.42.50."""
    cap = Capture()
    _direct_traffic(cap, OTHER_DEVICE, with_dns=True, qid=10)
    _relay_traffic(cap, OTHER_DEVICE, with_dns=True, with_sni=True, qid=20)
    return cap.write(path)


def write_hostile(path: Path, device: str = DEVICE) -> Path:
    """The relayed scenario plus a connection whose SNI is HTML (for escaping tests of the reports)."""
    cap = Capture()
    _relay_traffic(cap, device, with_dns=True, with_sni=True, qid=10)
    https(cap, device, 50301, "198.51.100.66", HOSTILE_SNI, 300, 300, "hostile")
    return cap.write(path)


ARGS = ["--mail-host", f"{MAIL_HOST}:993", "--mail-host", f"{MAIL_HOST}:587", "--device", DEVICE]


@dataclass(frozen=True)
class Scenario:
    writer: object
    summary: str
    mail_host_contacted: bool
    receive: str
    send: str
    args: tuple[str, ...] = tuple(ARGS)
    categories: dict = field(default_factory=dict)  # server name or address -> category


SCENARIOS: dict[str, Scenario] = {
    "relayed": Scenario(
        write_relayed,
        "relayed",
        False,
        "not-observed",
        "not-observed",
        categories={**MEMO_CATEGORIES, RELAY_IP: "mail-relay", CHECK_NAME: "platform"},
    ),
    "direct": Scenario(
        write_direct,
        "direct",
        True,
        "direct",
        "direct",
        categories={MAIL_HOST: "mail-host", MAIL_IP: "mail-host", CHECK_NAME: "platform"},
    ),
    "mixed": Scenario(
        write_mixed, "mixed", True, "direct", "direct", categories={**MEMO_CATEGORIES, MAIL_HOST: "mail-host"}
    ),
    "no-dns": Scenario(
        write_no_dns,
        "relayed",
        False,
        "not-observed",
        "not-observed",
        args=(*ARGS, "--mail-ip", MAIL_IP),
        categories={
            RELAY_IP: "mail-relay",
            RELAY2_IP: "mail-relay",
            TELEMETRY_NAME: "telemetry",
            CRASH_NAME: "crash-report",
            DIAG_NAME: "diagnostics",
        },
    ),
    "wrong-device": Scenario(write_wrong_device, "inconclusive", False, "not-observed", "not-observed"),
}
