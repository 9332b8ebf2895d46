"""The flow table as CSV, one layout everywhere: ``maildetour flows --format csv`` and the report's CSV.

PCAPdroid-like columns first (IPProto 6 or 17, source = the client, Sent/Rcvd from the client's side),
then the flow's app (``_app``), then maildetour's own, then the keys other tools share (Community ID, Zeek's
conn_state and history, whether TLS was established). Rows are made from flow dicts (``Flow.to_json()``, as a
report stores them), so a report re-rendered from its JSON gives the same rows. Cells that a spreadsheet would
run as a formula (starting with = + - @, tab or CR) get a leading apostrophe, since names and addresses come
from the network.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

COLUMNS = (
    "IPProto", "SrcIP", "SrcPort", "DstIP", "DstPort", "Proto",
    "BytesSent", "BytesRcvd", "PktsSent", "PktsRcvd", "FirstSeen", "LastSeen", "app",
    "id", "input", "packets", "bytes", "first_frame", "last_frame", "duration",
    "starttls", "alpn", "sni", "dns", "http_host", "category", "owner", "asn", "as_org",
    "wireshark_filter", "community_id", "state", "history", "tls_established",
)
IP_PROTO = {"tcp": 6, "udp": 17}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str | int | float:
    """Numbers as they are; text with a leading apostrophe when a spreadsheet would evaluate it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return value
    text = "" if value is None else str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    return "'" + text if text.startswith(FORMULA_START) else text


def _names(value) -> str:
    return " ".join(map(str, value or []))


def _app(value) -> str:
    """The app's package (or bundle) id; its name when the source gives none (PCAPdroid's pcap trailer);
    ``uid N`` when only PCAPdroid's UID is known; empty without attribution."""
    if not value:
        return ""
    for key in ("id", "name"):
        if value.get(key):
            return str(value[key])
    return f"uid {value['uid']}" if value.get("uid") is not None else ""


def flow_row(flow: dict) -> list:
    """One CSV row (``COLUMNS``) for a flow dict (``Flow.to_json()``)."""
    client, server = flow.get("client") or {}, flow.get("server") or {}
    c2s, s2c = flow.get("c2s") or {}, flow.get("s2c") or {}
    names = flow.get("names") or {}
    transport = str(flow.get("transport", ""))
    row = [
        IP_PROTO.get(transport, transport), client.get("ip"), client.get("port"), server.get("ip"),
        server.get("port"), flow.get("app_protocol"),
        c2s.get("bytes", 0), s2c.get("bytes", 0), c2s.get("packets", 0), s2c.get("packets", 0),
        flow.get("first_seen"), flow.get("last_seen"), _app(flow.get("app")),
        flow.get("id"), flow.get("input"), flow.get("packets"), flow.get("bytes"), flow.get("first_frame"),
        flow.get("last_frame"), flow.get("duration"),
        flow.get("starttls"), _names(flow.get("alpn")), _names(names.get("sni")), _names(names.get("dns")),
        _names(names.get("http_host")), flow.get("category"), flow.get("owner"), flow.get("asn"),
        flow.get("as_org"), flow.get("wireshark_filter"), flow.get("community_id"), flow.get("state"),
        flow.get("history"), flow.get("tls_established"),
    ]
    return [safe_cell(v) for v in row]


def flows_csv(flows: Iterable[dict], header: bool = True) -> str:
    """The header (when ``header``) and one row per flow dict."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    writer.writerows(flow_row(flow) for flow in flows)
    return buf.getvalue()


def render_csv(report: dict) -> str:
    return flows_csv(report.get("flows") or [])
