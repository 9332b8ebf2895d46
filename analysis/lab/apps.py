"""The lab's "apps": scripted clients on the phone's address.

- ``direct``: like K-9 Mail or Thunderbird: DNS, IMAPS with IDLE, SMTP submission on 587 with STARTTLS;
- ``relayed``: like the memo's app: DNS, the account (with its password) sent to the vendor over HTTPS, then
  only vendor, telemetry and crash-report traffic;
- ``mixed``: both: reads mail directly but also hands the account to the vendor;
- ``relayed-egress``: the relaying app, but the vendor logs in to the mail host from a second address of its
  network (as the memo's vendor did): the phone never talks to a login address, only to the same owner.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from analysis.lab import clients
from analysis.lab.plan import (
    ACCOUNT_ADDRESS,
    ACCOUNT_USER,
    IMAPS_PORT,
    MAIL_HOST,
    SUBMISSION_PORT,
    VENDOR_CRASH,
    VENDOR_SYNC,
    VENDOR_TELEMETRY,
    LabPlan,
)
from analysis.lab.procs import LabError

SCENARIOS = ("direct", "relayed", "mixed", "relayed-egress")
RECIPIENT = "friend@example.net"


@dataclass
class Phone:
    plan: LabPlan
    net: clients.Net
    password: str = field(repr=False)
    events: list[tuple[float, str]] = field(default_factory=list)  # (epoch seconds, what the app did)

    def note(self, what: str) -> None:
        self.events.append((time.time(), what))

    def resolve(self, name: str) -> str:
        return clients.resolve(self.plan.phone, self.plan.dns, name)


def direct_mail(phone: Phone) -> None:
    """Read (IMAPS + IDLE) and send (submission + STARTTLS) with the mail host itself."""
    ip = phone.resolve(MAIL_HOST)
    phone.note("imaps login")
    clients.imap_session(phone.net, MAIL_HOST, ip, IMAPS_PORT, ACCOUNT_USER, phone.password, idle_seconds=0.5)
    phone.note("smtp submission")
    msg = clients.build_message(ACCOUNT_ADDRESS, RECIPIENT, "lab: sent directly", "Sent by the direct app.",
                                MAIL_HOST)
    clients.submit(phone.net, MAIL_HOST, ip, SUBMISSION_PORT, ACCOUNT_USER, phone.password, msg,
                   helo="phone.lab")


def _vendor(phone: Phone, name: str, method: str, path: str, body: dict | None = None) -> dict:
    status, answer = clients.https_json(phone.net, name, phone.resolve(name), method, path, body,
                                        user_agent="LabMail/1.0 (relaying app)")
    if status >= 400:
        raise LabError(f"vendor {name} answered {status} to {method} {path}: {answer.get('error', '')}")
    return answer


def relayed_mail(phone: Phone, send: bool = True) -> None:
    """Hand the account to the vendor, then read and send only through it; telemetry and a crash report."""
    phone.note("account sent to vendor")
    account = _vendor(phone, VENDOR_SYNC, "POST", "/v1/accounts", {
        "email": ACCOUNT_ADDRESS, "username": ACCOUNT_USER, "password": phone.password,
        "imap_host": MAIL_HOST, "imap_port": IMAPS_PORT, "smtp_host": MAIL_HOST, "smtp_port": SUBMISSION_PORT,
    })
    account_id = str(account.get("account", ""))
    _vendor(phone, VENDOR_TELEMETRY, "POST", "/v1/events",
            {"events": [{"name": "account_added", "provider": "imap"}, {"name": "app_start"}]})
    _vendor(phone, VENDOR_SYNC, "GET", f"/v1/accounts/{account_id}/messages")
    if send:
        phone.note("mail sent through vendor")
        _vendor(phone, VENDOR_SYNC, "POST", f"/v1/accounts/{account_id}/send",
                {"to": RECIPIENT, "subject": "lab: sent through the vendor",
                 "body": "Sent by the relaying app."})
    _vendor(phone, VENDOR_CRASH, "POST", "/api/crashes",
            {"app": "LabMail", "version": "1.0", "exception": "NullPointerException", "thread": "sync"})


def run_direct(phone: Phone) -> bool:
    direct_mail(phone)
    return False


def run_relayed(phone: Phone) -> bool:
    relayed_mail(phone)
    return True


def run_mixed(phone: Phone) -> bool:
    direct_mail(phone)
    relayed_mail(phone, send=False)
    return True


APPS: dict[str, Callable[[Phone], bool]] = {"direct": run_direct, "relayed": run_relayed, "mixed": run_mixed,
                                            "relayed-egress": run_relayed}
"""Scenario -> app; the app returns whether the vendor now holds the account."""
