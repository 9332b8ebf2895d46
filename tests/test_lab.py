"""The lab: its pure parts (DNS wire format, SOCKS5, pcap -> pcapng), then end to end with real Dovecot,
tcpdump and mitmdump on 127.0.0.0/8, and the shipped sample captures."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.lab import dnswire, socks
from analysis.lab.pcapng import PcapFormatError, pcap_to_pcapng
from analysis.lab.plan import LabPlan, is_loopback, reserve_plan
from tests.conftest import ROOT, require_tool

CANARY = "Lab-Canary-4711-xyz"
CAPTURES = ROOT / "captures"

# ---- pure parts -----------------------------------------------------------------------------------------


def test_dns_query_answer_round_trip():
    query = dnswire.build_query(0x1234, "Sync.Vendor.TEST.")
    q = dnswire.parse_query(query)
    assert (q.id, q.name, q.qtype, q.qclass) == (0x1234, "sync.vendor.test", dnswire.TYPE_A, dnswire.CLASS_IN)
    answer = dnswire.build_answer(q, ["127.42.1.10", "127.42.1.11"])
    assert answer[:2] == query[:2] and answer[2] & 0x80  # same id, QR set
    assert dnswire.parse_a_answers(answer, 0x1234) == ["127.42.1.10", "127.42.1.11"]
    nx = dnswire.build_answer(q, None)
    assert nx[3] & 0x0F == dnswire.RCODE_NXDOMAIN and dnswire.parse_a_answers(nx, 0x1234) == []
    aaaa = dnswire.parse_query(dnswire.build_query(7, "mail.example.test", dnswire.TYPE_AAAA))
    assert dnswire.parse_a_answers(dnswire.build_answer(aaaa, ["127.42.0.25"]), 7) == []  # NOERROR, no A
    with pytest.raises(dnswire.DnsWireError):
        dnswire.parse_a_answers(answer, 0x9999)  # not the answer to this query


@pytest.mark.parametrize("data", [
    b"", b"\x00" * 11,
    b"\x12\x34\x81\x00" + b"\x00\x01" + b"\x00" * 6 + b"\x00\x00\x01\x00\x01",  # a response
    b"\x12\x34\x01\x00\x00\x02" + b"\x00" * 6,  # two questions
    b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\x3fabc",  # label runs past the end
    b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\xc0\x0c\x00\x01\x00\x01",  # compression pointer
    b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\x01a" * 300,  # longer than 512 bytes
])
def test_dns_parser_refuses_malformed_queries(data):
    with pytest.raises(dnswire.DnsWireError):
        dnswire.parse_query(data)


def test_dns_server_answers_on_loopback(tmp_path):
    from analysis.lab.dnsserver import DnsServer

    server = DnsServer("127.0.0.1", 0, {"mail.example.test": "127.42.0.25"}, str(tmp_path / "dns.log"))
    reply, note = server.answer(dnswire.build_query(5, "mail.example.test"))
    assert dnswire.parse_a_answers(reply, 5) == ["127.42.0.25"] and "mail.example.test" in note
    reply, note = server.answer(b"\x00\x05garbage-garbage")
    assert reply is not None and reply[:2] == b"\x00\x05" and "malformed" in note
    server.close()


def test_socks5_builders_and_reply_parser():
    assert socks.connect_request("127.42.1.10", 443) == b"\x05\x01\x00\x01\x7f\x2a\x01\x0a\x01\xbb"
    socks.check_method_reply(b"\x05\x00")
    with pytest.raises(socks.SocksError):
        socks.check_method_reply(b"\x05\xff")
    with pytest.raises(socks.SocksError):
        socks.check_method_reply(b"HTTP/1.1")
    assert socks.reply_length(b"\x05\x00\x00\x01\x7f") == 10
    assert socks.reply_length(b"\x05\x00\x00\x03\x05") == 12
    with pytest.raises(socks.SocksError, match="refused"):
        socks.reply_length(b"\x05\x05\x00\x01\x00")


def _pcap(records: list[tuple[int, int, bytes]], magic: bytes = b"\xd4\xc3\xb2\xa1") -> bytes:
    head = magic + struct.pack("<HHiIII", 2, 4, 0, 0, 65535, 1)
    return head + b"".join(struct.pack("<IIII", s, us, len(p), len(p)) + p for s, us, p in records)


def test_pcap_to_pcapng_keeps_every_packet_for_tshark(tmp_path):
    tshark = require_tool("tshark")
    frame = bytes(range(60))
    src = _pcap([(1_700_000_000, 123456, frame), (1_700_000_001, 5, frame[:42] + b"\xff" * 3)])
    out = tmp_path / "x.pcapng"
    out.write_bytes(pcap_to_pcapng(src, comment="lab test"))
    assert out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    fields = ["-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len"]
    rows = subprocess.run([tshark, "-r", str(out), *fields],
                          capture_output=True, text=True, check=True).stdout.split("\n")
    assert [r.split("\t") for r in rows if r] == [["1700000000.123456000", "60"],
                                                  ["1700000001.000005000", "45"]]


def test_pcap_to_pcapng_refuses_damage():
    with pytest.raises(PcapFormatError):
        pcap_to_pcapng(b"not a pcap at all, no no no")
    good = _pcap([(1, 0, b"\x00" * 20)])
    with pytest.raises(PcapFormatError) as exc:
        pcap_to_pcapng(good[:-5])
    assert exc.value.offset == 24


def test_plan_is_loopback_and_reservations_do_not_share_a_block(tmp_path):
    plan = LabPlan.for_block(42)
    assert all(is_loopback(a) for a in plan.addresses()) and len(set(plan.addresses())) == 7
    with reserve_plan(str(tmp_path)) as first, reserve_plan(str(tmp_path)) as second:
        assert first != second and is_loopback(second.phone)


def test_process_group_reports_a_failed_start_and_stops_everything_by_pid(tmp_path):
    from analysis.lab.procs import LabError, ProcessGroup

    group = ProcessGroup()
    code = "import time; print('ready', flush=True); time.sleep(60)"
    sleeper = group.start("sleeper", [sys.executable, "-c", code],
                          ready="ready", timeout=20)
    with pytest.raises(LabError, match="broken did not start") as exc:
        code = "print('config error: port 53 taken'); raise SystemExit(3)"
        group.start("broken", [sys.executable, "-c", code],
                    ready="ready", timeout=20)
    assert "\n" not in str(exc.value) and "port 53 taken" in str(exc.value)
    pids = [p.pid for p in group.procs]
    assert sleeper.pid in pids
    group.stop_all()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_lab_refuses_an_unknown_scenario_and_a_foreign_folder(tmp_path):
    from analysis.lab.run import LabRunError, run_lab

    with pytest.raises(LabRunError):
        run_lab("outlook", tmp_path)
    (tmp_path / "thesis.tex").write_text("keep me")
    (tmp_path / "logs").mkdir()
    if os.geteuid() == 0:
        with pytest.raises(LabRunError, match="not empty"):
            run_lab("direct", tmp_path)
    assert (tmp_path / "thesis.tex").read_text() == "keep me" and (tmp_path / "logs").is_dir()


# ---- end to end ---------------------------------------------------------------------------------------


def _need_lab() -> None:
    require_tool("dovecot")
    require_tool("tcpdump")
    if os.geteuid() != 0:
        if os.environ.get("MAILDETOUR_REQUIRE_TOOLS"):
            pytest.fail("the lab needs root (tcpdump, port 53) under CI")
        pytest.skip("the lab needs root (tcpdump on lo, ports 53/443/587/993)")


@pytest.fixture(scope="module")
def lab_runs(tmp_path_factory):
    """Each scenario runs once per test session, on first use."""
    from analysis.lab.run import run_lab

    cache: dict = {}

    def get(scenario: str, proxy: bool = False):
        _need_lab()
        if proxy and not Path(sys.executable).with_name("mitmdump").exists():
            require_tool("mitmdump")
        key = (scenario, proxy)
        if key not in cache:
            out = tmp_path_factory.mktemp(f"lab-{scenario}{'-proxy' if proxy else ''}")
            cache[key] = run_lab(scenario, out, proxy=proxy, canary=CANARY)
        return cache[key]

    return get


LOGIN = re.compile(r"imap-login: Info: Login: user=<(?P<user>[^>]*)>, .*?rip=(?P<rip>[0-9.]+),")
SUBMITTED = re.compile(r" <= \S+ H=\([^)]*\) \[(?P<ip>[0-9.]+)\]:\d+ .*A=plain:(?P<user>\S+)")


def _logins(result) -> tuple[set[str], set[str]]:
    dovecot = (result.out_dir / "logs" / "dovecot.log").read_text()
    submission = (result.out_dir / "logs" / "submission.log").read_text()
    return {m["rip"] for m in LOGIN.finditer(dovecot)}, {m["ip"] for m in SUBMITTED.finditer(submission)}


def _files_without_canary(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), f"the canary leaked into {path}"


def test_relayed_lab_run(lab_runs):
    r = lab_runs("relayed")
    v = r.report["verdict"]
    assert v["summary"] == "relayed"
    assert v["mail_host_contacted"] is False
    assert v["receive"]["status"] == "not-observed" and v["send"]["status"] == "not-observed"
    flows = r.report["flows"]
    assert flows and all(f["server"]["ip"] != r.plan.mail for f in flows)
    assert all(f["client"]["ip"] == r.plan.phone for f in flows)
    categories = {f["category"] for f in flows}
    assert {"mail-relay", "telemetry", "crash-report"} <= categories
    assert {d["query"] for d in r.report["dns"]} >= {"sync.vendor.test", "telemetry.vendor.test"}
    imap_from, smtp_from = _logins(r)
    assert imap_from == {r.plan.vendor_sync} and smtp_from == {r.plan.vendor_sync}
    assert r.capture.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert "verdict relayed" in r.summary() and str(r.report_html) in r.summary()
    assert "<html" in r.report_html.read_text().lower()
    _files_without_canary(r.out_dir)


def test_relayed_lab_run_through_mitmdump_finds_the_canary(lab_runs):
    r = lab_runs("relayed", proxy=True)
    assert r.report["verdict"]["summary"] == "relayed"  # maildetour analyze on mitmdump's flow file
    assert r.addon_report is not None and "password sent to sync.vendor.test" in r.summary()
    addon = json.loads(r.addon_report.read_text())  # the addon's own report, written when mitmdump stopped
    assert addon["verdict"]["summary"] == "relayed" and addon["verdict"]["mail_host_contacted"] is False
    leaks = [f for f in addon["findings"] if f["kind"] == "credential-leak" and "password" in f["message"]]
    assert leaks, [f["message"] for f in addon["findings"]]
    flows = {f["id"]: f for f in addon["flows"]}
    leak_flows = [flows[i] for f in leaks for i in f["flows"]]
    assert leak_flows and all(f["server"]["ip"] == r.plan.vendor_sync and f["category"] == "mail-relay"
                              and "sync.vendor.test" in f["names"]["sni"] for f in leak_flows)
    live = [json.loads(line) for line in (r.proxy_dir / "live.jsonl").read_text().splitlines()]
    vendor = {r.plan.vendor_sync, r.plan.vendor_telemetry, r.plan.vendor_crash}
    assert {f["server"]["ip"] for f in live} == vendor
    imap_from, _ = _logins(r)
    assert imap_from == {r.plan.vendor_sync}  # the proxy never logs in: only the vendor does
    _files_without_canary(r.out_dir)


def test_relayed_lab_run_finds_the_password_inside_tls_with_the_key_log(lab_runs):
    """The phone's key log lets the analysis read the account POST to the vendor: a leak from the capture."""
    r = lab_runs("relayed")
    assert (r.out_dir / "sslkeys.log").read_text().count("CLIENT_HANDSHAKE_TRAFFIC_SECRET") >= 3
    leaks = [f for f in r.report["findings"] if f["kind"] == "credential-leak"]
    assert leaks and all(f["details"].get("inside_tls") for f in leaks), [f["message"] for f in leaks]
    flows = {f["id"]: f for f in r.report["flows"]}
    assert {flows[i]["server"]["ip"] for f in leaks for i in f["flows"]} == {r.plan.vendor_sync}
    assert all(f["frames"] for f in leaks)
    relay = next(x for x in r.evidence_report["verdict"]["relays"] if "canary" in x["basis"])
    assert relay["link"] == "canary" and r.plan.vendor_sync in relay["device_addresses"]
    _files_without_canary(r.out_dir)


