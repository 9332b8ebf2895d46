"""Relays found from evidence (analysis/relays.py through analysis.verdict.decide): server logins, the canary
and the catalog; the shipped lab captures analysed with and without the lab catalog and the server's logs."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from analysis.case import Case, MailHost
from analysis.catalog import Catalog
from analysis.classify import classify
from analysis.cli import main
from analysis.logs.correlate import Login
from analysis.model import Capture, DnsEntry, Endpoint, Flow, InputInfo
from analysis.relays import Ownership, is_shared, shared_networks
from analysis.text import TEMPLATES, TITLES, explain, message
from analysis.verdict import decide
from tests import scenarios
from tests.conftest import ROOT, require_tool

DEVICE = "10.23.42.50"
MAIL_HOST = "mail.example.org"
MAIL_IP = "192.0.2.25"
T0 = 1796425507.0  # 2026-12-04T23:05:07Z: the account is added
ADDED = datetime.fromtimestamp(T0, UTC)
SAMPLES = ROOT / "captures"
LAB_CATALOG = ROOT / "analysis" / "data" / "lab-catalog.toml"


@dataclass(frozen=True)
class AsHit:
    asn: int
    org: str


def lookup_from(table: list[tuple[str, int, str]]):
    """An address -> AS lookup over a few ranges (what analysis.owners gives, reduced to asn and org)."""
    nets = [(ipaddress.ip_network(net), AsHit(asn, org)) for net, asn, org in table]

    def lookup(ip: str) -> AsHit | None:
        addr = ipaddress.ip_address(ip)
        return next((hit for net, hit in nets if addr.version == net.version and addr in net), None)

    return lookup


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def mk(fid: int, server: str, port: int = 443, proto: str = "tls", sni: str = "", at: float = 10.0,
       duration: float = 2.0, up: int = 800, down: int = 4000) -> Flow:
    f = Flow(id=fid, transport="tcp", client=Endpoint(DEVICE, 40000 + fid), server=Endpoint(server, port),
             app_protocol=proto, c2s_bytes=up, s2c_bytes=down, bytes=up + down, packets=12,
             first_frame=fid * 10, last_frame=fid * 10 + 11, first_seen=T0 + at, last_seen=T0 + at + duration)
    if sni:
        f.names.add("sni", sni)
    return f


def login(address: str, at: float, kind: str = "login") -> Login:
    line = (f"2026-12-04T23:{5 + int(at) // 60:02d}:{7 + int(at) % 60:02d}+0000 imap-login: Info: Login: "
            f"user=<lft2>, method=PLAIN, rip={address}, lip={MAIL_IP}, TLS")
    return Login("lft2", address, T0 + at, kind, "imap" if kind == "login" else "submission", line, "dovecot.log",
                 int(at))


def the_case(timeline: bool = True) -> Case:
    return Case(account_address="lft2@mail.example.org", username="lft2",
                mail_hosts=[MailHost.parse(f"{MAIL_HOST}:993"), MailHost.parse(f"{MAIL_HOST}:587")],
                mail_addresses=[MAIL_IP], devices=[DEVICE], account_added=ADDED if timeline else None)


def run(flows: list[Flow], catalog: Catalog, logins=None, lookup=None, case: Case | None = None, lang="en",
        leaks=()):
    case = case or the_case()
    cap = Capture(inputs=[InputInfo("x.pcap", packets=100)], flows=flows,
                  dns=[DnsEntry(MAIL_HOST, ["A"], [MAIL_IP], 1, DEVICE)], findings=list(leaks))
    classify(cap, case, catalog)
    verdict, findings = decide(cap, case, lang=lang, logins=logins, catalog=catalog, lookup=lookup)
    return cap, verdict, {f.kind: f for f in findings}, findings


def by_id(cap: Capture) -> dict[int, Flow]:
    return {f.id: f for f in cap.flows}


# ---- server logins ----------------------------------------------------------------------------------------


def test_login_from_another_address_of_the_same_private_as_ties_by_owner(catalog):
    lookup = lookup_from([("198.51.100.0/24", 64500, "Example Vendor GmbH"),
                          ("203.0.113.0/24", 64500, "Example Vendor GmbH"),
                          ("2001:db8:5::/48", 64501, "Other Hosting")])
    flows = [mk(1, "198.51.100.10", sni="api.vendor.example", at=3), mk(2, "198.51.100.10", at=40),
             mk(3, "2001:db8:5::10", sni="img.other.example", at=5)]
    logins = [login("203.0.113.20", 30), login("203.0.113.20", 95, "submission"), login(DEVICE, 50)]
    cap, v, kinds, _ = run(flows, catalog, logins, lookup)
    assert (v["summary"], v["mail_host_contacted"]) == ("relayed", False)
    (relay,) = v["relays"]
    assert relay["owner"] == "Example Vendor GmbH" and (relay["asn"], relay["as_org"]) == (64500, relay["owner"])
    assert (relay["basis"], relay["link"]) == (["server-login"], "same-owner")
    assert relay["device_addresses"] == ["198.51.100.10"] and relay["login_addresses"] == ["203.0.113.20"]
    assert relay["flows"] == [1, 2] and relay["frames"] == [10, 20] and relay["names"] == ["api.vendor.example"]
    assert len(relay["log_lines"]) == 2 and all("rip=203.0.113.20" in x for x in relay["log_lines"])
    flows_by_id = by_id(cap)
    for fid in (1, 2):
        assert flows_by_id[fid].category == "mail-relay"
        assert flows_by_id[fid].evidence.to_json()["rule"] == "inferred:server-login-same-owner"
        assert flows_by_id[fid].evidence.matched == "AS64500"
    assert flows_by_id[3].category == "unknown"
    assert v["candidates"] == [] and "account-used-by-device-only" in v["assumptions"]
    evidence = kinds["relay-evidence"]
    assert evidence.severity == "high" and evidence.flows == [1, 2] and evidence.frames == [10, 20]
    assert evidence.log_lines == relay["log_lines"]
    assert "203.0.113.20" in evidence.message and "same network owner (AS64500)" in evidence.message
    assert "used by the device under test only" in evidence.message
    assert kinds["mail-relay"].flows == [1, 2] and kinds["mail-host-not-contacted"].severity == "high"
    assert "Relay Example Vendor GmbH: basis server logins" in v["explanation"]
    assert "Frames: 10, 20." in v["explanation"] and "rip=203.0.113.20" in v["explanation"]


AMAZON = [("198.51.100.0/24", 16509, "AMAZON-02"), ("203.0.113.0/24", 16509, "AMAZON-02"),
          ("2001:db8::/32", 16509, "AMAZON-02")]


def test_on_a_shared_cloud_only_the_same_block_ties(catalog):
    assert 16509 in shared_networks() and is_shared(Ownership(asn=16509))
    assert is_shared(Ownership(catalog_owner="Microsoft")) and not is_shared(Ownership(asn=64500))
    lookup = lookup_from(AMAZON)
    flows = [mk(1, "203.0.113.10", sni="api.vendor.example", at=2, duration=900.0), mk(2, "203.0.113.10", at=60),
             mk(3, "2001:db8:1::10", sni="sync.another.example", at=4)]
    # same AS, other /24 and other /48: the relay logged in, but which flows are its is not known
    _, v, kinds, _ = run(flows, catalog, [login("198.51.100.20", 30), login("2001:db8:2::5", 31)], lookup)
    (relay,) = v["relays"]
    assert (v["summary"], relay["link"], relay["flows"], relay["owner"]) == ("relayed", "none", [], "AMAZON-02")
    assert relay["login_addresses"] == ["198.51.100.20", "2001:db8:2::5"]
    assert kinds["relay-evidence"].wireshark_filter == "ip.addr==198.51.100.20 || ipv6.addr==2001:db8:2::5"
    assert [c["device_addresses"] for c in v["candidates"]] == [["203.0.113.10"], ["2001:db8:1::10"]]
    assert {"shared-network", "long-lived", "repeated", "tls"} <= set(v["candidates"][0]["reasons"])
    assert v["settle"] == ["canary", "keylog"]  # the logs were given
    assert "yet AMAZON-02 logged in to the account" in v["explanation"]
    assert "Possible relays, most likely first: api.vendor.example" in v["explanation"]
    assert kinds["relay-candidates"].details["candidates"][0]["addresses"] == ["203.0.113.10"]
    # the same /24 and the same /48 do tie
    cap, v, _, _ = run(flows, catalog, [login("203.0.113.77", 30), login("2001:db8:1:ff::5", 31)], lookup)
    (relay,) = v["relays"]
    assert (relay["link"], relay["flows"], v["candidates"]) == ("same-owner", [1, 2, 3], [])
    assert {f.evidence.matched for f in cap.flows} == {"203.0.113.0/24", "2001:db8:1::/48"}


def test_logins_before_the_account_was_added_are_ignored(catalog):
    flows = [mk(1, "198.51.100.10", sni="sync.vendor.example", at=5)]
    _, v, kinds, _ = run(flows, catalog, [login("198.51.100.10", -3600)])
    assert (v["summary"], v["relays"]) == ("inconclusive", [])
    assert v["candidates"][0]["device_addresses"] == ["198.51.100.10"] and "relay-candidates" in kinds
    assert "logs" not in v["settle"] and "What would settle it:" in v["explanation"]
    _, v, _, _ = run(flows, catalog, [login("198.51.100.10", 0)])  # at the second the account was added
    assert v["summary"] == "relayed" and v["relays"][0]["link"] == "same-address"


def test_logins_from_the_device_itself_are_no_relay(catalog):
    flows = [mk(1, "198.51.100.10", sni="sync.vendor.example", at=5)]
    flows[0].client.ip = "10.23.42.51"  # a second address of the phone, known from the capture only
    case = the_case()
    case.devices = []
    _, v, _, _ = run(flows, catalog, [login("10.23.42.51", 20), login("::ffff:10.23.42.51", 21)], case=case)
    assert (v["summary"], v["relays"]) == ("inconclusive", [])


def test_without_a_timeline_logins_count_within_the_capture(catalog):
    flows = [mk(1, "198.51.100.10", sni="sync.vendor.example", at=5), mk(2, "198.51.100.10", at=60)]
    _, v, kinds, _ = run(flows, catalog, [login("198.51.100.10", 61.5)], case=the_case(timeline=False))
    assert v["summary"] == "relayed" and v["relays"][0]["flows"] == [1, 2]
    assert "within the capture's time span" in kinds["relay-evidence"].message
    _, v, _, _ = run(flows, catalog, [login("198.51.100.10", 7200)], case=the_case(timeline=False))
    assert v["summary"] == "inconclusive"


def test_mixed_when_the_host_was_contacted_and_a_login_came_from_a_contacted_vendor(catalog):
    flows = [mk(1, MAIL_IP, 993, "imaps", sni=MAIL_HOST, at=3), mk(2, MAIL_IP, 587, "submission", at=4),
             mk(3, "198.51.100.10", sni="sync.vendor.example", at=6)]
    logins = [login(DEVICE, 3), login("198.51.100.10", 20), login("203.0.113.99", 25)]
    _, v, kinds, _ = run(flows, catalog, logins)
    assert (v["summary"], v["receive"]["status"], v["send"]["status"]) == ("mixed", "direct", "direct")
    (relay,) = v["relays"]
    # 203.0.113.99 was never contacted by the device: with the host contacted it could be the phone's NAT
    assert (relay["login_addresses"], relay["link"], relay["flows"]) == (["198.51.100.10"], "same-address", [3])
    assert "mail-host-not-contacted" not in kinds
    _, v, _, _ = run(flows[:2], catalog, logins)
    assert (v["summary"], v["relays"]) == ("direct", [])


def test_catalog_relay_and_logins_are_one_relay(catalog):
    """The memo: Outlook's relay (catalogued) and the Cyrus logins from two of its addresses."""
    flows = [mk(1, "52.125.140.74", sni="eas.outlookmobile.com", at=2), mk(2, "13.107.246.40", at=3)]
    _, v, kinds, _ = run(flows, catalog, [login("52.125.140.74", 56), login("52.125.138.94", 339)])
    (relay,) = v["relays"]
    assert (relay["owner"], relay["basis"], relay["link"]) == ("Microsoft", ["catalog", "server-login"],
                                                               "same-address")
    assert relay["login_addresses"] == ["52.125.140.74", "52.125.138.94"] and relay["flows"] == [1]
    text = kinds["relay-evidence"].message
    assert "eas.outlookmobile.com as its mail-relay service" in text and "52.125.138.94" in text
    _, v, _, _ = run(flows, catalog)  # no logs: the catalog alone, as before
    assert v["relays"][0]["basis"] == ["catalog"] and v["relays"][0]["login_addresses"] == []
    # logins only from a relay address the phone never talked to: the catalog names both sides, one relay
    _, v, _, _ = run(flows, catalog, [login("52.125.138.94", 339)])
    (relay,) = v["relays"]
    assert (relay["basis"], relay["link"], relay["flows"]) == (["catalog", "server-login"], "catalog", [1])


