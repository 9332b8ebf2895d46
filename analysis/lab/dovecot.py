"""A real Dovecot IMAP server on a loopback address, for the lab and the tests.

``start_dovecot(workdir)`` writes its own config file (run with ``dovecot -F -c CONF``), its own base_dir,
a passwd-file with the users, maildirs and the log file, all inside ``workdir`` (as root, when other users
cannot enter ``workdir``, sockets, users and maildirs go to a /tmp directory removed on stop); it listens on
a free port of a 127.0.0.0/8 address and is stopped by the pid it was started with. Logins are logged with
``auth_verbose`` (never the passwords) and timestamps with a UTC offset (``2026-11-28T22:50:01+0000``).

    with start_dovecot(tmp, "127.0.0.5", cert=True) as server:
        imaplib.IMAP4(server.address, server.imap_port).starttls(...)
"""

from __future__ import annotations

import imaplib
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from analysis.errors import MaildetourError
from analysis.lab.ca import LabCA

DOVECOT_PATHS = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
LOG_TIMESTAMP = "%Y-%m-%dT%H:%M:%S%z "


class DovecotError(MaildetourError):
    """Dovecot is missing or did not start; the message quotes the end of its log."""


@dataclass
class DovecotServer:
    """A running Dovecot; ``stop()`` (or leaving the ``with`` block) ends it."""

    address: str
    imap_port: int
    imaps_port: int | None
    log_path: Path
    config_path: Path
    workdir: Path
    users: dict[str, str] = field(repr=False)
    cert_path: Path | None = None  # PEM a verifying client trusts: the lab CA's (cert=True) or the given one
    process: subprocess.Popen | None = field(default=None, repr=False)
    runtime_dir: Path | None = None  # a /tmp directory with sockets and maildirs, removed by stop()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def log_text(self) -> str:
        """The log as written so far (empty when there is none yet)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, needle: str, count: int = 1, timeout: float = 10.0) -> str:
        """Wait until ``needle`` appears ``count`` times in the log (Dovecot logs asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            if text.count(needle) >= count or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        if self.runtime_dir is not None:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
            self.runtime_dir = None

    def __enter__(self) -> DovecotServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class SourceIMAP4(imaplib.IMAP4):
    """imaplib's IMAP4 client whose socket is bound to a chosen loopback source address (the "phone"
    127.0.0.2, a "vendor" 127.0.0.3, ...), so the server logs that address as ``rip``."""

    def __init__(self, host: str, port: int, source: str, timeout: float | None = 10.0):
        _check_loopback(source)
        self.source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))


def find_dovecot() -> str:
    path = shutil.which("dovecot") or next((p for p in DOVECOT_PATHS if os.access(p, os.X_OK)), None)
    if not path:
        raise DovecotError("dovecot not found (Debian/Ubuntu: apt-get install dovecot-imapd)")
    return path


def free_port(address: str) -> int:
    """A TCP port that is free on ``address`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def _check_loopback(address: str) -> None:
    try:
        ok = ipaddress.ip_address(address) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        ok = False
    if not ok:
        raise DovecotError(f"lab Dovecot listens on 127.0.0.0/8 only, not {address!r}")


@dataclass(frozen=True)
class _Identity:
    """Who the servers' processes run as: Debian's dovecot users as root, the caller's own user otherwise."""

    root: bool
    mail_uid: int
    mail_gid: int
    internal_user: str
    login_user: str

    @classmethod
    def current(cls) -> _Identity:
        if os.geteuid() == 0:
            nobody = _user("nobody")
            mail_uid, mail_gid = (nobody.pw_uid, nobody.pw_gid) if nobody else (65534, 65534)
            internal = "dovecot" if _user("dovecot") else "root"
            login = "dovenull" if _user("dovenull") else internal
            return cls(True, mail_uid, mail_gid, internal, login)
        me = pwd.getpwuid(os.geteuid()).pw_name
        return cls(False, os.geteuid(), os.getegid(), me, me)


