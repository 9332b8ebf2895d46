"""build_report: the contract's keys and field names, statistics, owner evidence, redaction, determinism.

The report is built from Flow records constructed here and run through the real catalog, classifier and
verdict, as the pipeline does.
"""

from __future__ import annotations

import json
from datetime import datetime

from analysis.case import Case, MailHost
from analysis.model import Capture, DnsEntry, Endpoint, Flow, InputInfo, Names
from analysis.report.build import SCHEMA, build_report
from analysis.report.render import render

CANARY = "Teschtle0816"
HOSTILE_SNI = "<img src=x onerror=alert(1)>.example"
FORMULA_SNI = '=HYPERLINK("http://x.example","y").example'
T0 = 1598605676.0  # 2020-08-28 09:07:56 UTC, the memo's first Microsoft login

CONTRACT_TOP = ["schema", "tool", "inputs", "case", "flows", "dns", "verdict", "findings"]
FLOW_FIELDS = {
    "id",
    "transport",
    "client",
    "server",
    "packets",
    "bytes",
    "first_frame",
    "first_seen",
    "last_seen",
    "names",
    "app_protocol",
    "starttls",
    "category",
    "owner",
    "wireshark_filter",
}
FINDING_FIELDS = {"kind", "severity", "message", "flows", "frames", "wireshark_filter", "log_lines"}
DNS_FIELDS = {"query", "types", "answers", "first_frame", "client"}
VERDICT_FIELDS = {"summary", "mail_host_contacted", "receive", "send", "vendors", "explanation"}

DEVICE = "10.23.42.50"


def make_flow(
    fid: int,
    server: str,
    port: int,
    *,
    sni: str = "",
    proto: str = "tls",
    start: float = 0.0,
    duration: float = 5.0,
    c2s: int = 1000,
    s2c: int = 5000,
    transport: str = "tcp",
    client: str = DEVICE,
) -> Flow:
    names = Names()
    if sni:
        names.add("sni", sni)
    return Flow(
        id=fid,
        transport=transport,
        client=Endpoint(client, 40000 + fid),
        server=Endpoint(server, port),
        packets=20,
        bytes=c2s + s2c,
        c2s_packets=10,
        c2s_bytes=c2s,
        s2c_packets=10,
        s2c_bytes=s2c,
        first_frame=fid * 10,
        last_frame=fid * 10 + 19,
        first_seen=T0 + start,
        last_seen=T0 + start + duration,
        server_by="tcp-syn",
        names=names,
        app_protocol=proto,
    )


def relay_capture(hostile: bool = True) -> Capture:
    """The memo's Outlook case: relay logins, telemetry, diagnostics, crash reports; no mail host."""
    flows = [
        make_flow(
            1, "52.125.140.74", 443, sni="eas.outlookmobile.com", start=0, duration=900, c2s=9000, s2c=120000
        ),
        make_flow(2, "52.125.138.94", 443, sni="prod-global-autodetect.acompli.net", start=3, c2s=2500),
        make_flow(
            3, "13.69.109.130", 443, sni="mobile.pipe.aria.microsoft.com", start=10, c2s=40000, s2c=900
        ),
        make_flow(4, "152.199.19.161", 443, sni="olmprodpowerlift-cdn.azureedge.net", start=12),
        make_flow(5, "52.178.17.3", 443, sni="gate.hockeyapp.net", start=15, c2s=7000),
        make_flow(6, "192.0.2.53", 53, proto="dns", transport="udp", start=-1, duration=0.1, c2s=80, s2c=160),
    ]
    if hostile:
        flows.append(make_flow(7, "198.51.100.7", 443, sni=HOSTILE_SNI, start=20))
        flows.append(make_flow(8, "198.51.100.8", 443, sni=FORMULA_SNI, start=21))
        flows.append(make_flow(9, "198.51.100.9", 443, sni=f"{CANARY}.leak.example", start=22))
    dns = [
        DnsEntry("eas.outlookmobile.com", ["A"], ["52.125.140.74"], 3, DEVICE),
        DnsEntry(HOSTILE_SNI, ["A"], ["198.51.100.7"], 4, DEVICE),
    ]
    info = InputInfo(path="captures/outlook-relay.pcapng", sha256="ab" * 32, format="pcapng", packets=180)
    return Capture(inputs=[info], flows=flows, dns=dns)


