"""maildetour batch and compare: run folders made from the shipped captures, a broken one, local processes
and a real Dask LocalCluster on 127.0.0.1; the comparison is the same bytes however the runs were executed."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.case import load_case
from analysis.errors import CaseError
from tests.conftest import ROOT, require_tool

MD = [sys.executable, "-m", "analysis.cli"]
SCENARIOS = ("direct", "mixed", "relayed")
COMPARISON = ("comparison.json", "comparison.csv", "comparison.html")
APP_TABLE = '\n[app]\nid = "org.example.relaymail"\nname = "Relay Mail"\nversion = "4.2.0"\n'


def run(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*MD, *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, **(env or {})})


def outputs(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` by relative path."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Run folders: copies of captures/{direct,mixed,relayed} (the relayed one names its app), and 'broken',
    a folder with a case file and no capture."""
    folder = tmp_path_factory.mktemp("runs")
    for name in SCENARIOS:
        if not (ROOT / "captures" / name / "phone.pcapng").is_file():
            pytest.skip(f"captures/{name} is not in the repository")
        shutil.copytree(ROOT / "captures" / name, folder / name)
    with open(folder / "relayed" / "case.toml", "a") as fh:
        fh.write(APP_TABLE)
    (folder / "broken").mkdir()
    shutil.copy(ROOT / "captures" / "direct" / "case.toml", folder / "broken" / "case.toml")
    return folder


def run_dirs(runs: Path) -> list[str]:
    return [str(runs / name) for name in ("relayed", "broken", "mixed", "direct")]  # not in name order


@pytest.fixture(scope="module")
def batch_one(runs, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("out") / "jobs1"
    return run("batch", *run_dirs(runs), "-o", str(out), "--jobs", "1"), out


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed", reason="pip install 'maildetour[dask]'")
    with distributed.LocalCluster(host="127.0.0.1", n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        assert local.scheduler_address.startswith("tcp://127.0.0.1:")
        yield local


def test_rows_in_run_name_order_with_the_broken_run_as_its_error(batch_one):
    proc, out = batch_one
    assert proc.returncode == 1, proc.stderr  # a run failed: documented as exit code 1
    table = json.loads((out / "comparison.json").read_text())
    assert table["schema"] == "maildetour.comparison/1"
    rows = table["runs"]
    assert [r["run"] for r in rows] == ["broken", "direct", "mixed", "relayed"]
    broken = rows[0]
    assert "no capture" in broken["error"] and "\n" not in broken["error"]
    assert broken["summary"] is None and broken["report"] is None and broken["leaks"] is None
    assert not (out / "runs" / "broken").exists()
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("maildetour:")]
    assert len(error_lines) == 1 and "broken" in error_lines[0] and "no capture" in error_lines[0]
    assert "Traceback" not in proc.stderr


def test_rows_carry_the_verdict_relays_bytes_and_logins_of_each_report(batch_one):
    _, out = batch_one
    rows = {r["run"]: r for r in json.loads((out / "comparison.json").read_text())["runs"]}
    for name in SCENARIOS:
        row = rows[name]
        report = json.loads((out / row["report"]).read_text())
        assert row["report"] == f"runs/{name}/report.json" and (out / row["report_html"]).is_file()
        assert report["schema"] == "maildetour.report/1"
        verdict = report["verdict"]
        assert row["summary"] == verdict["summary"] == name  # the shipped captures' expected verdicts
        assert row["mail_host_contacted"] == verdict["mail_host_contacted"]
        assert row["relays"] == [{"owner": r["owner"], "basis": r["basis"]} for r in verdict["relays"]]
        assert row["vendors"] == [v["owner"] for v in verdict["vendors"]]
        by_category = {c["category"]: c["bytes"] for c in report["stats"]["by_category"] if c["bytes"]}
        assert row["bytes_by_category"] == by_category
        assert sum(row["bytes_by_category"].values()) == row["bytes"] == report["stats"]["total"]["bytes"]
        assert row["error"] is None and row["damaged"] is None
    assert rows["direct"]["relays"] == [] and rows["direct"]["third_party_logins"] == 0
    assert rows["relayed"]["mail_host_contacted"] is False and rows["relayed"]["relays"]
    assert rows["relayed"]["third_party_logins"] > 0  # the vendor's logins in dovecot.log / submission.log
    assert rows["relayed"]["app"] == {"id": "org.example.relaymail", "name": "Relay Mail", "version": "4.2.0"}
    assert rows["direct"]["app"] == {"id": None, "name": None, "version": None}


def test_csv_and_html_hold_the_same_rows(batch_one):
    _, out = batch_one
    rows = list(csv.DictReader(io.StringIO((out / "comparison.csv").read_text())))
    assert [r["run"] for r in rows] == ["broken", "direct", "mixed", "relayed"]
    relayed = rows[3]
    assert (relayed["app_name"], relayed["app_version"], relayed["summary"]) == ("Relay Mail", "4.2.0", "relayed")
    assert relayed["mail_host_contacted"] == "false" and int(relayed["bytes_mail-host"]) == 0
    assert int(relayed["bytes_mail-relay"]) > 0 and "server-login" in relayed["relays"]
    page = (out / "comparison.html").read_text()
    assert page.index(">broken<") < page.index(">direct</a>") < page.index(">mixed</a>") < page.index(">relayed</a>")
    assert 'href="runs/relayed/report.html"' in page and "<svg" in page and "no capture" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # loads nothing from anywhere


def test_page_script_is_the_only_one_its_policy_allows(batch_one):
    _, out = batch_one
    page = (out / "comparison.html").read_text()
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)[1]
    assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy


