"""The comparison: one row per run, made from its report dict (or from why it failed), in run-name order.

A row keeps what an analyst compares across apps: the app, the verdict, whether the mail host was contacted,
the relays and what each rests on, bytes per category, the vendors, the credential leaks and the logins of
third parties to the account. Counts are null for a run that failed (unknown, not zero).
"""

from __future__ import annotations

import os

from analysis import __version__
from analysis.case import AppInfo
from analysis.vocab import CATEGORIES

SCHEMA = "maildetour.comparison/1"
LEAK_KIND = "credential-leak"
LOGIN_KIND = "third-party-login"
MAX_ERROR = 500  # characters of a run's error line


def count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def bytes_by_category(report: dict) -> dict[str, int]:
    """Bytes per category with traffic, in the contract's category order (unknown words after, sorted)."""
    rows = (report.get("stats") or {}).get("by_category") or []
    found = {str(r.get("category")): count(r.get("bytes")) for r in rows}
    order = [c for c in CATEGORIES if c in found] + sorted(set(found) - set(CATEGORIES))
    return {c: found[c] for c in order if found[c]}


def third_party_logins(findings: list[dict]) -> int:
    """Successful logins or submissions from third-party addresses (a finding without its count counts one)."""
    total = 0
    for finding in findings:
        if finding.get("kind") == LOGIN_KIND:
            total += count((finding.get("details") or {}).get("count")) or 1
    return total


def damage(report: dict) -> str | None:
    """The first damaged or truncated input or log of the report, as one line; None when all were whole."""
    for info in (report.get("inputs") or []) + ((report.get("mail_server") or {}).get("logs") or []):
        if info.get("complete", True):
            continue
        where = f" at offset {info['error_offset']}" if info.get("error_offset") is not None else ""
        why = (info.get("damage") or {}).get("reason") or next(iter(info.get("warnings") or []), "")
        line = f"{os.path.basename(str(info.get('path') or ''))}: damaged or truncated{where}" + (f": {why}" if why
                                                                                                 else "")
        return " ".join(line.split())[:MAX_ERROR]
    return None


def report_row(name: str, app: AppInfo, report: dict, report_path: str, html_path: str) -> dict:
    """The row of a run that was analysed (``report_path``, ``html_path``: relative to OUT_DIR)."""
    verdict = report.get("verdict") or {}
    findings = report.get("findings") or []
    total = (report.get("stats") or {}).get("total") or {}
    return {
        "run": name,
        "app": app.to_json(),
        "summary": verdict.get("summary"),
        "mail_host_contacted": bool(verdict.get("mail_host_contacted")),
        "relays": [{"owner": r.get("owner"), "basis": list(r.get("basis") or [])}
                   for r in verdict.get("relays") or []],
        "bytes_by_category": bytes_by_category(report),
        "vendors": [v.get("owner") for v in verdict.get("vendors") or []],
        "leaks": sum(1 for f in findings if f.get("kind") == LEAK_KIND),
        "third_party_logins": third_party_logins(findings),
        "report": report_path,
        "error": None,
        "report_html": html_path,
        "damaged": damage(report),
        "flows": count(total.get("flows")),
        "bytes": count(total.get("bytes")),
    }


def failed_row(name: str, app: AppInfo, error: str) -> dict:
    """The row of a run that could not be analysed: its error as one line, nothing else known."""
    return {
        "run": name,
        "app": app.to_json(),
        "summary": None,
        "mail_host_contacted": None,
        "relays": [],
        "bytes_by_category": {},
        "vendors": [],
        "leaks": None,
        "third_party_logins": None,
        "report": None,
        "error": " ".join(str(error).split())[:MAX_ERROR] or "failed",
        "report_html": None,
        "damaged": None,
        "flows": None,
        "bytes": None,
    }


def comparison(rows: list[dict], lang: str) -> dict:
    """The comparison dict (``maildetour.comparison/1``), rows in run-name order."""
    return {
        "schema": SCHEMA,
        "tool": {"name": "maildetour", "version": __version__},
        "settings": {"lang": lang},
        "runs": sorted(rows, key=lambda r: r["run"]),
    }
