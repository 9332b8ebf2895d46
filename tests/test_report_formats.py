"""Rendering: Markdown, HTML and CSV in English and German, re-rendered from the JSON alone, escaped."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.report.csvout import COLUMNS, safe_cell
from analysis.report.markdown import code, md
from analysis.report.render import ReportError, render
from analysis.text import explain, message
from tests.test_report_build import (
    CANARY,
    FORMULA_SNI,
    analysed,
    direct_capture,
    mail_server_view,
    make_case,
    relay_capture,
)

CLI = [sys.executable, "-m", "analysis.cli"]


@pytest.fixture(scope="module")
def report() -> dict:
    return analysed(relay_capture(), make_case(), logs=mail_server_view())


@pytest.fixture(scope="module")
def report_file(tmp_path_factory, report) -> str:
    path = tmp_path_factory.mktemp("report") / "report.json"
    path.write_text(render(report, "json", "en"), encoding="utf-8")
    return str(path)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_markdown_has_the_memo_sections_in_order(report):
    text = render(report, "md", "en")
    heads = [line for line in text.splitlines() if line.startswith("## ")]
    assert heads[:6] == [
        "## Summary",
        "## Method",
        "## Expected behaviour",
        "## Observed behaviour",
        "## Findings",
        "## Destinations by category",
    ]
    assert "## The mail server's view" in heads
    assert heads[-2:] == ["## Appendix 1: owner evidence per address", "## Appendix 2: DNS queries"]
    assert text.index("**Verdict: RELAYED**") < text.index("## Method")
    assert "ab" * 32 in text  # the input's SHA-256


def test_markdown_in_german(report):
    text = render(report, "md", "de")
    for words in (
        "## Zusammenfassung",
        "## Vorgehen",
        "## Erwartetes Verhalten",
        "## Festgestelltes Verhalten",
        "## Befunde",
        "## Sicht des Mailservers",
        "Anlage 1",
    ):
        assert words in text
    assert explain(report["verdict"], "de").split(".")[0].replace("-", "\\-") in text


def test_markdown_tables_keep_their_shape_with_hostile_text(report):
    text = render(report, "md", "en")
    assert "<img" not in text and "<b>" not in text
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in text or "&lt;img src=x onerror=alert(1)&gt;" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    tables: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("|"):
            if not tables or tables[-1] is None:
                tables.append([])
            tables[-1].append(line)
        elif tables and tables[-1] is not None:
            tables.append(None)
    for table in filter(None, tables):
        cells = {len(re.findall(r"(?<!\\)\|", line)) for line in table}
        assert len(cells) == 1, table
    assert rows


def test_markdown_escapes():
    assert md("a|b`c*d_e[f]<g>&") == "a\\|b\\`c\\*d\\_e\\[f\\]&lt;g&gt;&amp;"
    assert md("# heading") == "\\# heading"
    assert md("1. item") == "1\\. item"
    assert md("two\nlines") == "two lines"
    assert code("x`y") == "``x`y``"
    assert code("a|b") == "`a\\|b`" and code("a|b", table=False) == "`a|b`"


def test_html_escapes_every_network_string(report):
    page = render(report, "html", "en")
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.example" in page
    assert "&lt;b&gt;x&lt;/b&gt;|`y`" in page  # a log origin address
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert not re.search(r"<[^>]*\ssrc=", page)
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert all(h.startswith("#") for h in hrefs)
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp and "script-src 'none'" in csp[1] and "default-src 'none'" in csp[1]


def test_html_sections_charts_and_filters(report):
    page = render(report, "html", "de")
    assert '<html lang="de">' in page
    assert page.count("<svg") == 2
    assert 'id="chart-timeline"' in page and 'id="chart-bytes"' in page
    assert "Verbindungen je Kategorie im Zeitverlauf" in page
    # one unbreakable span per term, the operator kept with the term before it: the line wraps only there
    assert ('<code class="filter"><span class="term">ip.addr==52.125.140.74 &amp;&amp;</span> '
            '<span class="term">tcp.port==443</span></code>') in page
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    for section in (
        "summary",
        "method",
        "expected",
        "observed",
        "findings",
        "destinations",
        "mail-server",
        "appendix-owners",
        "appendix-dns",
    ):
        assert f'<section id="{section}">' in page
    assert page.index('id="summary"') < page.index('id="method"') < page.index('id="appendix-owners"')


def test_html_and_markdown_are_deterministic(report):
    for fmt in ("html", "md", "csv", "json"):
        assert render(report, fmt, "de") == render(report, fmt, "de")


def test_csv_columns_and_formula_injection(report):
    text = render(report, "csv", "en")
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == 1 + len(report["flows"])
    by_sni = {row[COLUMNS.index("sni")]: row for row in rows[1:]}
    assert "'" + FORMULA_SNI.lower() in by_sni or "'" + FORMULA_SNI in by_sni
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell
    relay = next(row for row in rows[1:] if row[COLUMNS.index("DstIP")] == "52.125.140.74")
    assert relay[COLUMNS.index("IPProto")] == "6"
    assert relay[COLUMNS.index("BytesSent")] == "9000" and relay[COLUMNS.index("BytesRcvd")] == "120000"
    assert relay[COLUMNS.index("category")] == "mail-relay"
    assert relay[COLUMNS.index("wireshark_filter")].startswith("ip.addr==")


def test_report_csv_and_flows_csv_are_one_layout():
    """The report's CSV and ``maildetour flows --format csv`` come from one function: same header, same rows."""
    from analysis.catalog import Catalog
    from analysis.classify import classify
    from analysis.report.flowlist import render_flows

    capture, case = relay_capture(), make_case(canary=None)
    report = analysed(capture, case)
    flows_capture = relay_capture()
    classify(flows_capture, case, Catalog.load())
    from_report = list(csv.reader(io.StringIO(render(report, "csv", "en"))))
    from_flows = list(csv.reader(io.StringIO(render_flows(flows_capture, "csv"))))
    assert from_report[0] == from_flows[0] == list(COLUMNS)
    assert from_report == from_flows
    assert {row[COLUMNS.index("category")] for row in from_flows[1:]} >= {"mail-relay", "name-resolution"}


