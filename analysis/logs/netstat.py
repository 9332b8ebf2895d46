"""Snapshots of open connections saved by the operator: ``netstat -n`` (BSD and Linux) and ``ss -tn``.

    tcp4  0  0  10.23.42.103.993       52.125.138.94.56460    ESTABLISHED     (BSD: address.port)
    tcp   0  0  10.23.42.103:993       52.125.138.94:56460    ESTABLISHED     (Linux netstat)
    ESTAB 0  0  [::ffff:10.23.42.103]:993  [::ffff:52.125.138.94]:56460       (ss -tn)

``sniff(lines)`` tells a snapshot from a log by content; ``parse_row(line)`` reads one row (any style).
"""

from __future__ import annotations

import re

from analysis.addresses import canonical
from analysis.logs.events import Connection
from analysis.vocab import MAIL_PORTS

STATES = {
    "ESTABLISHED",
    "ESTAB",
    "SYN_SENT",
    "SYN-SENT",
    "SYN_RCVD",
    "SYN-RECV",
    "SYN_RECV",
    "FIN_WAIT_1",
    "FIN-WAIT-1",
    "FIN_WAIT_2",
    "FIN-WAIT-2",
    "TIME_WAIT",
    "TIME-WAIT",
    "CLOSE_WAIT",
    "CLOSE-WAIT",
    "LAST_ACK",
    "LAST-ACK",
    "CLOSING",
    "CLOSED",
    "LISTEN",
    "UNCONN",
}
MAX_ROW = 512


def split_endpoint(token: str) -> tuple[str, int] | None:
    """``1.2.3.4:993``, ``[::1]:993``, ``1.2.3.4.993`` (BSD), ``::ffff:1.2.3.4:993`` -> (ip, port)."""
    token = token.strip()
    if token.startswith("[") and "]:" in token:
        host, _, port = token[1:].partition("]:")
    else:
        sep = max(token.rfind(":"), token.rfind("."))
        if sep <= 0:
            return None
        host, port = token[:sep], token[sep + 1 :]
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        return None
    ip = canonical(host)  # fe80::1%lo0: the zone goes
    return (ip, int(port)) if ip else None


def parse_row(line: str) -> Connection | None:
    """One row of netstat or ss output -> a TCP connection, or None for headers and other lines."""
    tokens = line[:MAX_ROW].split()
    if len(tokens) < 4 or tokens[0].lower().startswith(("udp", "unix", "raw")):
        return None
    state = next((t for t in tokens if t.upper() in STATES), "")
    endpoints = [ep for ep in (split_endpoint(t) for t in tokens if t.upper() not in STATES) if ep]
    if len(endpoints) < 2:
        return None
    (local, lport), (remote, rport) = endpoints[0], endpoints[1]
    return Connection(local=local, local_port=lport, remote=remote, remote_port=rport, state=state.upper())


def sniff(lines: list[str]) -> str | None:
    """``netstat`` or ``ss`` when the first lines look like a saved snapshot, else None (a log)."""
    head = [ln.strip() for ln in lines[:20] if ln.strip()]
    if not head:
        return None
    kind = None
    for ln in head:
        if ln.startswith(("Netid", "State")) and "Recv-Q" in ln:
            kind = "ss"
        elif ln.startswith(("Active Internet", "Proto")) or re.match(r"^#\s*netstat\b", ln):
            kind = kind or "netstat"
        elif re.match(r"^#\s*ss\b", ln):
            kind = kind or "ss"
    if kind:
        return kind
    rows = [parse_row(ln) for ln in head]
    if sum(r is not None for r in rows) * 2 > len(head):  # headerless: mostly connection rows
        return "ss" if any(ln.upper().startswith("ESTAB ") for ln in head) else "netstat"
    return None


def is_mail_server_side(conn: Connection) -> bool:
    """The server's own mail port is the local end (someone holds a connection to it)."""
    return conn.local_port in MAIL_PORTS
