"""The flow table as CSV: PCAPdroid-like columns plus category, owner and names.

Cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR) get a leading
apostrophe, since names and addresses come from the network.
"""

from __future__ import annotations

import csv
import io

COLUMNS = (
    "IPProto",
    "SrcIP",
    "SrcPort",
    "DstIP",
    "DstPort",
    "Proto",
    "BytesSent",
    "BytesRcvd",
    "PktsSent",
    "PktsRcvd",
    "FirstSeen",
    "LastSeen",
    "category",
    "owner",
    "sni",
    "dns",
    "http_host",
    "first_frame",
    "wireshark_filter",
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


def _side(flow: dict, key: str) -> dict:
    value = flow.get(key)
    return value if isinstance(value, dict) else {}


def flow_row(flow: dict) -> list:
    """One CSV row for a report flow (a ``Flow.to_json()`` dict)."""
    client, server = _side(flow, "client"), _side(flow, "server")
    c2s, s2c = _side(flow, "c2s"), _side(flow, "s2c")
    names = _side(flow, "names")
    transport = str(flow.get("transport", ""))
    row = [
        IP_PROTO.get(transport, transport),
        client.get("ip"),
        client.get("port"),
        server.get("ip"),
        server.get("port"),
        flow.get("app_protocol"),
        c2s.get("bytes", 0),
        s2c.get("bytes", 0),
        c2s.get("packets", 0),
        s2c.get("packets", 0),
        flow.get("first_seen"),
        flow.get("last_seen"),
        flow.get("category"),
        flow.get("owner"),
        " ".join(map(str, names.get("sni") or [])),
        " ".join(map(str, names.get("dns") or [])),
        " ".join(map(str, names.get("http_host") or [])),
        flow.get("first_frame"),
        flow.get("wireshark_filter"),
    ]
    return [safe_cell(v) for v in row]


def flows_csv(flows: list[dict]) -> str:
    """A header and one row per flow dict."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for flow in flows:
        writer.writerow(flow_row(flow))
    return buf.getvalue()


def render_csv(report: dict) -> str:
    return flows_csv([f for f in report.get("flows") or [] if isinstance(f, dict)])
