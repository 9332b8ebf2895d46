"""The command line's own contract: usage errors, one-line errors, exit codes, atomic output."""

from __future__ import annotations

import json
import os
import shutil
import stat
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
               "--catalog", str(ROOT / "analysis" / "data" / "lab-catalog.toml"), "--logs", str(log), "-q",
               "-o", str(out))
    assert_one_line_error(proc, 1, log.name, "damaged")
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


# -- output targets that cannot be written: one line naming the output, exit 3, nothing left behind -----------

def _relayed() -> str:
    from tests.conftest import ROOT

    capture = ROOT / "captures" / "relayed" / "phone.pcapng"
    if not capture.is_file():
        pytest.skip(f"{capture} is absent")
    return str(capture)


def _unwritable_targets(tmp_path) -> dict[str, str]:
    (tmp_path / "plain-file").write_text("I am a file")
    return {
        "full-device": "/dev/full",  # ENOSPC on every write
        "a-directory": str(tmp_path),
        "parent-is-a-file": str(tmp_path / "plain-file" / "flows.csv"),
        "grandparent-is-a-file": str(tmp_path / "plain-file" / "sub" / "flows.csv"),
        "under-proc": "/proc/self/maildetour-flows.csv",  # no files can be made there, not even by root
        "trailing-slash": str(tmp_path / "new-folder") + "/",
        "empty-name": "",
    }


@pytest.mark.parametrize("kind", ["full-device", "a-directory", "parent-is-a-file", "grandparent-is-a-file",
                                  "under-proc", "trailing-slash", "empty-name"])
def test_unwritable_output_is_one_line_and_exit_3(tmp_path, kind):
    report = tmp_path / "r.json"
    assert run("analyze", _relayed(), "-o", str(report)).returncode == 0
    target = _unwritable_targets(tmp_path)[kind]
    before = sorted(os.listdir(tmp_path))
    for command in (["flows", _relayed(), "--format", "csv"], ["report", str(report), "--format", "md"]):
        proc = run(*command, "-o", target)
        assert_one_line_error(proc, 3, target, "cannot write the output")
        assert "internal error" not in proc.stderr
        assert proc.stdout == ""
    assert sorted(os.listdir(tmp_path)) == before  # no temp file left
    assert (tmp_path / "plain-file").read_text() == "I am a file"


def test_parent_that_is_a_file_is_named():
    proc = run("flows", _relayed(), "-o", "/etc/hostname/sub/flows.csv")
    assert_one_line_error(proc, 3, "/etc/hostname/sub/flows.csv", "/etc/hostname is not a directory")


def test_full_standard_output_is_one_line_and_exit_3():
    with open("/dev/full", "w") as full:
        proc = subprocess.run([*MD, "flows", _relayed(), "--format", "jsonl"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert_one_line_error(proc, 3, "standard output", "No space left on device")


def _in_own_mount_namespace(script: str, *args: str) -> subprocess.CompletedProcess:
    """``sh -c script`` in a private mount namespace (its mounts vanish with it); skips where not allowed."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) not installed")
    probe = subprocess.run([unshare, "-m", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here: {probe.stderr.decode(errors='replace').strip()}")
    return subprocess.run([unshare, "-m", "sh", "-c", script, "sh", *args], capture_output=True, text=True,
                          timeout=120)


def test_read_only_folder_keeps_the_old_file(tmp_path):
    """A read-only bind mount (root may write into a chmod 0555 folder, not onto a read-only mount)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "flows.csv").write_text("old")
    script = ('mount --bind -o ro "$1" "$1" || exit 99\n'
              '"$2" -m analysis.cli flows "$3" --format csv -o "$1/flows.csv"; echo "rc=$?"\n'
              '"$2" -m analysis.cli flows "$3" --format csv -o "$1/new/flows.csv"; echo "rc=$?"\n')
    proc = _in_own_mount_namespace(script, str(folder), sys.executable, _relayed())
    if "rc=" not in proc.stdout:
        pytest.skip(f"read-only bind mount refused: {proc.stderr.strip()}")
    assert proc.stdout.split() == ["rc=3", "rc=3"], proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and all("Read-only file system" in line for line in lines), proc.stderr
    assert f"{folder}/flows.csv: cannot write the output" in lines[0]
    assert (folder / "flows.csv").read_text() == "old"
    assert os.listdir(folder) == ["flows.csv"]


def test_disk_full_midway_leaves_no_temp_file(tmp_path):
    """A 4 KiB tmpfs fills while the report is written: exit 3, the temp file is removed, the old file stays."""
    folder = tmp_path / "small"
    folder.mkdir()
    script = ('mount -t tmpfs -o size=4k tmpfs "$1" || exit 99\n'
              'printf old > "$1/flows.jsonl"\n'
              '"$2" -m analysis.cli flows "$3" --format jsonl -o "$1/flows.jsonl"; echo "rc=$?"\n'
              'ls -A "$1"; cat "$1/flows.jsonl"\n')
    proc = _in_own_mount_namespace(script, str(folder), sys.executable, _relayed())
    if "rc=" not in proc.stdout:
        pytest.skip(f"tmpfs mount refused: {proc.stderr.strip()}")
    assert proc.stdout.split() == ["rc=3", "flows.jsonl", "old"], proc.stdout + proc.stderr
    assert_one_line_error(subprocess.CompletedProcess([], 3, "", proc.stderr), 3, "No space left on device")


def test_missing_parent_folders_are_created_with_the_usual_mode(tmp_path):
    target = tmp_path / "new" / "deeper" / "flows.csv"
    proc = run("flows", _relayed(), "--format", "csv", "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    assert target.read_text().startswith("IPProto,SrcIP,SrcPort,DstIP,DstPort,")
    assert os.listdir(target.parent) == ["flows.csv"]
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask  # not the temp file's 0600
    target.chmod(0o640)
    assert run("flows", _relayed(), "-o", str(target)).returncode == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # a replaced file keeps its mode
