"""The memo's own Cyrus, Exim and netstat lines, read as real log files and correlated with the case."""

from __future__ import annotations

import gzip
import json

import pytest

from analysis.case import load_case
from analysis.catalog import Catalog
from analysis.cli import main
from analysis.errors import InputError
from analysis.logs.correlate import correlate_logs
from analysis.logs.parse import read_log
from analysis.model import Capture, Endpoint, Flow
from analysis.pipeline import logs_view
from analysis.report.logsview import render_logs

CANARY = "Teschtle0816"  # the memo's test password: it must never appear in any output

# The memo quotes these lines wrapped; a log file has each on one line.
CYRUS_MEMO = [
    "Aug 28 11:07:56 cyrus imaps[68216]: login: [52.125.140.74] lft2 LOGIN+TLS User logged in "
    "SESSIONID=<[REDACTED]-68216-1598605676-1-7251846154066095578>",
    "Aug 28 11:12:39 cyrus imaps[75933]: login: [52.125.138.94] lft2 LOGIN+TLS User logged in "
    "SESSIONID=<[REDACTED]-75933-1598605959-1-1865504613446843484>",
    "Aug 28 13:40:18 cyrus imaps[88817]: login: [52.125.138.94] lft2 LOGIN+TLS User logged in "
    "SESSIONID=<[REDACTED]-88817-1598614817-1-10708460015531101292>",
    "Aug 28 13:40:18 cyrus imaps[87882]: login: [52.125.138.94] lft2 LOGIN+TLS User logged in "
    "SESSIONID=<[REDACTED]-87882-1598614818-1-8872240340624646673>",
]
CYRUS_AFTER_REMOVAL = [
    "Sep  2 10:38:16 cyrus imaps[41490]: login: [52.125.138.94] lft2 LOGIN+TLS User logged in "
    "SESSIONID=<[REDACTED]-41490-1599035896-1-11058160043874696523>",
    "Sep  2 11:10:15 cyrus imaps[50291]: login: [52.125.140.74] lft2 LOGIN+TLS User logged in "
    "SESSIONID=<[REDACTED]-50291-1599037815-1-9325482903716871814>",
    "Sep  2 11:10:16 cyrus imaps[11887]: login: [52.125.140.74] lft2 LOGIN+TLS User logged in "
    "SESSIONID=<[REDACTED]-11887-1599037815-1-958401625021725865>",
    "Sep  2 11:39:22 cyrus imaps[56138]: login: [52.125.138.94] lft2 LOGIN+TLS User logged in "
    "SESSIONID=<[REDACTED]56138-1599039561-1-16356951987953391022>",
    "Sep  2 11:39:23 cyrus imaps[39440]: login: [52.125.138.94] lft2 LOGIN+TLS User logged in "
    "SESSIONID=<[REDACTED]-39440-1599039562-1-1267589854112029711>",
]
# The memo lists six addresses but quotes lines for two; the other four, in the memo's exact line format
# (session ids carry the UTC start, the clock is CEST as in the quoted lines), within its 4.5-hour window.
CYRUS_LISTED = [
    "Aug 28 12:02:11 cyrus imaps[70112]: login: [52.125.138.29] lft2 LOGIN+TLS User logged in "
    "SESSIONID=<[REDACTED]-70112-1598608931-1-5512093377410296081>",
    "Aug 28 12:31:40 cyrus imaps[71840]: login: [52.125.140.101] lft2 LOGIN+TLS User logged in "
    "SESSIONID=<[REDACTED]-71840-1598610700-1-2291874551093277143>",
    "Aug 28 13:15:03 cyrus imaps[80457]: login: [52.125.141.101] lft2 LOGIN+TLS User logged in "
    "SESSIONID=<[REDACTED]-80457-1598613303-1-7730459120348812261>",
    "Aug 28 13:36:27 cyrus imaps[87010]: login: [52.125.141.99] lft2 LOGIN+TLS User logged in "
    "SESSIONID=<[REDACTED]-87010-1598614587-1-3312876540021199871>",
]
EXIM_MEMO = [
    "Aug 28 11:08:49 exim exim[75221]: no host name found for IP address 52.125.140.74",
    "Aug 28 11:08:49 exim exim[75221]: 1kBaNn-000JZF-ET <= lft2@[REDACTED] H=(mail.outlook.com) "
    '[52.125.140.74]:36622 P=esmtpsa L- X=TLS1.2:ECDHE-RSA-AES256-SHA384:256 CV=no SNI="[REDACTED]" '
    "A=sasl_login:lft2 S=1242 M8S=0 RT=0.161s id=5EADD75739850053.400b0a2c-3232-458a-85c4-4b71ab5a11a9"
    "@mail.outlook.com from <lft2@[REDACTED]> for [REDACTED]",
    "Aug 28 11:13:49 exim exim[75221]: SMTP command timeout on TLS connection from (mail.outlook.com) "
    "[52.125.140.74]:36622",
]
NETSTAT_MEMO = [
    "# netstat -n | egrep '(52.125.1|Active Inter|Proto)'",
    "Active Internet connections",
    "Proto Recv-Q Send-Q Local Address           Foreign Address         (state)",
    "tcp4      0      0 10.23.42.103.993       52.125.138.94.56460    ESTABLISHED",
    "tcp4      0      0 10.23.42.103.993       52.125.138.94.56440    ESTABLISHED",
    "tcp4      0      0 10.23.42.103.993       52.125.140.112.48010   ESTABLISHED",
    "tcp4      0      0 10.23.42.103.993       52.125.140.112.47990   ESTABLISHED",
    "tcp4      0      0 10.23.42.103.993       52.125.140.74.51654    ESTABLISHED",
    "tcp4      0      0 10.23.42.103.993       52.125.140.74.51592    ESTABLISHED",
]
SIX = ["52.125.138.29", "52.125.138.94", "52.125.140.101", "52.125.140.74", "52.125.141.101", "52.125.141.99"]