def test_two_vendors_on_one_cloud_stay_apart(catalog):
    """A canary leak to one Amazon-hosted vendor and logins from another Amazon block: two relays."""
    from analysis.model import Finding

    flows = [mk(1, "203.0.113.10", 80, "http", at=2), mk(2, "203.0.113.10", at=5), mk(3, "192.0.2.80", at=6)]
    flows[0].names.add("http_host", "sync.vendor.example")
    leak = Finding(kind="credential-leak", severity="high", message="", flows=[1], frames=[13],
                   details={"secret": "password", "form": "url", "destination": "sync.vendor.example"})
    cap, v, _, findings = run(flows, catalog, [login("198.51.100.20", 30)], lookup_from(AMAZON), leaks=[leak])
    assert [(r["basis"], r["link"], r["flows"]) for r in v["relays"]] == [
        (["canary"], "canary", [1, 2]), (["server-login"], "none", [])]
    assert v["relays"][0]["frames"] == [10, 13, 20] and v["summary"] == "relayed"
    assert [c["flows"] for c in v["candidates"]] == [[3]]
    assert by_id(cap)[2].evidence.matched == "url"
    canary, login_only = [f for f in findings if f.kind == "relay-evidence"]
    assert "towards sync.vendor.example (as url)" in canary.message and canary.frames == [10, 13, 20]
    assert login_only.flows == [] and "198.51.100.20" in login_only.message


