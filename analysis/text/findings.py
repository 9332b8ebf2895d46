"""The words of the tool's own findings, in English and German, and the sentence of each.

Findings keep their template parameters in ``Finding.details``, so a report can be re-rendered in the other
language from the JSON alone: ``message(kind, lang, **details)``. Every kind here has a title and a template in
both languages (tests/test_finding_words.py checks it). Values are plain text; the renderers escape them.
"""

from __future__ import annotations

from analysis.text.numbers import MAX_TEXT, NONE, TIMES, Defaults, language, listing, param, plural, when

TEMPLATES: dict[str, dict[str, str]] = {
    "mail-host-not-contacted": {
        "en": "The configured mail host ({hosts}) was never contacted: none of the {flows_total} connections "
        "from the device went to its names or addresses.",
        "de": "Der konfigurierte Mailserver ({hosts}) wurde nie kontaktiert: keine der {flows_total} "
        "Verbindungen des Geräts ging an seine Namen oder Adressen.",
    },
    "mail-host-not-established": {
        "en": "The device only tried to reach the configured mail host ({hosts}): none of its {flows} "
        "{connections} was answered (connection states: {states}).",
        "de": "Das Gerät versuchte den konfigurierten Mailserver ({hosts}) nur zu erreichen: keine seiner {flows} "
        "{connections} wurde beantwortet (Verbindungszustände: {states}).",
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
        "en": "{secret} was sent to {destination} ({server}, {category}) as {form} in the {where}{inside_tls}.",
        "de": "{secret} wurde an {destination} ({server}, {category}) gesendet, als {form} im Teil "
        "{where}{inside_tls}.",
    },
    "proxy-block": {
        "en": "maildetour_block killed {count} {reason} {connections} at the proxy.",
        "de": "maildetour_block hat {count} {reason}-{connections} am Proxy abgebrochen.",
    },
    "proxy-other-clients": {
        "en": "Clients that went through the proxy but were not analysed, as they are not the case's device "
        "({devices}): {count} ({clients}).",
        "de": "Clients, die über den Proxy liefen, aber nicht ausgewertet wurden, da sie nicht das Gerät des "
        "Falls sind ({devices}): {count} ({clients}).",
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
    "relay-evidence": {
        "en": "{owner} handles the account's mail for the device ({basis_text}).{evidence_text}",
        "de": "{owner} wickelt die E-Mail des Kontos für das Gerät ab ({basis_text}).{evidence_text}",
    },
    "relay-candidates": {
        "en": "Destinations of the device that could be the relay, most likely first: {candidates_text}. "
        "{settle_text}",
        "de": "Ziele des Geräts, die das Relay sein könnten, wahrscheinlichste zuerst: {candidates_text}. "
        "{settle_text}",
    },
}

TITLES: dict[str, dict[str, str]] = {
    "mail-host-not-contacted": {
        "en": "Configured mail host not contacted",
        "de": "Konfigurierter Mailserver nicht kontaktiert",
    },
    "mail-host-not-established": {
        "en": "Mail host attempted, never answered",
        "de": "Mailserver nur versucht, nie geantwortet",
    },
    "mail-host-assumed": {
        "en": "Mail host taken from the protocol",
        "de": "Mailserver aus dem Protokoll erschlossen",
    },
    "credential-leak": {"en": "Account data sent to another party", "de": "Kontodaten an Dritte gesendet"},
    "proxy-block": {"en": "Connections blocked at the proxy", "de": "Verbindungen am Proxy blockiert"},
    "proxy-other-clients": {"en": "Other clients not analysed", "de": "Andere Clients nicht ausgewertet"},
    "mail-relay": {"en": "Vendor mail relay", "de": "Mail-Relay des Anbieters"},
    "telemetry": {"en": "Telemetry", "de": "Telemetrie"},
    "crash-report": {"en": "Crash reports", "de": "Absturzberichte"},
    "diagnostics": {"en": "Diagnostics", "de": "Diagnose"},
    "ads-analytics": {"en": "Advertising and analytics", "de": "Werbung und Analyse"},
    "other-mail": {"en": "Mail protocol to other hosts", "de": "Mailprotokoll zu anderen Hosts"},
    "cleartext-credentials": {"en": "Unencrypted credentials", "de": "Unverschlüsselte Zugangsdaten"},
    "long-lived-connection": {"en": "Long-lived connections", "de": "Lang offene Verbindungen"},
    "inconclusive": {"en": "Verdict inconclusive", "de": "Ergebnis nicht eindeutig"},
    "relay-evidence": {"en": "Evidence for a mail relay", "de": "Belege für ein Mail-Relay"},
    "relay-candidates": {"en": "Possible mail relays", "de": "Mögliche Mail-Relays"},
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
    "app-not-seen": {
        "en": "no connection of the app named by --app (or the case's [app] id) is in the capture",
        "de": "keine Verbindung der mit --app (oder [app] id im Fall) genannten App ist im Mitschnitt",
    },
    "app-not-in-report": {
        "en": "the App Privacy Report names no such app",
        "de": "der App-Datenschutzbericht nennt keine solche App",
    },
    "no-mail-domain": {
        "en": "the App Privacy Report shows neither the mail host's names nor a known mail-relay domain",
        "de": "der App-Datenschutzbericht zeigt weder die Namen des Mailservers noch eine bekannte "
        "Mail-Relay-Domain",
    },
}

CONNECTIONS = {"en": ("connection", "connections"), "de": ("Verbindung", "Verbindungen")}
SECRETS = {  # credential-leak: what leaked
    "password": {"en": "The test account's password (canary)", "de": "Das Passwort des Testkontos (Canary)"},
    "address": {"en": "The test account's address", "de": "Die Adresse des Testkontos"},
    "username": {"en": "The test account's username", "de": "Der Benutzername des Testkontos"},
}
LEAK_SEEN = {  # the canary scanner's own note of a hit, written before the report's language is known
    "en": "{secret} was sent to {destination} ({server}), {category}, as {form} in the {where}{inside_tls}",
    "de": "{secret} wurde an {destination} ({server}) gesendet, {category}, als {form} im Teil {where}{inside_tls}",
}
INSIDE_TLS = {  # credential-leak: found in what tshark decrypted with the --keylog key log
    "en": ", inside TLS, decrypted with the key log",
    "de": ", innerhalb von TLS, mit dem Schlüsselprotokoll (--keylog) entschlüsselt",
}


# ---- relays found from evidence (analysis/relays.py) ----------------------------------------------------------

BASIS_WORDS = {
    "catalog": {"en": "catalog", "de": "Katalog"},
    "canary": {"en": "canary", "de": "Canary"},
    "server-login": {"en": "server logins", "de": "Anmeldungen am Server"},
}
RELAY_SENTENCES = {
    "catalog": {
        "en": "The endpoint catalog lists {catalog_endpoints} as its mail-relay service.",
        "de": "Der Endpunktkatalog führt {catalog_endpoints} als seinen Mail-Relay-Dienst.",
    },
    "canary": {
        "en": "The test account's password left the device towards {canary_hosts} (as {canary_forms}).",
        "de": "Das Passwort des Testkontos verließ das Gerät in Richtung {canary_hosts} (als {canary_forms}).",
    },
    "server-login": {
        "en": "The mail server logged {logins} successful {logins_word} for the account from "
        "{login_addresses} (none of them the device) {since_text}, the first at {first}, the last at {last}.",
        "de": "Der Mailserver protokollierte {logins} erfolgreiche {logins_word} für das Konto "
        "von {login_addresses} (keine davon das Gerät) {since_text}, die erste um {first}, die letzte um {last}.",
    },
    "since.account_added": {
        "en": "after the account was added at {since}",
        "de": "nach dem Hinzufügen des Kontos um {since}",
    },
    "since.capture": {"en": "within the capture's time span", "de": "innerhalb der Zeitspanne des Mitschnitts"},
    "same-address": {
        "en": "The device itself exchanged {flows} {connections} with that address ({device_addresses}).",
        "de": "Das Gerät selbst tauschte {flows} {connections} mit dieser Adresse aus ({device_addresses}).",
    },
    "same-owner": {
        "en": "The device's {flows} {connections} to {device_addresses} go to the same network owner ({matched}).",
        "de": "Die {flows} {connections} des Geräts zu {device_addresses} gehen an denselben Netzinhaber "
        "({matched}).",
    },
    "none": {
        "en": "Which of the device's connections lead to it is not known (no common address or owner).",
        "de": "Welche Verbindungen des Geräts zu ihm führen, ist unbekannt (keine gemeinsame Adresse, kein "
        "gemeinsamer Inhaber).",
    },
}
DEVICE_ONLY = {
    "en": "This rests on the assumption that the test account was used by the device under test only (and "
    "that the device's traffic did not leave through a VPN or proxy of its own).",
    "de": "Das setzt voraus, dass das Testkonto nur vom untersuchten Gerät benutzt wurde (und dessen Verkehr "
    "nicht über ein eigenes VPN oder einen eigenen Proxy hinausging).",
}
REASON_WORDS = {
    "mail-protocol": {"en": "speaks a mail protocol", "de": "spricht ein Mail-Protokoll"},
    "long-lived": {
        "en": "kept a connection open over 10 minutes",
        "de": "hielt eine Verbindung über 10 Minuten offen",
    },
    "repeated": {"en": "contacted repeatedly", "de": "wiederholt kontaktiert"},
    "tls": {"en": "encrypted", "de": "verschlüsselt"},
    "most-bytes": {"en": "most bytes", "de": "die meisten Bytes"},
    "near-account-added": {
        "en": "first contacted right after the account was added",
        "de": "kurz nach dem Hinzufügen des Kontos erstmals kontaktiert",
    },
    "earliest": {"en": "contacted first", "de": "als erstes kontaktiert"},
    "shared-network": {
        "en": "on a shared cloud, CDN or hosting network",
        "de": "in einem geteilten Cloud-, CDN- oder Hosting-Netz",
    },
    "service-name": {
        "en": "its name suggests telemetry, ads or delivery",
        "de": "der Name deutet auf Telemetrie, Werbung oder Auslieferung",
    },
}
SETTLE_WORDS = {
    "logs": {"en": "the mail server's logs (--logs)", "de": "die Logs des Mailservers (--logs)"},
    "canary": {
        "en": "the test password in the case's canary variable, so that it is searched for",
        "de": "das Testpasswort in der Canary-Variablen des Falls, damit danach gesucht wird",
    },
    "keylog": {"en": "the TLS keys (--keylog)", "de": "die TLS-Schlüssel (--keylog)"},
}
SETTLE_LEAD = {"en": "What would settle it: {items}.", "de": "Klären ließe es sich durch: {items}."}
LOGIN_FORMS = {
    "en": ("login or submission", "logins or submissions"),
    "de": ("Anmeldung oder Einlieferung", "Anmeldungen oder Einlieferungen"),
}
SETTLE_NONE = {"en": "The evidence given does not settle it.", "de": "Die vorliegenden Belege klären es nicht."}
BASIS_LEAD = {"en": "basis: ", "de": "Grundlage: "}
MAX_CANDIDATES_TEXT = 5  # candidates named in one sentence


def coded(table: dict, codes, lang: str) -> list[str]:
    """The words of a list of codes (an unknown code stands for itself, cut short; no list: none)."""
    items = codes if isinstance(codes, list) else []
    return [table.get(str(c), {}).get(lang, str(c)[:MAX_TEXT]) for c in items]


def _relay_params(details: dict, params: dict, lang: str) -> dict:
    """``basis_text`` and ``evidence_text`` of a relay-evidence finding, from its details alone."""
    basis = details.get("basis") if isinstance(details.get("basis"), list) else []
    since = "since.account_added" if details.get("since_from") == "account_added" else "since.capture"
    params = Defaults(params)
    params["since"] = when(details.get("since"))
    params["logins_word"] = plural(details.get("logins", 0), LOGIN_FORMS[lang])
    params["since_text"] = RELAY_SENTENCES[since][lang].format_map(params)
    sentences = [RELAY_SENTENCES[b][lang].format_map(params) for b in BASIS_WORDS if b in basis]
    link = str(details.get("link", ""))
    if "server-login" in basis and link in ("same-address", "same-owner", "none"):
        sentences.append(RELAY_SENTENCES[link][lang].format_map(params))
    if "server-login" in basis:
        sentences.append(DEVICE_ONLY[lang])
    return {"basis_text": BASIS_LEAD[lang] + ", ".join(coded(BASIS_WORDS, basis, lang)),
            "evidence_text": "".join(" " + x for x in sentences)}


def candidate_text(item, lang: str) -> str:
    """One relay candidate: its owner, (addresses: reasons)."""
    if not isinstance(item, dict):
        return str(item)[:MAX_TEXT]
    addresses = listing(item.get("addresses") or [], lang)
    reasons = ", ".join(coded(REASON_WORDS, item.get("reasons") or [], lang))
    return f"{str(item.get('owner', '?'))[:MAX_TEXT]} ({addresses}{': ' + reasons if reasons else ''})"


def settle_text(codes, lang: str) -> str:
    """What would settle which candidate is the relay (or that nothing given would)."""
    items = coded(SETTLE_WORDS, codes, lang)
    return SETTLE_LEAD[lang].format(items="; ".join(items)) if items else SETTLE_NONE[lang]


def _candidates_params(details: dict, params: dict, lang: str) -> dict:
    items = details.get("candidates") if isinstance(details.get("candidates"), list) else []
    text = "; ".join(candidate_text(c, lang) for c in items[:MAX_CANDIDATES_TEXT]) or NONE[lang]
    return {"candidates_text": text, "settle_text": settle_text(details.get("settle"), lang)}


def _inside_tls(details: dict, lang: str) -> str:
    return INSIDE_TLS[lang] if details.get("inside_tls") is True else ""


def _leak_params(details: dict, params: dict, lang: str) -> dict:
    return {"inside_tls": _inside_tls(details, lang)}


COMPOSED = {"relay-evidence": _relay_params, "relay-candidates": _candidates_params, "credential-leak": _leak_params}


MISSING_LEAD = {"en": "Missing: {missing}.", "de": "Es fehlt: {missing}."}


def missing_text(codes, lang: str) -> str:
    """What the verdict lacks, as words: "the input holds no traffic; ..." (nothing: none)."""
    lang = language(lang)
    return "; ".join(MISSING.get(str(c), {}).get(lang, str(c)[:MAX_TEXT]) for c in codes) or NONE[lang]


def _param(key: str, value, lang: str) -> str:
    if key == "missing":
        return missing_text(value if isinstance(value, list) else [value], lang)
    if isinstance(value, bool) and key not in TIMES:
        return str(value).lower()
    return param(key, value, lang)


def _secret(details: dict, lang: str) -> str:
    """What leaked, in words (the password unless the details name another secret)."""
    return SECRETS.get(str(details.get("secret", "password")), SECRETS["password"])[lang]


def message(kind: str, lang: str, /, **details) -> str:
    """The finding's sentence in ``lang`` from its template parameters (unknown kinds: the kind itself)."""
    lang = language(lang)
    template = TEMPLATES.get(kind, {}).get(lang)
    if template is None:
        return kind
    params = Defaults({k: _param(k, v, lang) for k, v in details.items()})
    params["secret"] = _secret(details, lang)
    params["connections"] = plural(details.get("flows", details.get("count", 0)), CONNECTIONS[lang])
    if kind in COMPOSED:
        params.update(COMPOSED[kind](details, params, lang))
    return template.format_map(params)


def leak_seen(lang: str, /, **details) -> str:
    """The canary scanner's note of one hit, from the credential-leak finding's details."""
    lang = language(lang)
    return LEAK_SEEN[lang].format(
        secret=_secret(details, lang), destination=details.get("destination", "?"), server=details.get("server", "?"),
        category=details.get("category") or "unknown", form=details.get("form", "?"),
        where=details.get("where", "?"), inside_tls=_inside_tls(details, lang),
    )
