"""``maildetour flows`` makes, classifies and writes the flow records a part at a time (``FlowStream``): the
same table as loading every record first, without holding every record at once."""

from __future__ import annotations

import gc

import pytest

from analysis.capture import RECORDS_PART, count_capture
from analysis.case import Case
from analysis.model import Flow
from analysis.owners import AsnDatabase, annotate
from analysis.pipeline import _classify, flow_table, load
from bench.gen import FLOW_HEAVY, generate
from tests.scenarios import MAIL_IP, RELAY_IP
from tests.test_capture_canary import CANARY as LEAKY_CANARY
from tests.test_capture_canary import SPLIT_IP, write_leaky


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """20,000 frames of the benchmark's flow-heavy traffic: a few thousand flows, several parts."""
    path = tmp_path_factory.mktemp("stream") / "many.pcap"
    generate(str(path), 20_000, seed=11, mix=FLOW_HEAVY)
    return str(path)


def _whole(paths: list[str], case: Case) -> list[str]:
    """The table as it was made before the stream: every record loaded, then classified and annotated."""
    capture = load(paths, case, digest=False)
    _classify(capture, case)
    annotate(capture.flows, AsnDatabase.load([]))
    return [f.json_line() for f in capture.flows]


def test_parts_are_the_whole_table(many):
    stream = flow_table([many], Case())
    parts = list(stream.parts)
    assert len(parts) > 2 and all(0 < len(p) <= RECORDS_PART for p in parts)
    flows = [f for p in parts for f in p]
    assert [f.id for f in flows] == list(range(1, len(flows) + 1))
    assert [f.json_line() for f in flows] == _whole([many], Case())
    assert stream.inputs[0].packets == 20_000


def test_two_inputs_number_on_and_match_the_whole_table(many, tmp_path):
    second = str(tmp_path / "second.pcap")
    generate(second, 3_000, seed=12)
    flows = [f for p in flow_table([many, second], Case()).parts for f in p]
    assert [f.id for f in flows] == list(range(1, len(flows) + 1))
    assert {f.input_index for f in flows} == {0, 1}
    assert [f.json_line() for f in flows] == _whole([many, second], Case())


def test_records_already_written_are_let_go(many):
    """While the first part is held, the records behind the stream are not made yet, and the first part's
    conversations are gone from the table."""
    counted = count_capture(many, parallel=False)
    total = len(counted._table.convs)
    assert total > 3 * RECORDS_PART
    parts = counted.records()
    first = next(parts)
    gc.collect()
    alive = sum(1 for o in gc.get_objects() if type(o) is Flow)
    assert len(first) == RECORDS_PART and alive < 2 * RECORDS_PART < total
    rest = sum(len(p) for p in parts)
    assert len(first) + rest == total


def test_canary_hits_come_with_the_records_and_number_on(tmp_path):
    """A capture's raw canary hits are known once its records are made; a second input's hits name the flows
    by their ids in the merged table."""
    first, second = tmp_path / "a.pcap", tmp_path / "b.pcap"
    write_leaky(first)
    write_leaky(second)
    case = Case(username="lft2")
    case.set_canary(LEAKY_CANARY)
    counted = count_capture(str(first), case=case)
    assert counted.hits == []
    made = counted.capture()
    assert made.hits and made.hits == counted.hits
    alone = len(made.flows)
    merged = load([str(first), str(second)], case)
    assert len(merged.flows) == 2 * alone and len(merged.hits) == 2 * len(made.hits)
    by_id = {f.id: f for f in merged.flows}
    for n, hit in enumerate(merged.hits):
        flow = by_id[hit.flow_id]
        assert flow.input_index == (0 if n < len(made.hits) else 1)
        assert (flow.server.ip, flow.server.port) in {(RELAY_IP, 80), (SPLIT_IP, 8080), (MAIL_IP, 143)}
