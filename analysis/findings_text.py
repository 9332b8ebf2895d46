"""The words of findings and of the verdict's explanation, in English and German.

Findings keep their template parameters in ``Finding.details``, so a report can be re-rendered in the
other language from the JSON alone: ``message(f["kind"], "de", **f["details"])`` and
``explain(report["verdict"], "de")``. Values are plain text; the renderers escape them.
"""

from __future__ import annotations

LANGS = ("en", "de")
MAX_ITEMS = 8  # names listed in one sentence before "and N more"
MAX_TEXT = 200  # one listed value is cut to this many characters

TEMPLATES: dict[str, dict[str, str]] = {
    "mail-host-not-contacted": {
        "en": "The configured mail host ({hosts}) was never contacted: none of the {flows_total} connections "
        "from the device went to its names or addresses.",
        "de": "Der konfigurierte Mailserver ({hosts}) wurde nie kontaktiert: keine der {flows_total} "
        "Verbindungen des Geräts ging an seine Namen oder Adressen.",
    },
    "mail-host-assumed": {
        "en": "The mail host's address is unknown (no DNS answer, no --mail-ip): {flows} {connections} "
        "with a mail protocol to unnamed addresses ({endpoints}) were taken as the mail host. Give --mail-ip "
        "to confirm.",
        "de": "Die Adresse des Mailservers ist unbekannt (keine DNS-Antwort, kein --mail-ip): {flows} "
        "{connections} mit einem Mail-Protokoll zu unbenannten Adressen ({endpoints}) wurden als Mailserver "
        "gewertet. Mit --mail-ip bestätigen.",
    },
    "credential-leak": {
        "en": "{secret_en} was sent to {destination} ({server}, {category}) as {form} in the {where}.",
        "de": "{secret_de} wurde an {destination} ({server}, {category}) gesendet, als {form} im Teil {where}.",
    },
    "proxy-block": {
        "en": "maildetour_block killed {count} {reason} {connections} at the proxy.",
        "de": "maildetour_block hat {count} {reason}-{connections} am Proxy abgebrochen.",
    },
    "mail-relay": {
        "en": "{owner} handles the account's mail on the device's behalf: {flows} {connections} to its "
        "mail-relay service ({endpoints}), {bytes_sent} bytes sent and {bytes_received} bytes received.",
        "de": "{owner} wickelt die E-Mail des Kontos anstelle des Geräts ab: {flows} {connections} zu seinem "
        "Mail-Relay-Dienst ({endpoints}), {bytes_sent} Bytes gesendet und {bytes_received} Bytes empfangen.",
    },
    "telemetry": {
        "en": "Telemetry endpoints contacted: {endpoints} ({owners}); {flows} {connections}, {bytes_sent} "
        "bytes sent.",
        "de": "Telemetrie-Endpunkte kontaktiert: {endpoints} ({owners}); {flows} {connections}, "
        "{bytes_sent} Bytes gesendet.",
    },
    "crash-report": {
        "en": "Crash-report endpoints contacted: {endpoints} ({owners}); {flows} {connections}, "
        "{bytes_sent} bytes sent.",
        "de": "Endpunkte für Absturzberichte kontaktiert: {endpoints} ({owners}); {flows} {connections}, "
        "{bytes_sent} Bytes gesendet.",
    },
    "diagnostics": {
        "en": "Diagnostics endpoints contacted: {endpoints} ({owners}); {flows} {connections}, "
        "{bytes_sent} bytes sent.",
        "de": "Diagnose-Endpunkte kontaktiert: {endpoints} ({owners}); {flows} {connections}, "
        "{bytes_sent} Bytes gesendet.",
    },
    "ads-analytics": {
        "en": "Advertising and analytics endpoints contacted: {endpoints} ({owners}); {flows} {connections}, "
        "{bytes_sent} bytes sent.",
        "de": "Werbe- und Analyse-Endpunkte kontaktiert: {endpoints} ({owners}); {flows} {connections}, "
        "{bytes_sent} Bytes gesendet.",
    },
    "other-mail": {
        "en": "The device spoke a mail protocol with hosts other than the configured mail host: {endpoints} "
        "({flows} {connections}).",
        "de": "Das Gerät sprach ein Mail-Protokoll mit anderen Hosts als dem konfigurierten Mailserver: "
        "{endpoints} ({flows} {connections}).",
    },
    "cleartext-credentials": {
        "en": "Credentials crossed the network unencrypted: {protocol} to {server} (mechanism: "
        "{mechanisms}). The value is not shown.",
        "de": "Zugangsdaten wurden unverschlüsselt übertragen: {protocol} an {server} (Verfahren: "
        "{mechanisms}). Der Wert wird nicht angezeigt.",
    },
    "long-lived-connection": {
        "en": "Connections open longer than {threshold_minutes} minutes: {count} (longest: {longest_minutes} "
        "minutes): {endpoints}.",
        "de": "Verbindungen, die länger als {threshold_minutes} Minuten offen blieben: {count} (längste: "
        "{longest_minutes} Minuten): {endpoints}.",
    },
    "inconclusive": {
        "en": "The verdict is inconclusive: {missing}.",
        "de": "Das Ergebnis ist nicht eindeutig: {missing}.",
    },
}

