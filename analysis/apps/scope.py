"""Which flows the verdict concerns when a phone ran many apps, and what every app did.

- ``split``: with ``--app ID`` (or the case's ``[app] id``) the verdict concerns the flows of that app: its
  package or bundle id, app name or UID (case-insensitive; PCAPdroid's pcap trailer names no package, so
  there the case's ``[app] name`` or ``--app NAME`` matches it). A capture without any
  attribution is taken as the case's app alone (``app.source``: ``case``).
- ``app_groups``: per app (and the unattributed flows), from the report's flows: flow ids, bytes per category.
- ``per_app_line``: without ``--app``, the verdict line of a mail-capable app (it spoke a mail protocol,
  contacted the mail host, has a relay tied to its flows or a credential leak) from the report of its flows
  alone, as ``--app`` would judge it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analysis.case import AppInfo
from analysis.model import App, Flow
from analysis.vocab import CATEGORIES, channel

CASE_SOURCE = "case"
ORDER = {c: i for i, c in enumerate(CATEGORIES)}


def matches(app: App | dict | None, wanted: str) -> bool:
    """Whether ``app`` (a record or its JSON) is the app ``wanted`` names: its id, name or UID (case-insensitive)."""
    if app is None:
        return False
    get = app.get if isinstance(app, dict) else lambda key: getattr(app, key)
    want = wanted.strip().casefold()
    ident, name, uid = get("id"), get("name"), get("uid")
    return any(isinstance(v, str) and v.casefold() == want for v in (ident, name)) or (
        uid is not None and str(uid) == want)


@dataclass
class Scope:
    wanted: str
    mine: list[Flow] = field(default_factory=list)
    others: list[Flow] = field(default_factory=list)
    by_case: bool = False  # nothing was attributed: every flow taken as the case's app

    def apps(self) -> list[App]:
        """The distinct app records of the app's flows, first seen first."""
        return list(dict.fromkeys(f.app for f in self.mine if f.app is not None))


def split(flows: list[Flow], wanted: str, info: AppInfo) -> Scope:
    """The flows of the app ``wanted`` and the others'."""
    scope = Scope(wanted)
    if not any(f.app is not None for f in flows):
        app = App(wanted, info.name or None, None, CASE_SOURCE)
        for f in flows:
            f.app = app
        scope.mine, scope.by_case = list(flows), True
        return scope
    for f in flows:  # the case's app name also finds the app where PCAPdroid recorded no package
        mine = matches(f.app, wanted) or bool(info.name and f.app and f.app.id is None and matches(f.app, info.name))
        (scope.mine if mine else scope.others).append(f)
    return scope


def _key(app) -> tuple:
    return (app.get("id"), app.get("name"), app.get("uid"), app.get("source")) if isinstance(app, dict) else ()


def _groups(flows: list[dict]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for f in sorted(flows, key=lambda f: f.get("id", 0)):
        groups.setdefault(_key(f.get("app")), []).append(f)
    return groups


def app_groups(flows: list[dict]) -> list[dict]:
    """Per app, in the order of its first flow (the unattributed flows as ``app: null``): flow ids, packets,
    bytes, and bytes per category."""
    out = []
    for group in _groups(flows).values():
        by_cat: dict[str, int] = {}
        for f in group:
            cat = str(f.get("category", "unknown"))
            by_cat[cat] = by_cat.get(cat, 0) + int(f.get("bytes") or 0)
        out.append({
            "app": group[0].get("app"),
            "flows": [f.get("id") for f in group],
            "packets": sum(int(f.get("packets") or 0) for f in group),
            "bytes": sum(int(f.get("bytes") or 0) for f in group),
            "categories": {c: by_cat[c] for c in sorted(by_cat, key=lambda c: ORDER.get(c, len(ORDER)))},
        })
    return out


def per_app_line(app: dict | None, report: dict) -> dict | None:
    """The verdict line of one app from the report of its flows alone, or None when it is no mail app: it
    spoke no mail protocol, never contacted the mail host, no relay is tied to its flows (a relay known only
    from the server's logins is no app's) and it sent no account data."""
    verdict = report.get("verdict") if isinstance(report.get("verdict"), dict) else {}
    flows = [f for f in report.get("flows") or [] if isinstance(f, dict)]
    spoke = any(channel(str(f.get("app_protocol", "")), int((f.get("server") or {}).get("port") or 0))
                for f in flows)
    relays = [{"owner": r.get("owner"), "basis": list(r.get("basis") or []), "link": r.get("link"),
               "flows": list(r.get("flows") or [])}
              for r in verdict.get("relays") or [] if isinstance(r, dict) and r.get("flows")]
    leaks = [f for f in report.get("findings") or [] if isinstance(f, dict) and f.get("kind") == "credential-leak"]
    host = bool(verdict.get("mail_host_contacted"))
    reasons = [r for r, yes in (("mail-protocol", spoke), ("mail-host", host), ("relay", relays),
                                ("credential-leak", leaks)) if yes]
    if not reasons:
        return None
    receive, send = verdict.get("receive") or {}, verdict.get("send") or {}
    direct = receive.get("status") == "direct" or send.get("status") == "direct"
    summary = ("mixed" if host else "relayed") if relays else "direct" if direct else "inconclusive"
    return {
        "app": app,
        "summary": summary,
        "mail_host_contacted": host,
        "receive": {"status": receive.get("status", "not-observed"), "flows": list(receive.get("flows") or [])},
        "send": {"status": send.get("status", "not-observed"), "flows": list(send.get("flows") or [])},
        "relays": relays,
        "leaks": len(leaks),
        "flows": [f.get("id") for f in flows],
        "reasons": reasons,
    }
