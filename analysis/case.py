"""The case: which account and mail hosts are under test, which addresses are the phone, and when.

Read from a TOML case file (see README) and overridden by command-line flags. The canary password is
read from an environment variable named in the file and never stored or printed.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from analysis.addresses import canonical, is_address
from analysis.canary import CanaryMatcher
from analysis.errors import CaseError
from analysis.redact import Redactor
from analysis.sharedpath import shared_path


@dataclass(frozen=True, slots=True)
class MailHost:
    host: str  # a name (lower case, no trailing dot) or an IP address
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> MailHost:
        text = text.strip()
        if not text:
            raise CaseError("mail host: empty value")
        host, port = text, None
        if text.startswith("["):  # [2001:db8::1]:993
            close = text.find("]")
            if close < 0:
                raise CaseError(f"mail host {text[:80]!r}: missing ']'")
            host, rest = text[1:close], text[close + 1 :]
            if rest.startswith(":"):
                port = _port(text, rest[1:])
        elif text.count(":") == 1:
            host, p = text.split(":")
            port = _port(text, p)
        host = host.rstrip(".").lower()
        if not host:
            raise CaseError(f"mail host {text[:80]!r}: no host name")
        address = canonical(host)
        if address is not None:
            host = address
        elif len(host) > 253 or not _HOST_NAME.fullmatch(host):
            raise CaseError(f"mail host {text[:80]!r}: not a host name or IP address")
        return cls(host, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port else self.host


_HOST_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,62}\.)*[a-z0-9_-]{0,63}")
SECTION_KEYS = {
    "account": {"address", "username", "canary_env"},
    "mail": {"hosts", "addresses"},
    "device": {"addresses"},
    "timeline": {"account_added", "app_removed"},
    "app": {"id", "name", "version"},
}


def _port(text: str, value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 65536:
        raise CaseError(f"mail host {text[:80]!r}: port must be 1-65535")
    return int(value)


def _ip(value: str, what: str) -> str:
    address = canonical(value)
    if address is None:
        raise CaseError(f"{what}: {value[:80]!r} is not an IP address")
    return address


def _time(value, what: str) -> datetime:
    """An ISO 8601 time with a UTC offset (a TOML offset date-time or a string) within years 1-9999 in UTC."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise CaseError(f"{what}: {value[:80]!r} is not an ISO 8601 time") from None
    else:
        raise CaseError(f"{what}: expected an ISO 8601 time with offset, not {_type_name(value)}")
    if dt.tzinfo is None:
        raise CaseError(f"{what}: {dt.isoformat()} needs a UTC offset (e.g. +02:00)")
    try:
        dt.astimezone(UTC)
    except OverflowError:
        raise CaseError(f"{what}: {dt.isoformat()} is outside the years 1-9999 in UTC") from None
    return dt


def _type_name(value) -> str:
    """What a TOML value is, in TOML's words."""
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string"),
                       (list, "an array"), (dict, "a table"), (datetime, "a date-time"), (date, "a date"),
                       (time, "a time")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


@dataclass(frozen=True, slots=True)
class AppInfo:
    """The app under test as the case's optional ``[app]`` table names it: package or bundle id, name, version."""

    id: str = ""
    name: str = ""
    version: str = ""

    def to_json(self) -> dict:
        return {"id": self.id or None, "name": self.name or None, "version": self.version or None}


@dataclass
class Case:
    account_address: str = ""
    username: str = ""
    canary_env: str = ""
    mail_hosts: list[MailHost] = field(default_factory=list)
    mail_addresses: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    account_added: datetime | None = None
    app_removed: datetime | None = None
    app: AppInfo = field(default_factory=AppInfo)
    path: str | None = None
    _canary: str | None = field(default=None, repr=False)

    @property
    def canary(self) -> str | None:
        """The test password (from the environment); never write it anywhere."""
        return self._canary

    def set_canary(self, value: str | None) -> None:
        self._canary = value or None

    @property
    def accounts(self) -> list[str]:
        """Names the test account logs in with (username and address, lower case)."""
        return [a.lower() for a in (self.username, self.account_address) if a]

    def redactor(self) -> Redactor:
        r = Redactor()
        r.add(self.canary)
        return r

    def matcher(self) -> CanaryMatcher:
        """What to search the client's bytes for: the password (when set), the account's address and username."""
        return CanaryMatcher(self.canary, self.account_address, self.username)

    def mail_host_names(self) -> set[str]:
        return {h.host for h in self.mail_hosts if not is_address(h.host)}

    def mail_host_ips(self) -> set[str]:
        ips = {h.host for h in self.mail_hosts if is_address(h.host)}
        return ips | set(self.mail_addresses)

    def override(
        self,
        mail_hosts: list[str] | None = None,
        mail_ips: list[str] | None = None,
        devices: list[str] | None = None,
        account: str | None = None,
    ) -> Case:
        """Command-line flags replace the case file's values for the same setting."""
        if mail_hosts:
            self.mail_hosts = [MailHost.parse(h) for h in mail_hosts]
        if mail_ips:
            self.mail_addresses = [_ip(a, "--mail-ip") for a in mail_ips]
        if devices:
            self.devices = [_ip(a, "--device") for a in devices]
        if account:
            if "@" in account:
                self.account_address = account
            else:
                self.username = account
        return self

    def to_json(self) -> dict:
        """The case as the report records it; the canary only as 'set' or not; ``app`` only when named."""
        out = {
            "path": shared_path(self.path),
            "account": {"address": self.account_address, "username": self.username},
            "canary": {"env": self.canary_env, "set": self.canary is not None},
            "mail": {"hosts": [str(h) for h in self.mail_hosts], "addresses": list(self.mail_addresses)},
            "device": {"addresses": list(self.devices)},
            "timeline": {
                "account_added": self.account_added.isoformat() if self.account_added else None,
                "app_removed": self.app_removed.isoformat() if self.app_removed else None,
            },
        }
        if self.app != AppInfo():
            out["app"] = self.app.to_json()
        return out


