"""Names in UDP flows against real tshark on packets built here: the SNI of QUIC Initials of reserved
(0x?a?a?a?a) versions, and the Host header of HTTP over UDP (SSDP ``M-SEARCH`` / ``NOTIFY``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from analysis.capture import load_capture
from analysis.protocols.quic import SALT_D23, SALT_D29, SALT_V1, V1, crypto_frames
from tests.conftest import require_tool
from tests.pcapbuild import pcap_bytes
from tests.test_proto_quic import _crypto, _decrypt_vector, _protect

pytest.importorskip("scapy")
from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402

PHONE, PHONE6, QUIC_SERVER = "192.168.1.50", "fe80::50", "192.0.2.1"
# (source port, version, salt, SNI): the SNI replaces the RFC 9001 vector's "example.com" (same length)
INITIALS = [
    (50001, 0x1A2A3A4A, SALT_D29, "grease1.org"),
    (50002, 0xFAFAFAFA, SALT_D29, "grease2.org"),
    (50003, 0x0A0A0A0A, SALT_D29, "grease3.org"),
    (50004, 0x5A6A7A8A, SALT_V1, "grease4.org"),  # v1's salt: what Wireshark after 4.0 takes
    (50005, 0x2A2A2A2A, SALT_D23, "grease5.org"),  # a salt no Wireshark uses for it: unreadable
    (50006, V1, SALT_V1, "quic-v1.org"),
]
M_SEARCH = (b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n'
            b"ST: ssdp:all\r\n\r\n")
NOTIFY = (b"NOTIFY * HTTP/1.1\r\nHost: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n"
          b"LOCATION: http://192.168.1.1:5000/desc.xml\r\n\r\n")
ANSWER = b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nLOCATION: http://192.168.1.1:5000/\r\n\r\n"


def _initial(version: int, salt: bytes, sni: str, dcid: bytes) -> bytes:
    hello = crypto_frames(_decrypt_vector())[0][1].replace(b"example.com", sni.encode())
    return _protect(version, dcid, dcid, 0, _crypto(0, hello), 1162, salt=salt)


def _frames() -> list[bytes]:
    out = []
    for sport, version, salt, sni in INITIALS:  # a DCID of its own each: Wireshark joins Initials by DCID
        payload = _initial(version, salt, sni, sport.to_bytes(2, "big") * 4)
        out.append(Ether() / IP(src=PHONE, dst=QUIC_SERVER) / UDP(sport=sport, dport=443) / payload)
    out += [
        Ether() / IP(src=PHONE, dst="239.255.255.250") / UDP(sport=51001, dport=1900) / M_SEARCH,
        Ether() / IP(src="192.168.1.1", dst=PHONE) / UDP(sport=1900, dport=51001) / ANSWER,
        Ether() / IP(src="192.168.1.1", dst="239.255.255.250") / UDP(sport=1900, dport=1900) / NOTIFY,
        Ether() / IPv6(src=PHONE6, dst="ff02::c") / UDP(sport=51002, dport=1900)
        / M_SEARCH.replace(b"239.255.255.250", b"[FF02::C]"),
        # a request without the blank line that ends its head
        Ether() / IP(src=PHONE, dst="192.168.1.9") / UDP(sport=51003, dport=1900)
        / b"M-SEARCH * HTTP/1.1\r\nHost: short.example:1900\r\n",
        # HTTP over UDP on another port: Wireshark does not read it as HTTP, nor do we
        Ether() / IP(src=PHONE, dst="192.168.1.9") / UDP(sport=51004, dport=8080)
        / b"M-SEARCH * HTTP/1.1\r\nHost: elsewhere.example:8080\r\n\r\n",
    ]
    return [bytes(f) for f in out]


def _tshark(tshark: str, path: Path) -> dict[frozenset, dict[str, set[str]]]:
    """Per UDP conversation (its two endpoints): tshark's QUIC versions, SNIs and HTTP hosts."""
    cmd = [tshark, "-n", "-r", str(path), "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
           "-E", "aggregator=|"]
    for name in ("ip.src", "ipv6.src", "udp.srcport", "ip.dst", "ipv6.dst", "udp.dstport", "quic.version",
                 "tls.handshake.extensions_server_name", "http.host"):
        cmd += ["-e", name]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    out: dict[frozenset, dict[str, set[str]]] = {}
    for line in done.stdout.splitlines():
        src, src6, sport, dst, dst6, dport, version, sni, host = (line.split("\t") + [""] * 9)[:9]
        pair = frozenset(((src or src6, int(sport)), (dst or dst6, int(dport))))
        row = out.setdefault(pair, {"version": set(), "sni": set(), "host": set()})
        for key, value in (("version", version), ("sni", sni), ("host", host)):
            row[key].update(v for v in value.split("|") if v)
    return out


def test_reserved_quic_versions_and_ssdp_hosts_as_tshark_reads_them(tmp_path: Path) -> None:
    tshark = require_tool("tshark")
    path = tmp_path / "udp-names.pcap"
    path.write_bytes(pcap_bytes((1_700_000_000 + i, frame) for i, frame in enumerate(_frames())))
    theirs = _tshark(tshark, path)
    ours = {frozenset(((f.client.ip, f.client.port), (f.server.ip, f.server.port))): f
            for f in load_capture(str(path)).flows}
    assert set(ours) == set(theirs)
    version = subprocess.run([tshark, "--version"], capture_output=True, text=True, check=True).stdout
    for sport, quic_version, salt, sni in INITIALS:
        pair = frozenset(((PHONE, sport), (QUIC_SERVER, 443)))
        flow, row = ours[pair], theirs[pair]
        assert row["version"] == {f"0x{quic_version:08x}"}  # tshark took each datagram for QUIC, as we do
        assert flow.app_protocol == "quic"
        if salt == SALT_V1 and quic_version != V1:
            # Deliberate difference: tshark 4.0 reads reserved versions as draft-29 only; later releases as v1
            assert set(flow.names.sni) == {sni}
            if " 4.0." in version.splitlines()[0]:
                assert row["sni"] == set()
        else:
            assert set(flow.names.sni) == row["sni"]
    assert {n for f in ours.values() for n in f.names.sni} == {"grease1.org", "grease2.org", "grease3.org",
                                                               "grease4.org", "quic-v1.org"}
    for pair, row in theirs.items():
        if (QUIC_SERVER, 443) not in pair:
            assert set(ours[pair].names.http_host) == row["host"], pair
    hosts = {h for f in ours.values() for h in f.names.http_host}
    assert hosts == {"239.255.255.250:1900", "[FF02::C]:1900", "short.example:1900"}


def test_ssdp_reading_is_bounded() -> None:
    """A device announcing itself for hours: the first requests give the Host, then the flow is left alone."""
    from analysis.capture.inspect import MAX_UDP_PROBES, FlowInspector

    insp = FlowInspector("udp", 1900, 1900)
    for frame in range(1, 1000):
        insp.feed(True, NOTIFY.replace(b"239.255.255.250", f"h{frame}.example".encode()), frame, 0.0)
        if insp.done:
            break
    assert insp.done and frame == MAX_UDP_PROBES
    assert insp.result().http_hosts == [f"h{k}.example:1900" for k in range(1, MAX_UDP_PROBES + 1)]
