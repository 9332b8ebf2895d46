"""Zeek's connection state and history per flow (analysis/capture/connstate.py), whether TLS was established,
and what the verdict makes of connections that were only attempted.

Crafted TCP handshakes, resets, half-open and mid-stream connections are written to pcap files and read with
``load_capture``, by the plain pass and by the bulk path in batches of several sizes; each flow's
``(state, history)`` must be what Zeek's rules give (``TCPSessionAdapter`` and ``Conn::conn_state``). Four
cases are Zeek's own regression test (``conn_state-RST-behavior``: R/OTH, SR/RSTOS0, SaR/RSTOS0, SaFR/OTH);
the expected values of the others are worked out from those rules by hand. There is no Zeek binary here to
run side by side: Debian 12 has no zeek package (``apt-cache policy zeek``: no candidate). Whether TLS was
established is compared with what tshark dissects from each server on every shared and shipped capture.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from analysis.capture import bulk, load_capture
from tests import pcapbuild as pb
from tests import scenarios as sc
from tests.conftest import ROOT, SHARED_CAPTURES, all_shared_captures, require_tool, shared_params

CLIENT, SERVER = "10.0.0.2", "203.0.113.25"
CLI = [sys.executable, "-m", "analysis.cli"]
START = 1_600_000_000.0


class Wire:
    """Frames of TCP connections between CLIENT and SERVER; each side's sequence number follows its
    segments (SYN and FIN take one)."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self.clock = START

    def conn(self, cport: int, sport: int = 993) -> Conn:
        return Conn(self, cport, sport)

    def add(self, pkt) -> None:
        self.clock += 0.01
        self.frames.append((self.clock, bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / pkt)))

    def write(self, path: Path) -> Path:
        return pb.write(path, pb.pcap_bytes(self.frames))


class Conn:
    def __init__(self, wire: Wire, cport: int, sport: int) -> None:
        self.wire, self.cport, self.sport = wire, cport, sport
        self.seq = {True: 1000 + cport, False: 900_000 + cport}

    def __call__(self, from_client: bool, flags: str, data: bytes = b"", seq_delta: int = 0) -> Conn:
        seq = self.seq[from_client] + seq_delta
        src, dst = (CLIENT, SERVER) if from_client else (SERVER, CLIENT)
        sp, dp = (self.cport, self.sport) if from_client else (self.sport, self.cport)
        ack = self.seq[not from_client] if "A" in flags else 0
        self.wire.add(IP(src=src, dst=dst) / TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack) / data)
        if not seq_delta:
            self.seq[from_client] = seq + len(data) + ("S" in flags) + ("F" in flags)
        return self

    def c(self, flags: str, data: bytes = b"", seq_delta: int = 0) -> Conn:
        return self(True, flags, data, seq_delta)

    def s(self, flags: str, data: bytes = b"", seq_delta: int = 0) -> Conn:
        return self(False, flags, data, seq_delta)

    def handshake(self) -> Conn:
        return self.c("S").s("SA").c("A")


