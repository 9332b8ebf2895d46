"""The words of the mail server's findings and of ``maildetour logs --format md``, in English and German.

Same signature as ``analysis.findings_text.message``: the template parameters live in ``Finding.details``,
so a report can be re-rendered in the other language from its JSON alone.
"""

from __future__ import annotations

from analysis.findings_text import TIMES, listing, number, plural, when

LANGS = ("en", "de")
KINDS = ("third-party-login", "login-after-removal", "persistent-connection")

TEMPLATES: dict[str, dict[str, str]] = {
    "third-party-login": {
        "en": "The mail server logged {count} {logins} for {account} from {n_addresses} {address_word} "
        "{whose} ({owners}): {addresses}.",
        "de": "Der Mailserver protokollierte {count} {logins} für {account} von {n_addresses} {address_word}, "
        "{whose} ({owners}): {addresses}.",
    },
    "login-after-removal": {
        "en": "After the app was removed ({removed}) the mail server still logged {count} {logins} for "
        "{account}{at_last}, from {addresses}.",
        "de": "Nach dem Entfernen der App ({removed}) protokollierte der Mailserver noch {count} {logins} für "
        "{account}{at_last}, von {addresses}.",
    },
    "persistent-connection": {
        "en": "Connections to the mail server's ports ({ports}) held open by {holders}: {count}{where}.",
        "de": "Offen gehaltene Verbindungen zu den Mail-Ports des Servers ({ports}) von {holders}: "
        "{count}{where}.",
    },
}

TITLES: dict[str, dict[str, str]] = {
    "third-party-login": {"en": "Logins by a third party", "de": "Anmeldungen durch Dritte"},
    "login-after-removal": {"en": "Logins after the app was removed", "de": "Anmeldungen nach dem Löschen der App"},
    "persistent-connection": {"en": "Connections held open", "de": "Offen gehaltene Verbindungen"},
}

PLURALS: dict[str, dict[str, tuple[str, str]]] = {  # (singular, plural)
    "logins": {
        "en": ("successful login or submission", "successful logins or submissions"),
        "de": ("erfolgreiche Anmeldung oder Einlieferung", "erfolgreiche Anmeldungen oder Einlieferungen"),
    },
    "address_word": {"en": ("address", "addresses"), "de": ("Adresse", "Adressen")},
}

