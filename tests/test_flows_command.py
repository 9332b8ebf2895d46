"""``maildetour flows`` through the real command: classified like ``analyze``, one CSV layout with the report,
the canary redacted in every format, and report paths that name nothing of the analyst's folders."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import scenarios as sc
from tests.conftest import ROOT

CLI = [sys.executable, "-m", "analysis.cli"]
SHIPPED = ROOT / "captures"
LAB_CATALOG = ROOT / "analysis" / "data" / "lab-catalog.toml"
CANARY = "Zq7-kanarie"  # the test password: in a DNS query, an SNI and an HTTP Host of the crafted capture
CANARY_ENV = "MAILDETOUR_FLOWS_TEST_CANARY"
FORMATS = ("jsonl", "csv", "table")


def run(*args: str, canary: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != CANARY_ENV and k != "MAILDETOUR_CANARY"}
    env["PYTHONPATH"] = str(ROOT)
    if canary is not None:
        env[CANARY_ENV] = canary
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=cwd or ROOT, timeout=120)


def shipped(name: str) -> tuple[Path, Path]:
    capture, case = SHIPPED / name / "phone.pcapng", SHIPPED / name / "case.toml"
    if not capture.is_file():
        pytest.skip(f"{capture} is absent")
    return capture, case


@pytest.fixture(scope="module")
def leaky(tmp_path_factory) -> tuple[Path, Path]:
    """A capture whose names carry the password (case varied), and a case file naming its variable."""
    folder = tmp_path_factory.mktemp("leaky")
    cap = sc.Capture()
    name = f"{CANARY.upper()}.leak.example"
    sc.dns_lookup(cap, sc.DEVICE, name, [("A", "198.51.100.9")], 7)
    sc.https(cap, sc.DEVICE, 50500, "198.51.100.9", name, 600, 900, "leak")
    conn = sc.Tcp(cap, sc.DEVICE, 50501, "198.51.100.10", 80).open()
    conn.c(f"GET / HTTP/1.1\r\nHost: www.{CANARY.lower()}.example\r\n\r\n".encode())
    conn.s(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
    conn.close()
    sc.dns_lookup(cap, sc.DEVICE, sc.CHECK_NAME, [("A", sc.CHECK_IP)], 8)
    capture = cap.write(folder / "leaky.pcapng", pcapng=True)
    case = folder / "case.toml"
    case.write_text(f'[account]\naddress = "lab@example.org"\ncanary_env = "{CANARY_ENV}"\n')
    return capture, case


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_canary_in_names_is_redacted_in_every_format(leaky, fmt):
    capture, case = leaky
    bare = run("flows", str(capture), "--format", fmt)  # no case: nothing says what the password is
    assert bare.returncode == 0, bare.stderr
    assert CANARY.lower() in bare.stdout.lower()  # the capture does carry it, in several names
    shown = run("flows", str(capture), "--case", str(case), "--format", fmt, canary=CANARY)
    assert shown.returncode == 0, shown.stderr
    assert CANARY.lower() not in shown.stdout.lower()
    assert "[REDACTED]" in shown.stdout
    assert shown.stdout.count("\n") == bare.stdout.count("\n")  # the same rows, only the secret masked
    if fmt == "jsonl":
        rows = [json.loads(line) for line in shown.stdout.splitlines()]
        leak = next(r for r in rows if r["server"]["port"] == 443)
        assert leak["names"]["sni"] == ["[REDACTED].leak.example"]
        assert leak["names"]["dns"] == ["[REDACTED].leak.example"]
        web = next(r for r in rows if r["server"]["port"] == 80)
        assert web["names"]["http_host"] == ["www.[REDACTED].example"]
        assert CANARY.lower() not in json.dumps(rows).lower()  # owner and evidence too


def test_the_canary_is_kept_when_its_variable_is_unset(leaky):
    """The case names the variable, but it is empty here: there is nothing to redact (and no error)."""
    capture, case = leaky
    shown = run("flows", str(capture), "--case", str(case), "--format", "jsonl")
    assert shown.returncode == 0, shown.stderr
    assert CANARY.lower() in shown.stdout.lower()


def _categories(text: str) -> list[tuple[int, str, str, str]]:
    rows = [json.loads(line) for line in text.splitlines()]
    return [(r["id"], r["app_protocol"], r["category"], r["owner"]) for r in rows]


@pytest.mark.parametrize("name", ["direct", "relayed", "mixed"])
def test_flows_are_classified_as_analyze_classifies_them(name):
    """JSON lines and the report's flows are the same records: categories, owners, evidence included."""
    capture, case = shipped(name)
    common = [str(capture), "--case", str(case), "--catalog", str(LAB_CATALOG)]
    flows = run("flows", *common, "--format", "jsonl")
    report = run("analyze", *common, "--format", "json")
    assert flows.returncode == 0 and report.returncode == 0, flows.stderr + report.stderr
    rows = [json.loads(line) for line in flows.stdout.splitlines()]
    assert rows == json.loads(report.stdout)["flows"]
    dns = [r for r in rows if r["app_protocol"] == "dns"]
    assert dns and all(r["category"] == "name-resolution" and r["owner"] for r in dns)
    assert all(r["evidence"] for r in rows)
    mail = [r for r in rows if r["server"]["port"] in (993, 587)]
    assert all(r["category"] == "mail-host" for r in mail)
    assert (name == "relayed") == (not mail)