def test_relayed_lab_run_is_relayed_without_the_lab_catalog(lab_runs):
    """Evidence alone: the mail server logged the account's logins from the address the phone talked to."""
    r = lab_runs("relayed")
    v = r.evidence_report["verdict"]
    assert v["summary"] == "relayed", v["explanation"]
    relay = v["relays"][0]  # the logins and the password seen inside TLS (key log): one relay, both bases
    assert set(relay["basis"]) == {"server-login", "canary"} and relay["link"] == "canary"
    assert relay["device_addresses"] == [r.plan.vendor_sync] and r.plan.vendor_sync in relay["login_addresses"]
    assert relay["log_lines"] and relay["flows"]
    assert "without the lab catalog (evidence alone): verdict relayed" in r.summary()
    assert json.loads((r.out_dir / "report-evidence.json").read_text())["verdict"]["summary"] == "relayed"


def test_relayed_egress_lab_run_ties_the_relay_by_owner(lab_runs):
    """The vendor logs in from a second address of its network; the ownership file makes both one AS."""
    r = lab_runs("relayed-egress")
    imap_from, smtp_from = _logins(r)
    assert imap_from == {r.plan.vendor_egress} and smtp_from == {r.plan.vendor_egress}
    assert all(f["server"]["ip"] != r.plan.vendor_egress for f in r.report["flows"])  # the phone never saw it
    for report in (r.report, r.evidence_report):
        assert report["verdict"]["summary"] == "relayed", report["verdict"]["explanation"]
    relay = next(x for x in r.evidence_report["verdict"]["relays"] if "server-login" in x["basis"])
    assert relay["asn"] == 64512 and relay["as_org"] == "Lab Vendor Cloud"
    # the password seen inside TLS (key log) ties the phone's side; the shipped capture of this scenario, read
    # without the key log, shows the tie by owner alone (test_shipped_egress_capture_is_relayed_from_evidence_alone)
    assert relay["link"] == "canary" and "canary" in relay["basis"]
    assert relay["login_addresses"] == [r.plan.vendor_egress]
    assert r.plan.vendor_sync in relay["device_addresses"]
    flows = {f["id"]: f for f in r.evidence_report["flows"]}
    assert all(flows[i]["category"] == "mail-relay" for i in relay["flows"])
    _files_without_canary(r.out_dir)


