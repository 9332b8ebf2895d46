"""The lab's address plan: which loopback address stands for the phone, the mail host and each vendor service.

Every address is in 127.0.0.0/8 (Linux answers on all of it without configuration). Each role has its own
address so that the standard ports (53, 443, 993, 587) can be used and the capture looks like a phone's.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass

MAIL_HOST = "mail.example.test"
VENDOR_SYNC = "sync.vendor.test"
VENDOR_TELEMETRY = "telemetry.vendor.test"
VENDOR_CRASH = "crash.vendor.test"
ACCOUNT_USER = "lab"
ACCOUNT_ADDRESS = f"{ACCOUNT_USER}@{MAIL_HOST}"
CANARY_ENV = "MAILDETOUR_CANARY"

IMAPS_PORT = 993
SUBMISSION_PORT = 587
HTTPS_PORT = 443
DNS_PORT = 53

FIRST_BLOCK = 42  # the plan lives in 127.<block>.0.0/16; the next block is tried when ports are taken
LAST_BLOCK = 99


@dataclass(frozen=True, slots=True)
class LabPlan:
    """Addresses of one lab run."""

    phone: str
    dns: str
    mail: str
    vendor_sync: str
    vendor_telemetry: str
    vendor_crash: str
    vendor_egress: str  # the vendor's second address: where the ``relayed-egress`` sync service logs in from

    @classmethod
    def for_block(cls, block: int) -> LabPlan:
        if not 1 <= block <= 254:
            raise ValueError("block must be 1-254")
        b = f"127.{block}"
        return cls(phone=f"{b}.0.2", dns=f"{b}.0.53", mail=f"{b}.0.25", vendor_sync=f"{b}.1.10",
                   vendor_telemetry=f"{b}.1.20", vendor_crash=f"{b}.1.30", vendor_egress=f"{b}.1.11")

    def vendors(self) -> list[tuple[str, str, str]]:
        """(role, host name, address) of each vendor service."""
        return [("sync", VENDOR_SYNC, self.vendor_sync), ("telemetry", VENDOR_TELEMETRY, self.vendor_telemetry),
                ("crash", VENDOR_CRASH, self.vendor_crash)]

    def hosts(self) -> dict[str, str]:
        """The names the lab's DNS server answers, with their A records."""
        return {MAIL_HOST: self.mail} | {name: address for _, name, address in self.vendors()}

    def listeners(self) -> list[tuple[str, str, int]]:
        """(transport, address, port) of every server socket the lab opens."""
        return [("udp", self.dns, DNS_PORT), ("tcp", self.mail, IMAPS_PORT),
                ("tcp", self.mail, SUBMISSION_PORT),
                ("tcp", self.vendor_sync, HTTPS_PORT), ("tcp", self.vendor_telemetry, HTTPS_PORT),
                ("tcp", self.vendor_crash, HTTPS_PORT)]

    def addresses(self) -> list[str]:
        return [self.phone, self.dns, self.mail, self.vendor_sync, self.vendor_telemetry, self.vendor_crash,
                self.vendor_egress]

    def vendor_network(self) -> tuple[str, str]:
        """First and last address of the vendor's range (127.<block>.1.0/24): one lab AS in the ownership file."""
        prefix = self.vendor_sync.rsplit(".", 1)[0]
        return f"{prefix}.0", f"{prefix}.255"


def is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network("127.0.0.0/8")


def port_free(transport: str, address: str, port: int) -> bool:
    """True when ``address:port`` can be bound now (checked by binding it, then closing)."""
    if not is_loopback(address):
        raise ValueError(f"{address} is not a loopback address")
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                return False
            raise
    return True



def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port the kernel says is free on ``address`` now."""
    if not is_loopback(address):
        raise ValueError(f"{address} is not a loopback address")
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


class PlanReservation:
    """Holds a lock file for one address block while a lab run uses it; ``close()`` releases it."""

    def __init__(self, plan: LabPlan, handle) -> None:
        self.plan = plan
        self._handle = handle

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> LabPlan:
        return self.plan

    def __exit__(self, *exc) -> None:
        self.close()


def reserve_plan(lock_dir: str = "/tmp", first: int = FIRST_BLOCK, last: int = LAST_BLOCK) -> PlanReservation:
    """Lock and return the first free address block, so two lab runs never share one."""
    import fcntl

    busy = ""
    for block in range(first, last + 1):
        handle = open(f"{lock_dir}/maildetour-lab-127.{block}.lock", "w")  # noqa: SIM115 (held while in use)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        plan = LabPlan.for_block(block)
        taken = [f"{t} {a}:{p}" for t, a, p in plan.listeners() if not port_free(t, a, p)]
        if not taken:
            return PlanReservation(plan, handle)
        busy = busy or ", ".join(taken)
        handle.close()
    raise OSError(f"no free lab address block in 127.{first}-{last}.0.0/16 (busy: {busy or 'all locked'}; "
                  "a server bound to 0.0.0.0 on port 53, 443, 587 or 993 blocks them all)")
