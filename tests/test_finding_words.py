"""The words of the memos: every finding kind has a title and a sentence in English and German, counts take
the singular for one, times read the same in every memo (ISO 8601 stays in the JSON), and the summary's
vendor row names only known vendors (not owners the tool could not place), the biggest first, capped."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from analysis.report import memo
from analysis.report.render import render
from analysis.text import TEMPLATES, TITLES, explain, kinds, message, text, title, when

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "captures" / "relayed"
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")  # not a log line's +0000


def emitted_kinds() -> set[str]:
    """Every finding kind the code can emit, read from its source: ``Finding(kind="...")``, the first argument
    of ``_finding("...")`` and ``message("...")``, and the keys of ``SDK_KINDS``."""
    found: set[str] = set()
    for path in [*(ROOT / "analysis").rglob("*.py"), *(ROOT / "addons").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name == "Finding":
                    found |= {k.value.value for k in node.keywords
                              if k.arg == "kind" and isinstance(k.value, ast.Constant)}
                elif name in ("_finding", "message") and node.args and isinstance(node.args[0], ast.Constant):
                    found.add(node.args[0].value)
            elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "SDK_KINDS" for t in node.targets):
                found |= {k.value for k in node.value.keys}
    return {k for k in found if isinstance(k, str)}


def test_every_finding_kind_has_a_title_and_a_message_in_both_languages():
    emitted = emitted_kinds()
    assert {"mail-relay", "third-party-login", "credential-leak", "proxy-block", "telemetry"} <= emitted
    assert emitted <= set(kinds()), emitted - set(kinds())
    for kind in kinds():
        templates, titles = TEMPLATES.get(kind), TITLES.get(kind)
        assert templates and set(templates) == {"en", "de"}, kind
        assert titles and set(titles) == {"en", "de"}, kind
        assert title(kind, "en") != title(kind, "de") != kind, kind
        for lang in ("en", "de"):
            assert message(kind, lang) != kind, (kind, lang)  # a sentence even without details


def test_counts_take_the_singular_for_one():
    assert "1 connection, " in message("telemetry", "en", flows=1, endpoints=["t.example"], owners=["X"],
                                       bytes_sent=10)
    assert "2 Verbindungen, " in message("telemetry", "de", flows=2, endpoints=["t.example"], owners=["X"],
                                         bytes_sent=10)
    login = {"account": "lab", "count": 1, "n_addresses": 1, "addresses": ["127.42.1.10"], "owners": ["V"],
             "device_known": True}
    assert "1 successful login or submission for lab from 1 address the device" in message(
        "third-party-login", "en", **login)
    assert "1 erfolgreiche Anmeldung oder Einlieferung für lab von 1 Adresse," in message(
        "third-party-login", "de", **login)
    assert "5 erfolgreiche Anmeldungen oder Einlieferungen für lab von 2 Adressen," in message(
        "third-party-login", "de", **{**login, "count": 5, "n_addresses": 2})
    assert text("n_flows", "en", n=1) == "1 flow" and text("n_flows", "de", n=1) == "1 Verbindung"
    assert text("n_flows", "de", n=12345) == "12.345 Verbindungen"
    assert text("truncated_rows", "en", n=1).startswith("1 more row is")
    verdict = {"summary": "direct", "receive": {"status": "direct", "flows": [4]}, "send": {"flows": [1, 2]}}
    assert "direct, 1 connection to the mail host" in explain(verdict, "en")


def test_one_human_time_format():
    assert when("2026-11-28T23:05:16.000000Z") == "2026-11-28 23:05:16 UTC"
    assert when("2020-08-28T11:07:00+02:00") == "2020-08-28 09:07:00 UTC"
    assert when("2020-08-28T09:07:56.999Z", zone=False) == memo.when("2020-08-28T09:07:56.999Z")
    assert memo.when("2020-08-28T09:07:56.999Z") == "2020-08-28 09:07:56"
    assert when("not a time at all, really") == "not a time at all, really" and when(None) == ""
    assert memo.period("2026-11-28T23:05:14.1Z", "2026-11-28T23:05:16.9Z") == "2026-11-28 23:05:14 – 23:05:16"
    assert memo.period("2026-11-28T23:05:14Z", "2026-11-29T01:00:00Z") == "2026-11-28 23:05:14 – 2026-11-29 01:00:00"
    text_de = message("login-after-removal", "de", account="lab", removed="2026-11-28T23:05:15+00:00", count=1,
                      addresses=["127.42.1.10"], last="2026-11-28T23:05:16.000000Z")
    assert "(2026-11-28 23:05:15 UTC)" in text_de and "für lab um 2026-11-28 23:05:16 UTC, von" in text_de


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> dict:
    """The lab's relayed capture with its server logs, analysed; its ``maildetour logs --format md`` too."""
    if not (SHIPPED / "phone.pcapng").is_file():
        pytest.skip("captures/relayed is absent")
    from analysis.case import load_case
    from analysis.pipeline import Settings, analyze, logs_view
    from analysis.report.logsview import render_logs

    case = load_case(str(SHIPPED / "case.toml"), environ={})
    logs = [str(SHIPPED / "dovecot.log"), str(SHIPPED / "submission.log")]
    settings = Settings(case=case, catalog_paths=[str(ROOT / "analysis" / "data" / "lab-catalog.toml")], logs=logs)
    report = analyze([str(SHIPPED / "phone.pcapng")], settings)
    return {"report": report, "logs_md": render_logs(logs_view(logs, case, lang="de"), "md", "de")}


