"""Community ID v1 (analysis/communityid.py) against the reference implementation and against Wireshark.

The ``communityid`` package (corelight's pycommunityid, a dev dependency) computes the same IDs for crafted
tuples and for every flow of the test captures; tshark's own ``communityid`` dissector gives the same ID for
each flow's first frame in every capture of ../shared/captures and the shipped ones. The IDs then reach every
output: the report's JSON, the JSON lines of ``flows``, CSV, the HTML tooltips and Zeek's conn.log lines.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.capture import load_capture
from analysis.communityid import community_id
from tests import scenarios as sc
from tests.conftest import ROOT, all_shared_captures, require_tool, shared_params

communityid = pytest.importorskip("communityid", reason="the communityid package (dev dependency) is missing")

SHIPPED = sorted((ROOT / "captures").glob("*/phone.pcapng"))
CAPTURES = all_shared_captures()
CLI = [sys.executable, "-m", "analysis.cli"]
TUPLES = [
    ("tcp", "10.0.0.1", 1234, "127.0.0.1", 80),
    ("tcp", "127.0.0.1", 80, "10.0.0.1", 1234),  # the same flow seen from the other side
    ("udp", "192.0.2.7", 53, "192.0.2.7", 40000),  # equal addresses: the ports decide the order
    ("udp", "192.0.2.7", 40000, "192.0.2.7", 53),
    ("tcp", "2001:db8::1", 443, "2001:db8::2", 50000),
    ("udp", "fe80::1", 0, "ff02::fb", 65535),
    ("tcp", "255.255.255.255", 65535, "0.0.0.0", 0),
]


def reference(transport: str, a: str, ap: int, b: str, bp: int, seed: int = 0) -> str:
    make = communityid.FlowTuple.make_tcp if transport == "tcp" else communityid.FlowTuple.make_udp
    return communityid.CommunityID(seed=seed).calc(make(a, b, ap, bp))


@pytest.mark.parametrize("seed", [0, 1, 0xFFFF])
@pytest.mark.parametrize("flow", TUPLES, ids=lambda t: f"{t[0]}-{t[1]}-{t[2]}-{t[4]}")
def test_same_as_the_reference_package(flow, seed):
    ours = community_id(*flow, seed=seed)
    assert ours == reference(*flow, seed=seed)
    assert ours == community_id(flow[0], flow[3], flow[4], flow[1], flow[2], seed=seed)  # direction-free
    assert ours.startswith("1:") and len(ours) == 30


def test_no_id_for_what_the_spec_does_not_cover():
    assert community_id("icmp", "192.0.2.1", 0, "192.0.2.2", 0) is None
    assert community_id("tcp", "mail.example.org", 1, "192.0.2.2", 2) is None  # a name, not an address
    assert community_id("tcp", "192.0.2.1", 1, "2001:db8::1", 2) is None  # two families
    assert community_id("udp", "192.0.2.1", 70000, "192.0.2.2", 2) is None


def _tshark_ids(path: Path) -> dict[int, set[str]]:
    """Frame number -> the Community IDs tshark's dissector gives it (several in a tunnel)."""
    proc = subprocess.run(
        [require_tool("tshark"), "-r", str(path), "-o", "communityid.seed:0", "-o", "communityid.do_base64:TRUE",
         "--enable-protocol", "communityid", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
         "-e", "frame.number", "-e", "communityid"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out: dict[int, set[str]] = {}
    for line in proc.stdout.splitlines():
        frame, _, ids = line.partition("\t")
        if ids:
            out[int(frame)] = set(ids.split("|"))
    return out


@pytest.mark.parametrize("path", shared_params(CAPTURES) + [pytest.param(p, id=p.parent.name) for p in SHIPPED])
def test_every_flow_has_wiresharks_id(path):
    flows = load_capture(str(path)).flows  # some hold no TCP/UDP flow at all (ICMP only)
    theirs = _tshark_ids(path)
    wrong = [(f.id, f.transport, f.first_frame, f.community_id, theirs.get(f.first_frame)) for f in flows
             if f.community_id not in theirs.get(f.first_frame, set())]
    assert not wrong, wrong
    for f in flows:  # and the reference package agrees
        assert f.community_id == reference(f.transport, f.client.ip, f.client.port, f.server.ip, f.server.port)


@pytest.fixture(scope="module")
def relayed(tmp_path_factory) -> Path:
    return sc.write_relayed(tmp_path_factory.mktemp("cid") / "relayed.pcapng")


def _cli(*args: str) -> str:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_ids_in_every_output(relayed, tmp_path):
    expected = {f.id: f.community_id for f in load_capture(str(relayed)).flows}
    assert all(v and v.startswith("1:") for v in expected.values())
    lines = [json.loads(x) for x in _cli("flows", str(relayed), "--format", "jsonl").splitlines()]
    assert {x["id"]: x["community_id"] for x in lines} == expected
    rows = list(csv.DictReader(io.StringIO(_cli("flows", str(relayed), "--format", "csv"))))
    assert {int(r["id"]): r["community_id"] for r in rows} == expected
    conn = [json.loads(x) for x in _cli("flows", str(relayed), "--format", "zeek").splitlines()]
    assert sorted(x["community_id"] for x in conn) == sorted(expected.values())
    report_path = tmp_path / "r.json"
    _cli("analyze", str(relayed), *sc.ARGS, "-o", str(report_path))
    report = json.loads(report_path.read_text())
    assert {f["id"]: f["community_id"] for f in report["flows"]} == expected
    page = _cli("report", str(report_path), "--format", "html")
    shown = [v for v in expected.values() if v in page]
    assert shown and len(shown) == len(expected)  # in the destinations' tooltips