def test_direct_lab_run(lab_runs):
    r = lab_runs("direct")
    v = r.report["verdict"]
    assert v["summary"] == "direct" and v["mail_host_contacted"] is True
    assert v["receive"]["status"] == "direct" and v["send"]["status"] == "direct"
    protocols = {f["app_protocol"] for f in r.report["flows"] if f["server"]["ip"] == r.plan.mail}
    assert protocols == {"imaps", "submission"}
    assert any(f["starttls"] for f in r.report["flows"] if f["app_protocol"] == "submission")
    imap_from, smtp_from = _logins(r)
    assert imap_from == {r.plan.phone} and smtp_from == {r.plan.phone}
    _files_without_canary(r.out_dir)


def test_mixed_lab_run(lab_runs):
    r = lab_runs("mixed")
    v = r.report["verdict"]
    assert v["summary"] == "mixed" and v["mail_host_contacted"] is True
    imap_from, _ = _logins(r)
    assert imap_from == {r.plan.phone, r.plan.vendor_sync}


def test_lab_cli_prints_the_summary(tmp_path):
    _need_lab()
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "maildetour"), "lab", "run", "direct", "--out",
                             str(tmp_path)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "MAILDETOUR_CANARY": CANARY})
    assert result.returncode == 0, result.stderr
    assert "lab direct: verdict direct" in result.stdout and CANARY not in result.stdout + result.stderr
    assert (tmp_path / "report.json").exists() and (tmp_path / "case.toml").exists()


