"""The command line's own contract: usage errors, one-line errors, exit codes, atomic output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from analysis.output import write_output

MD = [sys.executable, "-m", "analysis.cli"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*MD, *args], capture_output=True, text=True, env=env, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_unknown_flag_is_a_usage_error():
    proc = run("analyze", "x.pcap", "--format", "pdf")
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr


def test_missing_capture_is_unreadable(tmp_path):
    missing = tmp_path / "nope.pcap"
    assert_one_line_error(run("analyze", str(missing)), 3, str(missing))


def test_not_a_capture_names_file_and_offset(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("this is not a capture\n")
    assert_one_line_error(run("flows", str(bogus)), 3, str(bogus), "offset 0")


def test_invalid_case_file(tmp_path):
    case = tmp_path / "case.toml"
    case.write_text('[mail]\nhosts = ["imap.example.org:99999"]\n')
    cap = tmp_path / "x.pcap"
    cap.write_bytes(b"")
    assert_one_line_error(run("analyze", str(cap), "--case", str(case)), 2, str(case), "port")


def test_case_with_naive_time_is_rejected(tmp_path):
    case = tmp_path / "case.toml"
    case.write_text('[timeline]\napp_removed = "2020-09-01T12:00:00"\n')
    assert_one_line_error(run("logs", "/dev/null", "--case", str(case)), 2, "UTC offset")


def test_report_rejects_non_report_json(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"hello": 1}))
    assert_one_line_error(run("report", str(path)), 3, "not a maildetour report")
    path.write_text("{broken")
    assert_one_line_error(run("report", str(path)), 3, str(path), "offset")


def test_write_output_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "report.json"
    write_output(str(target), "first")
    write_output(str(target), "second")
    assert target.read_text() == "second"
    assert os.listdir(target.parent) == ["report.json"]


def test_write_output_failure_keeps_old_file(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")

    with pytest.raises(TypeError):
        write_output(str(target), 12345)  # not str/bytes: fails before the rename
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.json"]


def test_analyze_with_a_damaged_log_exits_1_and_still_writes_the_report(tmp_path):
    import gzip

    from tests.conftest import ROOT

    sample = ROOT / "captures" / "relayed"
    whole = gzip.compress((sample / "dovecot.log").read_bytes())
    log = tmp_path / "dovecot.log.gz"
    log.write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "report.json"
    proc = run("analyze", str(sample / "phone.pcapng"), "--case", str(sample / "case.toml"),
               "--catalog", str(ROOT / "analysis" / "data" / "lab-catalog.toml"), "--logs", str(log), "-o", str(out))
    assert_one_line_error(proc, 1, str(log), "damaged")
    report = json.loads(out.read_text())
    assert report["verdict"]["summary"] == "relayed"
    assert [entry["complete"] for entry in report["mail_server"]["logs"]] == [False]


def test_progress_is_silent_when_stderr_is_not_a_terminal():
    from tests.conftest import ROOT

    proc = run("flows", str(ROOT / "captures" / "relayed" / "phone.pcapng"), "--format", "jsonl")
    assert proc.returncode == 0
    assert proc.stderr == ""
    assert len(proc.stdout.splitlines()) >= 5


def test_progress_bar_draws_on_a_terminal(tmp_path):
    """On a TTY the rich bar is drawn on stderr (a pseudo-terminal stands in for the analyst's)."""
    import pty

    from analysis.progress import progress_bar

    script = (
        "import sys, time\n"
        "from analysis.progress import progress_bar\n"
        "with progress_bar('phone.pcapng', 1000) as advance:\n"
        "    for done in range(0, 1001, 100):\n"
        "        advance(done); time.sleep(0.02)\n"
    )
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=slave, stdout=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    assert proc.returncode == 0
    assert b"phone.pcapng" in b"".join(chunks)
    with progress_bar("x", 10) as advance:  # not a terminal here: a no-op
        advance(5)
