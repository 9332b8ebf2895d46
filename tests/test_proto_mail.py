"""IMAP/POP3/SMTP line parsing, recognising the dialogue, the MailSession follower; SOCKS handshakes in front."""

from __future__ import annotations

import base64

import pytest

from analysis.protocols import socks
from analysis.protocols.mail import (
    POP3_PORTS,
    SMTP_PORTS,
    MailSession,
    app_protocol,
    client_protocol,
    greeting_protocol,
    parse_command,
    recognise,
    reply_kind,
)

SECRET = "Canary-Pa55word!"


def _run(protocol: str, dialogue: list[tuple[str, bytes]]) -> MailSession:
    """Feed (side, line) pairs; the frame number of a client line is its index in the dialogue."""
    session = MailSession(protocol)
    for frame, (side, line) in enumerate(dialogue, start=1):
        if side == "C":
            session.client_line(line, frame)
        else:
            session.server_line(line)
    return session


def _no_secret(session: MailSession) -> None:
    text = repr(session) + repr(vars(session))
    assert SECRET not in text
    assert base64.b64encode(f"\0lft2\0{SECRET}".encode()).decode() not in text


def test_greetings_and_client_guesses() -> None:
    assert greeting_protocol(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.") == "imap"
    assert greeting_protocol(b"* PREAUTH ready") == "imap"
    assert greeting_protocol(b"+OK POP3 ready") == "pop3"
    assert greeting_protocol(b"220 mx.example.org ESMTP Postfix") == "smtp"
    assert greeting_protocol(b"220-multi line") == "smtp"
    assert greeting_protocol(b"SSH-2.0-OpenSSH") is None
    assert client_protocol(b"EHLO [10.23.42.50]") == "smtp"
    assert client_protocol(b"a001 CAPABILITY") == "imap"
    assert client_protocol(b"CAPA") == "pop3"
    assert client_protocol(b"AUTH LOGIN", 25) == "smtp"
    assert client_protocol(b"AUTH LOGIN", 110) == "pop3"
    assert client_protocol(b"AUTH LOGIN", 8080) is None
    assert client_protocol(b"GET / HTTP/1.1") is None


def test_imap_starttls_then_nothing_in_clear() -> None:
    s = _run("imap", [
        ("S", b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready"),
        ("C", b"a1 CAPABILITY"), ("S", b"* CAPABILITY IMAP4rev1 STARTTLS"), ("S", b"a1 OK done"),
        ("C", b"a2 STARTTLS"), ("S", b"a2 OK Begin TLS negotiation now"),
    ])
    assert s.commands == ["CAPABILITY", "STARTTLS"]
    assert s.starttls and s.awaiting_tls and not s.cleartext_credentials


def test_imap_starttls_refused_continues_in_clear() -> None:
    s = _run("imap", [
        ("C", b"a2 STARTTLS"), ("S", b"a2 BAD not supported"),
        ("C", f"a3 LOGIN lft2 {SECRET}".encode()), ("S", b"a3 OK logged in"),
    ])
    assert s.starttls_requested and s.starttls_refused and not s.starttls
    assert s.cleartext_credentials and s.credential_frames == [3] and s.mechanisms == ["LOGIN"]
    _no_secret(s)


def test_imap_login_literal_and_authenticate() -> None:
    session = MailSession("imap")
    assert session.client_line(b"a1 LOGIN {4}", 1) == 4  # the literal's bytes follow and are no line
    assert session.cleartext_credentials
    s = _run("imap", [
        ("C", b"a4 AUTHENTICATE PLAIN"), ("S", b"+ "),
        ("C", base64.b64encode(f"\0lft2\0{SECRET}".encode())), ("S", b"a4 OK"),
        ("C", b"a5 SELECT INBOX"),
    ])
    assert s.mechanisms == ["PLAIN"] and s.credential_frames == [3]
    assert s.commands == ["AUTHENTICATE", "SELECT"]
    _no_secret(s)
    scram = _run("imap", [("C", b"a1 AUTHENTICATE SCRAM-SHA-256"), ("S", b"+ "), ("C", b"biwsbj1sZnQy"),
                          ("S", b"+ cj1..."), ("C", b"Yz1iaXdz"), ("S", b"a1 OK")])
    assert scram.mechanisms == ["SCRAM-SHA-256"] and not scram.cleartext_credentials
    oauth_ir = _run("imap", [("C", b"a1 AUTHENTICATE XOAUTH2 dXNlcj1sZnQy"), ("S", b"a1 OK")])
    assert oauth_ir.cleartext_credentials and oauth_ir.mechanisms == ["XOAUTH2"]


def test_pop3_user_pass_and_stls() -> None:
    s = _run("pop3", [("S", b"+OK ready"), ("C", b"CAPA"), ("S", b"+OK"), ("S", b"STLS"), ("S", b"."),
                      ("C", b"USER lft2"), ("S", b"+OK"), ("C", f"PASS {SECRET}".encode()), ("S", b"+OK")])
    assert s.commands == ["CAPA", "USER", "PASS"] and s.mechanisms == ["USER"]
    assert s.cleartext_credentials and s.credential_frames == [8]
    _no_secret(s)
    tls = _run("pop3", [("S", b"+OK ready"), ("C", b"STLS"), ("S", b"+OK Begin TLS")])
    assert tls.starttls and tls.awaiting_tls


def test_smtp_auth_login_and_data_body_is_not_commands() -> None:
    s = _run("smtp", [
        ("S", b"220 mx ESMTP"), ("C", b"EHLO phone.local"), ("S", b"250-mx"), ("S", b"250 AUTH PLAIN LOGIN"),
        ("C", b"AUTH LOGIN"), ("S", b"334 VXNlcm5hbWU6"), ("C", b"bGZ0Mg=="), ("S", b"334 UGFzc3dvcmQ6"),
        ("C", base64.b64encode(SECRET.encode())), ("S", b"235 ok"),
        ("C", b"MAIL FROM:<lft2@example.org>"), ("C", b"RCPT TO:<x@example.net>"), ("C", b"DATA"),
        ("S", b"354 go"), ("C", b"Subject: QUIT"), ("C", b"RSET"), ("C", b"."), ("C", b"QUIT"),
    ])
    assert s.commands == ["EHLO phone.local", "AUTH LOGIN", "MAIL", "RCPT", "DATA", "QUIT"]
    assert s.mechanisms == ["LOGIN"] and s.credential_frames == [7, 9]
    assert "lft2@example.org" not in repr(s)  # envelope addresses are not kept
    _no_secret(s)


def test_smtp_auth_plain_initial_response_and_starttls() -> None:
    ir = base64.b64encode(f"\0lft2\0{SECRET}".encode())
    s = _run("smtp", [("C", b"EHLO x"), ("C", b"AUTH PLAIN " + ir), ("S", b"235 2.7.0 ok")])
    assert s.cleartext_credentials and s.credential_frames == [2]
    _no_secret(s)
    t = _run("smtp", [("C", b"EHLO x"), ("C", b"STARTTLS"), ("S", b"220 2.0.0 Ready to start TLS")])
    assert t.starttls and t.commands == ["EHLO x", "STARTTLS"]
    refused = _run("smtp", [("C", b"STARTTLS"), ("S", b"454 TLS not available"), ("C", b"QUIT")])
    assert not refused.starttls and refused.commands == ["STARTTLS", "QUIT"]
    cram = _run("smtp", [("C", b"AUTH CRAM-MD5"), ("S", b"334 PDQ1Nj4="), ("C", b"bGZ0MiBkaWdlc3Q="),
                         ("S", b"235 ok")])
    assert cram.mechanisms == ["CRAM-MD5"] and not cram.cleartext_credentials


def test_reply_kinds_and_odd_lines() -> None:
    assert reply_kind("imap", b"+ go ahead") == "continue"
    assert reply_kind("imap", b"* OK still here", "a1") == "info"
    assert reply_kind("imap", b"a1 NO [AUTHENTICATIONFAILED]", "a1") == "no"
    assert reply_kind("smtp", b"250-PIPELINING") == "info"
    assert reply_kind("smtp", b"354 End data with <CR><LF>.<CR><LF>") == "data"
    assert reply_kind("pop3", b"-ERR no") == "no"
    for line in (b"", b" ", b"\x00\xff", b"a" * 5000, b"a1", b"AUTH", b"BDAT x"):
        for proto in ("imap", "pop3", "smtp"):
            parse_command(proto, line)
            reply_kind(proto, line)
    assert parse_command("smtp", b"BDAT 1000 LAST").literal == 1000
    assert parse_command("imap", b"a APPEND INBOX {99999999999}").literal == 0  # over 9 digits: no literal


def test_socks5_and_socks4a_handshakes() -> None:
    client = b"\x05\x01\x00" + b"\x05\x01\x00\x03\x10imap.example.org\x03\xe1"
    status, req = socks.parse_client(client + b"a1 CAPABILITY\r\n")
    assert status == "ok" and (req.version, req.host, req.port) == (5, "imap.example.org", 993)
    assert req.client_length == len(client)
    assert socks.parse_client(client[:10])[0] == "need-more"
    server = b"\x05\x00" + b"\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38"
    assert socks.server_length(5, server + b"* OK") == ("ok", len(server))
    assert socks.server_length(5, b"\x05\x00\x05\x05\x00\x01")[0] in ("no", "need-more")
    v4a = b"\x04\x01\x00\x19\x00\x00\x00\x01user\x00smtp.example.org\x00"
    status, req = socks.parse_client(v4a)
    assert status == "ok" and (req.host, req.port, req.client_length) == ("smtp.example.org", 25, len(v4a))
    assert socks.server_length(4, b"\x00\x5a\x00\x00\x00\x00\x00\x00") == ("ok", 8)
    assert socks.parse_client(b"\x16\x03\x01")[0] == "no"


# ---- the one follower: recognising the dialogue, its app protocol word, bytes fed in order ------------------

@pytest.mark.parametrize(("server", "client", "port", "whole", "expected"), [
    (b"* OK Dovecot ready.", None, 10143, False, "imap"),
    (b"+OK POP3 ready", None, 8110, False, "pop3"),
    (b"220 mx.example.org ESMTP Postfix", None, 8025, False, "smtp"),  # "SMTP" in the banner
    (b"220 ready", None, 465, False, "smtp"),  # a bare 220 on an SMTP port (465 included)
    (b"220 ready", None, 2525, False, "smtp"),
    (b"220 ProFTPD", b"USER anonymous", 21, False, ""),  # a bare 220 elsewhere needs an SMTP client
    (b"220 relay", b"EHLO phone", 10025, False, "smtp"),
    (b"220 relay", None, 10025, True, None),  # ... so a proxy waits for the client's first line
    (None, b"a1 CAPABILITY", 10143, False, "imap"),  # the client's first command
    (None, b"\x00binary", 143, False, "imap"),  # a plaintext mail port: the capture may begin mid-session
    (b"* 3 EXISTS", None, 143, False, "imap"),
    (b"* 3 EXISTS", None, 143, True, ""),  # ... but not when the proxy saw the server greet otherwise
    (b"HTTP/1.1 200 OK", None, 993, False, None),  # implicit-TLS ports are never guessed from text
    (b"HTTP/1.1 200 OK", b"GET / HTTP/1.1", 8080, False, ""),
    (None, None, 143, False, None),
])
def test_recognise(server, client, port, whole, expected) -> None:
    assert recognise(server, client, port, whole) == expected


@pytest.mark.parametrize(("dialogue", "port", "tls", "expected"), [
    ("imap", 143, False, "imap"),
    ("smtp", 587, False, "submission"),
    ("smtp", 2525, False, "smtp"),
    ("imap", 993, True, "imaps"),
    ("smtp", 587, True, "smtps"),
    ("pop3", 995, True, "pop3s"),
    ("", 143, False, None),  # recognised as not mail: the port does not decide
    (None, 993, True, "imaps"),  # nothing readable: the port, served the way the connection went
    (None, 993, False, None),
    (None, 143, True, None),
    (None, 2525, False, "smtp"),
    (None, 995, None, "pop3s"),  # TLS unknown: any mail port
    (None, 8080, None, None),
])
def test_app_protocol(dialogue, port, tls, expected) -> None:
    assert app_protocol(dialogue, port, tls) == expected


def test_port_sets_follow_the_vocabulary() -> None:
    assert SMTP_PORTS == {25, 465, 587, 2525} and POP3_PORTS == {110, 995}
    assert client_protocol(b"AUTH LOGIN", 2525) == "smtp"  # 2525: the alternative submission port


def _feed(session: MailSession, client: bool, chunks: list[bytes]) -> list[int]:
    """Feed chunks as a stream would deliver them (unused bytes wait, as a loader keeps them); the frame of a
    byte is the number of the chunk it came in. Returns the bytes used per call."""
    pending, starts, used_per_call = b"", [], []
    for number, chunk in enumerate(chunks, start=1):
        starts.append((len(pending), number))  # where each chunk's bytes begin in ``pending``
        pending += chunk
        marks = tuple(starts)
        used = session.feed(client, pending, lambda i, marks=marks: max(n for at, n in marks if at <= i))
        used_per_call.append(used)
        pending = pending[used:]
        starts = [(max(0, at - used), n) for at, n in starts]
    return used_per_call


def test_feed_passes_literals_by_exact_count_across_chunks() -> None:
    s = MailSession("imap")
    s.feed(False, b"* OK ready\r\n", lambda i: 1)
    body = b"From: a\r\na9 LOGIN bob hunter2\r\n" + b"x" * 6000  # a message quoting a LOGIN, one long line
    head = b"a1 APPEND INBOX {%d}\r\n" % len(body)
    _feed(s, True, [head + body[:3000], body[3000:5000], body[5000:] + b"\r\n",
                    f"a2 LOGIN lft2 {SECRET}\r\n".encode()])
    assert s.commands == ["APPEND", "LOGIN"] and s.credential_frames == [4]
    _no_secret(s)


def test_feed_reads_the_rest_of_a_command_after_its_literal_as_its_continuation() -> None:
    """MULTIAPPEND (RFC 3502): the second literal's size is on the line after the first literal."""
    s = MailSession("imap")
    quoted = b"c LOGIN bob secret\r\n"
    _feed(s, True, [b"a APPEND INBOX {5}\r\nhello {%d}\r\n" % len(quoted) + quoted + b"\r\n", b"b NOOP\r\n"])
    assert s.commands == ["APPEND", "NOOP"] and not s.cleartext_credentials


def test_feed_stops_at_tls_and_drops_runaway_lines() -> None:
    s = MailSession("smtp")
    assert s.feed(False, b"220 mx ESMTP\r\n", lambda i: 1) == 14
    hello = b"\x16\x03\x01\x00\x05hello"
    assert s.feed(True, b"EHLO x\r\nSTARTTLS\r\n" + hello, lambda i: 2) == 18  # the TLS bytes wait
    used = s.feed(False, b"220 go ahead\r\n\x16\x03\x03", lambda i: 3)
    assert used == 14 and s.starttls and s.awaiting_tls  # the server's TLS bytes wait too
    runaway = MailSession("pop3")
    assert runaway.feed(True, b"X" * 5000, lambda i: 1) == 5000  # no line end within MAX_LINE: dropped
    assert runaway.feed(True, b"X" * 100, lambda i: 2) == 0  # a short unfinished line waits
    assert runaway.feed(True, b"X" * 100 + b"\r\nUSER lft2\r\n", lambda i: 3) == 113
    assert runaway.commands == ["USER"]
