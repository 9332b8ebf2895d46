"""The report's own words (headings, labels, fixed sentences) in English and German.

Verdict explanations and finding messages come from ``analysis.findings_text``; this module only holds
the chrome around them. ``text(lang, key, **values)`` falls back to English for an unknown language.
"""

from __future__ import annotations

LANGS = ("en", "de")

_EN: dict[str, str] = {
    "title": "Analysis: does the mail app talk to the configured mail server?",
    "memo": "Memo",
    "summary": "Summary",
    "verdict": "Verdict",
    "verdict.direct": "The device spoke a mail protocol with the configured mail host itself",
    "verdict.relayed": "The configured mail host was never contacted; a vendor service handled "
        "the mail",
    "verdict.mixed": "The device contacted the mail host directly and a vendor mail relay was "
        "used as well",
    "verdict.inconclusive": "Neither direct mail traffic nor a mail relay was observed",
    "mail_host_contacted": "Configured mail host contacted",
    "receive": "Receiving (IMAP/POP3)",
    "send": "Sending (SMTP/submission)",
    "status.direct": "direct",
    "status.not-observed": "not observed",
    "yes": "yes",
    "no": "no",
    "vendors": "Vendor services",
    "none": "none",
    "flows": "flows",
    "flows_h": "Flows",
    "method": "Method",
    "method.text": (
        "The traffic of the device was captured and every connection was assigned a category by its "
        "destination "
        "(names from TLS SNI, DNS and HTTP, then addresses), using the endpoint catalog named below. "
        "The report lists the evidence for each assignment in the appendix."
    ),
    "inputs": "Inputs",
    "path": "File",
    "format": "Format",
    "packets": "Packets",
    "sha256": "SHA-256",
    "complete": "Complete",
    "warnings": "Warnings",
    "incomplete_at": "damaged or truncated at byte {offset}",
    "tool": "Tool",
    "catalog": "Endpoint catalog",
    "settings": "Settings",
    "language": "Language",
    "log_offset": "Log time offset (seconds)",
    "case": "Case",
    "account": "Account",
    "username": "Username",
    "canary": "Canary password",
    "canary.set": "set via ${env} (value never shown)",
    "canary.unset": "not set",
    "mail_hosts": "Configured mail hosts",
    "mail_addresses": "Known mail host addresses",
    "devices": "Device addresses",
    "all_clients": "all clients in the capture",
    "account_added": "Account added",
    "app_removed": "App removed",
    "expected": "Expected behaviour",
    "expected.text": (
        "The app should connect directly to the configured mail host ({hosts}) over IMAP, POP3 or SMTP and "
        "make no other connections. Any data leaving the device for other parties must be explained to "
        "the user "
        "and should only be enabled manually after informed consent. This applies to sending and to "
        "receiving mail."
    ),
    "observed": "Observed behaviour",
    "observed.counts": "{flows} connections, {bytes} bytes in total; {relay} to mail relays, {mailhost} "
        "to the "
    "configured mail host.",
    "chart.timeline": "Connections per category over time",
    "chart.bytes": "Bytes per category",
    "chart.time": "time (UTC)",
    "chart.seconds_after": "seconds after {start} UTC",
    "chart.bytes_axis": "bytes",
    "chart.sent": "sent by the device",
    "chart.received": "received by the device",
    "chart.account_added": "account added",
    "chart.app_removed": "app removed",
    "chart.empty": "no flows",
    "findings": "Findings",
    "no_findings": "No findings.",
    "severity": "Severity",
    "severity.info": "info",
    "severity.low": "low",
    "severity.medium": "medium",
    "severity.high": "high",
    "frames": "Frames",
    "wireshark_filter": "Wireshark display filter",
    "log_lines": "Log lines",
    "more": "… and {n} more",
    "destinations": "Destinations by category",
    "server": "Server",
    "port": "Port",
    "names": "Names",
    "owner": "Owner",
    "protocol": "Protocol",
    "bytes": "Bytes",
    "sent": "Sent",
    "first_seen": "First seen",
    "last_seen": "Last seen",
    "category": "Category",
    "stats": "Traffic per category",
    "mail_server": "The mail server's view",
    "mail_server.text": "Logins to the test account as the mail server logged them, by origin address.",
    "logs": "Log files",
    "lines": "Lines",
    "parsed": "Parsed",
    "unmatched": "Unmatched",
    "software": "Software",
    "origins": "Login origins",
    "address": "Address",
    "first": "First",
    "last": "Last",
    "count": "Logins",
    "failures": "Failures",
    "is_device": "Device?",
    "after_removal": "After removal",
    "connections": "Open connections (netstat)",
    "file": "File",
    "local": "Local",
    "remote": "Remote",
    "state": "State",
    "appendix.owners": "Appendix 1: owner evidence per address",
    "appendix.dns": "Appendix 2: DNS queries",
    "rule": "Rule",
    "matched": "Matched",
    "source": "Source of the name",
    "catalog_source": "Catalog source",
    "names_seen": "Names seen",
    "query": "Query",
    "types": "Types",
    "answers": "Answers",
    "client": "Client",
    "first_frame": "First frame",
    "footer": "Written by {tool} {version} from report schema {schema}. Addresses and names come from "
        "the capture; "
    "passwords are redacted.",
    "truncated_rows": "{n} more rows are in the JSON report.",
    "cat.mail-host": "the configured mail host",
    "cat.mail-relay": "a vendor service that handles the account's mail on the device's behalf",
    "cat.other-mail": "a mail protocol to another host",
    "cat.auth": "sign-in and identity services",
    "cat.telemetry": "usage telemetry",
    "cat.crash-report": "crash reporting",
    "cat.diagnostics": "diagnostics and remote support",
    "cat.push": "push notifications",
    "cat.cdn": "content delivery networks",
    "cat.ads-analytics": "advertising and analytics",
    "cat.platform": "operating-system services",
    "cat.name-resolution": "DNS resolvers",
    "cat.unknown": "not in the catalog",
}