CASE = """
[account]
address = "lft2@example.org"
username = "lft2"
canary_env = "MEMO_CANARY"

[device]
addresses = ["10.23.42.50"]

[timeline]
account_added = "2020-08-28T11:07:00+02:00"
app_removed   = "2020-09-01T12:00:00+02:00"
"""


@pytest.fixture
def memo(tmp_path, monkeypatch):
    """The memo's logs as an operator would hand them over: Cyrus rotated and gzipped, Exim, a snapshot."""
    monkeypatch.setenv("MEMO_CANARY", CANARY)
    cyrus_old = tmp_path / "imapd.log.1.gz"
    cyrus_old.write_bytes(gzip.compress(("\n".join(CYRUS_MEMO + CYRUS_LISTED) + "\n").encode()))
    cyrus_new = tmp_path / "imapd.log"
    cyrus_new.write_text(
        "\n".join(
            CYRUS_AFTER_REMOVAL
            + [
                "Sep  2 11:40:00 cyrus imaps[39441]: badlogin: [52.125.138.94] plaintext lft2 SASL(-13): "
                f"authentication failure: checkpass failed, password={CANARY}",
                "Sep  2 11:41:00 cyrus master[1]: process started",
            ]
        )
        + "\n"
    )
    exim_log = tmp_path / "exim-mainlog"
    exim_log.write_text("\n".join(EXIM_MEMO) + "\n")
    snap = tmp_path / "netstat.txt"
    snap.write_text("\n".join(NETSTAT_MEMO) + "\n")
    case_path = tmp_path / "case.toml"
    case_path.write_text(CASE)
    # deliberately out of order: newest first
    return {"paths": [str(snap), str(cyrus_new), str(exim_log), str(cyrus_old)], "case": str(case_path)}


def _findings(findings, kind):
    return [f for f in findings if f.kind == kind]


def test_memo_six_microsoft_addresses_are_third_party_logins(memo):
    case = load_case(memo["case"])
    result = correlate_logs(memo["paths"], case, None, Catalog.load())
    view, findings = result.view, result.findings
    (third,) = _findings(findings, "third-party-login")
    assert sorted(third.details["addresses"]) == SIX
    assert third.details["owners"] == ["Microsoft"] and third.severity == "high"
    assert third.details["device_known"] is True
    assert any("[52.125.140.74] lft2 LOGIN+TLS User logged in" in line for line in third.log_lines)
    origins = {o["address"]: o for o in view["origins"]}
    assert set(origins) == set(SIX)
    assert all(not o["is_device"] and o["owner"] == "Microsoft" for o in origins.values())
    # 52.125.138.94: 3 logins on Aug 28, 3 on Sep 2, and the failed attempt
    assert origins["52.125.138.94"]["logins"] == 6 and origins["52.125.138.94"]["failures"] == 1
    assert (
        origins["52.125.138.94"]["last"] == "2020-09-02T09:39:23.000000Z"
    )  # the last success, not the failure
    # zone-less times corrected to UTC from Cyrus session ids (the server clock ran on CEST)
    assert origins["52.125.140.74"]["first"] == "2020-08-28T09:07:56.000000Z"
    assert any("UTC+02:00" in w for log in view["logs"] for w in log["warnings"])


