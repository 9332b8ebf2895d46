"""The command line's first hour: the output format from -o's suffix, `report` on something that is not a
report, captures swallowed by --logs, the verdict line and the missing-mail-host warning on stderr, and --help.

Runs ``analysis.cli.main`` in-process on the shipped lab captures (captures/relayed: the capture, its case file
and the mail server's logs), and the installed ``maildetour`` once as a subprocess."""

from __future__ import annotations

import gzip
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import cli
from analysis.errors import UsageError
from analysis.inputkind import is_capture
from analysis.outformat import pick_format, suffix_format
from analysis.report.summary import verdict_line
from tests.conftest import ROOT, md

SAMPLE = ROOT / "captures" / "relayed"
LAB_CATALOG = ROOT / "analysis" / "data" / "lab-catalog.toml"


@pytest.fixture
def sample() -> Path:
    if not (SAMPLE / "phone.pcapng").is_file():
        pytest.skip(f"{SAMPLE} is absent (the shipped lab captures)")
    return SAMPLE



def lines(text: str) -> list[str]:
    return text.strip().splitlines()


def relayed_args(sample: Path) -> list[str]:
    return [str(sample / "phone.pcapng"), "--case", str(sample / "case.toml"), "--catalog", str(LAB_CATALOG),
            "--logs", str(sample / "dovecot.log"), str(sample / "submission.log")]


def one_error(err: str, *needles: str) -> str:
    assert len(lines(err)) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    for needle in needles:
        assert needle in err, err
    return lines(err)[0]


# -- 12: the format from the suffix of -o -------------------------------------------------------------------

def _is_report_json(text: str) -> bool:
    try:
        return json.loads(text)["schema"] == "maildetour.report/1"
    except ValueError:
        return False


LOOKS = {
    "json": _is_report_json,
    "html": lambda text: text.lstrip().lower().startswith("<!doctype html"),
    "md": lambda text: "\n## " in text and not text.lstrip().startswith(("{", "<")),
    "csv": lambda text: text.split("\n", 1)[0].count(",") >= 5 and not text.startswith(("{", "#", "<")),
}


@pytest.mark.parametrize("suffix", [".html", ".md", ".csv", ".json", ".HTML"])
def test_analyze_picks_the_format_from_the_output_suffix(tmp_path, capsys, sample, suffix):
    out = tmp_path / f"report{suffix}"
    code, stdout, _ = md(capsys, "analyze", *relayed_args(sample), "-o", out)
    assert code == 0 and stdout == ""
    fmt = suffix_format(str(out))
    assert fmt == suffix.lower().lstrip(".")
    assert LOOKS[fmt](out.read_text()), out.read_text()[:200]
    assert all(not LOOKS[other](out.read_text()) for other in LOOKS if other != fmt)


def test_report_suffix_output_equals_the_explicit_format(tmp_path, capsys, sample):
    """`report r.json -o x.html` writes byte for byte what `report r.json --format html` prints."""
    report = tmp_path / "r.json"
    assert md(capsys, "analyze", *relayed_args(sample), "-o", report)[0] == 0
    for fmt in ("html", "md", "csv", "json"):
        target = tmp_path / f"again.{fmt}"
        assert md(capsys, "report", report, "-o", target)[0] == 0
        code, stdout, _ = md(capsys, "report", report, "--format", fmt)
        assert code == 0
        assert target.read_bytes() == stdout.encode()  # CSV's \r\n included
    assert md(capsys, "report", report, "-o", tmp_path / "notes.txt")[0] == 0  # unknown suffix: the default, md
    assert (tmp_path / "notes.txt").read_bytes() == (tmp_path / "again.md").read_bytes()


def test_explicit_format_wins_over_the_suffix(tmp_path, capsys, sample):
    out = tmp_path / "report.html"
    code, _, _ = md(capsys, "analyze", *relayed_args(sample), "--format", "md", "-o", out)
    assert code == 0
    assert LOOKS["md"](out.read_text()) and not LOOKS["html"](out.read_text())