@pytest.mark.parametrize("fmt", ["md", "html"])
@pytest.mark.parametrize("lang", ["en", "de"])
def test_memos_write_times_one_way_and_json_keeps_iso(shipped, fmt, lang):
    report = shipped["report"]
    page = render(report, fmt, lang)
    assert not ISO_TIME.search(page), ISO_TIME.search(page)[0]
    assert "2026-11-28 23:05:14 UTC" in page  # the case's account_added, in prose
    origin = report["mail_server"]["origins"][0]
    assert ISO_TIME.fullmatch(origin["first"]) and ISO_TIME.fullmatch(report["flows"][0]["first_seen"])
    assert ISO_TIME.search(json.dumps(report["findings"]))  # the details keep ISO 8601
    assert not ISO_TIME.search(shipped["logs_md"])


def test_logs_md_and_the_html_memo_agree_on_logins_after_removal(shipped):
    report = shipped["report"]
    origin = next(o for o in report["mail_server"]["origins"] if o["after_removal_count"])
    page = render(report, "html", "de")
    view = page[page.index('<section id="mail-server">'):]
    row = re.search(rf'<tr>\s*<td class="nowrap">{re.escape(origin["address"])}</td>(.*?)</tr>', view, re.S)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row[1])
    assert "<th>Anmeldungen nach Löschen</th>" in page.replace('<th class="num">', "<th>")
    assert cells[-1] == str(origin["after_removal_count"]) and cells[-2] == "nein"
    line = next(x for x in shipped["logs_md"].splitlines() if f"| {origin['address']} |" in x)
    header = next(x for x in shipped["logs_md"].splitlines() if "Anmeldungen nach Löschen" in x)
    assert header.rstrip(" |").endswith("Anmeldungen nach Löschen")
    assert line.rstrip(" |").endswith(f"| nein | {origin['after_removal_count']}")


def test_german_memo_translates_the_verdict_and_finding_titles(shipped):
    report = shipped["report"]
    assert report["verdict"]["summary"] == "relayed"
    md = render(report, "md", "de")
    assert "**Ergebnis: ÜBER DRITTE**" in md and "RELAYED" not in md
    for f in report["findings"]:
        assert f"\\. {title(f['kind'], 'de')} (" in md
    assert not re.search(r"^### \d+\\\. [a-z-]+ \(", md, re.M)  # no finding headed by its bare kind
    page = render(report, "html", "de")
    assert '<strong class="word">über Dritte</strong>' in page
    assert f'data-kind="{report["findings"][0]["kind"]}"' in page  # the kind stays, out of sight


def _vendor_report(n_known: int, n_unknown: int) -> dict:
    """A report whose verdict lists ``n_known`` vendors of a known category (more bytes for higher numbers)
    and ``n_unknown`` owners that are only addresses of category ``unknown``."""
    flows, vendors = [], []
    for i in range(n_known + n_unknown):
        known = i < n_known
        owner = f"Vendor {i:03d}" if known else f"198.51.100.{i % 250}"
        flows.append({"id": i + 1, "bytes": 1000 + i, "owner": owner, "category": "telemetry" if known else "unknown",
                      "evidence": {"rule": "catalog:exact" if known else "unknown:address"}})
        vendors.append({"owner": owner, "categories": ["telemetry" if known else "unknown"], "flows": [i + 1]})
    return {"verdict": {"summary": "inconclusive", "vendors": vendors}, "flows": flows}


def test_vendor_row_names_known_vendors_only_biggest_first_and_capped():
    report = _vendor_report(138, 20)
    t = lambda key, **v: text(key, "en", **v)  # noqa: E731
    row = dict(memo.verdict_facts(t, report["verdict"], flows=report["flows"]))["Vendor services"]
    assert row.startswith("Vendor 137 (telemetry; 1 flow, 1,137 bytes); Vendor 136 ")
    assert row.count("Vendor ") == memo.MAX_VENDORS and row.endswith(f"… and {138 - memo.MAX_VENDORS} more")
    assert "198.51.100." not in row
    only_unknown = _vendor_report(0, 3)
    row = dict(memo.verdict_facts(t, only_unknown["verdict"], flows=only_unknown["flows"]))["Vendor services"]
    assert row == "none"
    # without the flows (no bytes to sort by) the categories still decide
    bare = {"vendors": [{"owner": "10.0.0.9", "categories": ["unknown"], "flows": [3]},
                        {"owner": "A", "categories": ["push"], "flows": [1, 2]}]}
    assert dict(memo.verdict_facts(t, bare))["Vendor services"] == "A (push; 2 flows, 0 bytes)"
    page = render({**report, "schema": "maildetour.report/1"}, "html", "de")
    assert "… und 131 weitere" in page and "Vendor 137 (telemetry; 1 Verbindung, 1.137 Bytes)" in page