def test_memo_exim_submission_from_microsoft(memo):
    view = correlate_logs(memo["paths"], load_case(memo["case"]), None, Catalog.load()).view
    subs = [e for e in view["events"] if e["kind"] == "submission"]
    assert len(subs) == 1
    sub = subs[0]
    assert (sub["software"], sub["service"], sub["address"], sub["account"], sub["tls"]) == (
        "exim",
        "submission",
        "52.125.140.74",
        "lft2",
        True,
    )
    origin = next(o for o in view["origins"] if o["address"] == "52.125.140.74")
    assert origin["submissions"] == 1 and "submission" in origin["services"]


def test_memo_logins_after_removal_on_sep_2(memo):
    findings = correlate_logs(memo["paths"], load_case(memo["case"]), None, Catalog.load()).findings
    (late,) = _findings(findings, "login-after-removal")
    assert late.details["count"] == 5
    assert late.details["addresses"] == ["52.125.138.94", "52.125.140.74"]
    assert late.details["first"].startswith("2020-09-02T08:38:16")
    assert all(line.startswith("Sep  2 ") for line in late.log_lines)


def test_memo_netstat_gives_persistent_connections(memo):
    result = correlate_logs(memo["paths"], load_case(memo["case"]), None, Catalog.load())
    view, findings = result.view, result.findings
    (held,) = _findings(findings, "persistent-connection")
    assert held.details["source"] == "snapshot" and held.details["count"] == 6
    assert held.details["remotes"] == ["52.125.138.94", "52.125.140.112", "52.125.140.74"]
    assert held.details["ports"] == [993] and held.details["holders"] == ["Microsoft"]
    assert len(view["connections"]) == 6
    assert {c["remote_owner"] for c in view["connections"]} == {"Microsoft"}
    snap = next(log for log in view["logs"] if log["kind"] == "netstat")
    assert snap["parsed"] == 6