def _string(table: dict, key: str, what: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise CaseError(f"{what}: expected a string, not {_type_name(value)}")
    return value


def _strings(value, what: str) -> list[str]:
    """A list of strings (one string alone is a list of one)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise CaseError(f"{what}: expected a list of strings, not {_type_name(value)}")
    for item in value:
        if not isinstance(item, str):
            raise CaseError(f"{what}: expected a list of strings, not one with {_type_name(item)}")
    return value


def _hosts(value, what: str) -> list[MailHost]:
    texts = _strings(value, what)
    try:
        return [MailHost.parse(h) for h in texts]
    except CaseError as exc:
        raise CaseError(f"{what}: {exc}") from None


MAX_CASE_BYTES = 1 << 20  # a case file is a few lines; anything bigger is the wrong file


def _read_toml(path: str) -> dict:
    """The case file's TOML, or one CaseError line naming the file (unreadable, too big, not UTF-8, bad TOML)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CASE_BYTES + 1)
    except OSError as exc:
        raise CaseError(f"{path}: cannot read case file: {exc.strerror}") from None
    if len(data) > MAX_CASE_BYTES:
        raise CaseError(f"{path}: larger than {MAX_CASE_BYTES} bytes, not a case file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaseError(f"{path}: offset {exc.start}: not a UTF-8 text file, not a case file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise CaseError(f"{path}: invalid TOML: nested too deeply") from None


def load_case(path: str | None, environ: dict | None = None) -> Case:
    """Read a case file; ``None`` gives an empty case to be filled by flags. Every key is type-checked: a
    wrong value is one CaseError line naming the file and the key."""
    env = os.environ if environ is None else environ
    if path is None:
        return Case()
    data = _read_toml(path)
    known = set(SECTION_KEYS)
    unknown = set(data) - known
    if unknown:
        raise CaseError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})"
        )
    for section, keys in SECTION_KEYS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise CaseError(f"{path}: [{section}] must be a table")
        extra = set(table) - keys
        if extra:
            names, known = ", ".join(sorted(extra)), ", ".join(sorted(keys))
            raise CaseError(f"{path}: unknown key(s) {names} in [{section}] (known: {known})")
    account, mail = data.get("account", {}), data.get("mail", {})
    device, timeline, app = data.get("device", {}), data.get("timeline", {}), data.get("app", {})
    try:
        case = Case(
            account_address=_string(account, "address", "account.address"),
            username=_string(account, "username", "account.username"),
            canary_env=_string(account, "canary_env", "account.canary_env"),
            mail_hosts=_hosts(mail.get("hosts"), "mail.hosts"),
            mail_addresses=[
                _ip(a, "mail.addresses") for a in _strings(mail.get("addresses"), "mail.addresses")
            ],
            devices=[
                _ip(a, "device.addresses") for a in _strings(device.get("addresses"), "device.addresses")
            ],
            account_added=_time(timeline["account_added"], "timeline.account_added")
            if "account_added" in timeline
            else None,
            app_removed=_time(timeline["app_removed"], "timeline.app_removed")
            if "app_removed" in timeline
            else None,
            app=AppInfo(_string(app, "id", "app.id"), _string(app, "name", "app.name"),
                        _string(app, "version", "app.version")),
            path=path,
        )
    except CaseError as exc:
        raise CaseError(f"{path}: {exc}") from None
    if case.canary_env:
        case.set_canary(env.get(case.canary_env))
    return case
