"""A real Dovecot on loopback: logins from the "phone" and a "vendor" address, its real log correlated."""

from __future__ import annotations

import imaplib
import json
import ssl

import pytest

from analysis.case import Case
from analysis.catalog import Catalog
from analysis.cli import main
from analysis.lab.dovecot import SourceIMAP4, start_dovecot
from analysis.logs.correlate import correlate_logs
from tests.conftest import require_tool

PASSWORD = "Canary-77-Lab"
WRONG = "not-the-password-19"
PHONE, VENDOR = "127.0.0.2", "127.0.0.3"


@pytest.fixture(scope="module")
def dovecot_log(tmp_path_factory):
    require_tool("dovecot")
    work = tmp_path_factory.mktemp("dovecot")
    users = {"lft2": PASSWORD, "other": "other-pass-1"}
    with start_dovecot(work, "127.0.0.9", users=users, cert=True) as server:
        tls = ssl.create_default_context(cafile=str(server.cert_path))
        for source, starttls in ((PHONE, False), (VENDOR, False), (VENDOR, True)):
            client = SourceIMAP4(server.address, server.imap_port, source)
            if starttls:
                client.starttls(tls)
            assert client.login("lft2", PASSWORD)[0] == "OK"
            client.select("INBOX")
            client.logout()
        client = SourceIMAP4(server.address, server.imap_port, VENDOR)
        with pytest.raises(imaplib.IMAP4.error):
            client.login("lft2", WRONG)
        client.logout()
        client = SourceIMAP4(server.address, server.imap_port, "127.0.0.4")
        assert client.login("other", "other-pass-1")[0] == "OK"
        client.logout()
        server.wait_for_log("Logged out", 4)
        server.wait_for_log("auth failed", 1)
    return server.log_path


def _case() -> Case:
    case = Case(username="lft2", devices=[PHONE])
    case.set_canary(PASSWORD)
    return case


def test_real_dovecot_log_is_parsed_and_correlated(dovecot_log):
    result = correlate_logs([str(dovecot_log)], _case(), None, Catalog.load())
    view, findings = result.view, result.findings
    (log,) = view["logs"]
    assert log["software"] == ["dovecot"] and log["parsed"] >= 8 and log["complete"]
    origins = {o["address"]: o for o in view["origins"]}
    assert set(origins) == {PHONE, VENDOR}  # the other account's login is not the test account's
    assert origins[PHONE]["is_device"] and origins[PHONE]["count"] == 1 and origins[PHONE]["failures"] == 0
    assert not origins[VENDOR]["is_device"]
    assert origins[VENDOR]["count"] == 2 and origins[VENDOR]["failures"] == 1
    assert origins[VENDOR]["owner"] == "not in any catalog" and origins[VENDOR]["services"] == ["imap"]
    (third,) = [f for f in findings if f.kind == "third-party-login"]
    assert third.details["addresses"] == [VENDOR] and third.details["count"] == 2
    assert all(f"rip={VENDOR}" in line for line in third.log_lines)
    logins = [e for e in view["events"] if e["kind"] == "login"]
    assert {e["address"] for e in logins} == {PHONE, VENDOR}
    assert all(e["method"] == "PLAIN" and e["session"] and e["time"].startswith("20") for e in logins)
    assert sorted((e["address"], e["tls"]) for e in logins) == [
        (PHONE, False),
        (VENDOR, False),
        (VENDOR, True),
    ]


def test_password_never_in_output(dovecot_log, capsys):
    assert main(["logs", str(dovecot_log), "--account", "lft2", "--device", PHONE, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert PASSWORD not in json.dumps(doc) and WRONG not in json.dumps(doc)
    assert [o["address"] for o in doc["origins"] if not o["is_device"]] == [VENDOR]
    assert main(["logs", str(dovecot_log), "--account", "lft2", "--device", PHONE, "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert PASSWORD not in md and f"| lft2 | {VENDOR} | not in any catalog |" in md


def test_long_dovecot_sessions_are_persistent_connections(tmp_path):
    """A vendor session logged in at 10:00 and out at 10:40 held the mailbox open for 40 minutes."""
    log = tmp_path / "dovecot.log"
    log.write_text(
        "2026-03-01T10:00:00+0000 imap-login: Info: Login: user=<lft2>, method=PLAIN, rip=198.51.100.9, "
        "lip=10.0.0.5, mpid=7, TLS, session=<AAA>\n"
        "2026-03-01T10:01:00+0000 imap-login: Info: Login: user=<lft2>, method=PLAIN, rip=10.0.0.50, "
        "lip=10.0.0.5, mpid=8, TLS, session=<BBB>\n"
        "2026-03-01T10:02:00+0000 imap(lft2)<8><BBB>: Info: Disconnected: Logged out in=1 out=2\n"
        "2026-03-01T10:40:00+0000 imap(lft2)<7><AAA>: Info: Disconnected: Logged out in=1 out=2\n"
    )
    case = Case(username="lft2", devices=["10.0.0.50"])
    findings = correlate_logs([str(log)], case, None, Catalog.load()).findings
    (held,) = [f for f in findings if f.kind == "persistent-connection"]
    assert held.details["source"] == "log" and held.details["remotes"] == ["198.51.100.9"]
    assert held.details["longest_minutes"] == 40 and held.details["still_open"] == 0
    assert "40 minutes" in held.message
