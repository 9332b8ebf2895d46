"""A report read from a file is type-checked once, where it enters (``maildetour report`` and ``compare``): a
field of the wrong type is one line on stderr naming the file and the field's JSON path, exit 3; an absent field
(an older report) or an unknown one (a newer report) is not an error.

Runs ``analysis.cli.main`` in-process on a report of the shipped lab capture (captures/relayed with its case
file, catalog and the mail server's logs)."""

from __future__ import annotations

import copy
import json

import pytest

from analysis import cli
from analysis.errors import InputError
from analysis.reportschema import check_report, json_path
from tests.conftest import ROOT

SAMPLE = ROOT / "captures" / "relayed"
LAB_CATALOG = ROOT / "analysis" / "data" / "lab-catalog.toml"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    if not (SAMPLE / "phone.pcapng").is_file():
        pytest.skip(f"{SAMPLE} is absent (the shipped lab captures)")
    out = tmp_path_factory.mktemp("schema") / "report.json"
    code = cli.main(["analyze", str(SAMPLE / "phone.pcapng"), "--case", str(SAMPLE / "case.toml"), "--catalog",
                     str(LAB_CATALOG), "--logs", str(SAMPLE / "dovecot.log"), str(SAMPLE / "submission.log"), "-q",
                     "-o", str(out)])
    assert code == 0
    return json.loads(out.read_text())


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_report_analyze_wrote_passes_every_check(report):
    assert report["verdict"]["relays"] and report["mail_server"]["origins"]  # the parts worth checking are there
    assert check_report(report, "report.json") is report


@pytest.mark.parametrize(("change", "where"), [
    (lambda r: r.update(flows="x"), "flows: expected a list of objects"),
    (lambda r: r["verdict"]["relays"][0].update(flows=["2"]), "verdict.relays[0].flows: expected a list of integers"),
    (lambda r: r["verdict"].update(candidates={}), "verdict.candidates: expected a list of objects"),
    (lambda r: r["verdict"]["receive"].update(status=None), "verdict.receive.status: expected a string"),
    (lambda r: r["flows"][1]["client"].update(port="993"), "flows[1].client.port: expected an integer"),
    (lambda r: r["flows"][0].update(evidence=[]), "flows[0].evidence: expected an object or null"),
    (lambda r: r["flows"][0].update(starttls=1), "flows[0].starttls: expected true or false"),
    (lambda r: r["findings"][0].update(log_lines=[None]), "findings[0].log_lines: expected a list of strings"),
    (lambda r: r["inputs"][0].update(error_offset="12"), "inputs[0].error_offset: expected an integer or null"),
    (lambda r: r["timeline"]["lanes"][0].update(spans=[[1, "a", 2]]),
     "timeline.lanes[0].spans[0]: expected a list of numbers"),
    (lambda r: r["mail_server"]["origins"][0].update(count=2.5), "mail_server.origins[0].count: expected an integer"),
])
def test_a_wrong_field_is_one_line_with_its_json_path_exit_3(report, tmp_path, capsys, change, where):
    bad = copy.deepcopy(report)
    change(bad)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(InputError) as caught:
        check_report(bad, str(path))
    assert str(caught.value) == f"{path}: {where}"
    good = tmp_path / "good.json"
    good.write_text(json.dumps(report))
    for argv in (["report", path, "--format", "html"], ["compare", path, good], ["compare", good, path]):
        code, out, err = run(capsys, *argv)
        assert (code, out, err) == (3, "", f"maildetour: {path}: {where}\n")


def test_absent_and_unknown_fields_are_no_error(report, tmp_path, capsys):
    """An older report lacks newer fields; a newer one has fields this version does not know."""
    old = copy.deepcopy(report)
    for flow in old["flows"]:
        for key in ("community_id", "state", "history", "tls_established", "app", "c2s", "s2c"):
            del flow[key]
    for key in ("candidates", "relays"):
        del old["verdict"][key]
    del old["timeline"], old["destinations"], old["mail_server"]
    old["flows"][0]["from_the_future"] = {"x": [1, "y"]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    for fmt in ("md", "html", "csv", "json"):
        code, out, err = run(capsys, "report", path, "--format", fmt)
        assert code == 0 and out and err == "", (fmt, err)


def test_json_path_reads_like_the_access():
    assert json_path(["flows", 0, "relays", "verdict"]) == "verdict.relays[0].flows"
    assert json_path([3, "flows"]) == "flows[3]"
    assert json_path([]) == "(top level)"
