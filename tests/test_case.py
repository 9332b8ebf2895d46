"""The case file and the command-line overrides: parsing, validation, and the canary never stored."""

from __future__ import annotations

import json
import sys

import pytest

from analysis.case import Case, MailHost, load_case
from analysis.errors import CaseError

FULL = """
[account]
address  = "lft2@example.org"
username = "lft2"
canary_env = "MAILDETOUR_TEST_CANARY"

[mail]
hosts     = ["imap.example.org:993", "smtp.example.org:587", "203.0.113.25"]
addresses = ["203.0.113.26", "2001:DB8:0::25"]

[device]
addresses = ["10.23.42.50"]

[timeline]
account_added = "2020-08-28T11:07:00+02:00"
app_removed   = 2020-09-01T12:00:00+02:00
"""


def write(tmp_path, text: str):
    path = tmp_path / "case.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "text, host, port",
    [
        ("imap.example.org:993", "imap.example.org", 993),
        ("MAIL.Example.ORG.", "mail.example.org", None),
        ("203.0.113.25:25", "203.0.113.25", 25),
        ("[2001:DB8::1]:993", "2001:db8::1", 993),
        ("2001:db8:0::1", "2001:db8::1", None),
        ("[2001:db8::1]", "2001:db8::1", None),
    ],
)
def test_mail_host_parse(text, host, port):
    parsed = MailHost.parse(text)
    assert (parsed.host, parsed.port) == (host, port)
    assert MailHost.parse(str(parsed)) == parsed  # str() round-trips, IPv6 with brackets


@pytest.mark.parametrize(
    "text, needle",
    [
        ("", "empty"),
        ("imap.example.org:0", "1-65535"),
        ("imap.example.org:99999", "1-65535"),
        ("imap.example.org:imap", "1-65535"),
        ("[2001:db8::1:993", "missing ']'"),
        ("user@example.org", "not a host name"),
        ("mail example.org", "not a host name"),
        (":993", "no host name"),
    ],
)
def test_mail_host_errors(text, needle):
    with pytest.raises(CaseError) as exc:
        MailHost.parse(text)
    assert needle in str(exc.value)
    assert "\n" not in str(exc.value)


def test_full_case_file(tmp_path):
    case = load_case(write(tmp_path, FULL), environ={"MAILDETOUR_TEST_CANARY": "Teschtle0816"})
    assert case.account_address == "lft2@example.org"
    assert case.accounts == ["lft2", "lft2@example.org"]
    assert case.mail_host_names() == {"imap.example.org", "smtp.example.org"}
    assert case.mail_host_ips() == {"203.0.113.25", "203.0.113.26", "2001:db8::25"}
    assert case.devices == ["10.23.42.50"]
    assert case.account_added.isoformat() == "2020-08-28T11:07:00+02:00"
    assert case.app_removed.utcoffset().total_seconds() == 7200
    assert case.canary == "Teschtle0816"


def test_canary_is_never_serialised(tmp_path):
    case = load_case(write(tmp_path, FULL), environ={"MAILDETOUR_TEST_CANARY": "Teschtle0816"})
    dumped = json.dumps(case.to_json())
    assert "Teschtle0816" not in dumped
    assert "Teschtle0816" not in repr(case)
    assert case.to_json()["canary"] == {"env": "MAILDETOUR_TEST_CANARY", "set": True}
    assert case.redactor().text("pw=Teschtle0816") == "pw=[REDACTED]"


def test_canary_env_unset(tmp_path):
    case = load_case(write(tmp_path, FULL), environ={})
    assert case.canary is None
    assert case.to_json()["canary"]["set"] is False


def test_no_file_gives_empty_case():
    case = load_case(None)
    assert case.mail_hosts == [] and case.devices == [] and case.canary is None


def test_flags_override_the_file(tmp_path):
    case = load_case(write(tmp_path, FULL), environ={})
    case.override(
        mail_hosts=["mail.example.net:143"],
        mail_ips=["198.51.100.9"],
        devices=["10.0.0.5"],
        account="other@example.net",
    )
    assert [str(h) for h in case.mail_hosts] == ["mail.example.net:143"]
    assert case.mail_host_ips() == {"198.51.100.9"}
    assert case.devices == ["10.0.0.5"]
    assert case.account_address == "other@example.net"
    assert case.username == "lft2"  # untouched: the flag named an address
    case.override(account="someone")
    assert case.username == "someone"


def test_override_without_flags_keeps_file(tmp_path):
    case = load_case(write(tmp_path, FULL), environ={})
    before = case.to_json()
    case.override()
    assert case.to_json() == before