MISSING: dict[str, dict[str, str]] = {
    "no-traffic": {"en": "the input holds no traffic", "de": "die Eingabe enthält keinen Datenverkehr"},
    "device-not-seen": {
        "en": "no traffic from the given device address was found (wrong --device?)",
        "de": "kein Datenverkehr der angegebenen Geräteadresse gefunden (falsches --device?)",
    },
    "no-mail-host": {
        "en": "no mail host is configured (--mail-host or the case file)",
        "de": "kein Mailserver konfiguriert (--mail-host oder Falldatei)",
    },
    "no-dns": {
        "en": "the capture has no DNS answers and no mail host address is known (add --mail-ip)",
        "de": "der Mitschnitt enthält keine DNS-Antworten und keine Adresse des Mailservers ist bekannt "
        "(--mail-ip angeben)",
    },
    "no-mail-traffic": {
        "en": "neither a mail protocol nor a known mail-relay service was seen",
        "de": "weder ein Mail-Protokoll noch ein bekannter Mail-Relay-Dienst wurde beobachtet",
    },
    "incomplete-input": {
        "en": "an input was damaged or truncated",
        "de": "eine Eingabe war beschädigt oder abgeschnitten",
    },
}

SUMMARY = {
    "direct": {
        "en": "Verdict: direct. The device spoke to the configured mail host itself and no mail-relay "
        "service was seen.",
        "de": "Ergebnis: direkt. Das Gerät sprach selbst mit dem konfigurierten Mailserver; ein "
        "Mail-Relay-Dienst wurde nicht beobachtet.",
    },
    "relayed": {
        "en": "Verdict: relayed. The device never contacted the configured mail host; it connected to the "
        "mail-relay service of {relay_owners} instead, whose servers handle the account's mail (and so "
        "need its credentials).",
        "de": "Ergebnis: über Dritte. Das Gerät kontaktierte den konfigurierten Mailserver nie; stattdessen "
        "verband es sich mit dem Mail-Relay-Dienst von {relay_owners}, dessen Server die E-Mail des Kontos "
        "abwickeln (und dafür die Zugangsdaten brauchen).",
    },
    "mixed": {
        "en": "Verdict: mixed. The device contacted the configured mail host and also used the mail-relay "
        "service of {relay_owners}.",
        "de": "Ergebnis: gemischt. Das Gerät kontaktierte den konfigurierten Mailserver und nutzte zugleich "
        "den Mail-Relay-Dienst von {relay_owners}.",
    },
    "inconclusive": {
        "en": "Verdict: inconclusive. Neither a mail protocol to the configured mail host nor a mail-relay "
        "service was seen.",
        "de": "Ergebnis: nicht eindeutig. Weder ein Mail-Protokoll zum konfigurierten Mailserver noch ein "
        "Mail-Relay-Dienst wurde beobachtet.",
    },
}

CHANNELS = {
    "en": "Receiving (IMAP/POP3): {receive}. Sending (SMTP): {send}.",
    "de": "Empfang (IMAP/POP3): {receive}. Versand (SMTP): {send}.",
}
STATUS = {
    "direct": {
        "en": "direct, {n} connections to the mail host",
        "de": "direkt, {n} Verbindungen zum Mailserver",
    },
    "not-observed": {"en": "not observed", "de": "nicht beobachtet"},
}
CONTACTED = {
    True: {"en": "The mail host was contacted.", "de": "Der Mailserver wurde kontaktiert."},
    False: {"en": "The mail host was not contacted.", "de": "Der Mailserver wurde nicht kontaktiert."},
}
OTHERS = {
    "en": "Other parties contacted: {vendors}.",
    "de": "Weitere kontaktierte Stellen: {vendors}.",
}
ASSUMED = {
    "en": "The mail host's address was not known, so mail-protocol connections to unnamed addresses were "
    "taken as the mail host.",
    "de": "Die Adresse des Mailservers war unbekannt; Mail-Protokoll-Verbindungen zu unbenannten Adressen "
    "wurden daher als Mailserver gewertet.",
}
MISSING_LEAD = {"en": "Missing: {missing}.", "de": "Es fehlt: {missing}."}
AND_MORE = {"en": "and {n} more", "de": "und {n} weitere"}
NONE = {"en": "none", "de": "keine"}
CONNECTIONS = {"en": ("connections", "connection"), "de": ("Verbindungen", "Verbindung")}


