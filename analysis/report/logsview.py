"""``maildetour logs``: the mail server view of the logs alone, as JSON (``maildetour.logs/1``) or as a Markdown
memo (inputs, assumptions, login origins, connections held, findings, AS data, the RDAP appendix).

The view is what ``analysis.logs.correlate`` builds; the Markdown is written with the report memo's writer
(``analysis.report.markdown``): the same escaping, tables and code spans as ``analyze``'s mail-server section.
"""

from __future__ import annotations

import json

from analysis import __version__
from analysis.report.markdown import Doc, code, md, whois_section
from analysis.report.memo import Flag, Num, when
from analysis.text import title

SCHEMA = "maildetour.logs/1"
INPUT_COLUMNS = ("file", "lines", "parsed", "unmatched", "software")
ORIGIN_COLUMNS = ("account", "address", "owner", "logs.as", "logs.as_range", "first", "last", "count", "failures",
                  "logs.device", "after_removal")
CONNECTION_COLUMNS = ("file", "local", "remote", "owner", "logs.as", "state")
MAX_QUOTED = 5  # log lines quoted per finding


def logs_document(view: dict, findings: list[dict], sources: list[dict], whois: dict | None = None) -> dict:
    """The JSON document: the view, its findings (as report findings), the AS data sources and, with --rdap,
    ``whois`` and ``rdap``."""
    return {
        "schema": SCHEMA,
        "tool": {"name": "maildetour", "version": __version__},
        **view,
        "findings": findings,
        "asn_sources": sources,
        **(whois or {}),
    }


def render_logs(doc: dict, fmt: str, lang: str) -> str:
    """The document as ``json`` or ``md`` text."""
    if fmt == "md":
        text = _markdown(doc, lang)
        if "whois" in doc:
            text = text.rstrip("\n") + "\n\n" + whois_section(doc, lang)
        return text
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def as_text(asn, org) -> str:
    """``AS8075 Microsoft Corporation``, or "" when the AS is unknown."""
    return f"AS{asn} {org}".strip() if asn is not None else ""


def origin_rows(origins: list[dict]) -> list[list]:
    return [
        [o["account"], o["address"], o["owner"], as_text(o["asn"], o["as_org"]), o["as_range"], when(o["first"]),
         when(o["last"]), Num(o["count"]), Num(o["failures"]), Flag(o["is_device"]), Num(o["after_removal_count"])]
        for o in origins
    ]


def connection_rows(connections: list[dict]) -> list[list]:
    return [
        [c["file"], f"{c['local']}:{c['port']}", f"{c['remote']}:{c['remote_port']}", c["remote_owner"],
         as_text(c["remote_asn"], c["remote_as_org"]), c["state"]]
        for c in connections
    ]


def _section(d: Doc, key: str) -> None:
    d.add(f"## {md(d.t(key))}", "")


def _markdown(doc: dict, lang: str) -> str:
    d = Doc(doc, lang)
    d.add(f"# {md(d.t('logs.title'))}", "")
    _section(d, "inputs")
    d.table(d.headers(INPUT_COLUMNS),
            d.cells([[f["path"], Num(f["lines"]), Num(f["parsed"]), Num(f["unmatched"]), ", ".join(f["software"])]
                     for f in doc["logs"]]))
    notes = doc["assumptions"] + [f"{f['path']}: {msg}" for f in doc["logs"] for msg in f["warnings"]]
    if notes:
        _section(d, "assumptions")
        d.add(*(f"- {md(note)}" for note in notes), "")
    _section(d, "origins")
    if doc["origins"]:
        d.table(d.headers(ORIGIN_COLUMNS), d.cells(origin_rows(doc["origins"])))
    else:
        d.add(md(d.t("logs.none")), "")
    if doc["connections"]:
        _section(d, "logs.connections")
        d.table(d.headers(CONNECTION_COLUMNS), d.cells(connection_rows(doc["connections"])))
    if doc["findings"]:
        _section(d, "findings")
        for f in doc["findings"]:
            d.add(f"- **{md(title(f['kind'], lang))}** ({md(d.t('severity.' + f['severity']))}): {md(f['message'])}")
            d.add(*(f"    - {code(line, table=False)}" for line in f["log_lines"][:MAX_QUOTED]))
        d.add("")
    if doc["asn_sources"]:
        _section(d, "logs.as_data")
        for src in doc["asn_sources"]:
            detail = "; ".join(x for x in (src.get("licence", ""), src.get("attribution", "")) if x)
            d.add(f"- {md(src.get('name', ''))}" + (f": {md(detail)}" if detail else ""))
        d.add("")
    return "\n".join(d.out)