def test_relay_texts_rerender_in_the_other_language(catalog):
    lookup = lookup_from(AMAZON)
    flows = [mk(1, "203.0.113.10", sni="api.vendor.example", at=2), mk(2, "198.51.100.10", at=3)]
    logins = [login("198.51.100.10", 30)]
    results = {lang: run([*map(_copy, flows)], catalog, logins, lookup, lang=lang) for lang in ("en", "de")}
    (_, v_en, _, f_en), (_, v_de, _, f_de) = results["en"], results["de"]
    assert explain(v_en, "de") == v_de["explanation"] and explain(v_de, "en") == v_en["explanation"]
    assert "Grundlage Anmeldungen am Server" in v_de["explanation"]
    for en, de in zip(f_en, f_de, strict=True):
        details = json.loads(json.dumps(en.to_json()))["details"]
        assert message(en.kind, "de", **details) == de.message
    for kind in ("relay-evidence", "relay-candidates"):
        assert set(TEMPLATES[kind]) == set(TITLES[kind]) == {"en", "de"}
    assert message("relay-evidence", "en") .startswith("? handles")  # missing details never raise
    assert message("relay-candidates", "de", candidates=[7, {"reasons": "x"}], settle="logs")


def _copy(flow: Flow) -> Flow:
    return mk(flow.id, flow.server.ip, flow.server.port, flow.app_protocol, (flow.names.sni or [""])[0],
              flow.first_seen - T0, flow.duration, flow.c2s_bytes, flow.s2c_bytes)