def _lang(lang: str) -> str:
    return lang if lang in LANGS else "en"


def number(value: int | float, lang: str) -> str:
    """12345 -> '12,345' (en) or '12.345' (de)."""
    if isinstance(value, float) and not value.is_integer():
        text = f"{value:,.1f}"
    else:
        text = f"{int(value):,}"
    if _lang(lang) == "de":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def listing(values, lang: str) -> str:
    """A bounded, comma-separated list of plain-text values."""
    items = [str(v)[:MAX_TEXT] for v in values]
    if not items:
        return NONE[_lang(lang)]
    shown = items[:MAX_ITEMS]
    if len(items) > MAX_ITEMS:
        shown.append(AND_MORE[_lang(lang)].format(n=len(items) - MAX_ITEMS))
    return ", ".join(shown)


def _missing_text(codes, lang: str) -> str:
    lang = _lang(lang)
    return "; ".join(MISSING.get(str(c), {}).get(lang, str(c)[:MAX_TEXT]) for c in codes) or NONE[lang]


def _param(key: str, value, lang: str) -> str:
    if key == "missing":
        return _missing_text(value if isinstance(value, list) else [value], lang)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return number(value, lang)
    if isinstance(value, list | tuple):
        return listing(value, lang)
    if value is None:
        return ""
    return str(value)[: MAX_TEXT * 4]


class _Defaults(dict):
    def __missing__(self, key: str) -> str:
        return "?"


SECRETS = {  # credential-leak: what leaked, (en, de)
    "password": ("The test account's password (canary)", "Das Passwort des Testkontos (Canary)"),
    "address": ("The test account's address", "Die Adresse des Testkontos"),
    "username": ("The test account's username", "Der Benutzername des Testkontos"),
}


def message(kind: str, lang: str, /, **details) -> str:
    """The finding's sentence in ``lang`` from its template parameters (unknown kinds: the kind itself)."""
    lang = _lang(lang)
    template = TEMPLATES.get(kind, {}).get(lang)
    if template is None:
        from analysis.logs import text as log_text  # the mail server's findings keep their texts there

        return log_text.message(kind, lang, **details) if kind in log_text.KINDS else kind
    params = _Defaults({k: _param(k, v, lang) for k, v in details.items()})
    secret = SECRETS.get(str(details.get("secret", "password")), SECRETS["password"])
    params["secret_en"], params["secret_de"] = secret
    n = details.get("flows", details.get("count", 0))
    params["connections"] = CONNECTIONS[lang][n == 1]
    return template.format_map(params)


def explain(verdict: dict, lang: str) -> str:
    """One paragraph that states the verdict and what it rests on, from the verdict dict alone."""
    lang = _lang(lang)
    summary = str(verdict.get("summary", "inconclusive"))
    vendors = [v for v in verdict.get("vendors") or [] if isinstance(v, dict)]
    relay_owners = [str(v.get("owner", "?")) for v in vendors if "mail-relay" in (v.get("categories") or [])]
    parts = [
        SUMMARY.get(summary, SUMMARY["inconclusive"])[lang].format(relay_owners=listing(relay_owners, lang))
    ]
    if summary == "inconclusive":  # the other summaries already say whether the host was contacted
        parts.append(CONTACTED[bool(verdict.get("mail_host_contacted"))][lang])

    def status(key: str) -> str:
        chan = verdict.get(key)
        chan = chan if isinstance(chan, dict) else {}
        flows = chan.get("flows")
        code = str(chan.get("status", "not-observed"))
        return STATUS.get(code, STATUS["not-observed"])[lang].format(
            n=number(len(flows) if isinstance(flows, list) else 0, lang)
        )

    parts.append(CHANNELS[lang].format(receive=status("receive"), send=status("send")))
    others = [
        f"{v.get('owner', '?')} ({', '.join(str(c) for c in v.get('categories') or [])})"
        for v in vendors
        if "mail-relay" not in (v.get("categories") or [])
    ]
    if others:
        parts.append(OTHERS[lang].format(vendors=listing(others, lang)))
    if "mail-host-by-protocol" in (verdict.get("assumptions") or []):
        parts.append(ASSUMED[lang])
    missing = verdict.get("missing") or []
    missing = missing if isinstance(missing, list) else [missing]
    if missing and summary == "inconclusive":
        parts.append(MISSING_LEAD[lang].format(missing=_missing_text(missing, lang)))
    return " ".join(parts)
