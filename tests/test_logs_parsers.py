"""The log-line parsers (timestamps, Dovecot, Cyrus, Exim, Postfix, netstat/ss rows, redaction) and reading
log files: impossible zones, the ends of time, named pipes."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analysis.cli import main
from analysis.logs import cyrus, dovecot, exim, netstat, postfix
from analysis.logs.events import LogEvent, Noise
from analysis.logs.parse import dispatch, read_log
from analysis.logs.scrub import scrub
from analysis.logs.syslog import Stamp, StampError, YearTracker, split_timestamp
from analysis.redact import Redactor

ROOT = Path(__file__).resolve().parents[1]


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# ---- timestamps ------------------------------------------------------------------------------------------


def test_bsd_syslog_timestamp_needs_a_year():
    stamp, rest = split_timestamp("Sep  2 10:38:16 cyrus imaps[41490]: login: ...")
    assert rest == "cyrus imaps[41490]: login: ..."
    assert stamp.year is None and stamp.utc_offset is None
    assert stamp.epoch() is None
    assert stamp.epoch(2020) == _utc("2020-09-02T10:38:16")


def test_iso_rfc5424_and_exim_timestamps():
    stamp, rest = split_timestamp("2026-11-28T22:44:51+0000 imap-login: Info: Login: user=<a>")
    assert stamp.epoch() == _utc("2026-11-28T22:44:51") and rest.startswith("imap-login")
    stamp, rest = split_timestamp("<34>1 2020-08-28T11:07:56.250+02:00 cyrus imaps 68216 - - login: x")
    assert stamp.epoch() == _utc("2020-08-28T09:07:56.250") and rest.startswith("cyrus imaps")
    stamp, rest = split_timestamp("2020-08-28 11:08:49 1kBaNn-000JZF-ET <= a@b H=[1.2.3.4]")
    assert stamp.utc_offset is None and stamp.epoch() == _utc("2020-08-28T11:08:49")
    assert split_timestamp("no time here") == (None, "no time here")


def test_year_rolls_over_from_december_to_january():
    tracker = YearTracker(2020)
    dec = Stamp(12, 31, 23, 59, 0)
    jan = Stamp(1, 1, 0, 1, 0)
    assert tracker.year_for(dec) == 2020
    assert tracker.year_for(jan) == 2021 and tracker.rollovers == 1
    assert Stamp(2, 30, 0, 0, 0).epoch(2021) is None  # impossible date: no time, no crash


# ---- Dovecot ---------------------------------------------------------------------------------------------


def test_dovecot_login_with_tls_and_session():
    e = dovecot.parse(
        "mx dovecot: imap-login: Login: user=<lft2@example.org>, method=PLAIN, rip=192.0.2.7, "
        "lip=10.0.0.5, mpid=4711, TLS, session=<Pf9Q7F1hWJJ/AAAB>"
    )
    assert isinstance(e, LogEvent)
    assert (e.kind, e.service, e.account, e.address, e.method, e.tls, e.session) == (
        "login",
        "imap",
        "lft2@example.org",
        "192.0.2.7",
        "PLAIN",
        True,
        "Pf9Q7F1hWJJ/AAAB",
    )


def test_dovecot_pop3_login_without_tls():
    e = dovecot.parse(
        "pop3-login: Info: Login: user=<lft2>, method=LOGIN, rip=2001:db8::7, lip=2001:db8::1, "
        "mpid=9, secured, session=<x>"
    )
    assert (e.service, e.address, e.tls) == ("pop3", "2001:db8::7", False)


def test_dovecot_failures_from_login_and_auth_processes():
    e = dovecot.parse(
        "imap-login: Info: Disconnected: Aborted login by logging out (auth failed, 3 attempts in "
        "9 secs): user=<lft2>, method=PLAIN, rip=198.51.100.9, lip=10.0.0.5, TLS, session=<s1>"
    )
    assert (e.kind, e.attempts, e.address, e.session, e.success) == (
        "failure",
        3,
        "198.51.100.9",
        "s1",
        False,
    )
    e = dovecot.parse(
        "imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<lft2>, method=PLAIN, "
        "rip=198.51.100.9, lip=10.0.0.5, session=<s2>"
    )
    assert e.kind == "failure" and e.session == "s2"
    e = dovecot.parse(  # Dovecot 2.3.20+ wording
        "imap-login: Info: Login aborted: Connection closed (auth failed, 2 attempts in 4 secs) "
        "(auth_failed): user=<lft2>, method=PLAIN, rip=198.51.100.9, lip=10.0.0.5, TLS, session=<s3>"
    )
    assert (e.kind, e.attempts, e.session) == ("failure", 2, "s3")
    e = dovecot.parse("auth: Info: passwd-file(lft2,198.51.100.9,<s1>): Password mismatch")
    assert (e.kind, e.account, e.address, e.session) == ("auth-failure", "lft2", "198.51.100.9", "s1")
    noise = dovecot.parse(
        "imap-login: Info: Disconnected: Connection closed (no auth attempts in 0 secs): "
        "user=<>, rip=127.0.0.1, lip=127.0.0.5, session=<x>"
    )
    assert isinstance(noise, Noise)


def test_dovecot_session_end():
    e = dovecot.parse("imap(lft2)<12567><KGi27F1hT75/AAAC>: Info: Disconnected: Logged out in=32 out=788")
    assert (e.kind, e.account, e.session) == ("logout", "lft2", "KGi27F1hT75/AAAC")
    assert dovecot.parse("something else entirely") is None


# ---- Cyrus -----------------------------------------------------------------------------------------------


def test_cyrus_login_as_in_the_memo():
    e = cyrus.parse(
        "cyrus imaps[68216]: login: [52.125.140.74] lft2 LOGIN+TLS User logged in "
        "SESSIONID=<[REDACTED]-68216-1598605676-1-7251846154066095578>"
    )
    assert (e.kind, e.software, e.service, e.account, e.address, e.method, e.tls) == (
        "login",
        "cyrus",
        "imap",
        "lft2",
        "52.125.140.74",
        "LOGIN",
        True,
    )
    assert e.session == "[REDACTED]-68216-1598605676-1-7251846154066095578"


def test_cyrus_login_with_host_name_and_pop3():
    e = cyrus.parse("mail pop3[77]: login: client.example.net [192.0.2.7] lft2 plaintext User logged in")
    assert (e.service, e.address, e.method, e.tls) == ("pop3", "192.0.2.7", "plaintext", False)


def test_cyrus_badlogin():
    e = cyrus.parse(
        "imaps[4711]: badlogin: [192.0.2.7] PLAIN [SASL(-13): authentication failure: checkpass failed]"
    )
    assert (e.kind, e.address, e.method, e.account) == ("failure", "192.0.2.7", "PLAIN", "")
    e = cyrus.parse(
        "imap[4711]: badlogin: host.example [192.0.2.8] plaintext lft2 SASL(-13): authentication "
        "failure: checkpass failed"
    )
    assert (e.kind, e.address, e.account) == ("failure", "192.0.2.8", "lft2")


# ---- Exim ------------------------------------------------------------------------------------------------

EXIM_MEMO = (
    "exim exim[75221]: 1kBaNn-000JZF-ET <= lft2@[REDACTED] H=(mail.outlook.com) [52.125.140.74]:36622 "
    'P=esmtpsa L- X=TLS1.2:ECDHE-RSA-AES256-SHA384:256 CV=no SNI="[REDACTED]" A=sasl_login:lft2 S=1242 M8S=0 '
    "RT=0.161s id=5EADD75739850053.400b0a2c-3232-458a-85c4-4b71ab5a11a9@mail.outlook.com from "
    "<lft2@[REDACTED]> for [REDACTED]"
)


def test_exim_authenticated_submission_from_the_memo():
    e = exim.parse(EXIM_MEMO)
    assert (e.kind, e.service, e.account, e.address, e.port, e.method, e.tls, e.session) == (
        "submission",
        "submission",
        "lft2",
        "52.125.140.74",
        36622,
        "LOGIN",
        True,
        "1kBaNn-000JZF-ET",
    )


def test_exim_inbound_smtp_and_auth_failure_and_noise():
    e = exim.parse("1rA2bC-0001Xy-7Q <= news@example.net H=mx.example.net [203.0.113.5]:41000 P=esmtp S=900")
    assert (e.service, e.account, e.tls) == ("smtp", "", False)
    e = exim.parse(
        "login authenticator failed for (helo.example) [198.51.100.9]:5123: 535 Incorrect "
        "authentication data (set_id=lft2)"
    )
    assert (e.kind, e.account, e.address, e.port, e.method) == (
        "failure",
        "lft2",
        "198.51.100.9",
        5123,
        "LOGIN",
    )
    assert isinstance(exim.parse("exim[75221]: no host name found for IP address 52.125.140.74"), Noise)


# ---- Postfix ---------------------------------------------------------------------------------------------


def test_postfix_sasl_client_and_failure():
    e = postfix.parse(
        "mx postfix/submission/smtpd[4711]: 5D2B21C0: client=unknown[192.0.2.7]:53112, "
        "sasl_method=PLAIN, sasl_username=lft2@example.org"
    )
    assert (e.kind, e.service, e.account, e.address, e.port, e.method, e.session) == (
        "submission",
        "submission",
        "lft2@example.org",
        "192.0.2.7",
        53112,
        "PLAIN",
        "5D2B21C0",
    )
    e = postfix.parse("postfix/smtpd[4711]: 4F1C2: client=mail.example.net[203.0.113.5]")
    assert (e.service, e.account) == ("smtp", "")
    e = postfix.parse(
        "postfix/smtpd[4711]: warning: unknown[198.51.100.9]: SASL LOGIN authentication failed: "
        "UGFzc3dvcmQ6, sasl_username=lft2"
    )
    assert (e.kind, e.account, e.address, e.method) == ("failure", "lft2", "198.51.100.9", "LOGIN")
    assert isinstance(postfix.parse("postfix/smtpd[4711]: connect from unknown[198.51.100.9]"), Noise)


def test_dispatch_names_the_software():
    assert dispatch("imaps[1]: login: [192.0.2.1] u PLAIN User logged in")[0] == "cyrus"
    assert dispatch("random text") == ("", None)


# ---- netstat / ss ----------------------------------------------------------------------------------------


def test_netstat_bsd_linux_and_ss_rows():
    c = netstat.parse_row("tcp4      0      0 10.23.42.103.993       52.125.138.94.56460    ESTABLISHED")
    assert (c.local, c.local_port, c.remote, c.remote_port, c.state) == (
        "10.23.42.103",
        993,
        "52.125.138.94",
        56460,
        "ESTABLISHED",
    )
    c = netstat.parse_row("tcp        0      0 10.0.0.5:587            192.0.2.7:40112         ESTABLISHED")
    assert (c.local_port, c.remote, c.service) == (587, "192.0.2.7", "submission")
    c = netstat.parse_row("ESTAB  0      0      [::ffff:10.0.0.5]:993      [::ffff:52.125.140.74]:51654")
    assert (c.local, c.remote, c.established) == ("10.0.0.5", "52.125.140.74", True)
    c = netstat.parse_row("tcp6  0  0 2001:db8::1:143  2001:db8::7:50000  TIME_WAIT")
    assert (c.local, c.local_port, c.remote, c.state) == ("2001:db8::1", 143, "2001:db8::7", "TIME_WAIT")
    assert (
        netstat.parse_row("Proto Recv-Q Send-Q Local Address           Foreign Address         (state)")
        is None
    )
    assert netstat.parse_row("udp4  0  0  *.53  *.*") is None


def test_snapshot_kind_by_content():
    assert netstat.sniff(["Active Internet connections", "Proto Recv-Q Send-Q Local Address"]) == "netstat"
    assert netstat.sniff(["State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process"]) == "ss"
    assert netstat.sniff(["ESTAB 0 0 10.0.0.5:993 192.0.2.7:5000"]) == "ss"
    assert (
        netstat.sniff(["Aug 28 11:07:56 cyrus imaps[68216]: login: [52.125.140.74] lft2 LOGIN+TLS"]) is None
    )


# ---- redaction -------------------------------------------------------------------------------------------


def test_scrub_removes_sasl_payloads_and_passwords():
    canary = "Teschtle0816"
    r = Redactor()
    r.add(canary)
    lines = [
        "smtp in: AUTH PLAIN AGxmdDIAVGVzY2h0bGUwODE2",
        "auth: passwd-file(lft2,1.2.3.4,<s>): Password mismatch (given password: Teschtle0816)",
        "auth: Debug: client in: AUTH\t1\tPLAIN\tservice=imap\tresp=<AGxmdDIAVGVzY2h0bGUwODE2>",
        "badlogin from 1.2.3.4 password=hunter22 user=lft2",
        f"imap-login: Login: user=<{canary}>, rip=1.2.3.4",
    ]
    out = [scrub(line, r) for line in lines]
    joined = "\n".join(out)
    assert canary not in joined and "AGxmdDIAVGVzY2h0bGUwODE2" not in joined and "hunter22" not in joined
    assert "AUTH PLAIN [REDACTED]" in out[0] and "given password: [REDACTED]" in out[1]
    assert len(scrub("x" * 10000)) <= 2001


def test_wireshark_filter_for_log_addresses():
    from analysis.logs.correlate import address_filter

    assert (
        address_filter(["52.125.140.74", "2001:db8::7"]) == "ip.addr==52.125.140.74 || ipv6.addr==2001:db8::7"
    )
    assert address_filter([]) == ""


# ---- time zones and the ends of time ---------------------------------------------------------------------

LOGIN = "imap-login: Info: Login: user=<lab>, method=PLAIN, rip=192.0.2.7, lip=10.0.0.5, TLS, session=<s{}>"
BAD_ZONES = {  # one line per parser, each with a zone of 24 hours or more (or 60 minutes)
    "dovecot": "2026-11-28T23:05:08+99:99 " + LOGIN.format(1),
    "cyrus": "2026-11-28T23:05:08.250-2400 cyrus imaps[68216]: login: [192.0.2.8] lab PLAIN User logged in",
    "exim": "2026-11-28 23:05:08 +2400 1kBaNn-000JZF-ET <= lab@example.org H=(x) [192.0.2.9]:4000 P=esmtpsa "
    "A=plain:lab",
    "postfix": "2026-11-28T23:05:08-24:00 mx postfix/submission/smtpd[1]: 5D2B21C0: client=unknown[192.0.2.10], "
    "sasl_method=PLAIN, sasl_username=lab",
    "syslog": "<34>1 2026-11-28T23:05:08+05:60 mx dovecot - - - " + LOGIN.format(2),
}


@pytest.mark.parametrize("zone", ["+99:99", "-2400", "+2400", "-24:00", "+05:60", "+0099"])
def test_a_zone_of_a_day_or_more_is_a_stamp_error(zone):
    with pytest.raises(StampError, match="out of range") as exc:
        split_timestamp(f"2026-11-28T23:05:08{zone} imap-login: x")
    assert zone in str(exc.value) and "\n" not in str(exc.value)


def test_the_widest_zones_are_read():
    stamp, _ = split_timestamp("2026-11-28T23:59:00+23:59 x")
    assert stamp.utc_offset == 86340 and stamp.epoch() == _utc("2026-11-28T00:00:00")
    stamp, _ = split_timestamp("2026-11-28 00:00:00 -2359 x")
    assert stamp.epoch() == _utc("2026-11-28T23:59:00")


@pytest.mark.parametrize("software", sorted(BAD_ZONES))
def test_lines_with_a_bad_zone_are_refused_and_counted(tmp_path, software):
    """Each parser's line with an impossible zone: skipped as malformed (unmatched, one warning); the good
    line after it is still read."""
    good = "2026-11-28T23:05:09+01:00 " + LOGIN.format(3)
    log = tmp_path / "mail.log"
    log.write_text(f"{BAD_ZONES[software]}\n{BAD_ZONES[software]}\n{good}\n")
    info = read_log(str(log), 2026)
    assert (info.lines, info.parsed, info.unmatched, info.bad_times) == (3, 1, 2, 2)
    assert [e.address for e in info.events] == ["192.0.2.7"]
    assert info.events[0].time == _utc("2026-11-28T22:05:09")
    assert info.warnings[0].startswith("line 1: time zone ") and "out of range" in info.warnings[0]
    assert "2 lines with an unreadable timestamp were skipped" in info.warnings
    assert dispatch(BAD_ZONES[software].split(" ", 1)[1])[0] in ("dovecot", "cyrus", "exim", "postfix")


ENDS_OF_TIME = [  # (line's time, its UTC text or None when it falls outside the years 1-9999)
    ("0001-01-01T23:59:00+23:59", "0001-01-01T00:00:00.000000Z"),
    ("9999-12-31T00:00:00-23:59", "9999-12-31T23:59:00.000000Z"),
    ("0001-01-01 00:00:00", "0001-01-01T00:00:00.000000Z"),
    ("9999-12-31T23:59:59+0000", "9999-12-31T23:59:59.000000Z"),
    ("0001-01-01T00:00:00+23:59", None),
    ("9999-12-31T23:59:59-23:59", None),
]


def test_years_1_and_9999_with_the_widest_zones(tmp_path):
    """Times at the ends of the years datetime can hold are read, sorted and written; a zone that moves them
    past either end refuses the line instead of crashing."""
    log = tmp_path / "ends.log"
    log.write_text("".join(f"{t} {LOGIN.format(i)}\n" for i, (t, _) in enumerate(ENDS_OF_TIME)))
    info = read_log(str(log), 2026)
    expected = [text for _, text in ENDS_OF_TIME if text]
    assert [e.to_json()["time"] for e in info.events] == expected
    assert info.unmatched == 2 and "outside the years 1-9999 in UTC" in info.warnings[0]
    with pytest.raises(StampError):
        Stamp(1, 1, 0, 0, 0, year=1, utc_offset=60).epoch()
    assert Stamp(12, 31, 23, 0, 0, year=9999).epoch(9999) is not None


def test_ends_of_time_through_every_command(tmp_path, capsys):
    """Year-1 and year-9999 lines through ``logs`` (JSON and Markdown) and ``analyze`` with the shipped
    capture (compared with its flows, the case's timeline, HTML with charts): no crash, the times as read."""
    shipped = ROOT / "captures" / "direct"
    if not shipped.is_dir():
        pytest.skip(f"{shipped} is absent")
    log = tmp_path / "ends.log"
    log.write_text("".join(f"{t} {LOGIN.format(i)}\n" for i, (t, _) in enumerate(ENDS_OF_TIME)) + BAD_ZONES["exim"])
    out = tmp_path / "logs.json"
    assert main(["logs", str(log), "--account", "lab", "-o", str(out)]) == 0
    view = json.loads(out.read_text())
    assert [e["time"] for e in view["events"]] == sorted(t for _, t in ENDS_OF_TIME if t)  # in time order
    assert (view["origins"][0]["first"], view["origins"][0]["last"]) == (
        "0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.000000Z"
    )
    assert main(["logs", str(log), "--account", "lab", "--format", "md", "-o", str(tmp_path / "logs.md")]) == 0
    case = ["--case", str(shipped / "case.toml")]
    for fmt in ("json", "html"):
        report = tmp_path / f"report.{fmt}"
        code = main(["analyze", str(shipped / "phone.pcapng"), *case, "--logs", str(log), "--format", fmt,
                     "--quiet", "-o", str(report)])
        assert code == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "report.json").read_text())
    late = next(f for f in doc["findings"] if f["kind"] == "login-after-removal")
    assert late["details"]["last"] == "9999-12-31T23:59:59.000000Z"  # later than the case's app_removed
    assert "0001-01-01" in (tmp_path / "report.html").read_text()
    for fmt in ("md", "html", "csv"):  # re-rendered from the JSON alone
        assert main(["report", str(tmp_path / "report.json"), "--format", fmt, "-o", str(tmp_path / f"re.{fmt}")]) == 0
    ends = tmp_path / "ends.toml"  # the case's timeline at the ends of time too
    ends.write_text('[mail]\nhosts = ["mail.example.test"]\n[timeline]\naccount_added = 0001-01-01T23:59:00+23:59\n'
                    'app_removed = "9999-12-31T00:00:00-23:59"\n')
    assert main(["analyze", str(shipped / "phone.pcapng"), "--case", str(ends), "--logs", str(log), "--format",
                 "html", "--quiet", "-o", str(tmp_path / "ends.html")]) == 0
    assert main(["analyze", str(shipped / "phone.pcapng"), *case, "--logs", str(log), "--log-offset", "1e12",
                 "--quiet", "-o", str(tmp_path / "shifted.json")]) == 0  # shifted past year 9999: no time, no crash
    assert "Traceback" not in capsys.readouterr().err