# ---- the canary, in a real capture --------------------------------------------------------------------------

CANARY = "Teschtle0816"
VENDOR_IP = "192.0.2.44"


def test_canary_sent_in_clear_makes_that_host_the_relay(tmp_path):
    cap = scenarios.Capture()
    scenarios.dns_lookup(cap, scenarios.DEVICE, "sync.vendor.example", [("A", VENDOR_IP)], qid=1)
    body = f"user=lft2&password={CANARY}".encode()
    head = f"POST /accounts HTTP/1.1\r\nHost: sync.vendor.example\r\nContent-Length: {len(body)}\r\n\r\n"
    scenarios.Tcp(cap, scenarios.DEVICE, 50001, VENDOR_IP, 80).open().c(head.encode() + body).s(
        b"HTTP/1.1 204 No Content\r\n\r\n").close()
    scenarios.https(cap, scenarios.DEVICE, 50002, VENDOR_IP, "sync.vendor.example", 900, 9000, "sync")
    scenarios.https(cap, scenarios.DEVICE, 50003, "198.51.100.30", "metrics.other.example", 500, 200, "m")
    pcap = cap.write(tmp_path / "leak.pcap")
    case = tmp_path / "case.toml"
    case.write_text('[account]\nusername = "lft2"\ncanary_env = "MD_RELAY_CANARY"\n\n[mail]\n'
                    f'hosts = ["{scenarios.MAIL_HOST}:993"]\naddresses = ["{scenarios.MAIL_IP}"]\n')
    reports = {}
    for lang in ("en", "de"):
        out = tmp_path / f"report-{lang}.json"
        proc = subprocess.run([sys.executable, "-m", "analysis.cli", "analyze", str(pcap), "--case", str(case),
                               "--lang", lang, "-o", str(out)], capture_output=True, text=True, timeout=120,
                              env={"PATH": "/usr/bin:/bin", "MD_RELAY_CANARY": CANARY})
        assert proc.returncode == 0, proc.stderr
        assert CANARY not in out.read_text() and CANARY not in proc.stderr
        reports[lang] = json.loads(out.read_text())
    report = reports["en"]
    v = report["verdict"]
    assert v["summary"] == "relayed"
    (relay,) = v["relays"]
    assert (relay["basis"], relay["link"], relay["device_addresses"]) == (["canary"], "canary", [VENDOR_IP])
    flows = {f["id"]: f for f in report["flows"]}
    assert len(relay["flows"]) == 2 and {flows[i]["server"]["port"] for i in relay["flows"]} == {80, 443}
    assert {flows[i]["evidence"]["rule"] for i in relay["flows"]} == {"inferred:canary"}
    assert {flows[i]["category"] for i in relay["flows"]} == {"mail-relay"}
    leak = next(f for f in report["findings"] if f["kind"] == "credential-leak")
    assert set(leak["frames"]) <= set(relay["frames"])
    evidence = next(f for f in report["findings"] if f["kind"] == "relay-evidence")
    assert "password left the device towards sync.vendor.example (as plain)" in evidence["message"]
    assert "used by the device under test only" not in evidence["message"]  # the canary needs no assumption
    de = next(f for f in reports["de"]["findings"] if f["kind"] == "relay-evidence")
    assert "Das Passwort des Testkontos verließ das Gerät" in de["message"]
    assert reports["de"]["verdict"]["explanation"].startswith("Ergebnis: über Dritte.")


