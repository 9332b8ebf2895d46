"""A long flow table is made and written by two processes (``analysis.twoprocess``): this one makes every
other part, a forked child the rest; the text is the one a single process writes, byte for byte."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import analysis.capture
from analysis.case import Case
from analysis.pipeline import flow_table
from analysis.report import flowlist
from analysis.report.flowlist import iter_flows
from analysis.twoprocess import SecondProcessError, interleaved, two_cores
from bench.gen import FLOW_HEAVY, generate
from tests import pcapbuild as pb
from tests import pcapdroid_files as pd
from tests.test_pcapdroid import APPS, phone

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [str(ROOT / "captures" / name / "phone.pcapng") for name in ("relayed", "direct", "mixed")]

pytestmark = pytest.mark.skipif(not two_cores(), reason="one core: the flow table is written by one process")


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """12,000 frames of the benchmark's flow-heavy traffic: some 1,600 flows, several parts."""
    path = tmp_path_factory.mktemp("two") / "many.pcap"
    generate(str(path), 12_000, seed=5, mix=FLOW_HEAVY)
    return str(path)


def _pieces(count: int, fail: int | None = None):
    def make(k: int, n: int):
        for number in range(k, count, n):
            if number == fail:
                raise ValueError(f"piece {number} cannot be made")
            yield f"<{number}:{os.getpid()}>"
    return make


def test_pieces_come_in_order_from_both_processes():
    for count in (2, 3, 8, 9):
        pieces = list(interleaved(count, _pieces(count)))
        assert [p.split(":")[0] for p in pieces] == [f"<{n}" for n in range(count)]
        mine, child = {p.split(":")[1] for p in pieces[::2]}, {p.split(":")[1] for p in pieces[1::2]}
        assert mine == {f"{os.getpid()}>"} and len(child) == 1 and child != mine


def test_the_childs_failure_is_one_error_and_no_process_is_left(monkeypatch):
    forked = []
    fork = os.fork

    def recorded() -> int:
        pid = fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recorded)
    with pytest.raises(SecondProcessError, match="second process: ValueError: piece 5 cannot be made"):
        list(interleaved(8, _pieces(8, fail=5)))
    with pytest.raises(SecondProcessError, match="8 pieces announced, 6 made"):
        list(interleaved(8, _pieces(6)))
    with pytest.raises(SecondProcessError, match="more than the 4 pieces announced"):
        list(interleaved(4, _pieces(6)))
    assert len(forked) == 3
    for pid in forked:  # every child was waited for
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def _text(paths: list[str], fmt: str, case: Case, *, shared: bool) -> str:
    stream = flow_table(paths, case)
    if not shared:
        stream.share = None
    return "".join(iter_flows(stream, fmt))


@pytest.fixture
def small_parts(monkeypatch):
    """Parts of 16 flows, two processes from two parts on: the shipped captures take the shared path too."""
    monkeypatch.setattr(analysis.capture, "RECORDS_PART", 16)
    monkeypatch.setattr(flowlist, "TWO_PROCESSES", 2)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "zeek"])
def test_same_text_as_one_process(many, fmt, small_parts):
    paths = [many, *SHIPPED]  # ids numbered on across inputs; parts numbered on across them too
    stream = flow_table(paths, Case())
    assert stream.share is not None and stream.part_count > 100
    one = _text(paths, fmt, Case(), shared=False)
    assert _text(paths, fmt, Case(), shared=True) == one
    assert one.count("\n") >= 1_600


def test_device_filter_empties_parts(many, small_parts):
    """Parts the device filter empties are still pieces (empty ones); CSV's header comes once, at the top."""
    first = next(flow_table([many], Case()).parts)[0]
    case = Case(devices=[first.client.ip])
    for fmt in ("csv", "jsonl"):
        one = _text([many], fmt, case, shared=False)
        assert _text([many], fmt, case, shared=True) == one
    assert 0 < one.count("\n") < 200


def test_pcapdroid_apps_stay_in_one_process(tmp_path, small_parts):
    """Every flow counts towards PCAPdroid's warnings: such a capture is not shared."""
    path = pb.write(tmp_path / "phone.pcapng", pd.pcapng_bytes(phone(unmapped=True), APPS))
    stream = flow_table([str(path)], Case())
    assert stream.share is None
    text = "".join(iter_flows(stream, "jsonl"))
    assert '"source":"pcapdroid"' in text.replace(" ", "")
    assert any("without a UID map entry" in w for w in stream.inputs[0].warnings)
