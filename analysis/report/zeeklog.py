"""The flow table as Zeek's conn.log in JSON lines (``maildetour flows --format zeek``).

One object per flow with Zeek's field names and meanings, in Zeek's order: ``ts`` (first packet, epoch
seconds), ``uid``, ``id.orig_h``/``id.orig_p`` (the client: Zeek's originator), ``id.resp_h``/``id.resp_p``,
``proto``, ``service``, ``duration``, ``orig_bytes``/``resp_bytes``, ``conn_state``, ``history``,
``orig_pkts``/``resp_pkts``, ``community_id`` (as Zeek's community-id package adds it), then maildetour's own
``category``, ``owner`` and ``sni`` (the first TLS server name). As Zeek does, fields without a value are left
out, and ``duration``, ``orig_bytes`` and ``resp_bytes`` are written only for flows that lasted longer than 0 s.

Where the values come from: ``uid`` is "C" and 17 base62 digits of a SHA-1 over the Community ID, the input's
number and the first frame, so the same capture always gives the same uid; ``service`` is Zeek's analyser name
for the protocol maildetour saw (``ssl`` for TLS, with the mail protocol before it after STARTTLS), written
only when payload was seen; the byte counts are the TCP/UDP payload of the captured packets (Zeek takes TCP's
from sequence numbers, so retransmitted bytes count once there and here twice); conn_state and history follow
``analysis.capture.connstate``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from json import JSONEncoder

from analysis.model import Flow

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
UID_DIGITS = 17
_JSON = JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # compact, as Zeek writes JSON
SERVICES = {
    "imap": "imap", "pop3": "pop3", "smtp": "smtp", "submission": "smtp",
    "imaps": "ssl", "pop3s": "ssl", "smtps": "ssl", "tls": "ssl",
    "http": "http", "dns": "dns", "quic": "quic",
}


def uid(flow: Flow) -> str:
    """A Zeek-style connection uid, the same for the same flow of the same capture."""
    seed = f"{flow.community_id or flow.wireshark_filter()}|{flow.input_index}|{flow.first_frame}"
    n = int.from_bytes(hashlib.sha1(seed.encode(), usedforsecurity=False).digest()[:13], "big")
    digits = []
    for _ in range(UID_DIGITS):
        n, r = divmod(n, 62)
        digits.append(BASE62[r])
    return "C" + "".join(digits)


def service(flow: Flow) -> str | None:
    """Zeek's service word for the protocol seen, None when the flow carried no payload or none Zeek names."""
    if not (flow.c2s_payload or flow.s2c_payload):
        return None
    name = SERVICES.get(flow.app_protocol)
    if name in ("imap", "pop3", "smtp") and flow.starttls:
        return name + ",ssl"
    return name


def _seconds(value: float | None) -> float | None:
    return round(value, 6) if value is not None and math.isfinite(value) else None


def conn_record(flow: Flow) -> dict:
    """One conn.log entry for ``flow``."""
    record: dict = {
        "ts": _seconds(flow.first_seen),
        "uid": uid(flow),
        "id.orig_h": flow.client.ip,
        "id.orig_p": flow.client.port,
        "id.resp_h": flow.server.ip,
        "id.resp_p": flow.server.port,
        "proto": flow.transport,
        "service": service(flow),
    }
    duration = _seconds(flow.duration)
    if duration:
        record.update(duration=duration, orig_bytes=flow.c2s_payload, resp_bytes=flow.s2c_payload)
    record.update({
        "conn_state": flow.state,
        "history": flow.history or None,
        "orig_pkts": flow.c2s_packets,
        "resp_pkts": flow.s2c_packets,
        "community_id": flow.community_id,
        "category": flow.category,
        "owner": flow.owner or None,
        "sni": flow.names.sni[0] if flow.names.sni else None,
    })
    return {k: v for k, v in record.items() if v is not None}


def conn_lines(flows: Iterable[Flow]) -> str:
    """conn.log JSON lines, one per flow (compact, as Zeek writes them)."""
    return "".join(_JSON(conn_record(f)) + "\n" for f in flows)
