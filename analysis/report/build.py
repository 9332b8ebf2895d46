"""The report dict: the contract's fields in order, then everything a renderer needs, redacted.

``maildetour report REPORT.json`` re-renders from this dict alone, so statistics, owner evidence and
timeline data are computed here, once, and never by a renderer from live objects.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime

from analysis import __version__
from analysis.canary import text_forms
from analysis.case import Case
from analysis.model import Capture, Flow, iso_utc
from analysis.redact import Redactor
from analysis.vocab import CATEGORIES

SCHEMA = "maildetour.report/1"
TOOL = "maildetour"
MAX_NAMES = 32  # names listed per server address in the owner appendix and destination table


def build_report(
    capture: Capture, case: Case, verdict, findings: list, catalog, logs_view=None, lang: str = "en",
    asn_db=None,
) -> dict:
    """CONTRACTS.md's top-level keys first, then catalog, settings, stats, owners, timeline. ``asn_db``
    (analysis.owners.AsnDatabase): the AS data for the owner appendix's ranges and the method's sources."""
    flows = sorted(capture.flows, key=lambda f: f.id)
    logs = plain(logs_view) if logs_view is not None else None
    report: dict = {
        "schema": SCHEMA,
        "tool": {"name": TOOL, "version": __version__},
        "inputs": [i.to_json() for i in capture.inputs],
        "case": case.to_json(),
        "flows": [f.to_json() for f in flows],
        "dns": [d.to_json() for d in capture.dns],
        "verdict": plain(verdict),
        "findings": [plain(f) for f in findings],
        "catalog": _catalog(catalog),
        "settings": {
            "lang": lang,
            "log_offset": logs.get("log_offset") if isinstance(logs, dict) else None,
            "device_filter": list(case.devices),
            "asn_data": asn_db.sources() if asn_db is not None else [],
        },
        "stats": stats(flows),
        "owners": owners(flows, logs, asn_db),
        "timeline": timeline(flows, case),
    }
    report["destinations"] = destinations(report["flows"])
    if logs is not None:
        report["mail_server"] = logs
    return redact(report, case.redactor())


def _catalog(catalog) -> dict | None:
    describe = getattr(catalog, "describe", None)
    return plain(describe()) if callable(describe) else None


def plain(value):
    """A JSON-ready copy: records via ``to_json``, dataclasses as dicts, sets sorted, times as ISO 8601."""
    to_json = getattr(value, "to_json", None)
    if callable(to_json) and not isinstance(value, type):
        return plain(to_json())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((plain(v) for v in value), key=str)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def redact(report: dict, redactor: Redactor) -> dict:
    """The report with every secret masked; one pass over its JSON text first checks whether any is there."""
    if not redactor.secrets:
        return report
    text = json.dumps(report, ensure_ascii=False)  # JSON-escaped secrets are among the redactor's forms
    if not may_contain(text, redactor):
        return report
    return redact_tree(report, redactor)


_FOLD = {0x131: "i", 0x17F: "s"}  # dotless i and long s match i and s under re.IGNORECASE


def may_contain(text: str, redactor: Redactor) -> bool:
    """False only when no form of any secret can be in ``text``: a fast lower-case substring test."""
    forms = [f for secret in redactor.secrets for f in text_forms(secret) if len(f) >= 3]
    if not all(f.isascii() for f in forms):
        return redactor.text(text) != text
    low = text.lower().translate(_FOLD)
    return any(f.lower() in low for f in forms)


def redact_tree(value, redactor: Redactor):
    """Every string (keys included) passed through the redactor."""
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, dict):
        return {redactor.text(k): redact_tree(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_tree(v, redactor) for v in value]
    return value


def _category_order(category: str) -> tuple[int, str]:
    return (CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES), category)


def _tally(flows: list[Flow], key) -> list[dict]:
    rows: dict[str, dict] = {}
    for f in flows:
        name = key(f)
        row = rows.setdefault(name, {"flows": 0, "packets": 0, "bytes": 0, "c2s_bytes": 0, "s2c_bytes": 0})
        row["flows"] += 1
        row["packets"] += f.packets
        row["bytes"] += f.bytes
        row["c2s_bytes"] += f.c2s_bytes
        row["s2c_bytes"] += f.s2c_bytes
    return [{"name": k, **v} for k, v in rows.items()]


def stats(flows: list[Flow]) -> dict:
    """Flows, packets and bytes (total and sent by the client) per category and per owner."""
    by_cat = sorted(_tally(flows, lambda f: f.category), key=lambda r: _category_order(r["name"]))
    by_owner = sorted(_tally(flows, lambda f: f.owner or ""), key=lambda r: (-r["bytes"], r["name"]))
    total = {
        "flows": len(flows),
        "packets": sum(f.packets for f in flows),
        "bytes": sum(f.bytes for f in flows),
        "c2s_bytes": sum(f.c2s_bytes for f in flows),
        "s2c_bytes": sum(f.s2c_bytes for f in flows),
    }
    return {
        "total": total,
        "by_category": [{"category": r.pop("name"), **r} for r in by_cat],
        "by_owner": [{"owner": r.pop("name"), **r} for r in by_owner],
    }


def owners(flows: list[Flow], logs: dict | None = None, asn_db=None) -> list[dict]:
    """Owner evidence per server address (who it belongs to, by which rule, every name seen for it, its AS),
    then per login origin of the mail server's logs that no flow has as its server (``roles``)."""
    table: dict[str, dict] = {}
    for f in flows:
        row = table.get(f.server.ip)
        if row is None:
            ev = f.evidence
            row = table[f.server.ip] = {
                "address": f.server.ip,
                "owner": f.owner,
                "category": f.category,
                "categories": [],
                "rule": ev.rule if ev else None,
                "matched": ev.matched if ev else None,
                "source": ev.source if ev else None,
                "entry": ev.entry if ev else None,
                "catalog_source": ev.catalog_source if ev else None,
                "names": [],
                "ports": [],
                "flows": [],
                "bytes": 0,
                "roles": ["server"],
                **_as_fields(f.server.ip, f.asn, f.as_org, asn_db),
            }
        if f.category not in row["categories"]:
            row["categories"].append(f.category)
        for _, name in f.names.all():
            if name not in row["names"] and len(row["names"]) < MAX_NAMES:
                row["names"].append(name)
        if f.server.port not in row["ports"]:
            row["ports"].append(f.server.port)
        row["flows"].append(f.id)
        row["bytes"] += f.bytes
    for row in table.values():
        row["ports"].sort()
    servers = sorted(table.values(), key=lambda r: (_category_order(r["category"]), r["address"]))
    return servers + _login_origins(logs, table, asn_db)