def test_logs_command_follows_the_suffix_and_refuses_one_it_cannot_write(tmp_path, capsys, sample):
    out = tmp_path / "logins.md"
    code, _, err = md(capsys, "logs", sample / "dovecot.log", "--case", sample / "case.toml", "-o", out)
    assert code == 0, err
    assert out.read_text().startswith("# ")
    out = tmp_path / "logins.json"
    assert md(capsys, "logs", sample / "dovecot.log", "-o", out)[0] == 0
    json.loads(out.read_text())
    html = tmp_path / "logins.html"
    code, _, err = md(capsys, "logs", sample / "dovecot.log", "-o", html)
    assert code == 2
    one_error(err, str(html), "--format")
    assert not html.exists()
    assert md(capsys, "logs", sample / "dovecot.log", "--format", "md", "-o", html)[0] == 0  # explicit wins
    assert html.read_text().startswith("# ")


def test_pick_format_rules():
    allowed = ("json", "md", "html", "csv")
    assert pick_format(None, "r.HTML", allowed, "json") == "html"
    assert pick_format("csv", "r.html", allowed, "json") == "csv"
    assert pick_format(None, "r.txt", allowed, "json") == "json"
    assert pick_format(None, "-", allowed, "md") == "md"
    assert pick_format(None, None, allowed, "md") == "md"
    assert pick_format(None, "dir.html/report", allowed, "json") == "json"  # the suffix of the name, not a folder
    assert pick_format(None, "flows.jsonl", ("jsonl", "csv", "table"), "table") == "jsonl"
    with pytest.raises(UsageError, match="flows.html"):
        pick_format(None, "flows.html", ("jsonl", "csv", "table"), "table")


# -- 13: `report` on something that is not a report -------------------------------------------------------

def test_report_on_a_capture_is_not_a_report(tmp_path, capsys, sample):
    zipped = tmp_path / "phone.pcapng.gz"
    zipped.write_bytes(gzip.compress((sample / "phone.pcapng").read_bytes()))
    for path in (sample / "phone.pcapng", zipped):
        code, stdout, err = md(capsys, "report", path)
        assert code == 3 and stdout == ""
        one_error(err, str(path), "not a maildetour report", "maildetour analyze")


def test_report_on_text_binary_and_deep_json(tmp_path, capsys, sample):
    cases = {
        "dovecot.log": ((sample / "dovecot.log").read_bytes(), "does not start with '{'"),
        "latin1.json": ('{"schema": "maildetour.report/1", "x": "caf\xe9"}'.encode("latin-1"), "not UTF-8"),
        "deep.json": (b'{"schema": "maildetour.report/1", "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
                      "not a maildetour report"),
        "cut.json": (b'{"schema": "maildetour.report/1", "flows": [', "invalid JSON"),
        "array.json": (b"[1, 2, 3]", "does not start"),
        "empty.json": (b"", "does not start"),
    }
    for name, (data, words) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        code, stdout, err = md(capsys, "report", path)
        assert code == 3, (name, err)
        assert stdout == ""
        one_error(err, str(path), "not a maildetour report", words)
    latin = tmp_path / "latin1.json"
    assert f"offset {latin.read_bytes().index(b'\xe9')}:" in one_error(md(capsys, "report", latin)[2])


def _garbled(report: dict) -> dict[str, dict]:
    """The real report with one part replaced by nonsense of the wrong type."""
    def with_(**parts) -> dict:
        return {**report, **parts}

    first = report["flows"][0]
    return {
        "flows-a-string": with_(flows="garbage"),
        "flows-of-numbers": with_(flows=[1, 2, None]),
        "flow-fields-wrong": with_(flows=[{**first, "client": "x", "server": 7, "names": [], "packets": "many"}]),
        "verdict-a-list": with_(verdict=[1, 2]),
        "verdict-fields-wrong": with_(verdict={**report["verdict"], "receive": 5, "vendors": {"a": 1},
                                               "relays": "x", "summary": {"x": 1}}),
        "findings-garbage": with_(findings=[None, 5, {"kind": 3, "flows": "x", "frames": {}}]),
        "inputs-garbage": with_(inputs={"path": 1}),
        "dns-garbage": with_(dns=[{"query": None, "answers": 5}]),
        "mail-server-garbage": with_(mail_server={"logs": "x", "logins": 3}),
        "case-garbage": with_(case=[None]),
        "findings-a-number": with_(findings=1),
        "bytes-too-big": with_(stats={**report["stats"], "by_category": [
            {**report["stats"]["by_category"][0], "bytes": 1e308}]}),
        "timeline-spans-a-string": with_(timeline={**report["timeline"], "lanes": [
            {**report["timeline"]["lanes"][0], "spans": "x"}]}),
    }


