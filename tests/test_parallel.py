"""Payload inspection in a second process gives exactly what inspection in-process gives.

Big captures are inspected by a child process (analysis/capture/parallel.py); the flow table, DNS entries,
canary hits and input description must not depend on which path ran, nor on timing.
"""

from __future__ import annotations

import dataclasses
import gzip
import shutil
import sys
from pathlib import Path

import pytest

from analysis.capture import load_capture, parallel
from analysis.case import Case, MailHost
from analysis.model import Capture
from tests.conftest import ROOT, all_shared_captures, shared_params
from tests.scenarios import MAIL_HOST, MAIL_IP
from tests.test_capture_canary import CANARY, write_leaky

CAPTURES = all_shared_captures()
SHIPPED = sorted((ROOT / "captures").glob("*/phone.pcapng"))


def snapshot(capture: Capture) -> dict:
    """Everything a report takes from a capture, as JSON values."""
    return {
        "flows": [f.to_json() for f in capture.flows],
        "dns": [d.to_json() for d in capture.dns],
        "inputs": [i.to_json() for i in capture.inputs],
        "hits": [dataclasses.asdict(h) for h in capture.hits],
    }


def both(path, **kwargs) -> tuple[dict, dict]:
    return (snapshot(load_capture(str(path), parallel=True, **kwargs)),
            snapshot(load_capture(str(path), parallel=False, **kwargs)))


@pytest.mark.parametrize("path", shared_params(CAPTURES))
def test_shared_capture_same_in_both_paths(path):
    remote, local = both(path)
    assert remote == local


@pytest.mark.parametrize("path", SHIPPED, ids=[p.parent.name for p in SHIPPED])
def test_shipped_capture_same_in_both_paths(path):
    remote, local = both(path)
    assert any(f["app_protocol"] in ("imaps", "submission", "tls") for f in remote["flows"])
    assert remote == local


def test_canary_findings_same_in_both_paths(tmp_path):
    """The canary search stays in the parent; its hits and frames must not change."""
    path = tmp_path / "leaky.pcap"
    write_leaky(path)
    case = Case(username="lft2", mail_hosts=[MailHost(MAIL_HOST)], mail_addresses=[MAIL_IP])
    case.set_canary(CANARY)
    remote, local = both(path, case=case)
    assert len(remote["hits"]) >= 2 and all(h["frame"] for h in remote["hits"])
    assert remote == local


def test_gzip_input_sends_payload_bytes_and_matches(tmp_path):
    """A gzip capture is not mapped: the parent hands the child the payload itself, not its offset."""
    source = SHIPPED[0]
    packed = tmp_path / "phone.pcapng.gz"
    with open(source, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    remote, local = both(packed)
    assert remote["inputs"][0]["format"] == "pcapng+gzip"
    assert remote == local


def test_damaged_capture_same_in_both_paths(tmp_path):
    """A capture cut in the middle of a record: both paths report what was read, marked incomplete."""
    cut = tmp_path / "cut.pcapng"
    data = SHIPPED[0].read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    remote, local = both(cut)
    assert remote["inputs"][0]["complete"] is False
    assert remote["flows"]
    assert remote == local


def test_big_files_take_the_second_process(tmp_path, monkeypatch):
    small = tmp_path / "small.pcap"
    small.write_bytes(b"\0" * 100)
    big = tmp_path / "big.pcap"
    with open(big, "wb") as fh:
        fh.truncate(parallel.MIN_BYTES)  # sparse: no disk used
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda _pid: {0, 1})
    assert parallel.worth_a_worker(str(big))
    assert not parallel.worth_a_worker(str(small))
    assert not parallel.worth_a_worker(str(tmp_path / "missing.pcap"))
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda _pid: {0})
    assert not parallel.worth_a_worker(str(big))  # one core: nothing to gain


def test_a_dead_child_is_one_line_and_exit_70(monkeypatch, capsys):
    """The child cannot start Python (here: a program that exits at once): no traceback, no half report."""
    from analysis.cli import main

    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setattr(sys, "executable", shutil.which("false") or "/bin/false")
    with pytest.raises(parallel.WorkerError):
        load_capture(str(SHIPPED[0]), parallel=True)
    code = main(["flows", str(SHIPPED[0]), "--format", "jsonl", "-o", "/dev/null"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 70
    assert len(err) == 1 and "inspection process failed" in err[0], err


def test_child_reads_the_parents_descriptor(tmp_path):
    """The child maps the file the parent opened: replacing the path midway cannot mix two captures."""
    copy = tmp_path / "phone.pcapng"
    shutil.copyfile(SHIPPED[0], copy)
    from analysis.capture.conversations import ConversationTable
    from analysis.capture.reader import CaptureReader

    def flows(remote):
        reader = CaptureReader(str(copy))
        if remote:
            remote = parallel.RemoteInspection(*reader.file_map())
            copy.unlink()  # replace the file by another while the child reads it
            copy.write_bytes(b"not a capture any more")
        try:
            table = ConversationTable(None, remote or None)
            table.run(reader.records())
            return [f.to_json() for f in table.flows()]
        finally:
            if remote:
                remote.close()

    expected = flows(False)
    assert len(expected) >= 3
    assert flows(True) == expected


def test_shipped_captures_exist():
    assert len(SHIPPED) == 4 and all(Path(p).stat().st_size > 0 for p in SHIPPED)