# ---- streams ---------------------------------------------------------------------------------------------


def _through_fifo(tmp_path, data: bytes, read):
    """``read(path)`` of a FIFO that a thread fills with ``data``."""
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "wb") as fh:
            fh.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        return read(str(fifo))
    finally:
        writer.join(timeout=30)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_fifo_is_read_as_a_stream(tmp_path, compress):
    """A named pipe (``<(zcat ...)``, ``mkfifo``) gives what the same bytes in a file give, hash included."""
    text = "".join(f"2026-11-28T23:05:0{i}+0100 {LOGIN.format(i)}\n" for i in range(5)) + "Nov 28 23:06:00 mx x\n"
    data = gzip.compress(text.encode()) if compress else text.encode()
    plain = tmp_path / "mail.log"
    plain.write_bytes(data)
    from_file = read_log(str(plain), 2026)
    from_fifo = _through_fifo(tmp_path, data, lambda p: read_log(p, 2026))
    assert from_fifo.sha256 == from_file.sha256 == hashlib.sha256(data).hexdigest()
    assert from_fifo.compressed is compress and from_fifo.complete
    assert [(e.time, e.address, e.line) for e in from_fifo.events] == [
        (e.time, e.address, e.line) for e in from_file.events
    ]
    assert (from_fifo.lines, from_fifo.parsed, from_fifo.unmatched) == (6, 5, 1)