WORDS: dict[str, dict[str, str]] = {
    "whose.device-known": {"en": "the device never used", "de": "die das Gerät nie verwendet hat"},
    "whose.catalog": {
        "en": "that belong to third parties in the catalog (no device address was given)",
        "de": "die laut Katalog Dritten gehören (keine Geräteadresse angegeben)",
    },
    "at_last.one": {"en": " at {last}", "de": " um {last}"},
    "at_last.many": {"en": ", the last at {last}", "de": ", die letzte um {last}"},
    "where.snapshot": {"en": ", in the snapshot {file}", "de": ", im Schnappschuss {file}"},
    "assume.offset": {
        "en": "log times shifted by {offset} s to match the capture clock",
        "de": "Protokollzeiten um {offset} s verschoben, passend zur Uhr des Mitschnitts",
    },
    "assume.no-offset": {
        "en": "log and capture clocks taken as in step (no --log-offset)",
        "de": "Uhren von Protokoll und Mitschnitt als gleichlaufend angenommen (kein --log-offset)",
    },
    "assume.year": {
        "en": "syslog lines carry no year: {year}, from {source}",
        "de": "Syslog-Zeilen tragen keine Jahreszahl: {year}, aus {source}",
    },
    "assume.year-hint": {
        "en": "Cyrus session ids (which carry UTC times) suggest the year(s) {years}",
        "de": "Cyrus-Sitzungskennungen (sie enthalten UTC-Zeiten) deuten auf das Jahr {years}",
    },
    "assume.utc": {
        "en": "log times without a time zone are read as UTC",
        "de": "Protokollzeiten ohne Zeitzone werden als UTC gelesen",
    },
    "assume.no-device": {
        "en": "no device address known (no --device, case [device] or capture): only addresses in the "
        "catalog count as third parties",
        "de": "keine Geräteadresse bekannt (kein --device, kein [device] im Fall, kein Mitschnitt): nur "
        "Adressen im Katalog zählen als Dritte",
    },
    "year.--year": {"en": "--year", "de": "--year"},
    "year.cyrus": {
        "en": "Cyrus session ids (which carry UTC times)",
        "de": "Cyrus-Sitzungskennungen (mit UTC-Zeiten)",
    },
    "year.account_added": {
        "en": "the case timeline (account_added)",
        "de": "der Zeitleiste des Falls (account_added)",
    },
    "year.app_removed": {
        "en": "the case timeline (app_removed)",
        "de": "der Zeitleiste des Falls (app_removed)",
    },
    "year.capture": {"en": "the capture", "de": "dem Mitschnitt"},
    "year.now": {"en": "the current year", "de": "dem laufenden Jahr"},
    "where.sessions": {
        "en": ", for up to {minutes} minutes per logged session",
        "de": ", bis zu {minutes} Minuten je protokollierter Sitzung",
    },
    "title": {"en": "Mail server logs", "de": "Mailserver-Protokolle"},
    "inputs": {"en": "Inputs", "de": "Eingaben"},
    "assumptions": {"en": "Assumptions", "de": "Annahmen"},
    "origins": {"en": "Login origins", "de": "Herkunft der Anmeldungen"},
    "connections": {"en": "Open connections (snapshots)", "de": "Offene Verbindungen (Schnappschüsse)"},
    "findings": {"en": "Findings", "de": "Befunde"},
    "none": {
        "en": "No logins for the account were found.",
        "de": "Keine Anmeldungen für das Konto gefunden.",
    },
    "file": {"en": "File", "de": "Datei"},
    "lines": {"en": "Lines", "de": "Zeilen"},
    "parsed": {"en": "Parsed", "de": "Erkannt"},
    "unmatched": {"en": "Unmatched", "de": "Nicht erkannt"},
    "software": {"en": "Software", "de": "Software"},
    "account": {"en": "Account", "de": "Konto"},
    "address": {"en": "Address", "de": "Adresse"},
    "owner": {"en": "Owner", "de": "Betreiber"},
    "as": {"en": "AS (network owner)", "de": "AS (Netzbetreiber)"},
    "as_range": {"en": "AS range", "de": "AS-Adressbereich"},
    "as_data": {"en": "AS data", "de": "AS-Daten"},
    "first": {"en": "First (UTC)", "de": "Erste (UTC)"},
    "last": {"en": "Last (UTC)", "de": "Letzte (UTC)"},
    "count": {"en": "Logins", "de": "Anmeldungen"},
    "failures": {"en": "Failures", "de": "Fehlschläge"},
    "device": {"en": "Device", "de": "Gerät"},
    "after_removal": {"en": "Logins after removal", "de": "Anmeldungen nach Löschen"},
    "local": {"en": "Local", "de": "Lokal"},
    "remote": {"en": "Remote", "de": "Gegenstelle"},
    "state": {"en": "State", "de": "Zustand"},
    "severity.info": {"en": "info", "de": "Hinweis"},
    "severity.low": {"en": "low", "de": "niedrig"},
    "severity.medium": {"en": "medium", "de": "mittel"},
    "severity.high": {"en": "high", "de": "hoch"},
    "yes": {"en": "yes", "de": "ja"},
    "no": {"en": "no", "de": "nein"},
}


def _lang(lang: str) -> str:
    return lang if lang in LANGS else "en"


def word(key: str, lang: str, **params) -> str:
    text = WORDS.get(key, {}).get(_lang(lang), key)
    return text.format(**params) if params else text


class _Defaults(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def _param(key: str, value, lang: str) -> str:
    if key in TIMES:
        return when(value)
    if isinstance(value, bool):
        return word("yes" if value else "no", lang)
    if isinstance(value, int | float):
        return number(value, lang)
    if isinstance(value, list | tuple):
        return listing(value, lang)
    return "" if value is None else str(value)[:800]


def message(kind: str, lang: str, **details) -> str:
    """The finding's sentence in ``lang`` (unknown kinds: the kind itself)."""
    lang = _lang(lang)
    template = TEMPLATES.get(kind, {}).get(lang)
    if template is None:
        return kind
    params = _Defaults({k: _param(k, v, lang) for k, v in details.items()})
    params["logins"] = plural(details.get("count"), PLURALS["logins"][lang])
    params["address_word"] = plural(details.get("n_addresses"), PLURALS["address_word"][lang])
    if kind == "third-party-login":
        params["whose"] = word("whose.device-known" if details.get("device_known") else "whose.catalog", lang)
    if kind == "login-after-removal":
        one = details.get("count") == 1
        params["at_last"] = word("at_last.one" if one else "at_last.many", lang, last=params["last"])
    if kind == "persistent-connection":
        if details.get("source") == "snapshot":
            params["where"] = word("where.snapshot", lang, file=str(details.get("file", ""))[:300])
        else:
            params["where"] = word(
                "where.sessions", lang, minutes=number(details.get("longest_minutes", 0), lang)
            )
    return template.format_map(params)
