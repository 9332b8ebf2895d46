"""IMAP, POP3 and SMTP before TLS: greetings, commands, STARTTLS/STLS, SASL mechanisms, clear-text logins.

Line functions are pure; ``MailSession`` follows one connection line by line (client and server lines in the
order they crossed the wire). It never keeps a password, a SASL payload or a command's arguments (except the
EHLO/HELO name); it only notes *that* a credential crossed in clear text and in which frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_COMMANDS = 60
MAX_MECHANISMS = 8
MAX_CREDENTIAL_FRAMES = 16
MAX_LITERAL = 1 << 24

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
SMTP_PORTS = frozenset({25, 465, 587, 2525})
IMAP_PORTS = frozenset({143, 993})
POP3_PORTS = frozenset({110, 995})

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
    """One mail connection, fed line by line; ``tls_pending`` means the client's next bytes are TLS."""

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

    def _credential(self, frame: int) -> None:
        self.cleartext_credentials = True
        if frame not in self.credential_frames and len(self.credential_frames) < MAX_CREDENTIAL_FRAMES:
            self.credential_frames.append(frame)

    def client_line(self, line: bytes, frame: int) -> int:
        """Feed one client line (CRLF removed); returns literal bytes that follow and are not lines."""
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
        return cmd.literal

    def server_line(self, line: bytes) -> int:
        """Feed one server line; returns literal bytes that follow (IMAP {n})."""
        if self.greeting is None:
            self.greeting = (line[:200].decode("latin-1"))
        tag = self._starttls_tag if self._state == "starttls" else self._pending_tag
        kind = reply_kind(self.protocol, line, tag)
        if self._state == "starttls":
            if kind == "ok":
                self.starttls = True
            elif kind == "no":
                self.starttls_refused = True
                self._state = "command"
        elif self._state == "sasl" and kind in ("ok", "no"):
            self._state = "command"
        if self.protocol == "imap":
            lit = _LITERAL.search(line.rstrip())
            return min(int(lit.group(1)), MAX_LITERAL) if lit else 0
        return 0

    @property
    def awaiting_tls(self) -> bool:
        """STARTTLS was sent and not refused: what the client sends next is TLS."""
        return self._state == "starttls"
