"""The lab's real Dovecot: starts on a free 127.0.0.x port, logs logins by source address, stops by pid."""

from __future__ import annotations

import base64
import hashlib
import imaplib
import os
import ssl

import pytest

from analysis.lab.dovecot import DovecotError, SourceIMAP4, free_port, start_dovecot
from tests.conftest import require_tool

PASSWORD = "Lab-pass-7731"


def test_plain_logins_from_two_sources_and_a_failure(tmp_path):
    require_tool("dovecot")
    with start_dovecot(tmp_path, "127.0.0.5", users={"lft2": PASSWORD}) as server:
        assert server.imaps_port is None and server.cert_path is None
        pid = server.pid
        phone = SourceIMAP4(server.address, server.imap_port, "127.0.0.2")
        assert phone.login("lft2", PASSWORD)[0] == "OK"
        assert phone.select("INBOX")[0] == "OK"
        phone.logout()
        vendor = SourceIMAP4(server.address, server.imap_port, "127.0.0.3")
        with pytest.raises(imaplib.IMAP4.error):
            vendor.login("lft2", "wrong-guess-55")
        vendor.logout()
        log = server.wait_for_log("auth failed", 1)
    assert server.process is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "Login: user=<lft2>, method=PLAIN, rip=127.0.0.2, lip=127.0.0.5" in log
    assert "rip=127.0.0.3" in log and "auth failed" in log
    assert PASSWORD not in log and "wrong-guess-55" not in log


def test_starttls_and_imaps_with_generated_cert(tmp_path):
    require_tool("dovecot")
    with start_dovecot(tmp_path, "127.0.0.6", cert=True) as server:
        assert server.imaps_port and server.cert_path.is_file()
        ctx = ssl.create_default_context(cafile=str(server.cert_path))
        client = SourceIMAP4(server.address, server.imap_port, "127.0.0.2")
        assert "STARTTLS" in client.capabilities
        client.starttls(ctx)
        assert client.login("lft2", "password")[0] == "OK"
        client.logout()
        secure = imaplib.IMAP4_SSL(server.address, server.imaps_port, ssl_context=ctx)
        assert secure.login("lft2", "password")[0] == "OK"
        secure.logout()
        log = server.wait_for_log(", TLS, session=", 2)
    assert log.count(", TLS, session=") >= 2


def test_refuses_non_loopback_addresses(tmp_path):
    with pytest.raises(DovecotError, match="127.0.0.0/8"):
        start_dovecot(tmp_path, "192.0.2.1")
    assert 0 < free_port("127.0.0.7") < 65536


def test_hashed_password_keeps_the_password_out_of_the_users_file(tmp_path):
    require_tool("dovecot")
    salt = b"\x01\x02\x03\x04\x05\x06\x07\x08"
    hashed = "{SSHA256}" + base64.b64encode(hashlib.sha256(PASSWORD.encode() + salt).digest() + salt).decode()
    with start_dovecot(tmp_path, "127.0.0.8", users={"lft2": hashed}) as server:
        client = SourceIMAP4(server.address, server.imap_port, "127.0.0.2")
        assert client.login("lft2", PASSWORD)[0] == "OK"
        client.logout()
        users_dir = server.runtime_dir or server.workdir
        assert PASSWORD not in (users_dir / "users").read_text()