def test_safe_cell():
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("-2") == "'-2" and safe_cell("+2") == "'+2"
    assert safe_cell(-2) == -2
    assert safe_cell("a\nb") == "a b"
    assert safe_cell("mail.example") == "mail.example"


def test_rerender_from_json_in_german_via_the_command(report_file, report, tmp_path):
    for fmt in ("md", "html", "csv"):
        out = tmp_path / f"r.{fmt}"
        proc = cli("report", report_file, "--format", fmt, "--lang", "de", "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        text = out.read_bytes().decode("utf-8")
        assert CANARY.lower() not in text.lower()
        if fmt == "csv":
            assert text == render(report, "csv", "de")
            continue
        assert ("Zusammenfassung" in text) and ("Befunde" in text)
        german = explain(report["verdict"], "de")
        assert german and german != report["verdict"]["explanation"]
        needle = german.split(".")[0].split(":")[0]
        assert needle in text or md(needle) in text


def test_relocalised_json_findings(report):
    de = json.loads(render(report, "json", "de"))
    assert de["settings"]["lang"] == "de"
    assert de["verdict"]["explanation"] == explain(report["verdict"], "de")
    relay = next(f for f in de["findings"] if f["kind"] == "mail-relay")
    assert relay["message"] == message("mail-relay", "de", **relay["details"])
    custom = next(f for f in de["findings"] if f["kind"] == "custom-login")
    assert custom["message"] == "login with [REDACTED]"  # a kind analysis.text does not know: the stored text stays
    assert render(report, "json", "en") == render(json.loads(render(report, "json", "en")), "json", "en")


def test_direct_report_renders_without_findings_or_logs():
    report = analysed(direct_capture(), make_case(canary=None))
    page = render(report, "html", "en")
    assert 'class="word">direct</strong>' in page
    assert 'id="mail-server"' not in page
    assert "not set" in page


def test_malformed_report_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "schema": "maildetour.report/1",
                "verdict": [],
                "flows": [1, "x"],
                "inputs": "zz",
                "findings": [{"kind": "x", "flows": 3}],
            }
        )
    )
    proc = cli("report", str(bad), "--format", "html")
    assert "Traceback" not in proc.stderr
    assert proc.returncode in (0, 3)
    if proc.returncode:
        assert len(proc.stderr.strip().splitlines()) == 1
    with pytest.raises(ReportError):
        render([], "md", "en")  # type: ignore[arg-type]


def test_json_layout_round_trips_one_record_per_line(report):
    text = render(report, "json", "en")
    assert json.loads(text) == report
    lines = text.splitlines()
    assert lines[0] == "{" and lines[1] == '  "schema": "maildetour.report/1",'
    flow_lines = [line for line in lines if line.startswith('    {"id": ')]
    assert len(flow_lines) == len(report["flows"])
    assert all(json.loads(line.strip().rstrip(",")) in report["flows"] for line in flow_lines)


SHIPPED = Path(__file__).resolve().parents[1] / "captures" / "relayed"


def test_shipped_relayed_capture_with_server_logs():
    """The lab's shipped capture and logs through the whole pipeline: the mail server's view is rendered."""
    if not (SHIPPED / "phone.pcapng").is_file():
        pytest.skip("captures/relayed is absent")
    from analysis.case import load_case
    from analysis.pipeline import Settings, analyze

    root = SHIPPED.parents[1]
    settings = Settings(
        case=load_case(str(SHIPPED / "case.toml"), environ={}),
        catalog_paths=[str(root / "analysis" / "data" / "lab-catalog.toml")],
        logs=[str(SHIPPED / "dovecot.log"), str(SHIPPED / "submission.log")],
    )
    report = analyze([str(SHIPPED / "phone.pcapng")], settings)
    assert report["verdict"]["summary"] == "relayed"
    view = report["mail_server"]
    vendor = next(o for o in view["origins"] if o["category"] == "mail-relay")
    page = render(report, "html", "de")
    assert '<section id="mail-server">' in page and "Sicht des Mailservers" in page
    assert f'<td class="nowrap">{vendor["address"]}</td>' in page
    assert "user=&lt;lab&gt;" in page  # a quoted Dovecot line, escaped
    text = render(report, "md", "en")
    assert "## The mail server's view" in text and "```" in text
