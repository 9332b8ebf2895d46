"""The words of the mail server's findings (from its logs) and of the assumptions the logs view states, in
English and German. Same signature as the tool's own findings: ``message(kind, lang, **details)``.
"""

from __future__ import annotations

from analysis.text.numbers import TIMES, Defaults, language, number, param, plural
from analysis.text.report import text

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
}


def word(key: str, lang: str, **params) -> str:
    """The phrase ``key`` in ``lang`` with its ``{fields}`` filled in as given (unknown keys: the key)."""
    text = WORDS.get(key, {}).get(language(lang), key)
    return text.format(**params) if params else text


def _param(key: str, value, lang: str) -> str:
    if isinstance(value, bool) and key not in TIMES:
        return text("yes" if value else "no", lang)
    return param(key, value, lang)


def message(kind: str, lang: str, /, **details) -> str:
    """The finding's sentence in ``lang`` (unknown kinds: the kind itself)."""
    lang = language(lang)
    template = TEMPLATES.get(kind, {}).get(lang)
    if template is None:
        return kind
    params = Defaults({k: _param(k, v, lang) for k, v in details.items()})
    params["logins"] = plural(details.get("count"), PLURALS["logins"][lang])
    params["address_word"] = plural(details.get("n_addresses"), PLURALS["address_word"][lang])
    if kind == "third-party-login":
        params["whose"] = word("whose.device-known" if details.get("device_known") else "whose.catalog", lang)
    if kind == "login-after-removal":
        at_last = plural(details.get("count"), ("at_last.one", "at_last.many"))
        params["at_last"] = word(at_last, lang, last=params["last"])
    if kind == "persistent-connection":
        if details.get("source") == "snapshot":
            params["where"] = word("where.snapshot", lang, file=str(details.get("file", ""))[:300])
        else:
            params["where"] = word(
                "where.sessions", lang, minutes=number(details.get("longest_minutes", 0), lang)
            )
    return template.format_map(params)