_DE: dict[str, str] = {
    "title": "Analyse: Verbindet sich die Mail-App mit dem konfigurierten Mailserver?",
    "memo": "Vermerk",
    "summary": "Zusammenfassung",
    "verdict": "Ergebnis",
    "verdict.direct": "direkt: das Gerät hat selbst ein Mailprotokoll mit dem konfigurierten Mailserver "
        "gesprochen",
    "verdict.relayed": "über Dritte: der konfigurierte Mailserver wurde nie kontaktiert; ein Dienst "
        "des Anbieters "
    "hat die E-Mails abgewickelt",
    "verdict.mixed": "gemischt: das Gerät hat den Mailserver direkt kontaktiert und zusätzlich einen "
        "Mail-Relay-Dienst "
    "des Anbieters genutzt",
    "verdict.inconclusive": "nicht eindeutig: weder direkter Mailverkehr noch ein Mail-Relay wurde "
        "beobachtet",
    "mail_host_contacted": "Konfigurierter Mailserver kontaktiert",
    "receive": "Empfang (IMAP/POP3)",
    "send": "Versand (SMTP/Submission)",
    "status.direct": "direkt",
    "status.not-observed": "nicht beobachtet",
    "yes": "ja",
    "no": "nein",
    "vendors": "Dienste von Anbietern",
    "none": "keine",
    "flows": "Verbindungen",
    "flows_h": "Verbindungen",
    "method": "Vorgehen",
    "method.text": (
        "Der Datenverkehr des Geräts wurde mitgeschnitten und jede Verbindung anhand ihres Ziels einer "
        "Kategorie "
        "zugeordnet (Namen aus TLS-SNI, DNS und HTTP, danach Adressen), mit dem unten genannten "
        "Endpunkt-Katalog. "
        "Die Belege jeder Zuordnung stehen in der Anlage."
    ),
    "inputs": "Eingaben",
    "path": "Datei",
    "format": "Format",
    "packets": "Pakete",
    "sha256": "SHA-256",
    "complete": "Vollständig",
    "warnings": "Warnungen",
    "incomplete_at": "beschädigt oder abgeschnitten bei Byte {offset}",
    "tool": "Werkzeug",
    "catalog": "Endpunkt-Katalog",
    "settings": "Einstellungen",
    "language": "Sprache",
    "log_offset": "Zeitversatz der Logs (Sekunden)",
    "case": "Fall",
    "account": "Konto",
    "username": "Benutzername",
    "canary": "Kanarien-Passwort",
    "canary.set": "gesetzt über ${env} (Wert wird nie angezeigt)",
    "canary.unset": "nicht gesetzt",
    "mail_hosts": "Konfigurierte Mailserver",
    "mail_addresses": "Bekannte Adressen der Mailserver",
    "devices": "Adressen des Geräts",
    "all_clients": "alle Clients im Mitschnitt",
    "account_added": "Konto eingerichtet",
    "app_removed": "App gelöscht",
    "expected": "Erwartetes Verhalten",
    "expected.text": (
        "Die App sollte sich direkt mit dem konfigurierten Mailserver ({hosts}) über IMAP, POP3 oder "
        "SMTP verbinden "
        "und ansonsten keine weiteren Verbindungen durchführen. Datenabflüsse an Dritte müssen dem "
        "Nutzer klar "
        "erklärt werden und sollten nur nach informierter Einwilligung manuell aktiviert werden können. "
        "Dies gilt "
        "sowohl für das Senden als auch für das Abrufen von E-Mails."
    ),
    "observed": "Festgestelltes Verhalten",
    "observed.counts": "{flows} Verbindungen, insgesamt {bytes} Bytes; {relay} zu Mail-Relays, "
        "{mailhost} zum "
    "konfigurierten Mailserver.",
    "chart.timeline": "Verbindungen je Kategorie im Zeitverlauf",
    "chart.bytes": "Bytes je Kategorie",
    "chart.time": "Zeit (UTC)",
    "chart.seconds_after": "Sekunden nach {start} UTC",
    "chart.bytes_axis": "Bytes",
    "chart.sent": "vom Gerät gesendet",
    "chart.received": "vom Gerät empfangen",
    "chart.account_added": "Konto eingerichtet",
    "chart.app_removed": "App gelöscht",
    "chart.empty": "keine Verbindungen",
    "findings": "Befunde",
    "no_findings": "Keine Befunde.",
    "severity": "Schweregrad",
    "severity.info": "Hinweis",
    "severity.low": "niedrig",
    "severity.medium": "mittel",
    "severity.high": "hoch",
    "frames": "Frames",
    "wireshark_filter": "Wireshark-Anzeigefilter",
    "log_lines": "Logzeilen",
    "more": "… und {n} weitere",
    "destinations": "Ziele nach Kategorie",
    "server": "Server",
    "port": "Port",
    "names": "Namen",
    "owner": "Betreiber",
    "protocol": "Protokoll",
    "bytes": "Bytes",
    "sent": "Gesendet",
    "first_seen": "Erstmals",
    "last_seen": "Zuletzt",
    "category": "Kategorie",
    "stats": "Datenverkehr je Kategorie",
    "mail_server": "Sicht des Mailservers",
    "mail_server.text": "Anmeldungen am Testkonto laut Protokoll des Mailservers, nach Herkunftsadresse.",
    "logs": "Protokolldateien",
    "lines": "Zeilen",
    "parsed": "Erkannt",
    "unmatched": "Nicht erkannt",
    "software": "Software",
    "origins": "Herkunft der Anmeldungen",
    "address": "Adresse",
    "first": "Erste",
    "last": "Letzte",
    "count": "Anmeldungen",
    "failures": "Fehlschläge",
    "is_device": "Gerät?",
    "after_removal": "Nach Löschen",
    "connections": "Offene Verbindungen (netstat)",
    "file": "Datei",
    "local": "Lokal",
    "remote": "Gegenstelle",
    "state": "Zustand",
    "appendix.owners": "Anlage 1: Zuordnung der Adressen zu Betreibern",
    "appendix.dns": "Anlage 2: DNS-Anfragen",
    "rule": "Regel",
    "matched": "Treffer",
    "source": "Herkunft des Namens",
    "catalog_source": "Quelle im Katalog",
    "names_seen": "Gesehene Namen",
    "query": "Anfrage",
    "types": "Typen",
    "answers": "Antworten",
    "client": "Client",
    "first_frame": "Erster Frame",
    "footer": "Erstellt mit {tool} {version} aus dem Berichtsschema {schema}. Adressen und Namen "
        "stammen aus dem "
    "Mitschnitt; Passwörter sind geschwärzt.",
    "truncated_rows": "{n} weitere Zeilen stehen im JSON-Bericht.",
    "cat.mail-host": "der konfigurierte Mailserver",
    "cat.mail-relay": "ein Dienst des Anbieters, der die E-Mails des Kontos anstelle des Geräts abwickelt",
    "cat.other-mail": "ein Mailprotokoll zu einem anderen Server",
    "cat.auth": "Anmelde- und Identitätsdienste",
    "cat.telemetry": "Nutzungs-Telemetrie",
    "cat.crash-report": "Absturzberichte",
    "cat.diagnostics": "Diagnose und Fernwartung",
    "cat.push": "Push-Benachrichtigungen",
    "cat.cdn": "Content-Delivery-Netze",
    "cat.ads-analytics": "Werbung und Analyse",
    "cat.platform": "Dienste des Betriebssystems",
    "cat.name-resolution": "DNS-Resolver",
    "cat.unknown": "nicht im Katalog",
}

_TABLES = {"en": _EN, "de": _DE}


def text(lang: str, key: str, **values: object) -> str:
    """The report string ``key`` in ``lang`` (English if missing), with ``{name}`` fields filled in."""
    table = _TABLES.get(lang, _EN)
    template = table.get(key) or _EN.get(key) or key
    return template.format(**values) if values else template


def number(lang: str, value: int | float) -> str:
    """A count with thousands separators: 12,345 (en) or 12.345 (de)."""
    s = f"{int(value):,}"
    return s.replace(",", ".") if lang == "de" else s