def _cases():
    """(name, build(conn), state, history): one connection each."""
    return [
        ("normal", lambda k: k.handshake().c("PA", b"x" * 10).s("A").s("PA", b"y" * 20).c("A").c("FA").s("FA")
         .c("A"), "SF", "ShADadFf"),
        ("syn-only", lambda k: k.c("S").c("S", seq_delta=-1), "S0", "S"),  # a retransmitted SYN: one letter
        ("rejected", lambda k: k.c("S").s("RA"), "REJ", "Sr"),
        ("established", lambda k: k.handshake().c("PA", b"q").s("PA", b"r"), "S1", "ShADd"),
        ("half-open", lambda k: k.c("S").s("SA"), "S1", "Sh"),
        ("client-closed", lambda k: k.handshake().c("PA", b"q").s("A").s("PA", b"r").c("A").c("FA").s("A"),
         "S2", "ShADadF"),
        ("server-closed", lambda k: k.handshake().c("PA", b"q").s("A").s("PA", b"r").c("A").s("FA").c("A"),
         "S3", "ShADadf"),
        ("client-reset", lambda k: k.handshake().c("PA", b"q").s("PA", b"r").c("R"), "RSTO", "ShADdR"),
        ("server-reset", lambda k: k.handshake().c("PA", b"q").s("PA", b"r").s("R"), "RSTR", "ShADdr"),
        ("server-resets-twice", lambda k: k.handshake().c("PA", b"q").s("R").c("PA", b"z").s("R", seq_delta=7),
         "RSTR", "ShADrr"),
        ("syn-then-fin", lambda k: k.c("S").c("F"), "SH", "SF"),
        ("synack-then-fin", lambda k: k.s("SA").s("FA"), "SHR", "^hf"),
        ("synack-then-rst", lambda k: k.s("SA").s("R"), "RSTRH", "^hr"),
        ("zeek-single-rst", lambda k: k.c("R"), "OTH", "R"),
        ("zeek-syn-then-rst", lambda k: k.c("S").c("R"), "RSTOS0", "SR"),
        ("zeek-syn-then-ack-then-rst", lambda k: k.c("S").s("A").c("R"), "RSTOS0", "SaR"),
        ("zeek-syn-then-stuff-then-rst", lambda k: k.c("S").s("A").c("FA").c("R"), "OTH", "SaFR"),
        ("mid-stream", lambda k: k.c("PA", b"q" * 5).s("PA", b"r" * 5), "OTH", "Dd"),
        ("closed-then-reset", lambda k: k.handshake().c("PA", b"q").s("A").s("PA", b"r").c("A").c("FA").s("FA")
         .c("A").c("R"), "SF", "ShADadFfR"),
        ("syn-fin", lambda k: k.c("SF"), "SH", "Q"),
    ]


CASES = _cases()


@pytest.fixture(scope="module")
def crafted(tmp_path_factory) -> Path:
    wire = Wire()
    for n, (_name, build, _state, _history) in enumerate(CASES):
        build(wire.conn(40000 + n))
    return wire.write(tmp_path_factory.mktemp("connstate") / "states.pcap")


def _states(path: Path, **kwargs) -> dict[int, tuple]:
    return {f.client.port if f.client.ip == CLIENT else f.server.port: (f.state, f.history, f.established)
            for f in load_capture(str(path), parallel=False, **kwargs).flows}


def test_zeek_states_and_histories(crafted):
    got = _states(crafted, bulk=False)
    assert len(got) == len(CASES)
    want = {40000 + n: (state, history) for n, (_name, _build, state, history) in enumerate(CASES)}
    wrong = {CASES[port - 40000][0]: (got[port][:2], want[port]) for port in want if got[port][:2] != want[port]}
    assert not wrong, wrong
    answered = {name for n, (name, *_rest) in enumerate(CASES) if got[40000 + n][2]}
    assert "rejected" not in answered and "syn-only" not in answered and "zeek-syn-then-rst" not in answered
    assert {"normal", "half-open", "synack-then-fin", "mid-stream"} <= answered


@pytest.mark.parametrize("size", [1, 7, 64, 8192])
def test_bulk_path_gives_the_same_states(crafted, monkeypatch, size):
    plain = _states(crafted, bulk=False)
    monkeypatch.setattr(bulk, "BATCH", size)
    assert _states(crafted, bulk=True) == plain


REQUEST = b"GET / HTTP/1.1\r\nHost: files.example\r\n\r\n"


def _long_http(wire: Wire, cport: int, server_acks_late: bool) -> None:
    """An HTTP download: the inspector is done after the request, so the many segments that follow are counted
    as settled (in bulk on the bulk path), and the FIN/ACK exchange at the end must still be seen."""
    k = wire.conn(cport, 80).handshake().c("PA", REQUEST)
    if not server_acks_late:
        k.s("A")
    for _ in range(60):
        k.s("PA", b"d" * 900).c("A")
    k.c("FA").s("A").s("FA").c("A")


