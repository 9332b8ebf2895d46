"""``maildetour flows --format zeek``: Zeek's conn.log as JSON lines (analysis/report/zeeklog.py), end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.capture import load_capture
from analysis.vocab import CATEGORIES
from tests import scenarios as sc
from tests.conftest import ROOT

CLI = [sys.executable, "-m", "analysis.cli"]
ZEEK_ORDER = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
              "orig_bytes", "resp_bytes", "conn_state", "history", "orig_pkts", "resp_pkts", "community_id"]
OURS = ["category", "owner", "sni"]


@pytest.fixture(scope="module")
def direct(tmp_path_factory) -> Path:
    """IMAPS, submission and IMAP with STARTTLS, DNS and a plain HTTP check; plus one unanswered SYN."""
    cap = sc.Capture()
    sc.connectivity_check(cap, sc.DEVICE, 1)
    sc.dns_lookup(cap, sc.DEVICE, sc.MAIL_HOST, [("A", sc.MAIL_IP)], 10)
    sc.imaps(cap, sc.DEVICE, 50201)
    sc.submission_starttls(cap, sc.DEVICE, 50202)
    sc.imap_starttls(cap, sc.DEVICE, 50203)
    cap.add(sc.Tcp(cap, sc.DEVICE, 50204, sc.MAIL_IP, 993)._pkt(True, "S"))
    return cap.write(tmp_path_factory.mktemp("zeek") / "direct.pcap")


def _zeek(path: Path, *args: str) -> list[dict]:
    proc = subprocess.run([*CLI, "flows", str(path), "--format", "zeek", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_conn_log_fields_and_values(direct):
    records = _zeek(direct, "--mail-host", f"{sc.MAIL_HOST}:993", "--mail-host", f"{sc.MAIL_HOST}:587")
    flows = load_capture(str(direct)).flows
    assert len(records) == len(flows)
    for rec, flow in zip(records, flows, strict=True):
        keys = list(rec)
        known = [k for k in ZEEK_ORDER + OURS if k in rec]
        assert keys == known, keys  # Zeek's order, then maildetour's fields, nothing else
        assert rec["ts"] == round(flow.first_seen, 6) and rec["proto"] == flow.transport
        assert (rec["id.orig_h"], rec["id.orig_p"]) == (flow.client.ip, flow.client.port)
        assert (rec["id.resp_h"], rec["id.resp_p"]) == (flow.server.ip, flow.server.port)
        assert (rec["conn_state"], rec["history"]) == (flow.state, flow.history)
        assert (rec["orig_pkts"], rec["resp_pkts"]) == (flow.c2s_packets, flow.s2c_packets)
        assert rec["community_id"] == flow.community_id and rec["category"] in CATEGORIES
        assert rec["uid"].startswith("C") and len(rec["uid"]) == 18 and rec["uid"].isalnum()
    assert len({r["uid"] for r in records}) == len(records)
    by_port = {r["id.resp_p"]: r for r in records if r["id.orig_p"] != 50204}
    assert by_port[993]["service"] == "ssl" and by_port[993]["sni"] == sc.MAIL_HOST
    assert by_port[587]["service"] == "smtp,ssl" and by_port[143]["service"] == "imap,ssl"
    assert by_port[80]["service"] == "http" and by_port[53]["service"] == "dns"
    assert by_port[993]["category"] == "mail-host" and by_port[993]["owner"]
    assert by_port[993]["conn_state"] == "SF" and by_port[993]["history"] == "ShADadFf"
    # payload bytes, as Zeek counts them for an unbroken stream: what the ClientHello and the rest carried
    flow = next(f for f in flows if f.server.port == 993 and f.client.port == 50201)
    assert by_port[993]["orig_bytes"] == flow.c2s_payload > 0 and by_port[993]["resp_bytes"] == flow.s2c_payload
    attempt = next(r for r in records if r["id.orig_p"] == 50204)
    assert (attempt["conn_state"], attempt["history"], attempt["orig_pkts"], attempt["resp_pkts"]) == ("S0", "S", 1, 0)
    for missing in ("duration", "orig_bytes", "resp_bytes", "service", "sni"):
        assert missing not in attempt  # one packet: no duration, so no byte counts (as Zeek writes it)


def test_uids_are_stable_and_the_file_is_written(direct, tmp_path):
    out = tmp_path / "conn.log"
    assert _zeek(direct, "-o", str(out)) == []
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["uid"] for r in written] == [r["uid"] for r in _zeek(direct)]
    assert out.read_text().startswith('{"ts":') and ", " not in out.read_text().splitlines()[0][:40]
