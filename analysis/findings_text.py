"""The words of findings and of the verdict's explanation, in English and German.

Findings keep their template parameters in ``Finding.details``, so a report can be re-rendered in the
other language from the JSON alone: ``message(f["kind"], "de", **f["details"])`` and
``explain(report["verdict"], "de")``; ``title(kind, lang)`` names a finding in a memo's heading. Every kind
has a title and a template in both languages (tests/test_verdict.py checks it). Values are plain text; the
renderers escape them. Times in sentences are written by ``when``: 2026-11-28 23:05:16 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

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
        "en": "direct, {n} {connections} to the mail host",
        "de": "direkt, {n} {connections} zum Mailserver",
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
CONNECTIONS = {"en": ("connection", "connections"), "de": ("Verbindung", "Verbindungen")}
TIMES = frozenset({"removed", "first", "last"})  # parameters holding an ISO 8601 time, written by ``when``


# ---- relays found from evidence (analysis/relays.py) ----------------------------------------------------------

BASIS_WORDS = {
    "catalog": {"en": "catalog", "de": "Katalog"},
    "canary": {"en": "canary", "de": "Canary"},
    "server-login": {"en": "server logins", "de": "Anmeldungen am Server"},
}
LINK_WORDS = {
    "catalog": {"en": "named by the catalog", "de": "vom Katalog benannt"},
    "canary": {"en": "those that carried the password", "de": "die, die das Passwort trugen"},
    "same-address": {"en": "the address the logins came from", "de": "die Adresse, von der die Anmeldungen kamen"},
    "same-owner": {"en": "the same network owner as the logins", "de": "derselbe Netzinhaber wie bei den Anmeldungen"},
    "none": {"en": "not identified", "de": "nicht ermittelt"},
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
RELAY_LINE = {
    "en": "Relay {owner}: basis {basis}; device connections: {link}.",
    "de": "Relay {owner}: Grundlage {basis}; Verbindungen des Geräts: {link}.",
}
RELAY_FRAMES = {"en": "Frames: {frames}.", "de": "Frames: {frames}."}
RELAY_LOG = {"en": "Log: “{line}”.", "de": "Log: „{line}“."}
RELAYED_UNLINKED = {
    "en": "Verdict: relayed. The device never contacted the configured mail host, yet {relay_owners} logged in "
    "to the account, so its servers handle the account's mail (and hold its credentials).",
    "de": "Ergebnis: über Dritte. Das Gerät kontaktierte den konfigurierten Mailserver nie, doch {relay_owners} "
    "meldete sich am Konto an; dessen Server wickeln also die E-Mail des Kontos ab (und kennen die "
    "Zugangsdaten).",
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
CANDIDATES_LINE = {
    "en": "Possible relays, most likely first: {items}.",
    "de": "Mögliche Relays, wahrscheinlichste zuerst: {items}.",
}
MAX_CANDIDATES_TEXT = 5  # candidates named in one sentence


def _words(table: dict, codes, lang: str) -> list[str]:
    return [table.get(str(c), {}).get(lang, str(c)[:MAX_TEXT]) for c in (codes if isinstance(codes, list) else [])]


def _relay_params(details: dict, params: dict, lang: str) -> dict:
    """``basis_text`` and ``evidence_text`` of a relay-evidence finding, from its details alone."""
    basis = details.get("basis") if isinstance(details.get("basis"), list) else []
    since = "since.account_added" if details.get("since_from") == "account_added" else "since.capture"
    params = _Defaults(params)
    params["since"] = when(details.get("since"))
    params["logins_word"] = plural(details.get("logins", 0), LOGIN_FORMS[lang])
    params["since_text"] = RELAY_SENTENCES[since][lang].format_map(params)
    sentences = [RELAY_SENTENCES[b][lang].format_map(params) for b in BASIS_WORDS if b in basis]
    link = str(details.get("link", ""))
    if "server-login" in basis and link in ("same-address", "same-owner", "none"):
        sentences.append(RELAY_SENTENCES[link][lang].format_map(params))
    if "server-login" in basis:
        sentences.append(DEVICE_ONLY[lang])
    lead = {"en": "basis: ", "de": "Grundlage: "}[lang]
    return {"basis_text": lead + ", ".join(_words(BASIS_WORDS, basis, lang)),
            "evidence_text": "".join(" " + x for x in sentences)}


def _candidate_text(item, lang: str) -> str:
    if not isinstance(item, dict):
        return str(item)[:MAX_TEXT]
    addresses = listing(item.get("addresses") or [], lang)
    reasons = ", ".join(_words(REASON_WORDS, item.get("reasons") or [], lang))
    return f"{str(item.get('owner', '?'))[:MAX_TEXT]} ({addresses}{': ' + reasons if reasons else ''})"


def _settle_text(codes, lang: str) -> str:
    items = _words(SETTLE_WORDS, codes, lang)
    return SETTLE_LEAD[lang].format(items="; ".join(items)) if items else SETTLE_NONE[lang]


def _candidates_params(details: dict, params: dict, lang: str) -> dict:
    items = details.get("candidates") if isinstance(details.get("candidates"), list) else []
    text = "; ".join(_candidate_text(c, lang) for c in items[:MAX_CANDIDATES_TEXT]) or NONE[lang]
    return {"candidates_text": text, "settle_text": _settle_text(details.get("settle"), lang)}


COMPOSED = {"relay-evidence": _relay_params, "relay-candidates": _candidates_params}


def _relay_sentences(verdict: dict, lang: str) -> list[str]:
    """One sentence per relay: basis, link, frames, its first log line; the assumption server logins rest on."""
    parts = []
    relays = [r for r in verdict.get("relays") or [] if isinstance(r, dict)]
    for relay in relays:
        basis = ", ".join(_words(BASIS_WORDS, relay.get("basis") or [], lang))
        link = LINK_WORDS.get(str(relay.get("link")), LINK_WORDS["none"])[lang]
        parts.append(RELAY_LINE[lang].format(owner=str(relay.get("owner", "?"))[:MAX_TEXT], basis=basis, link=link))
        frames = relay.get("frames") if isinstance(relay.get("frames"), list) else []
        if frames:
            parts.append(RELAY_FRAMES[lang].format(frames=listing(frames, lang)))
        lines = relay.get("log_lines") if isinstance(relay.get("log_lines"), list) else []
        if lines:
            parts.append(RELAY_LOG[lang].format(line=" ".join(str(lines[0]).split())[:300]))
    if any("server-login" in (r.get("basis") or []) for r in relays):
        parts.append(DEVICE_ONLY[lang])
    return parts


def _candidate_sentences(verdict: dict, lang: str) -> list[str]:
    """The likeliest candidates for the relay and what would settle which one it is."""
    parts = []
    candidates = verdict.get("candidates") if isinstance(verdict.get("candidates"), list) else []
    if candidates:
        items = [
            _candidate_text({**c, "addresses": c.get("device_addresses") or []}, lang) if isinstance(c, dict)
            else str(c)[:MAX_TEXT]
            for c in candidates[:3]
        ]
        parts.append(CANDIDATES_LINE[lang].format(items="; ".join(items)))
        parts.append(_settle_text(verdict.get("settle") or [], lang))
    return parts


def _lang(lang: str) -> str:
    return lang if lang in LANGS else "en"


def plural(n, forms: tuple[str, str]) -> str:
    """The (singular, plural) form for the count ``n``: the singular for exactly one, in English and German."""
    return forms[0] if n == 1 else forms[1]


def when(value, zone: bool = True) -> str:
    """An ISO 8601 time as the memos write it, in UTC to the second: 2026-11-28 23:05:16 UTC (``zone=False``
    leaves off " UTC", for table columns whose heading says it). Text that is no time comes back as it is."""
    text = "" if value is None else str(value)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00")) if len(text) >= 19 else None
    except ValueError:
        dt = None
    if dt is None:
        return text[:MAX_TEXT]
    dt = dt.astimezone(UTC) if dt.tzinfo else dt
    return dt.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if zone else "")


def title(kind: str, lang: str) -> str:
    """The finding's heading in ``lang`` (unknown kinds: the kind itself)."""
    lang = _lang(lang)
    if kind in TITLES:
        return TITLES[kind][lang]
    from analysis.logs import text as log_text

    return log_text.TITLES.get(kind, {}).get(lang, kind)