def _as_fields(address: str, asn, as_org: str, asn_db) -> dict:
    """asn, as_org, the range matched and the data source of an address (range and source need ``asn_db``)."""
    hit = asn_db.lookup(address) if asn_db is not None else None
    if hit is not None:
        return {"asn": hit.asn, "as_org": hit.org, "as_range": hit.range, "as_source": hit.source}
    return {"asn": asn, "as_org": as_org or "", "as_range": "", "as_source": ""}


def _login_origins(logs: dict | None, servers: dict[str, dict], asn_db) -> list[dict]:
    """Owner rows for the login origins in the mail server's logs (a server row also gets the role)."""
    rows: dict[str, dict] = {}
    origins = logs.get("origins") if isinstance(logs, dict) else None
    for o in origins if isinstance(origins, list) else []:
        address = str(o.get("address", "")) if isinstance(o, dict) else ""
        if not address:
            continue
        if address in servers:
            if "login" not in servers[address]["roles"]:
                servers[address]["roles"].append("login")
            continue
        if address in rows:
            continue
        in_catalog = o.get("in_catalog", True)
        rows[address] = {
            "address": address,
            "owner": str(o.get("owner", "")) if in_catalog else "",
            "category": str(o.get("category", "unknown")),
            "categories": [],
            "rule": None,
            "matched": None,
            "source": None,
            "entry": None,
            "catalog_source": o.get("catalog_source") or None,
            "names": [],
            "ports": [],
            "flows": [],
            "bytes": 0,
            "roles": ["login"],
            **_as_fields(address, o.get("asn"), str(o.get("as_org") or ""), asn_db),
        }
    return [rows[a] for a in sorted(rows)]