def test_inputs_counts_and_canary_never_in_output(memo, capsys):
    view = correlate_logs(memo["paths"], load_case(memo["case"]), None, Catalog.load()).view
    by_name = {log["path"].rsplit("/", 1)[-1]: log for log in view["logs"]}
    assert by_name["imapd.log.1.gz"]["compressed"] and by_name["imapd.log.1.gz"]["parsed"] == 8
    assert by_name["imapd.log"]["unmatched"] == 1  # the master line
    assert by_name["exim-mainlog"]["software"] == ["exim"]
    assert all(len(log["sha256"]) == 64 for log in view["logs"])
    for fmt in ("json", "md"):
        assert main(["logs", *memo["paths"], "--case", memo["case"], "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert CANARY not in out and "52.125.141.99" in out
    doc = json.loads(render_logs(logs_view(memo["paths"], load_case(memo["case"])), "json", "en"))
    assert doc["schema"] == "maildetour.logs/1"
    assert {f["kind"] for f in doc["findings"]} == {
        "third-party-login",
        "login-after-removal",
        "persistent-connection",
    }


def test_device_address_in_capture_is_not_third_party(memo, tmp_path):
    """A client in the capture is the device, not a third party; a mail-relay client (a capture taken on
    the server side) is not the device, and its flows are linked to the finding."""
    case = load_case(memo["case"])
    case.devices = []
    phone_log = tmp_path / "phone.log"
    phone_log.write_text(
        "Aug 28 11:20:00 cyrus imaps[70000]: login: [10.23.42.77] lft2 PLAIN+TLS User logged in "
        "SESSIONID=<[REDACTED]-70000-1598606400-1-1>\n"
    )

    def flow(fid: int, client: str) -> Flow:
        return Flow(
            id=fid,
            transport="tcp",
            client=Endpoint(client, 50000),
            server=Endpoint("203.0.113.25", 993),
            first_seen=1598605000.0,
        )

    capture = Capture(flows=[flow(1, "52.125.141.99"), flow(2, "10.23.42.77")])
    paths = memo["paths"] + [str(phone_log)]
    result = correlate_logs(paths, case, capture, Catalog.load(), offset=-3600.0)
    view, findings = result.view, result.findings
    origins = {o["address"]: o for o in view["origins"]}
    assert (
        origins["10.23.42.77"]["is_device"] is True
        and origins["10.23.42.77"]["owner"] == "not in any catalog"
    )
    assert origins["52.125.141.99"]["is_device"] is False
    (third,) = _findings(findings, "third-party-login")
    assert sorted(third.details["addresses"]) == SIX and third.flows == [1]
    assert view["log_offset"] == -3600.0
    assert origins["52.125.141.99"]["first"] == "2020-08-28T10:36:27.000000Z"  # 11:36:27 UTC, shifted


def test_year_from_flag_and_german_messages(tmp_path):
    log = tmp_path / "cyrus.log"
    log.write_text(CYRUS_AFTER_REMOVAL[0] + "\n")
    result = correlate_logs([str(log)], None, None, Catalog.load(), year=2021, lang="de")
    view, findings = result.view, result.findings
    assert view["year"] == 2021 and view["origins"][0]["first"].startswith("2021-09-02")
    assert "Syslog-Zeilen tragen keine Jahreszahl: 2021, aus --year" in view["assumptions"]
    assert any(a.endswith("deuten auf das Jahr 2020") for a in view["assumptions"])  # the session id's year
    (third,) = findings
    assert third.message.startswith("Der Mailserver protokollierte 1 erfolgreiche")


def test_damaged_gzip_gives_what_was_read(tmp_path, capsys):
    data = gzip.compress(("\n".join(CYRUS_MEMO * 200) + "\n").encode())
    broken = tmp_path / "imapd.log.gz"
    broken.write_bytes(data[: len(data) // 2])
    info = read_log(str(broken), 2020)
    assert not info.complete and info.warnings and "damaged gzip" in info.warnings[0]
    assert 0 < len(info.events) < 800 and info.parsed == len(info.events)
    assert main(["logs", str(broken), "--format", "md"]) == 1  # done, but the input was damaged
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "imapd.log.gz: damaged gzip after line" in err
    assert info.damage is not None and info.damage.line == info.lines and info.damage.reason in err
    (entry,) = logs_view([str(broken)], load_case(None))["logs"]
    assert entry["complete"] is False and entry["damage"] == {"line": info.lines, "reason": info.warnings[0]}
    whole = tmp_path / "imapd.log"
    whole.write_text("\n".join(CYRUS_MEMO) + "\n")
    (entry,) = logs_view([str(whole)], load_case(None))["logs"]
    assert entry["complete"] is True and "damage" not in entry


def test_binary_and_missing_files_are_one_clear_error(tmp_path, capsys):
    blob = tmp_path / "capture.bin"
    blob.write_bytes(b"\xd4\xc3\xb2\xa1\x00\x00\x00\x00" * 10)
    with pytest.raises(InputError, match="not a text log"):
        read_log(str(blob), 2020)
    assert main(["logs", str(tmp_path / "nope.log")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.log" in err and "Traceback" not in err


def test_analyze_with_logs_adds_the_mail_server_view(memo, shared_captures, tmp_path):
    """``maildetour analyze CAPTURE --logs ...``: the report carries the view and the log findings."""
    capture = shared_captures / "arkime" / "adb.pcap"
    if not capture.is_file():
        pytest.skip("arkime/adb.pcap is absent")
    out = tmp_path / "report.json"
    code = main(["analyze", str(capture), "--case", memo["case"], "--logs", *memo["paths"], "-o", str(out)])
    assert code in (0, 1)
    report = json.loads(out.read_text())
    view = report["mail_server"]
    assert sorted({o["address"] for o in view["origins"]}) == SIX
    kinds = {f["kind"] for f in report["findings"]}
    assert {"third-party-login", "login-after-removal", "persistent-connection"} <= kinds
    assert CANARY not in out.read_text()


def test_long_lines_and_nul_runs_do_not_stop_the_reader(tmp_path):
    """A line beyond the bound is cut (counted once); a NUL run left by a crash is skipped."""
    log = tmp_path / "mail.log"
    long_line = CYRUS_MEMO[0] + " " + "A" * 100_000
    log.write_text("\n".join([long_line, long_line, "\x00" * 40, CYRUS_MEMO[1]]) + "\n")
    info = read_log(str(log), 2020)
    assert info.complete and info.lines == 4 and info.long_lines == 2
    assert [e.address for e in info.events] == ["52.125.140.74", "52.125.140.74", "52.125.138.94"]
    assert all(len(e.raw) <= 2001 for e in info.events)
    assert sum("longer than" in w for w in info.warnings) == 2  # the first line, then the total
