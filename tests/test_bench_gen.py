"""The benchmark generator writes a valid, deterministic capture that tshark reads as intended."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from bench import wire
from bench.capture import tshark_conversations
from bench.gen import generate
from tests.conftest import require_tool

PACKETS = 10_000


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "mixed.pcap"
    return generate(str(path), PACKETS, seed=11)


def tshark(*args: str) -> str:
    exe = require_tool("tshark")
    return subprocess.run([exe, *args], capture_output=True, text=True, check=True, timeout=120).stdout


def test_tshark_counts_the_packets_and_flows_the_generator_reports(capture):
    conv = tshark_conversations(tshark("-r", capture.path, "-q", "-z", "conv,tcp", "-z", "conv,udp"))
    assert conv["tcp"]["flows"] == capture.tcp_flows
    assert conv["udp"]["flows"] == capture.udp_flows
    assert conv["tcp"]["packets"] + conv["udp"]["packets"] == PACKETS
    assert capture.tcp_flows > 50 and capture.udp_flows > 50


BAD = (
    "_ws.malformed || ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0"
    " || (tcp.analysis.flags && !tcp.connection.rst)"
)
CHECKSUMS = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]


def test_checksums_sequence_numbers_and_structure_are_clean(capture, tmp_path):
    assert tshark("-r", capture.path, *CHECKSUMS, "-Y", BAD) == ""
    broken = bytearray(open(capture.path, "rb").read(4000))  # the filter does catch damage:
    first_len = int.from_bytes(broken[32:36], "little")
    broken[40 + first_len - 1] ^= 0x5A  # last payload byte of frame 1 -> bad L4 checksum
    (tmp_path / "broken.pcap").write_bytes(broken)
    assert tshark("-r", str(tmp_path / "broken.pcap"), "-c", "1", *CHECKSUMS, "-Y", BAD).strip()


def test_the_mix_has_every_kind_of_traffic(capture):
    rows = [
        line.split("|")
        for line in tshark(
            "-r", capture.path, "-T", "fields", "-E", "separator=|", "-e", "frame.number",
            "-e", "frame.protocols", "-e", "tls.handshake.extensions_server_name",
            "-e", "vlan.id", "-e", "tcp.len",
        ).splitlines()
    ]  # fmt: skip
    assert len(rows) == PACKETS and rows[-1][0] == str(PACKETS)
    quic_sni = {r[2] for r in rows if ":quic" in r[1] and r[2]}
    tcp_sni = {r[2] for r in rows if ":tcp:" in r[1] and r[2]}
    protocols = "\n".join(r[1] for r in rows)
    assert quic_sni and all(name.endswith(".example") or ".example." in name for name in quic_sni)
    assert tcp_sni & {"imap.mail.example", "smtp.mail.example", "imap.corp.example", "pop.mail.example"}
    for proto in (":dns", ":imap", ":smtp", ":pop", ":http", ":vlan:", ":ipv6:", ":quic"):
        assert proto in protocols, proto
    assert any(r[3] == "20" for r in rows)
    assert sum(r[4] == "1460" for r in rows) > 100  # bulk transfers fill the segments


def test_same_seed_same_bytes(tmp_path, capture):
    again = generate(str(tmp_path / "again.pcap"), PACKETS, seed=11)
    digest = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (capture.path, again.path)]
    assert digest[0] == digest[1] and again.bytes == capture.bytes


def test_checksum_helper_matches_the_textbook_loop():
    data = bytes(range(7, 250, 3)) + b"\xff\xff\x00"
    padded = data + b"\x00"
    s = sum(int.from_bytes(padded[i : i + 2], "big") for i in range(0, len(padded), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    assert wire.ones_complement(wire.word_sum(data)) == (~s & 0xFFFF)
