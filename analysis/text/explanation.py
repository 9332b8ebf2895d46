"""The verdict's explanation in English and German: one paragraph that states the verdict and what it rests
on, written from the report's ``verdict`` dict alone (so a saved report can be explained in either language).
"""

from __future__ import annotations

from analysis.text.apps import app_scope, explain_domain_level
from analysis.text.findings import (
    BASIS_WORDS,
    CONNECTIONS,
    DEVICE_ONLY,
    MISSING_LEAD,
    candidate_text,
    coded,
    missing_text,
    settle_text,
)
from analysis.text.numbers import MAX_TEXT, language, listing, number, plural

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
ATTEMPTED = {  # verdict.mail_host_contact == "attempted"
    "en": "Every connection to the mail host was only attempted: the server never answered.",
    "de": "Jede Verbindung zum Mailserver blieb ein Versuch: der Server antwortete nie.",
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
LINK_WORDS = {
    "catalog": {"en": "named by the catalog", "de": "vom Katalog benannt"},
    "canary": {"en": "those that carried the password", "de": "die, die das Passwort trugen"},
    "same-address": {"en": "the address the logins came from", "de": "die Adresse, von der die Anmeldungen kamen"},
    "same-owner": {"en": "the same network owner as the logins", "de": "derselbe Netzinhaber wie bei den Anmeldungen"},
    "none": {"en": "not identified", "de": "nicht ermittelt"},
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
CANDIDATES_LINE = {
    "en": "Possible relays, most likely first: {items}.",
    "de": "Mögliche Relays, wahrscheinlichste zuerst: {items}.",
}


def _relay_sentences(verdict: dict, lang: str) -> list[str]:
    """One sentence per relay: basis, link, frames, its first log line; the assumption server logins rest on."""
    parts = []
    relays = [r for r in verdict.get("relays") or [] if isinstance(r, dict)]
    for relay in relays:
        basis = ", ".join(coded(BASIS_WORDS, relay.get("basis") or [], lang))
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
            candidate_text({**c, "addresses": c.get("device_addresses") or []}, lang) if isinstance(c, dict)
            else str(c)[:MAX_TEXT]
            for c in candidates[:3]
        ]
        parts.append(CANDIDATES_LINE[lang].format(items="; ".join(items)))
        parts.append(settle_text(verdict.get("settle") or [], lang))
    return parts


def explain(verdict: dict, lang: str) -> str:
    """One paragraph that states the verdict and what it rests on, from the verdict dict alone."""
    lang = language(lang)
    if verdict.get("basis") == "app-privacy-report":  # the App Privacy Report alone: domains, no flows
        return explain_domain_level(verdict, lang)
    summary = str(verdict.get("summary", "inconclusive"))
    vendors = [v for v in verdict.get("vendors") or [] if isinstance(v, dict)]
    relay_owners = [str(v.get("owner", "?")) for v in vendors if "mail-relay" in (v.get("categories") or [])]
    relays = [r for r in verdict.get("relays") or [] if isinstance(r, dict)]
    if relays:
        relay_owners = [str(r.get("owner", "?")) for r in relays]
    lead = SUMMARY.get(summary, SUMMARY["inconclusive"])[lang]
    if summary == "relayed" and relays and all(r.get("link") == "none" for r in relays):
        lead = RELAYED_UNLINKED[lang]
    parts = [lead.format(relay_owners=listing(relay_owners, lang)), *app_scope(verdict, lang)]
    if summary == "inconclusive":  # the other summaries already say whether the host was contacted
        parts.append(CONTACTED[bool(verdict.get("mail_host_contacted"))][lang])
    if verdict.get("mail_host_contact") == "attempted":
        parts.append(ATTEMPTED[lang])

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
        parts.append(MISSING_LEAD[lang].format(missing=missing_text(missing, lang)))
    parts += _candidate_sentences(verdict, lang)
    return " ".join(parts)