def test_same_inputs_same_bytes(runs, batch_one, tmp_path):
    _, first = batch_one
    proc = run("batch", *reversed(run_dirs(runs)), "-o", str(tmp_path / "again"), "--jobs", "1")
    assert proc.returncode == 1
    assert outputs(tmp_path / "again") == outputs(first)


def test_two_processes_give_the_same_bytes_as_one(runs, batch_one, tmp_path):
    _, first = batch_one
    proc = run("batch", *run_dirs(runs), "-o", str(tmp_path / "jobs2"), "--jobs", "2")
    assert proc.returncode == 1, proc.stderr
    assert outputs(tmp_path / "jobs2") == outputs(first)


@pytest.mark.slow
def test_dask_cluster_gives_the_same_bytes_as_one_process(runs, batch_one, cluster, tmp_path):
    _, first = batch_one
    proc = run("batch", *run_dirs(runs), "-o", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert outputs(tmp_path / "dask") == outputs(first)


@pytest.mark.slow
def test_dask_workers_get_the_canary_and_redact_it(runs, cluster, tmp_path):
    """The workers were started without the password's variable: the task carries it, so reports made there
    are redacted as local ones are (the password here is a word the captures' vendor names contain)."""
    env = {"MAILDETOUR_CANARY": "vendor"}
    local = run("batch", str(runs / "relayed"), "-o", str(tmp_path / "local"), "--jobs", "1", env=env)
    remote = run("batch", str(runs / "relayed"), "-o", str(tmp_path / "dask"), "--scheduler",
                 cluster.scheduler_address, env=env)
    assert local.returncode == remote.returncode == 0, remote.stderr
    assert outputs(tmp_path / "dask") == outputs(tmp_path / "local")
    table = (tmp_path / "dask" / "comparison.json").read_text()
    assert "[REDACTED]" in table and "vendor.test" not in table
    assert "vendor.test" not in (tmp_path / "dask" / "runs" / "relayed" / "report.json").read_text()


@pytest.mark.slow
def test_dask_workers_of_another_version_are_refused(runs, cluster, tmp_path, monkeypatch, capsys):
    import analysis
    from analysis.cli import main

    monkeypatch.setattr(analysis, "__version__", "0.0.0-other")
    code = main(["batch", str(runs / "direct"), "-o", str(tmp_path / "out"), "--scheduler",
                 cluster.scheduler_address])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "runs maildetour" in err[0] and "0.0.0-other" in err[0] and "same version" in err[0]
    assert not (tmp_path / "out" / "comparison.json").exists()


def test_bad_scheduler_address_is_one_line(runs, tmp_path):
    pytest.importorskip("distributed")
    proc = run("batch", str(runs / "direct"), "-o", str(tmp_path / "out"), "--scheduler", "bogus://nowhere")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "not a scheduler address" in proc.stderr and "Traceback" not in proc.stderr


def test_lab_layout_logs_folder_and_owners_file(tmp_path):
    """The layout 'maildetour lab run' writes: logs under logs/ (with the lab's vendor.log among them, not a mail
    server's) and owners.csv, which names the vendor's network."""
    source = ROOT / "captures" / "relayed-egress"
    if not (source / "owners.csv").is_file():
        pytest.skip("captures/relayed-egress with its owners.csv is not in the repository")
    run_dir = tmp_path / "egress"
    (run_dir / "logs").mkdir(parents=True)
    for name in ("phone.pcapng", "case.toml", "owners.csv"):
        shutil.copy(source / name, run_dir / name)
    for log in source.glob("*.log"):
        shutil.copy(log, run_dir / "logs" / log.name)
    (run_dir / "logs" / "vendor.log").write_text("vendor: started on 127.42.1.10\n")
    out = tmp_path / "out"
    proc = run("batch", str(run_dir), "-o", str(out), "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    row = json.loads((out / "comparison.json").read_text())["runs"][0]
    report = json.loads((out / row["report"]).read_text())
    assert sorted(log["path"] for log in report["mail_server"]["logs"]) == ["dovecot.log", "submission.log",
                                                                            "vendor.log"]
    first_ip, last_ip, asn, org = (source / "owners.csv").read_text().splitlines()[1].split(",")
    assert [(r["asn"], r["as_org"]) for r in report["verdict"]["relays"]] == [(int(asn), org)]
    assert row["summary"] == "relayed" and row["third_party_logins"] > 0


def test_damaged_capture_is_reported_and_its_row_kept(runs, tmp_path):
    damaged = tmp_path / "cut"
    shutil.copytree(runs / "mixed", damaged)
    data = (damaged / "phone.pcapng").read_bytes()
    (damaged / "phone.pcapng").write_bytes(data[: len(data) * 2 // 3])
    proc = run("batch", str(damaged), str(runs / "direct"), "-o", str(tmp_path / "out"), "--jobs", "1")
    assert proc.returncode == 1, proc.stderr
    rows = {r["run"]: r for r in json.loads((tmp_path / "out" / "comparison.json").read_text())["runs"]}
    assert rows["cut"]["error"] is None and rows["cut"]["summary"] is not None
    assert rows["cut"]["damaged"].startswith("phone.pcapng: damaged or truncated")
    assert rows["direct"]["damaged"] is None
    assert (tmp_path / "out" / "runs" / "cut" / "report.json").is_file()
    assert any("cut" in line and "damaged" in line for line in proc.stderr.splitlines())


def test_a_failed_run_leaves_no_earlier_report_behind(runs, tmp_path):
    run_dir = tmp_path / "app"
    shutil.copytree(runs / "direct", run_dir)
    out = tmp_path / "out"
    assert run("batch", str(run_dir), "-o", str(out), "--jobs", "1").returncode == 0
    assert (out / "runs" / "app" / "report.json").is_file()
    (run_dir / "case.toml").write_text("[mail]\nhosts = 5\n")
    proc = run("batch", str(run_dir), "-o", str(out), "--jobs", "1")
    assert proc.returncode == 1
    row = json.loads((out / "comparison.json").read_text())["runs"][0]
    assert "mail.hosts" in row["error"] and str(run_dir) not in row["error"]
    assert not (out / "runs" / "app" / "report.json").exists()


def test_two_runs_with_one_name_are_a_usage_error(runs, tmp_path):
    other = tmp_path / "elsewhere" / "direct"
    shutil.copytree(runs / "direct", other)
    proc = run("batch", str(runs / "direct"), str(other), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2 and "two runs are named 'direct'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_hostile_names_are_escaped_in_the_page_and_inert_in_the_csv(runs, tmp_path):
    run_dir = tmp_path / "<b>x&y"
    shutil.copytree(runs / "direct", run_dir)
    with open(run_dir / "case.toml", "a") as fh:
        fh.write('\n[app]\nname = "=HYPERLINK(\\"http://evil\\")"\nversion = "<script>alert(1)</script>"\n')
    out = tmp_path / "out"
    assert run("batch", str(run_dir), "-o", str(out), "--jobs", "1").returncode == 0
    page = (out / "comparison.html").read_text()
    assert "<b>x&y" not in page and "&lt;b&gt;x&amp;y" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert 'href="runs/%3Cb%3Ex%26y/report.html"' in page
    row = next(csv.DictReader(io.StringIO((out / "comparison.csv").read_text())))
    assert row["app_name"].startswith("'=HYPERLINK")


def test_compare_two_reports(batch_one, tmp_path):
    _, out = batch_one
    a, b = out / "runs" / "direct" / "report.json", out / "runs" / "relayed" / "report.json"
    proc = run("compare", str(a), str(b), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    diff = json.loads(proc.stdout)
    assert diff["schema"] == "maildetour.compare/1" and diff["changed"] is True
    assert {"what": "summary", "a": "direct", "b": "relayed"} in diff["verdict"]
    assert {"what": "mail_host_contacted", "a": True, "b": False} in diff["verdict"]
    assert [r["owner"] for r in diff["relays"]["added"]] == ["sync.vendor.test"]
    assert diff["relays"]["removed"] == []
    added = {d["destination"] for d in diff["destinations"]["added"]}
    removed = {d["destination"] for d in diff["destinations"]["removed"]}
    assert "sync.vendor.test" in added and "mail.example.test" in removed
    categories = {c["category"]: c for c in diff["categories"]}
    assert categories["mail-host"]["b"]["bytes"] == 0 < categories["mail-host"]["a"]["bytes"]
    assert categories["mail-relay"]["a"]["bytes"] == 0 < categories["mail-relay"]["b"]["bytes"]
    assert diff["leaks"]["third_party_logins"]["a"] == 0 < diff["leaks"]["third_party_logins"]["b"]
    assert diff["b"]["app"]["name"] == "Relay Mail" and diff["a"]["path"].endswith("direct/report.json")

    md = run("compare", str(a), str(b), "--lang", "de")
    assert md.returncode == 0 and "| Ergebnis | direkt | über Dritte |" in md.stdout
    assert run("compare", str(a), str(b), "-o", str(tmp_path / "c.html")).returncode == 0
    page = (tmp_path / "c.html").read_text()
    assert "sync.vendor.test" in page and "<script" not in page


def test_compare_of_a_report_with_itself_lists_no_change(batch_one):
    _, out = batch_one
    report = str(out / "runs" / "mixed" / "report.json")
    diff = json.loads(run("compare", report, report, "--format", "json").stdout)
    assert diff["changed"] is False and diff["verdict"] == [] and diff["categories"] == []


def test_compare_refuses_a_comparison_file_in_one_line(batch_one):
    _, out = batch_one
    proc = run("compare", str(out / "runs" / "mixed" / "report.json"), str(out / "comparison.json"))
    assert proc.returncode == 3 and len(proc.stderr.strip().splitlines()) == 1
    assert "comparison.json" in proc.stderr and "not a maildetour report" in proc.stderr


def test_case_app_table_is_type_checked(tmp_path):
    path = tmp_path / "case.toml"
    path.write_text('[app]\nid = "com.example.mail"\nversion = "1.2"\n')
    case = load_case(str(path))
    assert (case.app.id, case.app.name, case.app.version) == ("com.example.mail", "", "1.2")
    assert case.to_json()["app"] == {"id": "com.example.mail", "name": None, "version": "1.2"}
    path.write_text("[app]\nversion = 1.2\n")
    with pytest.raises(CaseError, match=r"app\.version: expected a string, not a float"):
        load_case(str(path))
    path.write_text('[app]\nbuild = "7"\n')
    with pytest.raises(CaseError, match=r"unknown key\(s\) build in \[app\]"):
        load_case(str(path))
    path.write_text('[account]\naddress = "a@example.org"\n')
    assert "app" not in load_case(str(path)).to_json()  # reports of cases without [app] stay as they were


@pytest.mark.slow
def test_sorting_by_a_column_in_chromium(batch_one, tmp_path):
    chromium = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None) or \
        require_tool("chromium")
    _, out = batch_one
    rows = {r["run"]: r for r in json.loads((out / "comparison.json").read_text())["runs"]}
    column = 9  # Bytes
    url = (out / "comparison.html").as_uri() + f"#sort=-{column}"
    proc = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path}",
                           "--dump-dom", url], capture_output=True, text=True, timeout=120)
    order = re.findall(r'<tr data-i="\d+"><td data-v="([^"]*)"', proc.stdout)
    expected = sorted((n for n in rows if rows[n]["bytes"] is not None), key=lambda n: -rows[n]["bytes"])
    assert order == [*expected, "broken"], proc.stdout[-2000:]
    assert 'aria-sort="descending"' in proc.stdout