def _traversable(path: Path) -> bool:
    """Whether every directory down to ``path`` lets other users through (o+x)."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def _user(name: str):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _config(
    work: Path,
    runtime: Path,
    address: str,
    imap_port: int,
    imaps_port: int | None,
    ident: _Identity,
    tls: tuple[Path, Path] | None,
) -> str:
    lines = [
        "# written by maildetour (analysis/lab/dovecot.py)",
        f"base_dir = {runtime / 'run'}",
        f"state_dir = {runtime / 'state'}",
        f"instance_name = maildetour-{address}-{imap_port}",
        "protocols = imap",
        f"listen = {address}",
        f"log_path = {work / 'dovecot.log'}",
        f"info_log_path = {work / 'dovecot.log'}",
        f"debug_log_path = {work / 'dovecot.log'}",
        f'log_timestamp = "{LOG_TIMESTAMP}"',
        "auth_verbose = yes",
        "auth_verbose_passwords = no",
        "auth_failure_delay = 0",
        "auth_mechanisms = plain login",
        "verbose_proctitle = no",
        f"default_internal_user = {ident.internal_user}",
        f"default_login_user = {ident.login_user}",
        f"first_valid_uid = {min(ident.mail_uid, 500) if ident.mail_uid else 1}",
        "last_valid_uid = 0",
        "first_valid_gid = 1",
        "mail_location = maildir:~/Maildir",
        "passdb {",
        "  driver = passwd-file",
        f"  args = scheme=PLAIN username_format=%u {runtime / 'users'}",
        "}",
        "userdb {",
        "  driver = passwd-file",
        f"  args = username_format=%u {runtime / 'users'}",
        "}",
        "service imap-login {",
        "  chroot =",
        f"  inet_listener imap {{\n    address = {address}\n    port = {imap_port}\n  }}",
        f"  inet_listener imaps {{\n    address = {address}\n    port = {imaps_port or 0}\n"
        "    ssl = yes\n  }",
        "}",
        "service anvil {\n  chroot =\n}",
        "service imap-urlauth-login {\n  chroot =\n}",
        "service pop3-login {\n  chroot =\n}",
        "service submission-login {\n  chroot =\n}",
        "service managesieve-login {\n  chroot =\n}",
        "service stats {\n  unix_listener stats-reader {\n    mode = 0666\n  }\n"
        "  unix_listener stats-writer {\n    mode = 0666\n  }\n}",
    ]
    if tls:
        lines += [
            "ssl = yes",
            "disable_plaintext_auth = no",
            f"ssl_cert = <{tls[0]}",
            f"ssl_key = <{tls[1]}",
            "ssl_min_protocol = TLSv1.2",
        ]
    else:
        lines += ["ssl = no", "disable_plaintext_auth = no"]
    if not ident.root:
        import grp

        lines += [
            f"default_internal_group = {grp.getgrgid(os.getegid()).gr_name}",
            "service auth {\n  user = $default_internal_user\n}",
            "service auth-worker {\n  user = $default_internal_user\n}",
            "service log {\n  user = $default_internal_user\n}",
        ]
    return "\n".join(lines) + "\n"


def _listening(address: str, port: int) -> bool:
    """Whether something listens on address:port; reads /proc/net/tcp so no probe connection shows up in
    the server's log or a capture (falls back to connecting where /proc is absent)."""
    try:
        table = Path("/proc/net/tcp").read_text()
    except OSError:
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return True
        except OSError:
            return False
    want = f"{socket.inet_aton(address)[::-1].hex().upper()}:{port:04X}"
    for row in table.splitlines()[1:]:
        cols = row.split()
        if len(cols) > 3 and cols[1] == want and cols[3] == "0A":  # 0A: LISTEN
            return True
    return False