def direct_capture() -> Capture:
    flows = [
        make_flow(1, "203.0.113.25", 993, sni="imap.example.org", proto="imaps", duration=30),
        make_flow(2, "203.0.113.25", 587, proto="submission", start=40, duration=3),
    ]
    return Capture(
        inputs=[InputInfo(path="direct.pcap", sha256="cd" * 32, format="pcap", packets=40)], flows=flows
    )


def make_case(canary: str | None = CANARY) -> Case:
    case = Case(
        account_address="lft2@example.org",
        username="lft2",
        canary_env="MAILDETOUR_CANARY",
        mail_hosts=[MailHost.parse("imap.example.org:993"), MailHost.parse("smtp.example.org:587")],
        mail_addresses=["203.0.113.25"],
        devices=[DEVICE],
        account_added=datetime.fromisoformat("2020-08-28T11:07:00+02:00"),
        app_removed=datetime.fromisoformat("2020-09-01T12:00:00+02:00"),
    )
    case.set_canary(canary)
    return case


def mail_server_view() -> dict:
    line = f"Aug 28 11:07:56 cyrus imaps[68216]: login: [52.125.140.74] lft2 LOGIN+TLS User pw={CANARY}"
    return {
        "logs": [
            {
                "path": "maillog",
                "sha256": "ef" * 32,
                "lines": 12,
                "parsed": 10,
                "unmatched": 2,
                "software": ["cyrus", "exim"],
            }
        ],
        "log_offset": 0.0,
        "accounts": ["lft2"],
        "origins": [
            {
                "account": "lft2",
                "address": "52.125.140.74",
                "owner": "Microsoft",
                "category": "mail-relay",
                "first": "2020-08-28T09:07:56Z",
                "last": "2020-09-02T09:10:15Z",
                "count": 5,
                "failures": 0,
                "is_device": False,
                "after_removal": True,
            },
            {
                "account": "lft2",
                "address": "<b>x</b>|`y`",
                "owner": "",
                "category": "unknown",
                "first": "2020-08-28T09:12:39Z",
                "last": "2020-08-28T09:12:39Z",
                "count": 1,
                "failures": 1,
                "is_device": False,
                "after_removal": False,
            },
        ],
        "connections": [
            {
                "file": "netstat.txt",
                "local": "10.23.42.103:993",
                "remote": "52.125.138.94:56460",
                "remote_owner": "Microsoft",
                "port": 993,
                "state": "ESTABLISHED",
            }
        ],
        "_line": line,
    }


def analysed(capture: Capture, case: Case, lang: str = "en", logs: dict | None = None) -> dict:
    """Classify and decide with the project's own stages, then build the report."""
    from analysis.catalog import Catalog
    from analysis.classify import classify
    from analysis.model import Finding
    from analysis.verdict import decide

    catalog = Catalog.load()
    classify(capture, case, catalog)
    verdict, findings = decide(capture, case, lang=lang)
    if logs is not None:
        findings.append(
            Finding(
                kind="custom-login",
                severity="high",
                message=f"login with {CANARY}",
                log_lines=[logs["_line"]],
                details={"address": "52.125.140.74"},
            )
        )
    return build_report(capture, case, verdict, findings, catalog, logs_view=logs, lang=lang)


def test_top_level_keys_follow_the_contract_in_order():
    report = analysed(relay_capture(), make_case())
    keys = list(report)
    assert keys[: len(CONTRACT_TOP)] == CONTRACT_TOP
    assert keys[len(CONTRACT_TOP) :] == ["catalog", "settings", "stats", "owners", "timeline", "destinations"]
    assert report["schema"] == SCHEMA == "maildetour.report/1"
    assert report["tool"]["name"] == "maildetour" and report["tool"]["version"]


def test_contract_field_names_are_present():
    report = analysed(relay_capture(), make_case())
    for flow in report["flows"]:
        assert FLOW_FIELDS <= set(flow)
        assert set(flow["names"]) >= {"sni", "dns", "http_host"}
        assert set(flow["client"]) == set(flow["server"]) == {"ip", "port"}
    for finding in report["findings"]:
        assert FINDING_FIELDS <= set(finding)
    for entry in report["dns"]:
        assert DNS_FIELDS <= set(entry)
    assert VERDICT_FIELDS <= set(report["verdict"])
    assert set(report["inputs"][0]) >= {"path", "sha256", "format", "packets", "complete", "warnings"}


def test_relay_case_verdict_and_categories():
    report = analysed(relay_capture(), make_case())
    assert report["verdict"]["summary"] == "relayed"
    assert report["verdict"]["mail_host_contacted"] is False
    cats = {f["id"]: f["category"] for f in report["flows"]}
    assert cats[1] == cats[2] == "mail-relay"
    assert cats[3] == "telemetry" and cats[4] == "diagnostics" and cats[5] == "crash-report"


