"""The domain-level verdict on one app from its App Privacy Report alone (no capture): did the app ever contact
the configured mail host's names, and which mail-relay, vendor, telemetry or crash-report domains did it
contact (classified as ``analysis.apps.table`` does).

Only connections the app initiated count as the app's; pages the user opened in an in-app browser
(``NonAppInitiated``) are listed apart. The summary follows the contract's rule with domains for flows:
``relayed`` (a mail-relay domain, never the mail host), ``mixed`` (both), ``direct`` (the mail host's names and
no mail-relay domain; the report cannot say which protocol), ``inconclusive`` (neither). The verdict carries
``basis: "app-privacy-report"`` and ``level: "domain"``: it has hit counts, never bytes, flows or frames.
"""

from __future__ import annotations

from analysis.apps.privacyreport import USER_INITIATED
from analysis.case import Case
from analysis.model import Finding
from analysis.text import explain, message
from analysis.vocab import CATEGORIES

BASIS = "app-privacy-report"
NOT_VENDORS = frozenset({"mail-host", "name-resolution"})
SEVERITY = {"mail-relay": "high", "diagnostics": "medium", "ads-analytics": "medium", "telemetry": "low",
            "crash-report": "low", "auth": "info"}  # categories that get a finding, and its severity
ORDER = {c: i for i, c in enumerate(CATEGORIES)}


def _span(rows: list[dict]) -> tuple[str | None, str | None]:
    firsts = [r["first"] for r in rows if r.get("first")]
    lasts = [r["last"] for r in rows if r.get("last")]
    return (min(firsts) if firsts else None), (max(lasts) if lasts else None)  # ISO 8601 UTC sorts as time


def _groups(rows: list[dict]) -> list[dict]:
    """Rows grouped by owner: categories, domains, hits, period; mail relays first, then most hits."""
    groups: dict[str, dict] = {}
    for r in rows:
        g = groups.setdefault(r["owner"], {"owner": r["owner"], "categories": [], "domains": [], "hits": 0,
                                           "rows": []})
        if r["category"] not in g["categories"]:
            g["categories"].append(r["category"])
        if r["domain"] not in g["domains"]:
            g["domains"].append(r["domain"])
        g["hits"] += r["hits"]
        g["rows"].append(r)
    out = []
    for g in groups.values():
        first, last = _span(g.pop("rows"))
        g["categories"].sort(key=lambda c: ORDER.get(c, len(ORDER)))
        out.append({**g, "flows": [], "first": first, "last": last})
    out.sort(key=lambda g: ("mail-relay" not in g["categories"], -g["hits"], g["owner"]))
    return out


def domain_verdict(entry: dict | None, app: str, case: Case, lang: str = "en") -> tuple[dict, list[Finding]]:
    """The ``verdict`` and findings for ``app`` from its ``app_report`` entry (None: the report lacks it)."""
    rows = list(entry["domains"]) if entry else []
    own = [r for r in rows if r.get("initiated") != USER_INITIATED]
    host = [r for r in rows if r["category"] == "mail-host"]
    relays = [
        {"owner": g["owner"], "asn": None, "as_org": "", "basis": ["catalog"], "link": "catalog",
         "device_addresses": [], "login_addresses": [], "names": g["domains"], "flows": [], "frames": [],
         "log_lines": [], "hits": g["hits"], "first": g["first"], "last": g["last"]}
        for g in _groups([r for r in own if r["category"] == "mail-relay"])
    ]
    vendors = _groups([r for r in own if r["category"] not in NOT_VENDORS])
    summary = ("mixed" if host else "relayed") if relays else "direct" if host else "inconclusive"
    missing = []
    if entry is None:
        missing.append("app-not-in-report")
    if not case.mail_hosts and not case.mail_addresses:
        missing.append("no-mail-host")
    if summary == "inconclusive" and entry is not None:
        missing.append("no-mail-domain")
    verdict = {
        "summary": summary,
        "mail_host_contacted": bool(host),
        "receive": {"status": "not-observed", "flows": []},
        "send": {"status": "not-observed", "flows": []},
        "vendors": vendors,
        "relays": relays,
        "candidates": [],
        "explanation": "",
        "missing": missing,
        "settle": [],
        "assumptions": ["domain-level"],
        "mail_hosts": [str(h) for h in case.mail_hosts],
        "counts": {"flows": 0, "mail_host": 0, "mail_relay": 0, "other_mail": 0, "domains": len(rows),
                   "hits": sum(r["hits"] for r in rows)},
        "basis": BASIS,
        "level": "domain",
        "app": {"id": app, "name": case.app.name or None, "source": BASIS},
        "mail_host_domains": [r["domain"] for r in host],
        "user_initiated": sorted({r["domain"] for r in rows if r.get("initiated") == USER_INITIATED}),
    }
    verdict["explanation"] = explain(verdict, lang)
    return verdict, _findings(verdict, own, app, case, lang)


def _findings(verdict: dict, own: list[dict], app: str, case: Case, lang: str) -> list[Finding]:
    out = []
    hosts = [str(h) for h in case.mail_hosts] + list(case.mail_addresses)
    if hosts and verdict["counts"]["domains"] and not verdict["mail_host_contacted"]:
        details = {"app": app, "hosts": hosts, "domains": verdict["counts"]["domains"]}
        severity = "high" if verdict["relays"] else "medium"
        out.append(Finding(kind="app-report-mail-host-not-contacted", severity=severity,
                           message=message("app-report-mail-host-not-contacted", lang, **details), details=details))
    for category, severity in SEVERITY.items():
        rows = [r for r in own if r["category"] == category]
        if not rows:
            continue
        first, last = _span(rows)
        details = {"app": app, "category": category, "domains": [r["domain"] for r in rows],
                   "owners": list(dict.fromkeys(r["owner"] for r in rows)), "hits": sum(r["hits"] for r in rows),
                   "first": first, "last": last}
        out.append(Finding(kind="app-report-domains", severity=severity,
                           message=message("app-report-domains", lang, **details), details=details))
    if verdict["summary"] == "inconclusive":
        missing = verdict["missing"] or ["no-mail-domain"]
        out.append(Finding(kind="inconclusive", severity="info", message=message("inconclusive", lang, missing=missing),
                           details={"missing": list(missing)}))
    return out