def timeline(flows: list[Flow], case: Case) -> dict:
    """Connection spans per category, in seconds from the first packet, plus the case's time marks."""
    timed = [f for f in flows if f.first_seen is not None]
    start = min((f.first_seen for f in timed), default=None)
    end = max((f.last_seen if f.last_seen is not None else f.first_seen for f in timed), default=None)
    lanes: dict[str, list] = {}
    for f in sorted(timed, key=lambda f: (f.first_seen, f.id)):
        last = f.last_seen if f.last_seen is not None else f.first_seen
        lanes.setdefault(f.category, []).append(
            [f.id, round(f.first_seen - start, 6), round(last - start, 6)]
        )
    marks = []
    for kind, when in (("account_added", case.account_added), ("app_removed", case.app_removed)):
        if when is not None:
            marks.append(
                {
                    "kind": kind,
                    "time": iso_utc(when.timestamp()),
                    "offset": round(when.timestamp() - start, 6) if start is not None else None,
                }
            )
    return {
        "start": iso_utc(start),
        "end": iso_utc(end),
        "duration": round(end - start, 6) if start is not None else 0.0,
        "marks": marks,
        "lanes": [{"category": c, "spans": lanes[c]} for c in sorted(lanes, key=_category_order)],
    }


def server_filter(ip: str, transport: str, port) -> str:
    """A Wireshark display filter for every conversation with one server port."""
    fam = "ipv6" if ":" in ip else "ip"
    return f"{fam}.addr=={ip} && {transport}.port=={port}"


def destinations(flows: list[dict]) -> list[dict]:
    """Report flows grouped by category, then by server address, port and transport (from JSON alone)."""
    groups: dict[str, dict[tuple, dict]] = {}
    for f in flows:
        server = f.get("server") or {}
        ip, port, transport = str(server.get("ip", "")), server.get("port"), str(f.get("transport", ""))
        cat = str(f.get("category", "unknown"))
        row = groups.setdefault(cat, {}).get((ip, port, transport))
        if row is None:
            row = groups[cat][(ip, port, transport)] = {
                "address": ip,
                "port": port,
                "transport": transport,
                "owner": f.get("owner", ""),
                "names": [],
                "protocols": [],
                "flows": 0,
                "flow_ids": [],
                "packets": 0,
                "bytes": 0,
                "c2s_bytes": 0,
                "first_seen": f.get("first_seen"),
                "last_seen": f.get("last_seen"),
                "first_frame": f.get("first_frame"),
                "wireshark_filter": server_filter(ip, transport, port),
            }
        names = f.get("names") or {}
        for kind in ("sni", "http_host", "dns"):
            for name in names.get(kind) or []:
                if name not in row["names"] and len(row["names"]) < MAX_NAMES:
                    row["names"].append(name)
        proto = f.get("app_protocol")
        if proto and proto not in row["protocols"]:
            row["protocols"].append(proto)
        row["flows"] += 1
        row["flow_ids"].append(f.get("id"))
        row["packets"] += int(f.get("packets") or 0)
        row["bytes"] += int(f.get("bytes") or 0)
        row["c2s_bytes"] += int((f.get("c2s") or {}).get("bytes") or 0)
        for key, pick in (("first_seen", min), ("last_seen", max)):
            if f.get(key) and (row[key] is None or pick(row[key], f[key]) != row[key]):
                row[key] = f[key]
        if f.get("first_frame") and (not row["first_frame"] or f["first_frame"] < row["first_frame"]):
            row["first_frame"] = f["first_frame"]
    return [
        {
            "category": cat,
            "servers": sorted(
                groups[cat].values(), key=lambda r: (-r["bytes"], r["address"], str(r["port"]))
            ),
        }
        for cat in sorted(groups, key=_category_order)
    ]