def test_settled_connections_keep_their_state_on_every_path(tmp_path, monkeypatch):
    wire = Wire()
    _long_http(wire, 45000, server_acks_late=False)
    _long_http(wire, 45001, server_acks_late=True)
    path = wire.write(tmp_path / "long.pcap")
    plain = load_capture(str(path), parallel=False, bulk=False).flows
    assert [(f.state, f.history) for f in plain] == [("SF", "ShADadFf"), ("SF", "ShADdFaf")]
    assert [(f.c2s_payload, f.s2c_payload) for f in plain] == [(len(REQUEST), 60 * 900)] * 2
    snapshot = [f.to_json() for f in plain]
    for size in (1, 7, 64, 8192):
        monkeypatch.setattr(bulk, "BATCH", size)
        counted = load_capture(str(path), parallel=False, bulk=True).flows
        assert [f.to_json() for f in counted] == snapshot, size
    assert [f.to_json() for f in load_capture(str(path), parallel=True, bulk=True).flows] == snapshot


def test_udp_states(tmp_path):
    wire = Wire()
    eth = (CLIENT, SERVER)
    for sport, answered in ((50000, True), (50001, False)):
        wire.add(IP(src=eth[0], dst=eth[1]) / UDP(sport=sport, dport=53) / b"query")
        if answered:
            wire.add(IP(src=eth[1], dst=eth[0]) / UDP(sport=53, dport=sport) / b"answer!")
    wire.add(IP(src=eth[1], dst=eth[0]) / UDP(sport=53, dport=50002) / b"unasked")  # only the server's side
    flows = load_capture(str(wire.write(tmp_path / "udp.pcap"))).flows
    got = [(f.client.port, f.state, f.history, f.established, f.c2s_payload, f.s2c_payload) for f in flows]
    assert got == [(50000, "SF", "Dd", True, 5, 7), (50001, "S0", "D", False, 5, 0),
                   (50002, "SHR", "^d", False, 0, 7)]


# -- TLS: did the server answer the ClientHello? -------------------------------------------------------------

ALERT = b"\x15\x03\x03\x00\x02\x02\x28"  # fatal handshake_failure
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


def _hello_retry() -> bytes:
    body = b"\x03\x03" + HRR_RANDOM + b"\x00" + b"\x13\x01" + b"\x00" + b"\x00\x06" + b"\x00\x2b\x00\x02\x03\x04"
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(handshake).to_bytes(2, "big") + handshake + b"\x14\x03\x03\x00\x01\x01"