def kinds() -> tuple[str, ...]:
    """Every finding kind that has words here or in ``analysis.logs.text``."""
    from analysis.logs import text as log_text

    return (*TEMPLATES, *log_text.KINDS)


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
    if key in TIMES:
        return when(value)
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
    params["connections"] = plural(details.get("flows", details.get("count", 0)), CONNECTIONS[lang])
    if kind in COMPOSED:
        params.update(COMPOSED[kind](details, params, lang))
    return template.format_map(params)


def explain(verdict: dict, lang: str) -> str:
    """One paragraph that states the verdict and what it rests on, from the verdict dict alone."""
    lang = _lang(lang)
    summary = str(verdict.get("summary", "inconclusive"))
    vendors = [v for v in verdict.get("vendors") or [] if isinstance(v, dict)]
    relay_owners = [str(v.get("owner", "?")) for v in vendors if "mail-relay" in (v.get("categories") or [])]
    relays = [r for r in verdict.get("relays") or [] if isinstance(r, dict)]
    if relays:
        relay_owners = [str(r.get("owner", "?")) for r in relays]
    lead = SUMMARY.get(summary, SUMMARY["inconclusive"])[lang]
    if summary == "relayed" and relays and all(r.get("link") == "none" for r in relays):
        lead = RELAYED_UNLINKED[lang]
    parts = [lead.format(relay_owners=listing(relay_owners, lang))]
    if summary == "inconclusive":  # the other summaries already say whether the host was contacted
        parts.append(CONTACTED[bool(verdict.get("mail_host_contacted"))][lang])

    def status(key: str) -> str:
        chan = verdict.get(key)
        chan = chan if isinstance(chan, dict) else {}
        flows = chan.get("flows")
        code = str(chan.get("status", "not-observed"))
        n = len(flows) if isinstance(flows, list) else 0
        return STATUS.get(code, STATUS["not-observed"])[lang].format(
            n=number(n, lang), connections=plural(n, CONNECTIONS[lang])
        )

    parts.append(CHANNELS[lang].format(receive=status("receive"), send=status("send")))
    parts += _relay_sentences(verdict, lang)
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
    parts += _candidate_sentences(verdict, lang)
    return " ".join(parts)
