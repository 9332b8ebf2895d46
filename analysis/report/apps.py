"""What the HTML and Markdown memos show of the apps, before either escapes it: the verdict per mail app, the
connections of every (other) app, the App Privacy Report's domains and resource accesses, and the summary's
facts of a domain-level verdict. Cells are plain values or ``memo`` cell types; the renderer decides the look.
"""

from __future__ import annotations

from collections.abc import Callable

from analysis.report.memo import MAX_ROWS, Flag, Num, Words, short_list, verdict_facts, when
from analysis.text import number

MAX_APPS = 50  # apps of the App Privacy Report given a table in a memo; the JSON keeps all
PER_APP_COLUMNS = ("apps.app", "apps.source", "verdict", "apps.mail_host", "receive", "send", "apps.relays",
                   "apps.leaks", "flows_h")
GROUP_COLUMNS = ("apps.app", "apps.source", "flows_h", "bytes", "apps.categories", "apps.leaks")
DOMAIN_COLUMNS = ("app_report.domain", "category", "owner", "app_report.domain_owner", "app_report.hits",
                  "first_seen", "last_seen", "app_report.initiated", "flows_h")
ACCESS_COLUMNS = ("apps.app", "app_report.resource", "app_report.count", "first_seen", "last_seen")
USER_INITIATED = "NonAppInitiated"


def domain_level(report: dict) -> bool:
    """The report of an App Privacy Report alone (no capture): no traffic sections in the memo."""
    verdict = report.get("verdict")
    return isinstance(verdict, dict) and verdict.get("basis") == "app-privacy-report"


def method_key(report: dict) -> str:
    """The method paragraph's words: a capture's, or an App Privacy Report's alone."""
    return "app_report.method" if domain_level(report) else "method.text"


def app_name(t: Words, app) -> str:
    """``Example Mail (com.example.mail, UID 10123)``; the words for no app when there is none."""
    if not isinstance(app, dict):
        return t("apps.unattributed")
    ident, name, uid = app.get("id"), app.get("name"), app.get("uid")
    extra = [str(x) for x in (ident if name else None, f"UID {uid}" if uid is not None else None) if x]
    head = str(name or ident or "?")
    return f"{head} ({', '.join(extra)})" if extra else head


def _source(app) -> str:
    return str(app.get("source") or "") if isinstance(app, dict) else ""


def _status(t: Words, part) -> str:
    return t("status." + str((part or {}).get("status", "not-observed")))


def per_app_rows(t: Words, lines: list) -> list[list]:
    rows = []
    for line in lines[:MAX_ROWS]:
        if not isinstance(line, dict):
            continue
        relays = "; ".join(f"{r.get('owner', '?')} ({', '.join(map(str, r.get('basis') or []))})"
                           for r in line.get("relays") or [] if isinstance(r, dict))
        rows.append([app_name(t, line.get("app")), _source(line.get("app")), t("word." + str(line.get("summary"))),
                     Flag(line.get("mail_host_contacted")), _status(t, line.get("receive")),
                     _status(t, line.get("send")), relays or t("none"), Num(int(line.get("leaks") or 0)),
                     Num(len(line.get("flows") or []))])
    return rows


def group_rows(t: Words, lang: str, groups: list) -> list[list]:
    """One row per app: flows, bytes, bytes per category, credential leaks."""
    rows = []
    for g in groups[:MAX_ROWS]:
        if not isinstance(g, dict):
            continue
        cats = g.get("categories") if isinstance(g.get("categories"), dict) else {}
        per_cat = "; ".join(f"{c}: {number(int(b or 0), lang)}" for c, b in cats.items())
        rows.append([app_name(t, g.get("app")), _source(g.get("app")), Num(len(g.get("flows") or [])),
                     Num(int(g.get("bytes") or 0)), per_cat, Num(len(g.get("findings") or []))])
    return rows


def domain_rows(t: Words, domains: list) -> list[list]:
    return [
        [d.get("domain"), d.get("category"), d.get("owner"), d.get("domain_owner") or "", Num(int(d.get("hits") or 0)),
         when(d.get("first")), when(d.get("last")),
         t("app_report.by_user") if d.get("initiated") == USER_INITIATED else t("app_report.by_app"),
         short_list(d.get("flows"), 8)]
        for d in domains[:MAX_ROWS] if isinstance(d, dict)
    ]


def access_rows(apps: list) -> list[list]:
    return [
        [e.get("app"), a.get("category"), Num(int(a.get("count") or 0)), when(a.get("first")), when(a.get("last"))]
        for e in apps if isinstance(e, dict) for a in e.get("access") or [] if isinstance(a, dict)
    ][:MAX_ROWS]


def app_heading(t: Words, entry: dict) -> str:
    """``com.example.mail: 12 domains, 340 hits``."""
    domains = entry.get("domains") or []
    return (f"{entry.get('app')}: {t('n_domains', n=len(domains))}, "
            f"{t('n_hits', n=int(entry.get('hits') or 0))}")


def attribution_text(t: Words, report: dict) -> str:
    """The sentence on the flows attributed through the App Privacy Report ("" without a capture)."""
    att = report.get("attribution")
    if not isinstance(att, dict):
        return ""
    return t("app_report.attribution", flows=int(att.get("flows") or 0), ambiguous=int(att.get("ambiguous") or 0))


def domain_facts(t: Words, verdict: dict, esc: Callable[[str], str] = str) -> list[tuple[str, str]]:
    """The summary's facts of a domain-level verdict: app, basis, mail host names, relay and vendor domains."""
    app = verdict.get("app") if isinstance(verdict.get("app"), dict) else {}
    hosts = [str(h) for h in verdict.get("mail_host_domains") or []]
    contacted = t("yes") + f" ({', '.join(hosts)})" if verdict.get("mail_host_contacted") else t("no")

    def groups(items) -> str:
        shown = "; ".join(
            f"{g.get('owner', '?')} ("
            + "".join(f"{c}: " for c in [", ".join(map(str, g.get("categories") or []))] if c)
            + f"{short_list(g.get('domains') or g.get('names'), 5)}; {t('n_hits', n=int(g.get('hits') or 0))})"
            for g in items[:7] if isinstance(g, dict))
        return shown or t("none")

    vendors = [v for v in verdict.get("vendors") or [] if isinstance(v, dict)]
    return [
        (t("apps.app"), esc(app_name(t, app))),
        (t("apps.basis"), esc(t("apps.domain_level"))),
        (t("apps.mail_host_names"), esc(contacted)),
        (t("apps.relay_domains"), esc(groups(verdict.get("relays") or []))),
        (t("apps.vendor_domains"), esc(groups(vendors))),
    ]


def summary_facts(
    t: Words, verdict: dict, esc: Callable[[str], str] = str, flows: list | None = None
) -> list[tuple[str, str]]:
    """The summary's facts: those of a domain-level verdict (App Privacy Report alone), else the memo's."""
    if verdict.get("basis") == "app-privacy-report":
        return domain_facts(t, verdict, esc)
    return verdict_facts(t, verdict, esc, flows)
