"""The words of the per-app view, English and German: the domain-level verdict's paragraph (App Privacy Report
alone), the sentence naming the app a capture's verdict concerns, and the App Privacy Report's findings.
"""

from __future__ import annotations

from analysis.text.findings import CONNECTIONS, MISSING_LEAD, missing_text
from analysis.text.numbers import MAX_TEXT, Defaults, language, listing, number, param, plural, when
from analysis.text.report import text

TEMPLATES: dict[str, dict[str, str]] = {
    "app-report-domains": {
        "en": "According to its App Privacy Report, {app} contacted {what}: {domains} (owners: {owners}); "
        "{hits} {hit_words}{period}. Domain level: no byte counts.",
        "de": "Laut App-Datenschutzbericht kontaktierte {app} {what}: {domains} (Betreiber: {owners}); "
        "{hits} {hit_words}{period}. Auf Domain-Ebene: keine Byte-Zahlen.",
    },
    "app-report-mail-host-not-contacted": {
        "en": "The App Privacy Report lists {domains} {domain_words} that {app} contacted, none of them the "
        "configured mail host ({hosts}).",
        "de": "Der App-Datenschutzbericht nennt {domains} {domain_words}, die {app} kontaktiert hat, keine davon "
        "ist der konfigurierte Mailserver ({hosts}).",
    },
}
TITLES: dict[str, dict[str, str]] = {
    "app-report-domains": {"en": "Domains in the App Privacy Report", "de": "Domains im App-Datenschutzbericht"},
    "app-report-mail-host-not-contacted": {
        "en": "Mail host not in the App Privacy Report",
        "de": "Mailserver nicht im App-Datenschutzbericht",
    },
}
WHAT = {  # a category's domains in a sentence
    "mail-relay": {
        "en": "mail-relay domains (a vendor service that handles the account's mail)",
        "de": "Mail-Relay-Domains (ein Dienst des Anbieters, der die E-Mail des Kontos abwickelt)",
    },
    "telemetry": {"en": "telemetry domains", "de": "Telemetrie-Domains"},
    "crash-report": {"en": "crash-report domains", "de": "Domains für Absturzberichte"},
    "diagnostics": {"en": "diagnostics domains", "de": "Diagnose-Domains"},
    "ads-analytics": {"en": "advertising and analytics domains", "de": "Werbe- und Analyse-Domains"},
    "auth": {"en": "sign-in domains", "de": "Anmelde-Domains"},
}
HITS = {"en": ("hit", "hits"), "de": ("Zugriff", "Zugriffe")}
DOMAINS = {"en": ("domain", "domains"), "de": ("Domain", "Domains")}
PERIOD = {"en": " from {first} to {last}", "de": " von {first} bis {last}"}