def test_direct_case_verdict():
    report = analysed(direct_capture(), make_case())
    assert report["verdict"]["summary"] == "direct"
    assert report["verdict"]["receive"]["status"] == "direct"
    assert report["verdict"]["send"]["status"] == "direct"
    assert [g["category"] for g in report["destinations"]] == ["mail-host"]


def test_stats_add_up_per_category_and_owner():
    capture = relay_capture()
    report = analysed(capture, make_case())
    total = report["stats"]["total"]
    assert total["flows"] == len(capture.flows)
    assert total["bytes"] == sum(f.bytes for f in capture.flows)
    relay = next(r for r in report["stats"]["by_category"] if r["category"] == "mail-relay")
    assert relay["flows"] == 2
    assert relay["bytes"] == (9000 + 120000) + (2500 + 5000)
    assert relay["c2s_bytes"] == 9000 + 2500
    assert sum(r["bytes"] for r in report["stats"]["by_owner"]) == total["bytes"]
    order = [r["category"] for r in report["stats"]["by_category"]]
    assert order.index("mail-relay") < order.index("telemetry") < order.index("unknown")


def test_owner_evidence_per_address():
    report = analysed(relay_capture(), make_case())
    owners = {o["address"]: o for o in report["owners"]}
    relay = owners["52.125.140.74"]
    assert relay["category"] == "mail-relay"
    assert relay["rule"] and relay["matched"] and relay["catalog_source"]
    assert "eas.outlookmobile.com" in relay["names"]
    assert relay["flows"] == [1] and relay["ports"] == [443]


def test_timeline_spans_and_marks():
    report = analysed(relay_capture(), make_case())
    tl = report["timeline"]
    assert tl["start"] == "2020-08-28T09:07:55.000000Z"  # the DNS flow starts a second early
    lanes = {lane["category"]: lane["spans"] for lane in tl["lanes"]}
    assert lanes["mail-relay"][0] == [1, 1.0, 901.0]
    marks = {m["kind"]: m for m in tl["marks"]}
    assert marks["account_added"]["time"] == "2020-08-28T09:07:00.000000Z"
    assert marks["account_added"]["offset"] == -55.0


def test_canary_is_redacted_everywhere():
    report = analysed(relay_capture(), make_case(), logs=mail_server_view())
    text = json.dumps(report)
    assert CANARY not in text and CANARY.lower() not in text.lower()
    assert "[REDACTED].leak.example" in text
    assert "[REDACTED]" in report["mail_server"]["_line"]
    for fmt in ("json", "md", "html", "csv"):
        for lang in ("en", "de"):
            assert CANARY.lower() not in render(report, fmt, lang).lower()


def test_mail_server_view_is_kept_last():
    report = analysed(relay_capture(), make_case(), logs=mail_server_view())
    assert list(report)[-1] == "mail_server"
    assert report["mail_server"]["origins"][0]["after_removal"] is True
    assert report["settings"]["log_offset"] == 0.0


def test_json_is_deterministic():
    a = render(analysed(relay_capture(), make_case()), "json", "en")
    b = render(analysed(relay_capture(), make_case()), "json", "en")
    assert a == b
    assert "generated" not in a
    assert json.loads(a)["schema"] == SCHEMA


def test_redaction_prefilter_never_misses_a_form():
    from analysis.redact import Redactor
    from analysis.report.build import may_contain

    redactor = Redactor()
    redactor.add(CANARY)
    for text in (f"x {CANARY.upper()} y", "Teſchtle0816", "VGVzY2h0bGUwODE2", "pw=Teschtle0816&x=1"):
        assert may_contain(text, redactor) and redactor.text(text) != text
    assert not may_contain("Teschtle0815 and nothing else", redactor)


def test_empty_capture_gives_an_inconclusive_report_in_every_format():
    report = analysed(Capture(inputs=[InputInfo(path="empty.pcap", format="pcap")]), make_case())
    assert report["verdict"]["summary"] == "inconclusive"
    assert report["timeline"]["start"] is None and report["timeline"]["lanes"] == []
    assert report["stats"]["total"]["flows"] == 0
    for fmt in ("json", "md", "html", "csv"):
        for lang in ("en", "de"):
            assert render(report, fmt, lang)
    assert "no flows" in render(report, "html", "en")