# ---- the shipped lab captures ------------------------------------------------------------------------------


def shipped(tmp_path, scenario: str, *extra: str, logs: bool = True) -> dict:
    sample = SAMPLES / scenario
    if not (sample / "phone.pcapng").is_file():
        pytest.skip(f"{sample} is absent")
    args = ["analyze", str(sample / "phone.pcapng"), "--case", str(sample / "case.toml"), *extra]
    if logs:
        args += ["--logs", str(sample / "dovecot.log"), str(sample / "submission.log")]
    out = tmp_path / f"{scenario}.json"
    assert main([*args, "-o", str(out)]) == 0
    return json.loads(out.read_text())


def test_shipped_relayed_without_the_catalog_is_relayed_from_the_logins(tmp_path):
    report = shipped(tmp_path, "relayed")
    v = report["verdict"]
    assert (v["summary"], v["mail_host_contacted"]) == ("relayed", False)
    (relay,) = v["relays"]
    assert (relay["basis"], relay["link"]) == (["server-login"], "same-address")
    assert relay["login_addresses"] == relay["device_addresses"] == ["127.42.1.10"]
    assert relay["names"] == ["sync.vendor.test"] and relay["login_count"] == 5
    flows = {f["id"]: f for f in report["flows"]}
    assert {flows[i]["server"]["ip"] for i in relay["flows"]} == {"127.42.1.10"}
    assert {flows[i]["evidence"]["rule"] for i in relay["flows"]} == {"inferred:server-login-same-address"}
    assert relay["frames"] == sorted(flows[i]["first_frame"] for i in relay["flows"])
    assert any("rip=127.42.1.10" in x for x in relay["log_lines"])
    assert any("[127.42.1.10]" in x and "A=plain:lab" in x for x in relay["log_lines"])  # the submission
    others = {f["server"]["ip"]: f["category"] for f in report["flows"] if f["id"] not in relay["flows"]}
    assert others["127.42.1.20"] == others["127.42.1.30"] == "unknown"
    kinds = {f["kind"] for f in report["findings"]}
    assert {"relay-evidence", "mail-relay", "third-party-login", "mail-host-not-contacted"} <= kinds