def test_report_with_the_schema_but_garbage_inside_is_exit_3_not_70(tmp_path, capsys, sample):
    good = tmp_path / "r.json"
    assert md(capsys, "analyze", *relayed_args(sample), "-o", good)[0] == 0
    report = json.loads(good.read_text())
    for name, bad in _garbled(report).items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bad))
        for fmt in ("md", "html", "csv", "json"):
            code, stdout, err = md(capsys, "report", path, "--format", fmt, "--lang", "de")
            assert code in (0, 3), (name, fmt, err)  # rendered despite the nonsense, or refused: never a crash
            if code == 3:
                one_error(err, str(path))
                assert stdout == ""
            else:
                assert err == "" and stdout


# -- 14: a capture after --logs ----------------------------------------------------------------------------

def test_capture_after_logs_is_analysed_as_a_capture(tmp_path, capsys, sample):
    usual, swallowed = tmp_path / "usual.json", tmp_path / "swallowed.json"
    assert md(capsys, "analyze", *relayed_args(sample), "-q", "-o", usual)[0] == 0
    code, _, err = md(capsys, "analyze", "--case", sample / "case.toml", "--catalog", LAB_CATALOG,
                      "--logs", sample / "dovecot.log", sample / "submission.log", sample / "phone.pcapng",
                      "-q", "-o", swallowed)
    assert code == 0, err
    a, b = json.loads(usual.read_text()), json.loads(swallowed.read_text())
    assert [Path(i["path"]).name for i in b["inputs"]] == ["phone.pcapng"]
    assert [log["path"] for log in b["mail_server"]["logs"]] == [log["path"] for log in a["mail_server"]["logs"]]
    assert len(b["mail_server"]["logs"]) == 2
    assert b["verdict"] == a["verdict"] and b["verdict"]["summary"] == "relayed"
    assert b["flows"] == a["flows"]


def test_gzip_capture_and_flow_file_after_logs_gzip_log_stays_a_log(tmp_path, capsys, sample):
    from mitmproxy.io import FlowWriter
    from mitmproxy.test import tflow

    log_gz = tmp_path / "dovecot.log.gz"
    log_gz.write_bytes(gzip.compress((sample / "dovecot.log").read_bytes()))
    cap_gz = tmp_path / "phone.pcapng.gz"
    cap_gz.write_bytes(gzip.compress((sample / "phone.pcapng").read_bytes()))
    flows = tmp_path / "proxy.dump"  # a mitmproxy flow file without the .mitm suffix: known by its content
    with open(flows, "wb") as fh:
        FlowWriter(fh).add(tflow.tflow(resp=True))
    assert [is_capture(str(p)) for p in (log_gz, cap_gz, flows, sample / "dovecot.log")] == [False, True, True, False]
    out = tmp_path / "r.json"
    code, _, err = md(capsys, "analyze", "--case", sample / "case.toml", "--logs", log_gz, cap_gz, flows,
                      "-q", "-o", out)
    assert code == 0, err
    report = json.loads(out.read_text())
    assert [Path(i["path"]).name for i in report["inputs"]] == [cap_gz.name, flows.name]
    assert "pcapng" in report["inputs"][0]["format"] and report["inputs"][1]["format"] == "mitm"
    assert [Path(log["path"]).name for log in report["mail_server"]["logs"]] == [log_gz.name]