@pytest.mark.parametrize(
    "text, needle",
    [
        ('[mail]\nhosts = ["imap.example.org:99999"]\n', "1-65535"),
        ("[mail]\nhosts = [993]\n", "list of strings"),
        ('[mail]\naddresses = ["not-an-ip"]\n', "not an IP address"),
        ('[device]\naddresses = ["10.0.0.300"]\n', "not an IP address"),
        ('[timeline]\naccount_added = "2020-08-28T11:07:00"\n', "UTC offset"),
        ('[timeline]\naccount_added = "yesterday"\n', "ISO 8601"),
        ("[mial]\nhosts = []\n", "unknown section"),
        ('[mail]\nhost = ["imap.example.org"]\n', "unknown key(s) host in [mail]"),
        ('mail = "imap.example.org"\n', "[mail] must be a table"),
        ("[mail\nhosts = 1\n", "invalid TOML"),
    ],
)
def test_invalid_case_file_is_one_clear_error(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(CaseError) as exc:
        load_case(path, environ={})
    message = str(exc.value)
    assert path in message and needle in message
    assert "\n" not in message


def test_missing_case_file(tmp_path):
    with pytest.raises(CaseError) as exc:
        load_case(str(tmp_path / "absent.toml"))
    assert "cannot read case file" in str(exc.value)


def test_bad_flags_are_case_errors():
    with pytest.raises(CaseError, match="--device"):
        Case().override(devices=["phone"])
    with pytest.raises(CaseError, match="--mail-ip"):
        Case().override(mail_ips=["mail.example.org"])


def test_cli_reports_a_bad_case_file_on_one_line(tmp_path):
    import subprocess

    path = write(tmp_path, '[mail]\nhosts = ["imap.example.org:70000"]\n')
    proc = subprocess.run(
        [sys.executable, "-m", "analysis.cli", "logs", str(tmp_path / "none.log"), "--case", path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and path in lines[0] and "Traceback" not in proc.stderr


# ---- every key type-checked, and files that are no case file at all ------------------------------------


@pytest.mark.parametrize(
    "text, key, needle",
    [
        ("[account]\naddress = 5\n", "account.address", "expected a string, not an integer"),
        ("[account]\nusername = [1]\n", "account.username", "not an array"),
        ("[account]\ncanary_env = true\n", "account.canary_env", "not a boolean"),
        ('[mail]\nhosts = ["imap.example.org", 5]\n', "mail.hosts", "list of strings, not one with an integer"),
        ("[mail]\nhosts = {a = 1}\n", "mail.hosts", "not a table"),
        ('[mail]\nhosts = ["imap.example.org:\u00b2"]\n', "mail.hosts", "1-65535"),
        ('[mail]\naddresses = ["203.0.113.1", "mail"]\n', "mail.addresses", "not an IP address"),
        ("[device]\naddresses = 3.5\n", "device.addresses", "not a float"),
        ('[device]\naddresses = ["10.0.0.1/24"]\n', "device.addresses", "not an IP address"),
        ("[timeline]\naccount_added = 17\n", "timeline.account_added", "not an integer"),
        ("[timeline]\naccount_added = 2020-08-28\n", "timeline.account_added", "not a date"),
        ("[timeline]\naccount_added = 11:07:00\n", "timeline.account_added", "not a time"),
        ("[timeline]\napp_removed = 2020-08-28T11:07:00\n", "timeline.app_removed", "needs a UTC offset"),
        ('[timeline]\napp_removed = "2020-08-28T11:07:00+99:99"\n', "timeline.app_removed", "not an ISO 8601"),
        ("[timeline]\napp_removed = 0001-01-01T00:00:00+23:59\n", "timeline.app_removed", "years 1-9999 in UTC"),
        ('[timeline]\napp_removed = "9999-12-31T23:59:59-23:59"\n', "timeline.app_removed", "years 1-9999"),
    ],
)
def test_every_key_is_type_checked(tmp_path, text, key, needle):
    path = write(tmp_path, text)
    with pytest.raises(CaseError) as exc:
        load_case(path, environ={})
    message = str(exc.value)
    assert message.startswith(f"{path}: {key}: ") and needle in message, message
    assert "\n" not in message


def test_the_widest_zones_inside_the_years_are_accepted(tmp_path):
    path = write(tmp_path, "[timeline]\naccount_added = 0001-01-01T23:59:00+23:59\n"
                           'app_removed = "9999-12-31T00:00:00-23:59"\n')
    case = load_case(path, environ={})
    assert case.account_added.timestamp() == -62135596800.0  # 0001-01-01T00:00:00Z
    assert case.to_json()["timeline"]["app_removed"] == "9999-12-31T00:00:00-23:59"


@pytest.mark.parametrize(
    "data, needle",
    [
        (b"[account]\naddress = \"caf\xe9@example.org\"\n", "offset 24: not a UTF-8 text file"),
        (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(16), "offset 0: not a UTF-8 text file"),  # a pcap
        (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "invalid TOML: nested too deeply"),
        (b"# " + b"x" * (2 << 20) + b"\n", "not a case file"),
    ],
    ids=["latin-1", "pcap", "deep", "huge"],
)
def test_a_file_that_is_no_case_file(tmp_path, data, needle):
    path = tmp_path / "case.toml"
    path.write_bytes(data)
    with pytest.raises(CaseError) as exc:
        load_case(str(path), environ={})
    assert str(exc.value).startswith(f"{path}: ") and needle in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("command", ["logs", "analyze"])
def test_cli_refuses_a_binary_case_file_on_one_line(tmp_path, capsys, command):
    """Any binary file given as --case: exit 2, one stderr line naming it (not an internal error)."""
    from analysis.cli import main

    blob = tmp_path / "phone.pcapng"
    blob.write_bytes(bytes(range(256)) * 4)
    log = tmp_path / "mail.log"
    log.write_text("2026-11-28T23:05:08+0000 imap-login: Info: Login: user=<lab>, rip=192.0.2.7\n")
    target = str(log) if command == "logs" else str(blob)
    assert main([command, target, "--case", str(blob), "-o", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(blob) in lines[0] and "not a UTF-8 text file" in lines[0]
    assert not (tmp_path / "out").exists()