def test_no_lab_process_is_left_behind(lab_runs):
    r = lab_runs("direct")
    assert len(r.pids) >= 6  # dovecot, dns, submission, three vendor services, tcpdump
    for pid in r.pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# ---- the shipped captures and make demo -----------------------------------------------------------------


@pytest.mark.parametrize("scenario, receive, send", [
    ("relayed", "not-observed", "not-observed"),
    ("direct", "direct", "direct"),
    ("mixed", "direct", "direct"),
])
def test_shipped_captures_give_their_verdicts(scenario, receive, send):
    from analysis.lab.catalogfile import LAB_CATALOG
    from analysis.lab.run import analyze_lab

    sample = CAPTURES / scenario
    assert (sample / "phone.pcapng").stat().st_size < 64 * 1024
    report = analyze_lab([str(sample / "phone.pcapng")], sample / "case.toml",
                         [sample / "dovecot.log", sample / "submission.log"], [str(LAB_CATALOG)], canary=None)
    v = report["verdict"]
    assert (v["summary"], v["receive"]["status"], v["send"]["status"]) == (scenario, receive, send)
    assert v["mail_host_contacted"] is (scenario != "relayed")
    assert report["inputs"][0]["complete"] and report["inputs"][0]["format"] == "pcapng"
    kinds = {f["kind"] for f in report["findings"]}
    if scenario == "relayed":
        assert {"mail-host-not-contacted", "mail-relay", "third-party-login"} <= kinds
    if scenario == "direct":
        assert "mail-relay" not in kinds and "third-party-login" not in kinds