def test_log_lines_that_look_like_a_length_prefix_stay_logs(tmp_path):
    log = tmp_path / "maillog"
    log.write_text("12:34:56 mail dovecot: imap-login: Login: user=<lab>, rip=127.42.0.2\n")
    assert not is_capture(str(log))
    assert not is_capture(str(tmp_path / "missing.log"))


def test_no_capture_anywhere_is_a_usage_error(capsys, sample):
    code, _, err = md(capsys, "analyze", "--logs", sample / "dovecot.log", sample / "submission.log")
    assert code == 2
    one_error(err, "no CAPTURE given", "--logs")
    code, _, err = md(capsys, "analyze", "--case", sample / "case.toml")
    assert code == 2
    one_error(err, "no CAPTURE given")


# -- 16: the verdict line and the missing-mail-host warning ----------------------------------------------

def test_verdict_line_on_stderr_when_writing_a_file(tmp_path, capsys, sample):
    out = tmp_path / "r.json"
    code, stdout, err = md(capsys, "analyze", *relayed_args(sample), "-o", out)
    assert code == 0 and stdout == ""
    report = json.loads(out.read_text())
    assert lines(err) == [verdict_line(report)]
    assert err.startswith("verdict: relayed  (mail host contacted by the phone: no;")
    assert "mail relay: Lab Vendor" in err


def test_verdict_line_on_stderr_when_the_report_goes_to_stdout(capsys, sample):
    code, stdout, err = md(capsys, "analyze", *relayed_args(sample))
    assert code == 0
    report = json.loads(stdout)  # stdout is the report alone
    assert lines(err) == [verdict_line(report)]


def test_quiet_prints_nothing(tmp_path, capsys, sample):
    code, stdout, err = md(capsys, "analyze", str(sample / "phone.pcapng"), "--quiet", "-o", tmp_path / "r.json")
    assert (code, stdout, err) == (0, "", "")


def test_forgotten_mail_host_is_a_warning_line(tmp_path, capsys, sample):
    out = tmp_path / "r.json"
    code, _, err = md(capsys, "analyze", sample / "phone.pcapng", "-o", out)
    assert code == 0
    report = json.loads(out.read_text())
    assert "no-mail-host" in report["verdict"]["missing"]
    warning, verdict = lines(err)
    assert warning.startswith("maildetour: warning: no mail host given") and "--mail-host" in warning
    assert verdict == verdict_line(report)
    assert verdict.startswith("verdict: inconclusive") and "missing: no-mail-host" in verdict
    code, _, err = md(capsys, "analyze", sample / "phone.pcapng", "--mail-host", "mail.example.test", "-o", out)
    assert code == 0 and "warning" not in err  # a mail host from the flags is enough


def test_verdict_line_is_one_line_without_terminal_escapes():
    report = {"verdict": {"summary": "relayed", "mail_host_contacted": True, "receive": {"status": "direct"},
                          "send": {"status": "not-observed"}, "missing": [],
                          "relays": [{"owner": "evil\x1b[31m\nvendor" + "x" * 500}],
                          "vendors": [{"owner": "Lab Vendor", "categories": ["mail-relay"]},
                                      {"owner": "Ads", "categories": ["ads-analytics"]}]}}
    line = verdict_line(report)
    assert "\n" not in line and "\x1b" not in line and len(line) < 300
    assert "mail relay: Lab Vendor, evil?[31m?vendor" in line and "Ads" not in line
    assert "contacted by the phone: yes; receive direct, send not-observed" in line
    assert verdict_line({"schema": "x"}).startswith("verdict: none")


def test_demo_prints_the_same_verdict_line(tmp_path, capsys, sample):
    from analysis import demo

    assert demo.main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "demo-report.json").read_text())
    assert verdict_line(report) in lines(printed)