def test_maildetour_logs_reads_a_fifo(tmp_path, capsys):
    text = "".join(f"2026-11-28T23:05:0{i}+0000 {LOGIN.format(i)}\n" for i in range(3))
    out = tmp_path / "out.json"
    code = _through_fifo(tmp_path, text.encode(), lambda p: main(["logs", p, "--account", "lab", "-o", str(out)]))
    assert code == 0 and capsys.readouterr().err == ""
    view = json.loads(out.read_text())
    assert view["origins"][0]["count"] == 3 and view["logs"][0]["sha256"] == hashlib.sha256(text.encode()).hexdigest()


def test_retime_gives_what_a_fresh_read_gives(tmp_path):
    """The Cyrus year hint re-times the year-less lines in place (a stream cannot be read twice)."""
    log = tmp_path / "cyrus.log"
    log.write_text(
        "Dec 31 23:59:00 cyrus imaps[1]: login: [192.0.2.7] lab PLAIN User logged in "
        "SESSIONID=<h-1-1609459140-1-1>\n"
        "Jan  1 00:01:00 cyrus imaps[2]: login: [192.0.2.8] lab PLAIN User logged in\n"
    )
    retimed = read_log(str(log), 2019)
    assert retimed.year_hint == 2020  # the session id's epoch is 2020-12-31T23:59:00Z
    retimed.retime(2020)
    fresh = read_log(str(log), 2020)
    assert [e.time for e in retimed.events] == [e.time for e in fresh.events] == [
        _utc("2020-12-31T23:59:00"), _utc("2021-01-01T00:01:00")
    ]
    assert retimed.to_json() == fresh.to_json() and retimed.year_hint is None