def test_catalog_and_mail_flags_decide_categories():
    capture, _case = shipped("relayed")
    plain = dict((i, c) for i, _p, c, _o in _categories(run("flows", str(capture), "--format", "jsonl").stdout))
    lab = run("flows", str(capture), "--catalog", str(LAB_CATALOG), "--format", "jsonl")
    labelled = dict((i, c) for i, _p, c, _o in _categories(lab.stdout))
    assert set(plain.values()) == {"name-resolution", "unknown"}  # the lab's vendor is in no bundled catalog
    assert {"mail-relay", "telemetry", "crash-report"} <= set(labelled.values())
    direct, _ = shipped("direct")
    without = _categories(run("flows", str(direct), "--format", "jsonl").stdout)
    with_host = _categories(run("flows", str(direct), "--mail-host", "mail.example.test:993",
                                "--mail-host", "mail.example.test:587", "--mail-ip", "127.42.0.25",
                                "--format", "jsonl").stdout)
    assert [c for _i, p, c, _o in without if p != "dns"] != ["mail-host", "mail-host"]
    assert [c for _i, p, c, _o in with_host if p != "dns"] == ["mail-host", "mail-host"]


@pytest.mark.parametrize("name", ["direct", "relayed"])
def test_flows_csv_is_the_report_csv(name):
    """One layout: ``flows --format csv`` and ``analyze --format csv`` give the same header and rows."""
    capture, case = shipped(name)
    common = [str(capture), "--case", str(case), "--catalog", str(LAB_CATALOG), "--format", "csv"]
    flows, report = run("flows", *common), run("analyze", *common)
    assert flows.returncode == 0 and report.returncode == 0
    assert flows.stdout == report.stdout
    rows = list(csv.DictReader(io.StringIO(flows.stdout)))
    assert rows and list(rows[0])[:5] == ["IPProto", "SrcIP", "SrcPort", "DstIP", "DstPort"]
    assert {r["category"] for r in rows if r["Proto"] == "dns"} == {"name-resolution"}
    assert all(r["category"] != "unknown" or r["owner"] for r in rows)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reports_show_paths_relative_to_the_working_folder(tmp_path):
    """Absolute paths typed inside the working folder come out relative; the SHA-256 stays."""
    capture, case = shipped("relayed")
    logs = [SHIPPED / "relayed" / "dovecot.log", SHIPPED / "relayed" / "submission.log"]
    out = tmp_path / "report.json"
    proc = run("analyze", str(capture), "--case", str(case), "--catalog", str(LAB_CATALOG),
               "--logs", *map(str, logs), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["inputs"][0]["path"] == "captures/relayed/phone.pcapng"
    assert report["inputs"][0]["sha256"] == _sha256(capture)
    assert report["case"]["path"] == "captures/relayed/case.toml"
    assert report["catalog"]["files"][1]["path"] == "analysis/data/lab-catalog.toml"
    assert [log["path"] for log in report["mail_server"]["logs"]] == [
        "captures/relayed/dovecot.log", "captures/relayed/submission.log"]
    assert [log["sha256"] for log in report["mail_server"]["logs"]] == [_sha256(p) for p in logs]
    for fmt in ("json", "md", "html", "csv"):
        proc = run("report", str(out), "--format", fmt)
        assert proc.returncode == 0 and str(ROOT) not in proc.stdout, fmt


def test_paths_outside_the_working_folder_are_file_names(tmp_path):
    capture, case = shipped("relayed")
    log = SHIPPED / "relayed" / "dovecot.log"
    elsewhere = tmp_path / "analyst"
    elsewhere.mkdir()
    texts = {}
    for fmt in ("json", "md", "html"):
        proc = run("analyze", str(capture), "--case", str(case), "--catalog", str(LAB_CATALOG),
                   "--logs", str(log), "--format", fmt, cwd=elsewhere)
        assert proc.returncode == 0, proc.stderr
        texts[fmt] = proc.stdout
        assert str(ROOT) not in proc.stdout and str(SHIPPED) not in proc.stdout, fmt
    report = json.loads(texts["json"])
    assert report["inputs"][0]["path"] == "phone.pcapng"
    assert report["case"]["path"] == "case.toml"
    assert report["mail_server"]["logs"][0]["path"] == "dovecot.log"
    assert report["mail_server"]["events"]
    assert {e["file"] for e in report["mail_server"]["events"]} == {"dovecot.log"}
    table = run("flows", str(capture), cwd=elsewhere)
    assert "# phone.pcapng: pcapng" in table.stdout and str(ROOT) not in table.stdout
    logs = run("logs", str(log), "--format", "json", cwd=elsewhere)
    assert logs.returncode == 0 and str(ROOT) not in logs.stdout
    assert json.loads(logs.stdout)["logs"][0]["path"] == "dovecot.log"


def test_redactor_quick_test_never_misses_what_redaction_would_change():
    """``Redactor.found_in`` lets a flow skip redaction: it must be True wherever ``text()`` changes something,
    including the caseless look-alikes Python's re matches (İ and ı for i, ſ for s, the Kelvin sign for k)."""
    import random

    from analysis.canary import text_forms
    from analysis.redact import Redactor

    redactor = Redactor()
    redactor.add("Skipper-Kiwi9")
    look_alikes = {"i": ["I", "\u0130", "\u0131"], "s": ["S", "\u017f"], "k": ["K", "\u212a"]}
    rng = random.Random(5)
    texts = []
    for form in text_forms("Skipper-Kiwi9"):
        texts.append(f"www.{form}.example")
        for _ in range(20):
            texts.append("".join(rng.choice([c, *look_alikes.get(c.lower(), [c.upper()])]) for c in form))
    texts += ["".join(rng.choice("skipperKIWI9-\u0130\u017f.") for _ in range(30)) for _ in range(2000)]
    changed = 0
    for text in texts:
        if redactor.text(text) != text:
            changed += 1
            assert redactor.found_in(text), text
    assert changed > 100
    assert not redactor.found_in("skipper-kiwi8.example") and not Redactor().found_in("Skipper-Kiwi9")


@pytest.mark.parametrize("suffix, first", [(".csv", "IPProto,"), (".jsonl", '{"id": 1,')])
def test_flows_format_follows_the_output_suffix(tmp_path, suffix, first):
    capture, case = shipped("direct")
    out = tmp_path / f"flows{suffix}"
    result = run("flows", str(capture), "--case", str(case), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith(first)
    explicit = run("flows", str(capture), "--case", str(case), "--format", "table", "-o", str(out))
    assert explicit.returncode == 0 and not out.read_text().startswith(first)  # --format wins