def test_installed_command_prints_the_verdict_line(tmp_path, sample):
    exe = Path(sys.executable).with_name("maildetour")
    if not exe.exists():
        pytest.skip(f"{exe} is not installed (pip install -e .)")
    out = tmp_path / "report.html"
    proc = subprocess.run([str(exe), "analyze", *relayed_args(sample), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert LOOKS["html"](out.read_text())
    [line] = lines(proc.stderr)
    assert line.startswith("verdict: relayed  (") and "mail relay: Lab Vendor" in line


# -- 20: --help ------------------------------------------------------------------------------------------

COMMANDS = {
    "analyze": ["--case", "--mail-host", "--mail-ip", "--device", "--format", "-o", "--lang", "--keylog"],
    "flows": ["--format", "-o"],
    "logs": ["--case", "--account", "--device", "--format", "-o"],
    "report": ["--format", "--lang", "-o"],
    "lab run": ["--out", "--proxy"],
}


def _subparser(path: str):
    import argparse

    parser = cli.build_parser()
    for word in path.split():
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[word]
    return parser


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_describes_every_option_defaults_exit_codes_and_an_example(capsys, command):
    with pytest.raises(SystemExit) as stop:
        cli.main([*command.split(), "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "exit codes:" in text and "example:" in text
    for code in ("0 ", "1 ", "2 ", "3 "):
        assert f"\n  {code}" in text.split("exit codes:")[1]
    for name in COMMANDS[command]:  # the contract's option names, exactly
        assert f"{name} " in text or f"{name}," in text, name
    parser = _subparser(command)
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{command}: {action.option_strings or action.dest} has no help"
        shown = formatter._get_help_string(action)
        has_default = action.option_strings and action.default is not None and action.default is not False
        if has_default:
            assert "(default: " in shown, f"{command}: {action.option_strings} does not show its default"
        if action.dest == "output":
            assert "stdout" in shown
    example = text.split("example:")[1].strip().splitlines()[0]
    argv = shlex.split(example)
    assert argv[0] == "maildetour"
    cli.build_parser().parse_args(argv[1:])  # the example is a valid command line


def test_help_says_the_suffix_picks_the_format(capsys):
    for command in ("analyze", "report", "logs"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "wins over the suffix of -o" in text and "(default: from the suffix of -o" in text


# -- pipes: read once, by the loader (bash's <(zcat x.gz) is a pipe) -------------------------------------


def _fifo_with(tmp_path: Path, name: str, data: bytes):
    import os
    import threading

    path = tmp_path / name
    os.mkfifo(path)

    def feed() -> None:
        with open(path, "wb") as fh:
            fh.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    return path, writer


def test_a_capture_and_a_log_through_pipes_give_the_same_report(tmp_path, capsys, sample):
    case = sample / "case.toml"
    code, _, err = md(capsys, "analyze", sample / "phone.pcapng", "--case", case, "--logs", sample / "dovecot.log",
                      "-q", "-o", tmp_path / "file.json")
    assert code == 0, err
    capture, w1 = _fifo_with(tmp_path, "capture-pipe", (sample / "phone.pcapng").read_bytes())
    log, w2 = _fifo_with(tmp_path, "log-pipe", (sample / "dovecot.log").read_bytes())
    code, _, err = md(capsys, "analyze", capture, "--case", case, "--logs", log, "-q", "-o", tmp_path / "pipe.json")
    w1.join(5), w2.join(5)
    assert code == 0, err
    by_file, by_pipe = (json.loads((tmp_path / n).read_text()) for n in ("file.json", "pipe.json"))
    assert by_pipe["flows"] == by_file["flows"] and by_pipe["verdict"] == by_file["verdict"]
    assert by_pipe["inputs"][0]["sha256"] == by_file["inputs"][0]["sha256"]
    assert not is_capture(str(log))  # a pipe among --logs is never read to guess its kind


@pytest.mark.parametrize("offset", ["nan", "inf", "-inf", "soon"])
def test_an_impossible_log_offset_is_a_usage_error(tmp_path, capsys, sample, offset):
    with pytest.raises(SystemExit) as exit_info:
        md(capsys, "analyze", sample / "phone.pcapng", f"--log-offset={offset}", "-o", tmp_path / "r.json")
    assert exit_info.value.code == 2 and "--log-offset" in capsys.readouterr().err