def test_shipped_egress_capture_is_relayed_from_evidence_alone():
    """No catalog: the logins come from 127.42.1.11, the phone talks to 127.42.1.10, one AS owns both."""
    from analysis.lab.run import analyze_lab

    sample = CAPTURES / "relayed-egress"
    logs = [sample / "dovecot.log", sample / "submission.log"]
    report = analyze_lab([str(sample / "phone.pcapng")], sample / "case.toml", logs, [], canary=None,
                         asn_db=[str(sample / "owners.csv")])
    v = report["verdict"]
    assert v["summary"] == "relayed" and v["mail_host_contacted"] is False
    relay = v["relays"][0]
    assert relay["basis"] == ["server-login"] and relay["link"] == "same-owner"
    assert (relay["asn"], relay["as_org"], relay["login_addresses"]) == (64512, "Lab Vendor Cloud", ["127.42.1.11"])
    assert "127.42.1.10" in relay["device_addresses"] and "127.42.1.11" not in relay["device_addresses"]
    without_owners = analyze_lab([str(sample / "phone.pcapng")], sample / "case.toml", logs, [], canary=None)
    relay = without_owners["verdict"]["relays"][0]
    assert relay["link"] == "none" and relay["flows"] == []  # logins seen, but nothing ties them to the phone
    assert without_owners["verdict"]["candidates"][0]["device_addresses"] == ["127.42.1.10"]


def test_make_demo_prints_the_verdict_and_the_report_path(tmp_path):
    result = subprocess.run([sys.executable, "-m", "analysis.demo", str(tmp_path / "out")], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "verdict: relayed" in result.stdout and "mail host contacted by the phone: no" in result.stdout
    html = tmp_path / "out" / "demo-report.html"
    assert str(html) in result.stdout and html.read_text().lower().count("sync.vendor.test") >= 1
    report = json.loads((tmp_path / "out" / "demo-report.json").read_text())
    assert report["schema"] == "maildetour.report/1" and report["verdict"]["summary"] == "relayed"
