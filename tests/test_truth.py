"""The flow table and the names per flow against tshark's ground truth for every capture in ../shared.

Truth files (``<capture>.truth.json``) were computed with tshark 4.0; see ../shared/captures/README.md.
Deliberate differences, each with its reason, are encoded below (never silently skipped).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from analysis.capture import load_capture
from analysis.model import Capture
from tests.conftest import all_shared_captures, shared_params

CAPTURES = all_shared_captures()
PARAMS = shared_params(CAPTURES)


def _truth(path: Path) -> dict:
    return json.loads(Path(str(path) + ".truth.json").read_text())


def _ep(pair) -> tuple[str, int]:
    return pair[0], int(pair[1])


def expected_flows(truth: dict) -> list[dict]:
    """tshark's flows in first-frame order, with one documented merge.

    Difference: tshark numbers a UDP conversation set up by SIP/SDP (RTP) once per direction, because the
    SDP dissector registers the media conversation with a wildcard peer; Wireshark's conversation table
    for that address/port pair is still one conversation. We count one UDP conversation per address/port
    pair, so such per-direction UDP streams are merged here (gtp-iphone.pcap: streams 4 and 6).
    """
    out: list[dict] = []
    udp_seen: dict[frozenset, dict] = {}
    for f in truth["conversations"]["flows"]:
        client, server = _ep(f["client"]), _ep(f["server"])
        row = {"l4": f["l4"], "client": client, "server": server, "pkts": f["pkts"], "bytes": f["bytes"],
               "c2s": [f["c2s_pkts"], f["c2s_bytes"]], "s2c": [f["s2c_pkts"], f["s2c_bytes"]],
               "server_by": f["server_by"]}
        pair = frozenset([client, server])
        if f["l4"] == "udp" and pair in udp_seen:
            merged = udp_seen[pair]
            merged["pkts"] += row["pkts"]
            merged["bytes"] += row["bytes"]
            same = merged["client"] == client
            for mine, theirs in ((merged["c2s"], row["c2s"] if same else row["s2c"]),
                                 (merged["s2c"], row["s2c"] if same else row["c2s"])):
                mine[0] += theirs[0]
                mine[1] += theirs[1]
            merged["server_by"] = "merged"
            continue
        if f["l4"] == "udp":
            udp_seen[pair] = row
        out.append(row)
    return out


@pytest.fixture(scope="module")
def loaded() -> dict[Path, Capture]:
    return {}


def _load(path: Path, cache: dict) -> Capture:
    if path not in cache:
        cache[path] = load_capture(str(path))
    return cache[path]


@pytest.mark.parametrize("path", PARAMS)
def test_file_facts_match_truth(path: Path, loaded):
    truth = _truth(path)
    cap = _load(path, loaded)
    info = cap.inputs[0]
    assert info.complete, info.warnings
    assert info.sha256 == truth["sha256"]
    assert info.packets == truth["conversations"]["total_frames"]
    assert info.format.split("+")[0] == truth["format"].split()[0].replace("gzip+", "")


@pytest.mark.parametrize("path", PARAMS)
def test_flows_match_truth(path: Path, loaded):
    """Per flow (matched by transport, endpoints and order): packets, bytes, directions, client/server."""
    want = expected_flows(_truth(path))
    cap = _load(path, loaded)
    ours: dict[tuple, list] = defaultdict(list)
    for f in cap.flows:
        ours[(f.transport, frozenset([(f.client.ip, f.client.port), (f.server.ip, f.server.port)]))].append(f)
    assert len(cap.flows) == len(want), [(f.transport, f.client, f.server) for f in cap.flows]
    assert [f.id for f in cap.flows] == list(range(1, len(cap.flows) + 1))
    assert [f.first_frame for f in cap.flows] == sorted(f.first_frame for f in cap.flows)
    taken: dict[tuple, int] = defaultdict(int)
    for w in want:
        key = (w["l4"], frozenset([w["client"], w["server"]]))
        candidates = ours.get(key, [])
        index = taken[key]
        taken[key] += 1
        assert index < len(candidates), f"no flow for {w}"
        got = candidates[index]
        assert (got.client.ip, got.client.port) == w["client"], (w, got.server_by)
        assert (got.server.ip, got.server.port) == w["server"], (w, got.server_by)
        assert (got.packets, got.bytes) == (w["pkts"], w["bytes"]), w
        assert [got.c2s_packets, got.c2s_bytes] == w["c2s"], w
        assert [got.s2c_packets, got.s2c_bytes] == w["s2c"], w
        if w["server_by"] != "merged":
            assert got.server_by == w["server_by"].split("(")[0], w
        assert got.first_frame <= got.last_frame
        assert got.first_seen is not None and got.first_seen <= got.last_seen


def _host(value: str) -> str:
    """An HTTP Host value without its port (``example.org:8080`` -> ``example.org``)."""
    if value.startswith("["):
        return value[1:].split("]")[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


@pytest.mark.parametrize("path", PARAMS)
def test_names_match_truth(path: Path, loaded):
    """TLS SNI (TCP), QUIC and gQUIC SNI (UDP), DNS query names and HTTP hosts, as sets."""
    truth = _truth(path)
    cap = _load(path, loaded)
    tcp_sni = {n for f in cap.flows if f.transport == "tcp" for n in f.names.sni}
    udp_sni = {n for f in cap.flows if f.transport == "udp" for n in f.names.sni}
    assert tcp_sni == set(truth["tls_sni_tcp"])
    assert udp_sni == set(truth["quic_sni"]) | set(truth["gquic_sni"])
    assert {d.query.lower() for d in cap.dns} == {n.lower() for n in truth["dns"]["dns"]["query_names"]}
    # Difference: the report keeps the host name only; tshark's http.host keeps a ":port" suffix.
    assert {_host(h) for f in cap.flows for h in f.names.http_host} == {_host(h) for h in truth["http_hosts"]}


def test_truth_files_present_or_skipped(shared_captures):
    """When ../shared is there, the parametrized tests above really ran over every truth file."""
    assert len(CAPTURES) == len(list(shared_captures.rglob("*.truth.json"))) > 0
