"""The words of the per-app view, English and German (kept in apps.toml): the domain-level verdict's paragraph
(App Privacy Report alone), the sentence naming the app a capture's verdict concerns, and the App Privacy Report's
findings.
"""

from __future__ import annotations

from analysis.text.findings import missing_text
from analysis.text.numbers import MAX_TEXT, Defaults, language, listing, number, param, plural, when
from analysis.text.report import text
from analysis.text.tables import Tables

TABLES = Tables("apps")  # apps.toml: templates, titles and the phrases of the per-app view
FINDINGS = Tables("findings")


def __getattr__(name: str) -> dict:
    """``TEMPLATES``, ``TITLES``, ``LEAD``, ...: the tables of apps.toml under their constant names."""
    return TABLES.constant(name)


def _period(first, last, lang: str) -> str:
    return TABLES.period[lang].format(first=when(first), last=when(last)) if first and last else ""


def message(kind: str, lang: str, /, **details) -> str:
    """The sentence of an App Privacy Report finding (a parameter the details lack reads "?")."""
    lang = language(lang)
    template = TABLES.templates.get(kind, {}).get(lang)
    if template is None:
        return kind
    params = Defaults({k: param(k, v, lang) for k, v in details.items()})
    category = str(details.get("category", ""))
    params["what"] = TABLES.what.get(category, {}).get(lang, category or "?")
    params["hit_words"] = plural(details.get("hits"), TABLES.hits[lang])
    params["domain_words"] = plural(details.get("domains"), TABLES.domains[lang])
    params["period"] = _period(details.get("first"), details.get("last"), lang)
    return template.format_map(params)


def _app_name(app) -> str:
    if isinstance(app, dict):
        return str(app.get("id") or app.get("name") or (f"UID {app['uid']}" if app.get("uid") is not None else "?"))
    return str(app or "?")


def explain_domain_level(verdict: dict, lang: str) -> str:
    """The paragraph of a domain-level verdict (``basis: app-privacy-report``), from the verdict dict alone."""
    lang = language(lang)
    summary = str(verdict.get("summary", "inconclusive"))
    relays = [r for r in verdict.get("relays") or [] if isinstance(r, dict)]
    vendors = [v for v in verdict.get("vendors") or [] if isinstance(v, dict)]
    hosts = verdict.get("mail_host_domains") or verdict.get("mail_hosts") or []
    parts = [TABLES.lead.get(summary, TABLES.lead["inconclusive"])[lang].format(
        app=_app_name(verdict.get("app"))[:MAX_TEXT],
        owners=listing([r.get("owner", "?") for r in relays], lang),
        domains=listing([d for r in relays for d in r.get("names") or []], lang),
        hosts=listing(hosts, lang),
    )]
    others = []
    for v in vendors:  # what else the vendors' domains are (a relay's owner may also collect telemetry)
        cats = [str(c) for c in v.get("categories") or [] if c != "mail-relay"]
        if cats:
            others.append(f"{v.get('owner', '?')} ({', '.join(cats)})")
    if others:
        parts.append(TABLES.others[lang].format(vendors=listing(others, lang)))
    user = verdict.get("user_initiated") or []
    if user:
        words = plural(len(user), TABLES.domains[lang])
        parts.append(TABLES.user_pages[lang].format(n=number(len(user), lang), domain_words=words))
    missing = verdict.get("missing") or []
    if missing and summary == "inconclusive":
        parts.append(FINDINGS.missing_lead[lang].format(missing=missing_text(missing if isinstance(missing, list)
                                                                    else [missing], lang)))
    parts.append(TABLES.limits[lang])
    return " ".join(parts)


def _per_app(verdict: dict, lang: str) -> list[str]:
    """``Judged app by app ...: com.example.mail: relayed (Vendor); com.android.email: direct.``"""
    items = []
    for line in verdict.get("per_app") or []:
        if not isinstance(line, dict):
            continue
        owners = [str(r.get("owner", "?")) for r in line.get("relays") or [] if isinstance(r, dict)]
        word = text("word." + str(line.get("summary", "inconclusive")), lang)
        items.append(f"{_app_name(line.get('app'))[:MAX_TEXT]}: {word}" + (f" ({listing(owners, lang)})" if owners
                                                                           else ""))
    return [TABLES.per_app[lang].format(items="; ".join(items))] if items else []


def app_scope(verdict: dict, lang: str) -> list[str]:
    """The sentences naming the app a capture's verdict concerns (``verdict.app``) or judging each mail app
    (``verdict.per_app``), or nothing."""
    lang = language(lang)
    app = verdict.get("app")
    if not isinstance(app, dict) or verdict.get("basis") == "app-privacy-report":
        return _per_app(verdict, lang)
    n = int(app.get("flows") or 0)
    sources = [TABLES.sources.get(str(s), {}).get(lang, str(s)) for s in app.get("sources") or []]
    return [TABLES.scope[lang].format(app=_app_name(app)[:MAX_TEXT], n=number(n, lang),
                               connections=plural(n, FINDINGS.connections[lang]),
                               sources=listing(sources, lang) if sources else "–")]