def _wait_listening(proc: subprocess.Popen, address: str, ports: list[int], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    pending = list(ports)
    while pending:
        if proc.poll() is not None:
            raise DovecotError(f"dovecot exited with status {proc.returncode}: {_tail(log)}")
        if _listening(address, pending[0]):
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise DovecotError(
                f"dovecot did not listen on {address}:{pending[0]} within {START_TIMEOUT}s: {_tail(log)}"
            )
        time.sleep(0.05)


def _tail(stderr: Path, limit: int = 400) -> str:
    """The end of Dovecot's stderr (config errors) and of its log (runtime errors), on one line."""
    parts = []
    for path in (stderr, stderr.with_name("dovecot.log")):
        try:
            parts.append(path.read_text(errors="replace").strip())
        except OSError:
            pass
    text = " | ".join(p for p in parts if p)
    return text[-limit:].replace("\n", " | ") or "(no output)"


def start_dovecot(
    workdir: str | os.PathLike,
    address: str = "127.0.0.5",
    imap_port: int | None = None,
    imaps_port: int | None = None,
    users: dict[str, str] | None = None,
    cert: bool | tuple[str, str] | None = None,
) -> DovecotServer:
    """Start Dovecot on ``address`` (127.0.0.0/8); ``cert``: True for a certificate from a fresh lab CA,
    a (cert.pem, key.pem) pair to use those, None for no TLS (plain IMAP only, no IMAPS listener).
    ``users`` maps names to passwords, or to Dovecot password hashes (``{SSHA256}...``) to keep the
    password itself out of the users file."""
    _check_loopback(address)
    binary = find_dovecot()
    users = dict(users or {"lft2": "password"})
    for name, password in users.items():
        if not name or any(c in name + password for c in ":\n\r"):
            raise DovecotError(f"user {name!r}: names and passwords may not contain ':' or line breaks")
    ident = _Identity.current()
    work = Path(workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    runtime = work
    # Dovecot's unprivileged processes must reach their sockets, the users file and the maildirs, and
    # socket paths are limited to 108 bytes: a long workdir or one below a private directory (pytest's
    # 0700 tmp, as root) gets them in a short /tmp directory instead.
    if len(str(work)) > 60 or (ident.root and not _traversable(work.parent)):
        runtime = Path(tempfile.mkdtemp(prefix="maildetour-dovecot-"))
    elif ident.root:
        os.chmod(work, 0o755)
    for sub in ("run", "state", "home"):
        (runtime / sub).mkdir(parents=True, exist_ok=True)
    tls: tuple[Path, Path] | None = None
    trusted: Path | None = None  # what a verifying client trusts
    if cert is True:
        ca = LabCA.create(work / "tls", "maildetour lab IMAP CA")
        leaf = ca.issue(work / "tls", "localhost", [address])
        tls, trusted = (leaf.cert_path, leaf.key_path), ca.cert_path
    elif cert:
        tls = (Path(cert[0]).resolve(), Path(cert[1]).resolve())
        trusted = tls[0]
    imap_port = imap_port or free_port(address)
    if tls:
        imaps_port = imaps_port or free_port(address)
    else:
        imaps_port = None

    passwd = []
    for name, password in users.items():
        home = runtime / "home" / name
        (home / "Maildir").mkdir(parents=True, exist_ok=True)
        if ident.root:
            for p in (home, *home.rglob("*")):
                os.chown(p, ident.mail_uid, ident.mail_gid)
        scheme = "" if password.startswith("{") else "{PLAIN}"  # "{SSHA256}...": already hashed
        passwd.append(f"{name}:{scheme}{password}:{ident.mail_uid}:{ident.mail_gid}::{home}::")
    users_file = runtime / "users"
    users_file.write_text("\n".join(passwd) + "\n")
    users_file.chmod(0o600)
    if ident.root:  # the auth process reads it as the internal user
        owner = _user(ident.internal_user)
        if owner:
            os.chown(users_file, owner.pw_uid, owner.pw_gid)
    if ident.root:
        os.chmod(runtime, 0o755)

    conf = work / "dovecot.conf"
    conf.write_text(_config(work, runtime, address, imap_port, imaps_port, ident, tls))
    log = work / "dovecot.log"
    out = open(work / "dovecot.stderr", "ab")  # noqa: SIM115 - the child keeps it
    try:
        proc = subprocess.Popen(
            [binary, "-F", "-c", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        out.close()
    server = DovecotServer(
        address,
        imap_port,
        imaps_port,
        log,
        conf,
        work,
        users,
        cert_path=trusted,
        process=proc,
        runtime_dir=runtime if runtime != work else None,
    )
    try:
        ports = [imap_port] + ([imaps_port] if imaps_port else [])
        _wait_listening(proc, address, ports, work / "dovecot.stderr")
    except BaseException:
        server.stop()
        raise
    return server