def test_shipped_relayed_filter_shows_the_relay_frames_in_tshark(tmp_path):
    tshark = require_tool("tshark")
    report = shipped(tmp_path, "relayed")
    evidence = next(f for f in report["findings"] if f["kind"] == "relay-evidence")
    proc = subprocess.run([tshark, "-n", "-r", str(SAMPLES / "relayed" / "phone.pcapng"), "-Y",
                           evidence["wireshark_filter"], "-T", "fields", "-e", "frame.number"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    shown = {int(x) for x in proc.stdout.split()}
    flows = [f for f in report["flows"] if f["id"] in evidence["flows"]]
    assert set(evidence["frames"]) <= shown and len(shown) == sum(f["packets"] for f in flows)


def test_shipped_relayed_without_logs_ranks_the_vendor_first(tmp_path):
    v = shipped(tmp_path, "relayed", logs=False)["verdict"]
    assert (v["summary"], v["relays"]) == ("inconclusive", [])
    first = v["candidates"][0]
    assert first["device_addresses"] == ["127.42.1.10"] and first["owner"] == "sync.vendor.test"
    assert {"repeated", "most-bytes", "near-account-added"} <= set(first["reasons"])
    assert v["settle"] == ["logs", "canary", "keylog"]
    assert "--logs" in v["explanation"] and "--keylog" in v["explanation"]


@pytest.mark.parametrize("logs, basis", [(False, ["catalog"]), (True, ["catalog", "server-login"])])
def test_shipped_relayed_with_the_lab_catalog(tmp_path, logs, basis):
    v = shipped(tmp_path, "relayed", "--catalog", str(LAB_CATALOG), logs=logs)["verdict"]
    (relay,) = v["relays"]
    assert (v["summary"], relay["owner"], relay["basis"]) == ("relayed", "Lab Vendor", basis)
    assert relay["device_addresses"] == ["127.42.1.10"]


@pytest.mark.parametrize("scenario, catalog", [("direct", False), ("direct", True), ("mixed", True),
                                               ("mixed", False)])
def test_shipped_direct_and_mixed_keep_their_verdicts(tmp_path, scenario, catalog):
    extra = ["--catalog", str(LAB_CATALOG)] if catalog else []
    v = shipped(tmp_path, scenario, *extra)["verdict"]
    assert (v["summary"], v["receive"]["status"], v["send"]["status"]) == (scenario, "direct", "direct")
    if scenario == "mixed":
        (relay,) = v["relays"]
        assert relay["device_addresses"] == relay["login_addresses"] == ["127.42.1.10"]
        assert "server-login" in relay["basis"]
    else:
        assert v["relays"] == [] and v["candidates"] == []


# ---- ownership from --asn-db, end to end -----------------------------------------------------------------


def _vendor_run(tmp_path) -> tuple:
    """A capture of the phone talking to a vendor API only, and the mail server's log of the vendor's logins
    from another block (documentation ranges, so no real AS data knows them)."""
    cap = scenarios.Capture()
    scenarios.dns_lookup(cap, scenarios.DEVICE, "api.vendor.example", [("A", "198.51.100.10")], qid=1)
    for port in (50001, 50002, 50003):
        scenarios.https(cap, scenarios.DEVICE, port, "198.51.100.10", "api.vendor.example", 900, 6000, f"v{port}")
    scenarios.https(cap, scenarios.DEVICE, 50004, "192.0.2.80", "img.other.example", 300, 900, "other")
    pcap = cap.write(tmp_path / "vendor.pcap")
    case = tmp_path / "case.toml"
    case.write_text('[account]\naddress = "lft2@mail.example.org"\nusername = "lft2"\n\n[mail]\n'
                    f'hosts = ["{scenarios.MAIL_HOST}:993"]\naddresses = ["{scenarios.MAIL_IP}"]\n\n'
                    f'[device]\naddresses = ["{scenarios.DEVICE}"]\n\n'
                    '[timeline]\naccount_added = "2020-08-28T09:07:00+00:00"\n')
    log = tmp_path / "dovecot.log"
    log.write_text("".join(
        f"2020-08-28T09:{minute}+0000 imap-login: Info: Login: user=<lft2>, method=PLAIN, rip=203.0.113.20, "
        f"lip={scenarios.MAIL_IP}, mpid={pid}, TLS, session=<s{pid}>\n"
        for minute, pid in (("06:10", 1), ("08:30", 2), ("12:05", 3))))
    return pcap, case, log


def _asn_csv(tmp_path, asn: int, org: str) -> str:
    path = tmp_path / f"as{asn}.csv"
    path.write_text("first_ip,last_ip,asn,organisation\n"
                    f"198.51.100.0,198.51.100.255,{asn},{org}\n203.0.113.0,203.0.113.255,{asn},{org}\n"
                    "192.0.2.0,192.0.2.255,64501,Other Net\n")
    return str(path)


@pytest.mark.parametrize("asn_db", ["private", "cloud", None])
def test_asn_db_ties_the_vendors_logins_to_its_api(tmp_path, asn_db):
    pcap, case, log = _vendor_run(tmp_path)
    extra = []
    if asn_db == "private":
        extra = ["--asn-db", _asn_csv(tmp_path, 64500, "Example Vendor GmbH")]
    elif asn_db == "cloud":
        extra = ["--asn-db", _asn_csv(tmp_path, 16509, "AMAZON-02")]
    out = tmp_path / "report.json"
    assert main(["analyze", str(pcap), "--case", str(case), "--logs", str(log), *extra, "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    v = report["verdict"]
    assert v["summary"] == "relayed"
    (relay,) = v["relays"]
    assert relay["login_addresses"] == ["203.0.113.20"] and relay["login_count"] == 2  # 09:06:10 is too early
    api = [f["id"] for f in report["flows"] if f["server"]["ip"] == "198.51.100.10"]
    if asn_db == "private":
        assert (relay["owner"], relay["asn"], relay["link"]) == ("Example Vendor GmbH", 64500, "same-owner")
        assert relay["flows"] == api and len(api) == 3
        assert {f["asn"] for f in report["flows"] if f["id"] in api} == {64500}
        assert v["candidates"] == []
    else:  # a shared cloud (or no AS data at all): no tie, the API ranks first among the candidates
        assert (relay["link"], relay["flows"]) == ("none", [])
        assert v["candidates"][0]["flows"] == api
        assert relay["asn"] == (16509 if asn_db == "cloud" else None)