def test_tls_established_only_when_the_server_answers(tmp_path):
    wire = Wire()
    hello = sc.client_hello("imap.example.org", ("imap",), "t")
    wire.conn(46000).handshake().c("PA", hello).s("PA", sc.server_hello("a")).c("FA").s("FA").c("A")
    wire.conn(46001).handshake().c("PA", hello).s("PA", ALERT).s("FA").c("FA").s("A")
    wire.conn(46002).handshake().c("PA", hello).c("R")  # no answer at all
    retry = wire.conn(46003).handshake().c("PA", hello).s("PA", _hello_retry())
    retry.c("PA", sc.client_hello("imap.example.org", ("imap",), "t2")).s("PA", sc.server_hello("b"))
    wire.conn(46004).handshake().c("PA", hello).s("PA", _hello_retry()).c("R")  # retry asked, never done
    # STARTTLS where the ClientHello overtakes the server's go-ahead line
    k = wire.conn(46005, 143).handshake().s("PA", b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
    k.c("PA", b"a1 STARTTLS\r\n").c("PA", hello).s("PA", b"a1 OK Begin TLS\r\n" + sc.server_hello("c"))
    flows = load_capture(str(wire.write(tmp_path / "tls.pcap"))).flows
    assert [(f.client.port, f.tls_established) for f in flows] == [
        (46000, True), (46001, False), (46002, False), (46003, True), (46004, False), (46005, True)]
    assert flows[5].starttls and flows[5].app_protocol == "imap"


HRR_TEXT = ":".join(f"{b:02x}" for b in HRR_RANDOM)
LATER = {"4", "8", "11", "12", "14"}  # handshake messages a server sends after its ServerHello


def _tshark_established(path: Path) -> dict[int, bool]:
    """First frame of each TCP stream -> did tshark see the server send a ServerHello (not a retry request),
    a later handshake message or application data?"""
    tshark = require_tool("tshark")
    streams = subprocess.run([tshark, "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "tcp.stream"],
                             capture_output=True, text=True, timeout=120).stdout
    first: dict[str, int] = {}
    for line in streams.splitlines():
        frame, _, stream = line.partition("\t")
        if stream:
            first.setdefault(stream.split(",")[-1], int(frame))
    records = subprocess.run(
        [tshark, "-r", str(path), "-Y", "tls", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
         "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tls.handshake.type", "-e", "tls.record.content_type",
         "-e", "tls.handshake.random"], capture_output=True, text=True, timeout=120).stdout
    seen: dict[int, set] = {}
    for line in records.splitlines():
        stream, sport, types, contents, randoms = (line.split("\t") + [""] * 5)[:5]
        kinds = set(types.split("|")) - {""}
        if ("2" in kinds and HRR_TEXT not in randoms) or kinds & LATER or "23" in contents.split("|"):
            seen.setdefault(first[stream], set()).add(int(sport.split("|")[0]))
    return seen


CAPTURES = [p for p in all_shared_captures() if p.suffix in (".pcap", ".pcapng")]
SHIPPED = sorted((ROOT / "captures").glob("*/phone.pcapng"))


@pytest.mark.parametrize("path", shared_params(CAPTURES) + [pytest.param(p, id=p.parent.name) for p in SHIPPED])
def test_tls_established_as_wireshark_sees_it(path):
    flows = [f for f in load_capture(str(path)).flows if f.transport == "tcp"]
    seen = _tshark_established(path)
    got = {f.first_frame: bool(f.tls_established) for f in flows}
    want = {f.first_frame: f.server.port in seen.get(f.first_frame, ()) for f in flows}
    assert got == want


def test_quic_and_plain_flows():
    quic = SHARED_CAPTURES / "arkime" / "quicietf.pcap"
    if not quic.is_file():
        pytest.skip(f"{quic} is absent")
    flows = load_capture(str(quic)).flows
    assert [(f.app_protocol, f.tls_established) for f in flows] == [("quic", None)]  # not looked at for QUIC


# -- the verdict ---------------------------------------------------------------------------------------------

def _analyze(path: Path, tmp_path: Path, lang: str = "en") -> dict:
    out = tmp_path / f"report-{lang}.json"
    proc = subprocess.run([*CLI, "analyze", str(path), *sc.ARGS, "--lang", lang, "-o", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def _attempts(path: Path) -> Path:
    """The relay in use; the phone's connections to the mail host never answered (two SYNs, one rejected)."""
    cap = sc.Capture()
    sc.dns_lookup(cap, sc.DEVICE, sc.MAIL_HOST, [("A", sc.MAIL_IP)], 7)
    for cport, reply in ((51001, None), (51002, None), (51003, "RA")):
        syn = sc.Tcp(cap, sc.DEVICE, cport, sc.MAIL_IP, 993)
        cap.add(syn._pkt(True, "S"))
        if reply:
            syn.cseq += 1
            cap.add(syn._pkt(False, reply))
    sc.https(cap, sc.DEVICE, 50001, sc.RELAY_IP, sc.RELAY_NAME, 3100, 48000, "relay-1")
    return cap.write(path)


def test_verdict_tells_attempted_from_established(tmp_path):
    report = _analyze(_attempts(tmp_path / "attempts.pcap"), tmp_path)
    verdict = report["verdict"]
    assert verdict["mail_host_contacted"] is True and verdict["mail_host_contact"] == "attempted"
    host = [f for f in report["flows"] if f["category"] == "mail-host"]
    assert sorted(f["state"] for f in host) == ["REJ", "S0", "S0"]
    found = [f for f in report["findings"] if f["kind"] == "mail-host-not-established"]
    assert len(found) == 1 and sorted(found[0]["flows"]) == sorted(f["id"] for f in host)
    assert found[0]["details"]["states"] == "REJ 1, S0 2" and "REJ 1, S0 2" in found[0]["message"]
    assert "never answered" in verdict["explanation"]
    german = _analyze(tmp_path / "attempts.pcap", tmp_path, "de")
    assert "antwortete nie" in german["verdict"]["explanation"]
    direct = _analyze(sc.write_direct(tmp_path / "direct.pcap"), tmp_path)
    assert direct["verdict"]["mail_host_contact"] == "established"
    assert not [f for f in direct["findings"] if f["kind"] == "mail-host-not-established"]
    relayed = _analyze(sc.write_relayed(tmp_path / "relayed.pcapng"), tmp_path)
    assert relayed["verdict"]["mail_host_contact"] == "none"