LEAD = {
    "relayed": {
        "en": "Verdict: relayed (domain level, from the App Privacy Report). The app {app} never contacted the "
        "configured mail host's names; it contacted the mail-relay domains of {owners} ({domains}) instead, a "
        "service that handles the account's mail (and so needs its credentials).",
        "de": "Ergebnis: über Dritte (auf Domain-Ebene, aus dem App-Datenschutzbericht). Die App {app} "
        "kontaktierte die Namen des konfigurierten Mailservers nie; stattdessen kontaktierte sie die "
        "Mail-Relay-Domains von {owners} ({domains}), eines Dienstes, der die E-Mail des Kontos abwickelt (und "
        "dafür die Zugangsdaten braucht).",
    },
    "mixed": {
        "en": "Verdict: mixed (domain level, from the App Privacy Report). The app {app} contacted the configured "
        "mail host ({hosts}) and also the mail-relay domains of {owners} ({domains}).",
        "de": "Ergebnis: gemischt (auf Domain-Ebene, aus dem App-Datenschutzbericht). Die App {app} kontaktierte "
        "den konfigurierten Mailserver ({hosts}) und zugleich die Mail-Relay-Domains von {owners} ({domains}).",
    },
    "direct": {
        "en": "Verdict: direct (domain level, from the App Privacy Report). The app {app} contacted the "
        "configured mail host ({hosts}) and no known mail-relay domain.",
        "de": "Ergebnis: direkt (auf Domain-Ebene, aus dem App-Datenschutzbericht). Die App {app} kontaktierte "
        "den konfigurierten Mailserver ({hosts}) und keine bekannte Mail-Relay-Domain.",
    },
    "inconclusive": {
        "en": "Verdict: inconclusive (domain level, from the App Privacy Report). The app {app} contacted "
        "neither the configured mail host's names nor a known mail-relay domain.",
        "de": "Ergebnis: nicht eindeutig (auf Domain-Ebene, aus dem App-Datenschutzbericht). Die App {app} "
        "kontaktierte weder die Namen des konfigurierten Mailservers noch eine bekannte Mail-Relay-Domain.",
    },
}
OTHERS = {"en": "It also contacted domains of: {vendors}.", "de": "Außerdem kontaktierte sie Domains von: {vendors}."}
USER_PAGES = {
    "en": "Pages the user opened in an in-app browser are left out ({n} {domain_words}).",
    "de": "Seiten, die die Nutzerin oder der Nutzer in einem In-App-Browser öffnete, sind nicht berücksichtigt "
    "({n} {domain_words}).",
}
LIMITS = {
    "en": "The report lists domains and hit counts only: no protocols, no bytes, no content; a capture of the "
    "app settles what it sent.",
    "de": "Der Bericht nennt nur Domains und Zugriffszahlen: keine Protokolle, keine Bytes, keine Inhalte; ein "
    "Mitschnitt der App klärt, was sie gesendet hat.",
}
SCOPE = {
    "en": "The verdict concerns the app {app} ({n} {connections}, attributed by {sources}); other apps' "
    "connections are listed apart.",
    "de": "Das Ergebnis betrifft die App {app} ({n} {connections}, zugeordnet durch {sources}); die Verbindungen "
    "anderer Apps sind gesondert aufgeführt.",
}
PER_APP = {
    "en": "Judged app by app, each on its own connections: {items}.",
    "de": "App für App beurteilt, jede nach ihren eigenen Verbindungen: {items}.",
}
SOURCES = {
    "pcapdroid": {"en": "PCAPdroid", "de": "PCAPdroid"},
    "app-privacy-report": {"en": "the App Privacy Report", "de": "den App-Datenschutzbericht"},
    "case": {"en": "the case (the capture names no apps)", "de": "den Fall (der Mitschnitt nennt keine Apps)"},
}


def _period(first, last, lang: str) -> str:
    return PERIOD[lang].format(first=when(first), last=when(last)) if first and last else ""


def message(kind: str, lang: str, /, **details) -> str:
    """The sentence of an App Privacy Report finding (a parameter the details lack reads "?")."""
    lang = language(lang)
    template = TEMPLATES.get(kind, {}).get(lang)
    if template is None:
        return kind
    params = Defaults({k: param(k, v, lang) for k, v in details.items()})
    category = str(details.get("category", ""))
    params["what"] = WHAT.get(category, {}).get(lang, category or "?")
    params["hit_words"] = plural(details.get("hits"), HITS[lang])
    params["domain_words"] = plural(details.get("domains"), DOMAINS[lang])
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
    parts = [LEAD.get(summary, LEAD["inconclusive"])[lang].format(
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
        parts.append(OTHERS[lang].format(vendors=listing(others, lang)))
    user = verdict.get("user_initiated") or []
    if user:
        parts.append(USER_PAGES[lang].format(n=number(len(user), lang), domain_words=plural(len(user), DOMAINS[lang])))
    missing = verdict.get("missing") or []
    if missing and summary == "inconclusive":
        parts.append(MISSING_LEAD[lang].format(missing=missing_text(missing if isinstance(missing, list)
                                                                    else [missing], lang)))
    parts.append(LIMITS[lang])
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
    return [PER_APP[lang].format(items="; ".join(items))] if items else []


def app_scope(verdict: dict, lang: str) -> list[str]:
    """The sentences naming the app a capture's verdict concerns (``verdict.app``) or judging each mail app
    (``verdict.per_app``), or nothing."""
    lang = language(lang)
    app = verdict.get("app")
    if not isinstance(app, dict) or verdict.get("basis") == "app-privacy-report":
        return _per_app(verdict, lang)
    n = int(app.get("flows") or 0)
    sources = [SOURCES.get(str(s), {}).get(lang, str(s)) for s in app.get("sources") or []]
    return [SCOPE[lang].format(app=_app_name(app)[:MAX_TEXT], n=number(n, lang),
                               connections=plural(n, CONNECTIONS[lang]),
                               sources=listing(sources, lang) if sources else "–")]
