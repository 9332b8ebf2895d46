"""IMAP, POP3 and SMTP before TLS: greetings, commands, STARTTLS/STLS, SASL mechanisms, clear-text logins.

The one mail-dialogue follower of both loaders (the capture inspector and the mitmproxy converter):
``recognise`` tells the dialogue from a connection's first lines, ``app_protocol`` gives the contract's word
for it, and ``MailSession`` follows one connection, fed each direction's bytes in order (``feed``) or line by
line (``client_line``/``server_line``). Literals (IMAP ``{n}``, SMTP ``BDAT n``) are passed over by their
exact byte count, and the rest of an IMAP command after a literal is read as its continuation, never as a
command. The session never keeps a password, a SASL payload or a command's arguments (except the EHLO/HELO
name); it only notes *that* a credential crossed in clear text and in which frame.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from analysis.vocab import IMPLICIT_TLS, MAIL_PORTS, TLS_FORM

MAX_COMMANDS = 60
MAX_MECHANISMS = 8
MAX_CREDENTIAL_FRAMES = 16
MAX_LITERAL = 1 << 24
MAX_LINE = 4096  # a longer line is dropped (a runaway line is no command)

IMAP_COMMANDS = frozenset({
    "CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "AUTHENTICATE", "LOGIN", "SELECT", "EXAMINE", "CREATE",
    "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB", "NAMESPACE", "STATUS", "APPEND", "IDLE",
    "CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "UID", "ENABLE",
    "ID", "XLIST", "COMPRESS", "GETQUOTAROOT", "GETQUOTA", "SETQUOTA", "GETACL", "SETACL", "MYRIGHTS",
    "SORT", "THREAD", "GETMETADATA", "SETMETADATA", "XAOL-OPTION",
})
POP3_COMMANDS = frozenset({
    "USER", "PASS", "APOP", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT", "TOP", "UIDL", "CAPA",
    "STLS", "AUTH", "UTF8", "LANG", "LAST",
})
SMTP_COMMANDS = frozenset({
    "HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "VRFY", "EXPN", "HELP", "NOOP", "QUIT",
    "STARTTLS", "AUTH", "XCLIENT", "XFORWARD", "ETRN", "TURN", "ATRN",
})
# SASL mechanisms whose exchange carries the secret itself (base64 is not protection)
CLEARTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN", "XOAUTH2", "XOAUTH", "OAUTHBEARER"})
# the line protocol each mail app protocol speaks (inside TLS for the implicit-TLS ones)
DIALOGUES = {"imap": "imap", "imaps": "imap", "pop3": "pop3", "pop3s": "pop3",
             "smtp": "smtp", "submission": "smtp", "smtps": "smtp"}
PORT_DIALOGUES = {port: DIALOGUES[word] for port, word in MAIL_PORTS.items()}
PLAIN_PORT_DIALOGUES = {port: DIALOGUES[word] for port, word in MAIL_PORTS.items() if word not in IMPLICIT_TLS}
SMTP_PORTS = frozenset(p for p, d in PORT_DIALOGUES.items() if d == "smtp")
POP3_PORTS = frozenset(p for p, d in PORT_DIALOGUES.items() if d == "pop3")

_TAG = re.compile(rb"[A-Za-z0-9.\-_:]{1,32}")
_MECH = re.compile(rb"[A-Za-z0-9\-_]{1,32}")
_LITERAL = re.compile(rb"\{(\d{1,9})\+?\}$")


def _words(line: bytes, n: int) -> list[bytes]:
    return line.strip().split(None, n)


def greeting_protocol(line: bytes) -> str | None:
    """The protocol a server greeting announces: "imap", "pop3", "smtp" (a 220 line) or None."""
    head = line[:12].upper()
    if head.startswith((b"* OK", b"* PREAUTH", b"* BYE")):
        return "imap"
    if head.startswith(b"+OK"):
        return "pop3"
    if head[:4] in (b"220 ", b"220-") or head.rstrip(b"\r\n") == b"220":
        return "smtp"
    return None


def client_protocol(line: bytes, server_port: int = 0) -> str | None:
    """Guess the protocol from a client command line (the port decides ambiguous verbs like AUTH)."""
    words = _words(line, 2)
    if not words:
        return None
    verb = words[0].upper().decode("latin-1")
    if verb in ("EHLO", "HELO", "LHLO") or (verb in ("MAIL", "RCPT") and len(words) > 1
                                            and words[1].upper().startswith((b"FROM:", b"TO:"))):
        return "smtp"
    if verb in ("CAPA", "STLS", "APOP", "UIDL", "RETR", "STAT"):
        return "pop3"
    if len(words) > 1 and _TAG.fullmatch(words[0]) and words[1].upper().decode("latin-1") in IMAP_COMMANDS \
            and verb not in SMTP_COMMANDS | POP3_COMMANDS:
        return "imap"
    if verb in ("AUTH", "STARTTLS", "QUIT", "NOOP", "USER", "PASS"):
        if server_port in SMTP_PORTS and verb != "USER" and verb != "PASS":
            return "smtp"
        if server_port in POP3_PORTS:
            return "pop3"
    return None


def first_line(buf: bytes | bytearray) -> bytes | None:
    """The first complete line of ``buf`` (without its LF), None while there is none."""
    nl = buf.find(b"\n")
    return None if nl < 0 else bytes(buf[:nl])


def recognise(server_line: bytes | None, client_line: bytes | None, server_port: int,
              whole: bool = False) -> str | None:
    """The mail dialogue ("imap", "pop3", "smtp") a connection's first complete lines show (each None while
    its side has sent none); "" when they show it is not mail; None while more is needed.

    The server's greeting decides (a bare 220 only on an SMTP port, with "SMTP" in it, or when the client's
    first line is SMTP: FTP greets with 220 too), else the client's first command, else a plaintext mail port
    once either side sent a line (a capture may begin mid-session). ``whole``: the lines are known to be the
    connection's first (a proxy saw it open), so a server that greeted otherwise is not speaking mail.
    """
    plain = PLAIN_PORT_DIALOGUES.get(server_port)
    if server_line is not None:
        proto = greeting_protocol(server_line)
        if proto == "smtp" and server_port not in SMTP_PORTS and b"SMTP" not in server_line.upper():
            if whole and client_line is None:
                return None  # wait for the client's first line
            proto = "smtp" if client_protocol(client_line or b"", 25) == "smtp" else None
        if proto:
            return proto
    if client_line is not None:
        proto = client_protocol(client_line, server_port)
        if proto:
            return proto
    if whole and server_line is not None:
        return ""
    if plain and (server_line is not None or client_line is not None):
        return plain
    return "" if server_line is not None and client_line is not None else None


def app_protocol(dialogue: str | None, server_port: int, tls: bool | None = False) -> str | None:
    """The contract's app_protocol word of a mail connection, None when it is not one.

    ``dialogue`` as ``recognise`` gives it: seen, SMTP to 587 is "submission" and, ``tls`` (the dialogue ran
    inside implicit TLS), "imaps"/"pop3s"/"smtps"; "" is not mail; None (nothing readable) leaves it to the
    server port: one served the way the connection went (``tls``), or any mail port when that is unknown.
    """
    if dialogue:
        word = "submission" if dialogue == "smtp" and server_port == 587 else dialogue
        return TLS_FORM[word] if tls else word
    if dialogue is not None:
        return None
    word = MAIL_PORTS.get(server_port)
    if word is None or tls is None:
        return word
    return word if (word in IMPLICIT_TLS) == tls else None


@dataclass(slots=True)
class Command:
    verb: str  # upper case; "EHLO name" / "HELO name" keep the first argument, as Wireshark shows it
    mechanism: str | None = None  # SASL mechanism of AUTH / AUTHENTICATE, or "LOGIN"/"USER" for plain logins
    credential: bool = False  # the line itself carries a password or a clear-text SASL response
    sasl_pending: bool = False  # the client will now send SASL responses
    literal: int = 0  # bytes that follow the line as a literal (IMAP {n}, SMTP BDAT n)
    tag: str = ""


def parse_command(protocol: str, line: bytes) -> Command | None:
    """One client command line (without CRLF) of the given protocol; None when it is not a command."""
    if protocol == "imap":
        words = _words(line, 3)
        if len(words) < 2 or not _TAG.fullmatch(words[0]):
            return None
        verb = words[1].upper().decode("latin-1")
        if verb not in IMAP_COMMANDS:
            return None
        cmd = Command(verb, tag=words[0].decode("latin-1"))
        lit = _LITERAL.search(line.rstrip())
        if lit:
            cmd.literal = min(int(lit.group(1)), MAX_LITERAL)
        if verb == "LOGIN":
            cmd.mechanism, cmd.credential = "LOGIN", True
        elif verb == "AUTHENTICATE" and len(words) > 2 and _MECH.fullmatch(words[2]):
            cmd.mechanism = words[2].upper().decode("latin-1")
            cmd.credential = len(words) > 3 and cmd.mechanism in CLEARTEXT_MECHANISMS and words[3] != b"="
            cmd.sasl_pending = not cmd.credential or cmd.mechanism == "LOGIN"
        return cmd
    words = _words(line, 2)
    if not words:
        return None
    verb = words[0].upper().decode("latin-1")
    if protocol == "pop3":
        if verb not in POP3_COMMANDS:
            return None
        cmd = Command(verb)
        if verb == "USER":
            cmd.mechanism = "USER"
        elif verb == "PASS":
            cmd.credential = True
        elif verb == "APOP":
            cmd.mechanism = "APOP"
    else:
        if verb not in SMTP_COMMANDS:
            return None
        cmd = Command(verb)
        if verb in ("EHLO", "HELO", "LHLO") and len(words) > 1:
            cmd.verb = f"{verb} {words[1][:64].decode('latin-1')}"
        elif verb == "BDAT" and len(words) > 1 and words[1].isdigit():
            cmd.literal = min(int(words[1]), MAX_LITERAL)
    if verb == "AUTH" and len(words) > 1 and _MECH.fullmatch(words[1]):
        cmd.mechanism = words[1].upper().decode("latin-1")
        if protocol == "smtp":
            cmd.verb = f"AUTH {cmd.mechanism}"
        initial = len(words) > 2 and words[2] != b"="
        cmd.credential = initial and cmd.mechanism in CLEARTEXT_MECHANISMS
        cmd.sasl_pending = not initial or cmd.mechanism == "LOGIN"
    return cmd


def reply_kind(protocol: str, line: bytes, tag: str = "") -> str:
    """A server line: "ok", "no", "continue" (SASL/literal), "data" (SMTP 354) or "info" (anything else)."""
    if protocol == "imap":
        if line.startswith(b"+"):
            return "continue"
        words = _words(line, 2)
        if len(words) < 2 or words[0] == b"*" or (tag and words[0].decode("latin-1") != tag):
            return "info"
        status = words[1].upper()
        return "ok" if status == b"OK" else ("no" if status in (b"NO", b"BAD") else "info")
    if protocol == "pop3":
        head = line[:4].upper()
        if head.startswith(b"+OK"):
            return "ok"
        if head.startswith(b"-ERR"):
            return "no"
        return "continue" if line.startswith(b"+") else "info"
    code = line[:3]
    if not code.isdigit() or line[3:4] == b"-":
        return "info"
    if code == b"334":
        return "continue"
    if code == b"354":
        return "data"
    return "ok" if code[:1] == b"2" else ("no" if code[:1] in (b"4", b"5") else "info")


@dataclass
class MailSession:
    """One mail connection, fed its bytes (``feed``) or its lines; ``awaiting_tls``: the client's next bytes are
    TLS."""

    protocol: str
    commands: list[str] = field(default_factory=list)
    mechanisms: list[str] = field(default_factory=list)
    credential_frames: list[int] = field(default_factory=list)
    cleartext_credentials: bool = False
    starttls_requested: bool = False
    starttls: bool = False  # the server accepted STARTTLS/STLS (or TLS followed it)
    starttls_refused: bool = False
    greeting: str | None = None
    _state: str = "command"  # command | sasl | data | starttls
    _sasl_cleartext: bool = False
    _starttls_tag: str = ""
    _pending_tag: str = ""
    _continued: bool = False  # the client's next line is the rest of an IMAP command after its literal
    _skip: list[int] = field(default_factory=lambda: [0, 0])  # literal bytes still to pass: client, server

    def _credential(self, frame: int) -> None:
        self.cleartext_credentials = True
        if frame not in self.credential_frames and len(self.credential_frames) < MAX_CREDENTIAL_FRAMES:
            self.credential_frames.append(frame)

    def feed(self, client: bool, buf: bytes | bytearray, frame_at: Callable[[int], int]) -> int:
        """Follow the complete lines at the start of ``buf``, one direction's bytes in order from where the last
        call stopped; returns how many bytes were used. Literal bytes are passed over by exact count (across
        calls), a line longer than ``MAX_LINE`` is dropped. The rest waits for the next call: an unfinished
        line, the client's bytes after STARTTLS (TLS), the server's after it accepted STARTTLS.
        ``frame_at(i)`` is the frame that carried ``buf[i]`` (credential frames cite it)."""
        side = 0 if client else 1
        pos, end = 0, len(buf)
        while pos < end:
            skip = self._skip[side]
            if skip:
                n = min(skip, end - pos)
                pos += n
                self._skip[side] = skip - n
                continue
            if client and self.awaiting_tls:
                break
            nl = buf.find(b"\n", pos, pos + MAX_LINE)
            if nl < 0:
                if end - pos >= MAX_LINE:
                    pos = end  # a runaway line: dropped
                break
            line = bytes(buf[pos:nl]).rstrip(b"\r")
            pos = nl + 1
            if client:
                self._skip[0] = self.client_line(line, frame_at(nl))
            else:
                self._skip[1] = self.server_line(line)
                if self.starttls:
                    break
        return pos

    def client_line(self, line: bytes, frame: int) -> int:
        """Feed one client line (CRLF removed); returns literal bytes that follow and are not lines."""
        if self._continued:  # the rest of a command after its literal: only a further literal counts
            lit = _LITERAL.search(line.rstrip())
            literal = min(int(lit.group(1)), MAX_LITERAL) if lit else 0
            self._continued = literal > 0
            return literal
        if self._state == "starttls":
            return 0
        if self._state == "data":
            if line == b".":
                self._state = "command"
            return 0
        if self._state == "sasl":
            if line.strip() == b"*":
                self._state = "command"
            elif self._sasl_cleartext and line.strip():
                self._credential(frame)
            return 0
        cmd = parse_command(self.protocol, line)
        if cmd is None:
            return 0
        if not self.commands or self.commands[-1] != cmd.verb:
            if len(self.commands) < MAX_COMMANDS:
                self.commands.append(cmd.verb)
        if cmd.mechanism and cmd.mechanism not in self.mechanisms and len(self.mechanisms) < MAX_MECHANISMS:
            self.mechanisms.append(cmd.mechanism)
        if cmd.credential:
            self._credential(frame)
        if cmd.sasl_pending:
            self._state = "sasl"
            self._sasl_cleartext = cmd.mechanism in CLEARTEXT_MECHANISMS
            self._pending_tag = cmd.tag
        verb = cmd.verb.split(" ", 1)[0]
        if verb in ("STARTTLS", "STLS"):
            self.starttls_requested = True
            self._state = "starttls"
            self._starttls_tag = cmd.tag
        elif verb == "DATA" and self.protocol == "smtp":
            self._state = "data"
        self._continued = cmd.literal > 0 and self.protocol == "imap"
        return cmd.literal

    def server_line(self, line: bytes) -> int:
        """Feed one server line; returns literal bytes that follow (IMAP {n})."""
        if self.greeting is None:
            self.greeting = (line[:200].decode("latin-1"))
        state = self._state
        if state == "starttls":  # the reply decides only here (most server lines answer other commands)
            kind = reply_kind(self.protocol, line, self._starttls_tag)
            if kind == "ok":
                self.starttls = True
            elif kind == "no":
                self.starttls_refused = True
                self._state = "command"
        elif state == "sasl" and reply_kind(self.protocol, line, self._pending_tag) in ("ok", "no"):
            self._state = "command"
        if self.protocol == "imap":
            lit = _LITERAL.search(line.rstrip())
            return min(int(lit.group(1)), MAX_LITERAL) if lit else 0
        return 0

    @property
    def awaiting_tls(self) -> bool:
        """STARTTLS was sent and not refused: what the client sends next is TLS."""
        return self._state == "starttls"
