"""Verdict and findings on classified Flow records built directly; display filters checked with tshark."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from analysis.case import Case, MailHost
from analysis.catalog import Catalog
from analysis.classify import classify
from analysis.model import Capture, DnsEntry, Endpoint, Flow, InputInfo
from analysis.text import TEMPLATES, explain, message
from analysis.verdict import channel, decide, display_filter
from tests import scenarios
from tests.conftest import require_tool

DEVICE = "10.23.42.50"
MAIL_IP = "203.0.113.25"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def mk(
    fid: int,
    server: str,
    port: int,
    proto: str = "tls",
    sni: str = "",
    up: int = 100,
    down: int = 1000,
    duration: float = 1.0,
    frame: int = 0,
    transport: str = "tcp",
) -> Flow:
    f = Flow(
        id=fid,
        transport=transport,
        client=Endpoint(DEVICE, 40000 + fid),
        server=Endpoint(server, port),
        app_protocol=proto,
        c2s_bytes=up,
        s2c_bytes=down,
        bytes=up + down,
        first_frame=frame or fid * 10,
        first_seen=1598605620.0,
        last_seen=1598605620.0 + duration,
    )
    if sni:
        f.names.add("sni", sni)
    return f


def the_case(**kw) -> Case:
    hosts = kw.pop("hosts", ["mail.example.org:993", "mail.example.org:587"])
    return Case(mail_hosts=[MailHost.parse(h) for h in hosts], **kw)


def analysed(flows: list[Flow], catalog: Catalog, case: Case | None = None, dns=(), lang="en", packets=None):
    case = case or the_case()
    cap = Capture(
        inputs=[InputInfo("x.pcap", packets=len(flows) * 10 if packets is None else packets)],
        flows=flows,
        dns=list(dns),
    )
    classify(cap, case, catalog)
    verdict, findings = decide(cap, case, lang=lang)
    return cap, verdict, {f.kind: f for f in findings}, findings


MAIL_DNS = [DnsEntry("mail.example.org", ["A"], [MAIL_IP], 1, DEVICE)]


def relayed_flows() -> list[Flow]:
    return [
        mk(1, "52.125.140.74", 443, sni="eas.outlookmobile.com", up=3000, down=50000, duration=901, frame=5),
        mk(2, "52.125.138.94", 443, sni="prod-api.acompli.net", up=1500, down=9000, frame=60),
        mk(3, "52.182.143.212", 443, sni="mobile.pipe.aria.microsoft.com", up=5200, frame=90),
        mk(4, "52.178.17.3", 443, sni="gate.hockeyapp.net", up=2100, frame=110),
        mk(5, "13.107.246.40", 443, sni="olmprodpowerlift-cdn.azureedge.net", up=900, frame=130),
        mk(6, "10.23.42.1", 53, "dns", up=80, down=120, frame=1, transport="udp"),
    ]


def direct_flows() -> list[Flow]:
    return [
        mk(11, MAIL_IP, 993, "imaps", sni="mail.example.org"),
        mk(12, MAIL_IP, 587, "submission"),
        mk(13, "10.23.42.1", 53, "dns", transport="udp"),
    ]


def test_relayed(catalog):
    cap, v, by_kind, _ = analysed(relayed_flows(), catalog, dns=MAIL_DNS)
    assert (v["summary"], v["mail_host_contacted"]) == ("relayed", False)
    assert v["receive"] == {"status": "not-observed", "flows": []}
    assert v["send"] == {"status": "not-observed", "flows": []}
    assert v["vendors"][0]["owner"] == "Microsoft"
    assert v["vendors"][0]["categories"] == ["mail-relay", "telemetry", "crash-report", "diagnostics"]
    assert v["vendors"][0]["flows"] == [1, 2, 3, 4, 5]
    assert "relayed" in v["explanation"] and "Microsoft" in v["explanation"]
    nc = by_kind["mail-host-not-contacted"]
    assert nc.severity == "high"
    assert 'dns.qry.name=="mail.example.org"' in nc.wireshark_filter
    relay = by_kind["mail-relay"]
    assert relay.severity == "high" and relay.flows == [1, 2] and relay.frames == [5, 60]
    assert relay.wireshark_filter == "(ip.addr==52.125.140.74 || ip.addr==52.125.138.94) && tcp.port==443"
    assert relay.details["bytes_sent"] == 4500 and relay.details["bytes_received"] == 59000
    tele = by_kind["telemetry"]
    assert tele.details["bytes_sent"] == 5200 and tele.details["endpoints"] == [
        "mobile.pipe.aria.microsoft.com"
    ]
    assert tele.wireshark_filter == "ip.addr==52.182.143.212 && tcp.port==443"
    assert by_kind["crash-report"].details["endpoints"] == ["gate.hockeyapp.net"]
    assert by_kind["diagnostics"].flows == [5]
    long = by_kind["long-lived-connection"]
    assert long.flows == [1] and long.severity == "medium" and long.details["longest_minutes"] == 15.0


def test_direct(catalog):
    _, v, by_kind, _ = analysed(direct_flows(), catalog, dns=MAIL_DNS)
    assert (v["summary"], v["mail_host_contacted"]) == ("direct", True)
    assert v["receive"] == {"status": "direct", "flows": [11]}
    assert v["send"] == {"status": "direct", "flows": [12]}
    assert v["vendors"] == []
    assert "mail-host-not-contacted" not in by_kind and "mail-relay" not in by_kind
    assert v["missing"] == []


def test_mixed(catalog):
    _, v, by_kind, _ = analysed(direct_flows() + relayed_flows(), catalog, dns=MAIL_DNS)
    assert (v["summary"], v["mail_host_contacted"]) == ("mixed", True)
    assert v["receive"]["status"] == v["send"]["status"] == "direct"
    assert "mail-relay" in by_kind and "mail-host-not-contacted" not in by_kind


def test_host_contacted_only_on_https_with_relay_is_mixed(catalog):
    flows = relayed_flows() + [mk(20, MAIL_IP, 443, sni="mail.example.org")]
    _, v, _, _ = analysed(flows, catalog, dns=MAIL_DNS)
    assert (v["summary"], v["mail_host_contacted"]) == ("mixed", True)
    assert v["receive"]["status"] == v["send"]["status"] == "not-observed"


def test_port_fallback_when_payload_unseen(catalog):
    flows = [mk(1, MAIL_IP, 993, "other"), mk(2, MAIL_IP, 465, "tls"), mk(3, MAIL_IP, 443, "other")]
    _, v, _, _ = analysed(flows, catalog, case=the_case(mail_addresses=[MAIL_IP]))
    assert v["receive"]["flows"] == [1] and v["send"]["flows"] == [2]
    assert v["summary"] == "direct"


@pytest.mark.parametrize(
    "proto, port, expected",
    [
        ("imap", 143, "receive"),
        ("pop3s", 995, "receive"),
        ("smtps", 465, "send"),
        ("submission", 587, "send"),
        ("smtp", 2525, "send"),
        ("other", 2525, "send"),  # changed: 2525, the alternative submission port, counts as send by port too
        ("tls", 2525, "send"),
        ("other", 110, "receive"),
        ("other", 25, "send"),
        ("http", 143, None),
        ("tls", 443, None),
    ],
)
def test_channel(proto, port, expected):
    assert channel(mk(1, MAIL_IP, port, proto)) == expected


def test_inconclusive_wrong_device(catalog):
    case = the_case(devices=["10.23.42.99"])
    _, v, by_kind, findings = analysed([], catalog, case=case, packets=120)
    assert v["summary"] == "inconclusive" and v["mail_host_contacted"] is False
    assert v["missing"] == ["device-not-seen"]
    assert by_kind["inconclusive"].severity == "info"
    assert "--device" in by_kind["inconclusive"].message
    assert "mail-host-not-contacted" not in by_kind  # nothing seen, nothing to claim


def test_inconclusive_reasons(catalog):
    _, v, _, _ = analysed([], catalog, case=the_case(), packets=0)
    assert v["missing"] == ["no-traffic"]
    _, v, _, _ = analysed([mk(1, "198.51.100.7", 443)], catalog, case=the_case(hosts=[]))
    assert v["summary"] == "inconclusive" and "no-mail-host" in v["missing"]
    _, v, by_kind, _ = analysed([mk(1, "198.51.100.7", 443)], catalog)
    assert v["missing"] == ["no-dns", "no-mail-traffic"]
    assert "(add --mail-ip)" in by_kind["inconclusive"].message


def test_host_contacted_on_other_port_only_is_inconclusive(catalog):
    _, v, _, _ = analysed([mk(1, MAIL_IP, 443, sni="mail.example.org")], catalog)
    assert (v["summary"], v["mail_host_contacted"]) == ("inconclusive", True)


def test_assumed_mail_host_is_reported(catalog):
    flows = [mk(1, "198.51.100.7", 993, "imaps"), mk(2, "198.51.100.7", 587, "submission")]
    _, v, by_kind, _ = analysed(flows, catalog)
    assert (v["summary"], v["receive"]["status"], v["send"]["status"]) == ("direct", "direct", "direct")
    assert v["assumptions"] == ["mail-host-by-protocol"]
    assert "taken as the mail host" in v["explanation"]
    assumed = by_kind["mail-host-assumed"]
    assert assumed.severity == "info" and assumed.flows == [1, 2] and "--mail-ip" in assumed.message
    _, v, by_kind, _ = analysed(flows, catalog, case=the_case(mail_addresses=[MAIL_IP]))
    assert v["summary"] == "inconclusive" and v["assumptions"] == [] and "other-mail" in by_kind


def test_other_mail_and_cleartext_credentials(catalog):
    f = mk(1, "198.51.100.7", 143, "imap", sni="")
    f.cleartext_credentials = True
    f.auth_mechanisms = ["LOGIN"]
    f.credential_frames = [17, 15]
    _, v, by_kind, _ = analysed([f], catalog, dns=MAIL_DNS)
    assert v["summary"] == "inconclusive"
    assert by_kind["other-mail"].details["endpoints"] == ["198.51.100.7:143"]
    cred = by_kind["cleartext-credentials"]
    assert cred.severity == "high" and cred.frames == [15, 17] and cred.flows == [1]
    assert "LOGIN" in cred.message and "not shown" in cred.message
    assert cred.wireshark_filter == "ip.addr==198.51.100.7 && tcp.port==143"


def test_long_lived_threshold(catalog):
    flows = [mk(1, "17.249.1.1", 5223, duration=600.0), mk(2, "17.249.1.2", 5223, duration=600.5)]
    _, _, by_kind, _ = analysed(flows, catalog, dns=MAIL_DNS)
    assert by_kind["long-lived-connection"].flows == [2]
    assert by_kind["long-lived-connection"].severity == "low"


def test_german_and_rerender_from_details(catalog):
    _, v_de, _, findings_de = analysed(relayed_flows(), catalog, dns=MAIL_DNS, lang="de")
    _, v_en, _, findings_en = analysed(relayed_flows(), catalog, dns=MAIL_DNS, lang="en")
    assert v_de["explanation"].startswith("Ergebnis: über Dritte.")
    assert explain(v_de, "en") == v_en["explanation"]
    assert explain(v_en, "de") == v_de["explanation"]
    for de, en in zip(findings_de, findings_en, strict=True):
        # the JSON alone re-renders a finding in the other language
        details = json.loads(json.dumps(en.to_json()))["details"]
        assert message(en.kind, "de", **details) == de.message
        assert message(de.kind, "en", **details) == en.message
        assert de.message != en.message
    tele = next(f for f in findings_de if f.kind == "telemetry")
    assert "5.200 Bytes gesendet" in tele.message


def test_every_template_has_both_languages():
    for kind, texts in TEMPLATES.items():
        assert set(texts) == {"en", "de"}, kind
    assert message("no-such-kind", "en") == "no-such-kind"
    assert "?" in message("mail-relay", "en", owner="X")  # a missing parameter never raises


@pytest.mark.parametrize(
    "verdict",
    [
        {},
        {"summary": ["x"], "vendors": "Microsoft", "receive": [], "send": {"flows": 3}, "missing": "no-dns"},
        {"summary": "relayed", "vendors": [{"categories": ["mail-relay"]}, 7], "missing": [1, None]},
    ],
)
def test_explain_survives_odd_report_json(verdict):
    for lang in ("en", "de", "fr"):
        assert explain(verdict, lang).startswith(("Verdict", "Ergebnis"))


def test_message_accepts_any_detail_names():
    assert message("inconclusive", "en", kind="x", lang="y", missing=["no-dns"]).endswith("(add --mail-ip).")


def test_long_lists_are_bounded():
    text = message(
        "telemetry",
        "en",
        endpoints=[f"h{i}.example" for i in range(50)],
        owners=["A"],
        flows=50,
        bytes_sent=1,
    )
    assert "and 42 more" in text and "h49.example" not in text


def test_verdict_is_json_and_deterministic(catalog):
    a = analysed(relayed_flows(), catalog, dns=MAIL_DNS)
    b = analysed(relayed_flows(), catalog, dns=MAIL_DNS)
    dump = lambda r: json.dumps([r[1], [f.to_json() for f in r[3]]], sort_keys=True)  # noqa: E731
    assert dump(a) == dump(b)


def test_display_filter_shapes():
    assert display_filter([]) == ""
    f6 = mk(1, "2620:149:a44::10", 5223)
    f4 = mk(2, "17.249.1.1", 443)
    u = mk(3, "8.8.8.8", 53, transport="udp")
    assert display_filter([f6]) == "ipv6.addr==2620:149:a44::10 && tcp.port==5223"
    assert display_filter([f6, f4, u]) == (
        "((ip.addr==17.249.1.1 || ip.addr==8.8.8.8) || ipv6.addr==2620:149:a44::10) && "
        "((tcp.port==443 || tcp.port==5223) || udp.port==53)"
    )


def _tshark_count(tshark: str, pcap: Path, dfilter: str) -> int:
    proc = subprocess.run(
        [tshark, "-n", "-r", str(pcap), "-Y", dfilter], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr  # an invalid filter fails here
    return len(proc.stdout.splitlines())


def test_filters_select_the_flows_in_real_tshark(tmp_path, catalog):
    tshark = require_tool("tshark")
    pcap = scenarios.write_mixed(tmp_path / "mixed.pcapng")
    # relay conversation 10.23.42.50:50001 <-> 52.125.140.74:443 and 50002 <-> 52.125.138.94:443
    relay = [mk(1, scenarios.RELAY_IP, 443), mk(2, scenarios.RELAY2_IP, 443)]
    conv = "(ip.addr==52.125.140.74 || ip.addr==52.125.138.94) && tcp"
    assert _tshark_count(tshark, pcap, display_filter(relay)) == _tshark_count(tshark, pcap, conv) > 50
    # per-flow filter of the model and the finding filter agree for one flow
    one = mk(3, scenarios.MAIL_IP, 587)
    one.client.port = 50202
    assert _tshark_count(tshark, pcap, display_filter([one])) == _tshark_count(
        tshark, pcap, one.wireshark_filter()
    )
    # the not-contacted filter is valid and finds the mail host's DNS and TLS packets in this capture
    case = the_case(mail_addresses=[MAIL_IP])
    cap = Capture(inputs=[InputInfo("x", packets=1)], flows=relayed_flows())
    classify(cap, case, catalog)
    _, findings = decide(cap, case)
    nc = next(f for f in findings if f.kind == "mail-host-not-contacted")
    assert _tshark_count(tshark, pcap, nc.wireshark_filter) > 10
    assert (
        _tshark_count(tshark, scenarios.write_relayed(tmp_path / "relayed.pcapng"), nc.wireshark_filter) == 0
    )
    v6 = display_filter([mk(4, "2620:149:a44::10", 5223), mk(5, "8.8.8.8", 53, transport="udp")])
    assert _tshark_count(tshark, pcap, v6) == 0  # valid syntax, nothing of that kind here
