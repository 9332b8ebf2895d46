"""The report's own words (headings, labels, fixed sentences) in English and German, side by side; the logs
view (``maildetour logs --format md``) takes its words from here too.

``text(key, lang, **values)`` falls back to English for an unknown language, writes whole numbers with the
language's separators, and takes ``key.one`` instead of ``key`` when ``n`` is 1.
"""

from __future__ import annotations

from analysis.text.numbers import language, number, plural

WORDS: dict[str, dict[str, str]] = {
    # the memo's sections, the verdict and its facts
    "title": {
        "en": "Analysis: does the mail app talk to the configured mail server?",
        "de": "Analyse: Verbindet sich die Mail-App mit dem konfigurierten Mailserver?",
    },
    "memo": {"en": "Memo", "de": "Vermerk"},
    "summary": {"en": "Summary", "de": "Zusammenfassung"},
    "verdict": {"en": "Verdict", "de": "Ergebnis"},
    "word.direct": {"en": "direct", "de": "direkt"},
    "word.relayed": {"en": "relayed", "de": "über Dritte"},
    "word.mixed": {"en": "mixed", "de": "gemischt"},
    "word.inconclusive": {"en": "inconclusive", "de": "nicht eindeutig"},
    "verdict.direct": {
        "en": "The device spoke a mail protocol with the configured mail host itself",
        "de": "Das Gerät hat selbst ein Mailprotokoll mit dem konfigurierten Mailserver gesprochen",
    },
    "verdict.relayed": {
        "en": "The configured mail host was never contacted; a vendor service handled the mail",
        "de": "Der konfigurierte Mailserver wurde nie kontaktiert; ein Dienst des Anbieters hat die E-Mails "
        "abgewickelt",
    },
    "verdict.mixed": {
        "en": "The device contacted the mail host directly and a vendor mail relay was used as well",
        "de": "Das Gerät hat den Mailserver direkt kontaktiert und zusätzlich einen Mail-Relay-Dienst des Anbieters "
        "genutzt",
    },
    "verdict.inconclusive": {
        "en": "Neither direct mail traffic nor a mail relay was observed",
        "de": "Weder direkter Mailverkehr noch ein Mail-Relay wurde beobachtet",
    },
    "mail_host_contacted": {"en": "Configured mail host contacted", "de": "Konfigurierter Mailserver kontaktiert"},
    "receive": {"en": "Receiving (IMAP/POP3)", "de": "Empfang (IMAP/POP3)"},
    "send": {"en": "Sending (SMTP/submission)", "de": "Versand (SMTP/Submission)"},
    "status.direct": {"en": "direct", "de": "direkt"},
    "status.not-observed": {"en": "not observed", "de": "nicht beobachtet"},
    "yes": {"en": "yes", "de": "ja"},
    "no": {"en": "no", "de": "nein"},
    "vendors": {"en": "Vendor services", "de": "Dienste von Anbietern"},
    "none": {"en": "none", "de": "keine"},
    "flows": {"en": "flows", "de": "Verbindungen"},
    "n_flows": {"en": "{n} flows", "de": "{n} Verbindungen"},
    "n_flows.one": {"en": "{n} flow", "de": "{n} Verbindung"},
    "vendor_bytes": {"en": "{bytes} bytes", "de": "{bytes} Bytes"},
    "flows_h": {"en": "Flows", "de": "Verbindungen"},
    # method, inputs and the case
    "method": {"en": "Method", "de": "Vorgehen"},
    "method.text": {
        "en": "The traffic of the device was captured and every connection was assigned a category by its destination "
        "(names from TLS SNI, DNS and HTTP, then addresses), using the endpoint catalog named below. The report lists "
        "the evidence for each assignment in the appendix.",
        "de": "Der Datenverkehr des Geräts wurde mitgeschnitten und jede Verbindung anhand ihres Ziels einer "
        "Kategorie zugeordnet (Namen aus TLS-SNI, DNS und HTTP, danach Adressen), mit dem unten genannten "
        "Endpunkt-Katalog. Die Belege jeder Zuordnung stehen in der Anlage.",
    },
    "inputs": {"en": "Inputs", "de": "Eingaben"},
    "path": {"en": "File", "de": "Datei"},
    "format": {"en": "Format", "de": "Format"},
    "packets": {"en": "Packets", "de": "Pakete"},
    "sha256": {"en": "SHA-256", "de": "SHA-256"},
    "complete": {"en": "Complete", "de": "Vollständig"},
    "warnings": {"en": "Warnings", "de": "Warnungen"},
    "incomplete_at": {
        "en": "damaged or truncated at byte {offset}",
        "de": "beschädigt oder abgeschnitten bei Byte {offset}",
    },
    "tool": {"en": "Tool", "de": "Werkzeug"},
    "catalog": {"en": "Endpoint catalog", "de": "Endpunkt-Katalog"},
    "settings": {"en": "Settings", "de": "Einstellungen"},
    "language": {"en": "Language", "de": "Sprache"},
    "log_offset": {"en": "Log time offset (seconds)", "de": "Zeitversatz der Logs (Sekunden)"},
    "case": {"en": "Case", "de": "Fall"},
    "account": {"en": "Account", "de": "Konto"},
    "username": {"en": "Username", "de": "Benutzername"},
    "canary": {"en": "Canary password", "de": "Kanarien-Passwort"},
    "canary.set": {"en": "set via ${env} (value never shown)", "de": "gesetzt über ${env} (Wert wird nie angezeigt)"},
    "canary.unset": {"en": "not set", "de": "nicht gesetzt"},
    "mail_hosts": {"en": "Configured mail hosts", "de": "Konfigurierte Mailserver"},
    "mail_addresses": {"en": "Known mail host addresses", "de": "Bekannte Adressen der Mailserver"},
    "devices": {"en": "Device addresses", "de": "Adressen des Geräts"},
    "all_clients": {"en": "all clients in the capture", "de": "alle Clients im Mitschnitt"},
    "account_added": {"en": "Account added", "de": "Konto eingerichtet"},
    "app_removed": {"en": "App removed", "de": "App gelöscht"},
    "expected": {"en": "Expected behaviour", "de": "Erwartetes Verhalten"},
    "expected.text": {
        "en": "The app should connect directly to the configured mail host ({hosts}) over IMAP, POP3 or SMTP and make "
        "no other connections. Any data leaving the device for other parties must be explained to the user and should "
        "only be enabled manually after informed consent. This applies to sending and to receiving mail.",
        "de": "Die App sollte sich direkt mit dem konfigurierten Mailserver ({hosts}) über IMAP, POP3 oder SMTP "
        "verbinden und ansonsten keine weiteren Verbindungen durchführen. Datenabflüsse an Dritte müssen dem Nutzer "
        "klar erklärt werden und sollten nur nach informierter Einwilligung manuell aktiviert werden können. Dies "
        "gilt sowohl für das Senden als auch für das Abrufen von E-Mails.",
    },
    "observed": {"en": "Observed behaviour", "de": "Festgestelltes Verhalten"},
    "observed.counts": {
        "en": "{connections}, {bytes} bytes in total; {relay} to mail relays, {mailhost} to the configured mail host.",
        "de": "{connections}, insgesamt {bytes} Bytes; {relay} zu Mail-Relays, {mailhost} zum konfigurierten "
        "Mailserver.",
    },
    "n_connections": {"en": "{n} connections", "de": "{n} Verbindungen"},
    "n_connections.one": {"en": "{n} connection", "de": "{n} Verbindung"},
    # charts
    "chart.timeline": {"en": "Connections per category over time", "de": "Verbindungen je Kategorie im Zeitverlauf"},
    "chart.bytes": {"en": "Bytes per category", "de": "Bytes je Kategorie"},
    "chart.time": {"en": "time (UTC)", "de": "Zeit (UTC)"},
    "chart.seconds_after": {"en": "seconds after {start} UTC", "de": "Sekunden nach {start} UTC"},
    "chart.bytes_axis": {"en": "bytes", "de": "Bytes"},
    "chart.sent": {"en": "sent by the device", "de": "vom Gerät gesendet"},
    "chart.received": {"en": "received by the device", "de": "vom Gerät empfangen"},
    "chart.account_added": {"en": "account added", "de": "Konto eingerichtet"},
    "chart.app_removed": {"en": "app removed", "de": "App gelöscht"},
    "chart.empty": {"en": "no flows", "de": "keine Verbindungen"},
    # findings and the tables of destinations
    "findings": {"en": "Findings", "de": "Befunde"},
    "no_findings": {"en": "No findings.", "de": "Keine Befunde."},
    "severity": {"en": "Severity", "de": "Schweregrad"},
    "severity.info": {"en": "info", "de": "Hinweis"},
    "severity.low": {"en": "low", "de": "niedrig"},
    "severity.medium": {"en": "medium", "de": "mittel"},
    "severity.high": {"en": "high", "de": "hoch"},
    "frames": {"en": "Frames", "de": "Frames"},
    "wireshark_filter": {"en": "Wireshark display filter", "de": "Wireshark-Anzeigefilter"},
    "log_lines": {"en": "Log lines", "de": "Logzeilen"},
    "more": {"en": "… and {n} more", "de": "… und {n} weitere"},
    "destinations": {"en": "Destinations by category", "de": "Ziele nach Kategorie"},
    "server": {"en": "Server", "de": "Server"},
    "port": {"en": "Port", "de": "Port"},
    "names": {"en": "Names", "de": "Namen"},
    "owner": {"en": "Owner", "de": "Betreiber"},
    "protocol": {"en": "Protocol", "de": "Protokoll"},
    "bytes": {"en": "Bytes", "de": "Bytes"},
    "sent": {"en": "Sent", "de": "Gesendet"},
    "first_seen": {"en": "First seen (UTC)", "de": "Erstmals (UTC)"},
    "last_seen": {"en": "Last seen (UTC)", "de": "Zuletzt (UTC)"},
    "port_protocol": {"en": "Port (protocol)", "de": "Port (Protokoll)"},
    "period": {"en": "Time (UTC)", "de": "Zeitraum (UTC)"},
    "category": {"en": "Category", "de": "Kategorie"},
    "stats": {"en": "Traffic per category", "de": "Datenverkehr je Kategorie"},
    # the mail server's view
    "mail_server": {"en": "The mail server's view", "de": "Sicht des Mailservers"},
    "mail_server.text": {
        "en": "Logins to the test account as the mail server logged them, by origin address.",
        "de": "Anmeldungen am Testkonto laut Protokoll des Mailservers, nach Herkunftsadresse.",
    },
    "logs": {"en": "Log files", "de": "Protokolldateien"},
    "lines": {"en": "Lines", "de": "Zeilen"},
    "parsed": {"en": "Parsed", "de": "Erkannt"},
    "unmatched": {"en": "Unmatched", "de": "Nicht erkannt"},
    "software": {"en": "Software", "de": "Software"},
    "origins": {"en": "Login origins", "de": "Herkunft der Anmeldungen"},
    "address": {"en": "Address", "de": "Adresse"},
    "first": {"en": "First (UTC)", "de": "Erste (UTC)"},
    "last": {"en": "Last (UTC)", "de": "Letzte (UTC)"},
    "count": {"en": "Logins", "de": "Anmeldungen"},
    "failures": {"en": "Failures", "de": "Fehlschläge"},
    "is_device": {"en": "Device?", "de": "Gerät?"},
    "after_removal": {"en": "Logins after removal", "de": "Anmeldungen nach Löschen"},
    "connections": {"en": "Open connections (netstat)", "de": "Offene Verbindungen (netstat)"},
    "file": {"en": "File", "de": "Datei"},
    "local": {"en": "Local", "de": "Lokal"},
    "remote": {"en": "Remote", "de": "Gegenstelle"},
    "state": {"en": "State", "de": "Zustand"},
    # the logs view (maildetour logs --format md); its other words are the report's
    "logs.title": {"en": "Mail server logs", "de": "Mailserver-Protokolle"},
    "assumptions": {"en": "Assumptions", "de": "Annahmen"},
    "logs.as": {"en": "AS (network owner)", "de": "AS (Netzbetreiber)"},
    "logs.as_range": {"en": "AS range", "de": "AS-Adressbereich"},
    "logs.as_data": {"en": "AS data", "de": "AS-Daten"},
    "logs.device": {"en": "Device", "de": "Gerät"},
    "logs.connections": {"en": "Open connections (snapshots)", "de": "Offene Verbindungen (Schnappschüsse)"},
    "logs.none": {"en": "No logins for the account were found.", "de": "Keine Anmeldungen für das Konto gefunden."},
    # appendices: owners, DNS, AS data
    "appendix.owners": {
        "en": "Appendix 1: owner evidence per address",
        "de": "Anlage 1: Zuordnung der Adressen zu Betreibern",
    },
    "appendix.dns": {"en": "Appendix 2: DNS queries", "de": "Anlage 2: DNS-Anfragen"},
    "appendix.as": {
        "en": "Network owner (autonomous system) per address",
        "de": "Netzbetreiber (autonomes System) je Adresse",
    },
    "role": {"en": "Seen as", "de": "Gesehen als"},
    "role.server": {"en": "server", "de": "Server"},
    "role.login": {"en": "login origin", "de": "Anmeldeherkunft"},
    "catalog_owner": {"en": "Catalog owner", "de": "Betreiber laut Katalog"},
    "asn": {"en": "AS number", "de": "AS-Nummer"},
    "as_org": {"en": "AS organisation", "de": "AS-Organisation"},
    "as_range": {"en": "Range matched", "de": "Passender Adressbereich"},
    "as_source": {"en": "AS data", "de": "AS-Daten"},
    "as_data": {"en": "AS data (network owners)", "de": "AS-Daten (Netzbetreiber)"},
    "as_data.text": {
        "en": "Each address's autonomous system (AS number, organisation, the address range) comes from offline data, "
        "no look-up over the network. Sources:",
        "de": "Das autonome System jeder Adresse (AS-Nummer, Organisation, Adressbereich) stammt aus mitgelieferten "
        "Daten, ohne Abfrage über das Netz. Quellen:",
    },
    "rule": {"en": "Rule", "de": "Regel"},
    "matched": {"en": "Matched", "de": "Treffer"},
    "source": {"en": "Source of the name", "de": "Herkunft des Namens"},
    "catalog_source": {"en": "Catalog source", "de": "Quelle im Katalog"},
    "names_seen": {"en": "Names seen", "de": "Gesehene Namen"},
    "query": {"en": "Query", "de": "Anfrage"},
    "types": {"en": "Types", "de": "Typen"},
    "answers": {"en": "Answers", "de": "Antworten"},
    "client": {"en": "Client", "de": "Client"},
    "first_frame": {"en": "First frame", "de": "Erster Frame"},
    # footer and cut tables
    "footer": {
        "en": "Written by {tool} {version} from report schema {schema}. Addresses and names come from the capture; "
        "passwords are redacted.",
        "de": "Erstellt mit {tool} {version} aus dem Berichtsschema {schema}. Adressen und Namen stammen aus dem "
        "Mitschnitt; Passwörter sind geschwärzt.",
    },
    "truncated_rows": {
        "en": "{n} more rows are in the JSON report.",
        "de": "{n} weitere Zeilen stehen im JSON-Bericht.",
    },
    "truncated_rows.one": {
        "en": "{n} more row is in the JSON report.",
        "de": "{n} weitere Zeile steht im JSON-Bericht.",
    },
    # categories in a sentence
    "cat.mail-host": {"en": "the configured mail host", "de": "der konfigurierte Mailserver"},
    "cat.mail-relay": {
        "en": "a vendor service that handles the account's mail on the device's behalf",
        "de": "ein Dienst des Anbieters, der die E-Mails des Kontos anstelle des Geräts abwickelt",
    },
    "cat.other-mail": {"en": "a mail protocol to another host", "de": "ein Mailprotokoll zu einem anderen Server"},
    "cat.auth": {"en": "sign-in and identity services", "de": "Anmelde- und Identitätsdienste"},
    "cat.telemetry": {"en": "usage telemetry", "de": "Nutzungs-Telemetrie"},
    "cat.crash-report": {"en": "crash reporting", "de": "Absturzberichte"},
    "cat.diagnostics": {"en": "diagnostics and remote support", "de": "Diagnose und Fernwartung"},
    "cat.push": {"en": "push notifications", "de": "Push-Benachrichtigungen"},
    "cat.cdn": {"en": "content delivery networks", "de": "Content-Delivery-Netze"},
    "cat.ads-analytics": {"en": "advertising and analytics", "de": "Werbung und Analyse"},
    "cat.platform": {"en": "operating-system services", "de": "Dienste des Betriebssystems"},
    "cat.name-resolution": {"en": "DNS resolvers", "de": "DNS-Resolver"},
    "cat.unknown": {"en": "not in the catalog", "de": "nicht im Katalog"},
    # RDAP appendix (analysis/report/whois.py)
    "appendix.whois": {"en": "Appendix: who holds the addresses (RDAP)", "de": "Anhang: Inhaber der Adressen (RDAP)"},
    "whois.text": {
        "en": "The regional Internet registries' records (RDAP) for the addresses that matter to the verdict: the "
        "relays' and relay candidates' addresses and the addresses the mail server logged logins from. A record names "
        "who registered the address range, which is not always who ran the service.",
        "de": "Die Einträge der regionalen Internet-Registrierungsstellen (RDAP) zu den Adressen, auf die es für das "
        "Ergebnis ankommt: die Adressen der Relays und der Relay-Kandidaten und die Adressen, von denen aus sich laut "
        "Mailserver-Protokoll jemand angemeldet hat. Ein Eintrag nennt, wer den Adressbereich registriert hat; das "
        "ist nicht immer, wer den Dienst betreibt.",
    },
    "whois.address": {"en": "Address", "de": "Adresse"},
    "whois.range": {"en": "Range", "de": "Bereich"},
    "whois.network": {"en": "Network", "de": "Netz"},
    "whois.organisation": {"en": "Organisation", "de": "Organisation"},
    "whois.country": {"en": "Country", "de": "Land"},
    "whois.registry": {"en": "Registry", "de": "Registrierungsstelle"},
    "whois.retrieved": {"en": "Retrieved (UTC)", "de": "Abgerufen (UTC)"},
    "whois.source": {"en": "Source", "de": "Quelle"},
    "whois.live": {"en": "live", "de": "live abgefragt"},
    "whois.cache": {"en": "cache", "de": "aus dem Cache"},
    "whois.not-found": {"en": "no record at the registry", "de": "kein Eintrag bei der Registrierungsstelle"},
    "whois.unavailable": {"en": "not looked up: RDAP unavailable", "de": "nicht abgefragt: RDAP nicht erreichbar"},
    "whois.not-public": {"en": "not looked up: {reason}", "de": "nicht abgefragt: {reason}"},
    "whois.reason.private": {"en": "a private address", "de": "eine private Adresse"},
    "whois.reason.loopback": {"en": "a loopback address", "de": "eine Loopback-Adresse"},
    "whois.reason.documentation": {"en": "a documentation address", "de": "eine Dokumentationsadresse"},
    "whois.reason.link-local": {"en": "a link-local address", "de": "eine Link-Local-Adresse"},
    "whois.reason.multicast": {"en": "a multicast address", "de": "eine Multicast-Adresse"},
    "whois.reason.shared": {
        "en": "a shared (carrier-grade NAT) address",
        "de": "eine geteilte Adresse (Carrier-Grade-NAT)",
    },
    "whois.reason.reserved": {"en": "a reserved address", "de": "eine reservierte Adresse"},
    "whois.reason.unspecified": {"en": "the unspecified address", "de": "die unspezifizierte Adresse"},
    "whois.reason.invalid": {"en": "not an address", "de": "keine Adresse"},
    "whois.note": {
        "en": "Network registration (RDAP, see the appendix): {n} addresses, answers from {source}: {live} live, "
        "{cache} from the cache in {cache_dir}, {other} without a record.",
        "de": "Netzregistrierung (RDAP, siehe Anhang): {n} Adressen, Antworten von {source}: {live} live abgefragt, "
        "{cache} aus dem Cache in {cache_dir}, {other} ohne Eintrag.",
    },
    "whois.note.one": {
        "en": "Network registration (RDAP, see the appendix): {n} address, answer from {source}: {live} live, {cache} "
        "from the cache in {cache_dir}, {other} without a record.",
        "de": "Netzregistrierung (RDAP, siehe Anhang): {n} Adresse, Antwort von {source}: {live} live abgefragt, "
        "{cache} aus dem Cache in {cache_dir}, {other} ohne Eintrag.",
    },
    "whois.over_limit": {
        "en": "{n} more addresses were not looked up (at most {limit} per run).",
        "de": "{n} weitere Adressen wurden nicht abgefragt (höchstens {limit} je Lauf).",
    },
    "whois.over_limit.one": {
        "en": "{n} more address was not looked up (at most {limit} per run).",
        "de": "{n} weitere Adresse wurde nicht abgefragt (höchstens {limit} je Lauf).",
    },
    # apps: the verdict per app, other apps' connections, the iOS App Privacy Report (analysis/report/apps.py)
    "apps": {"en": "Apps", "de": "Apps"},
    "apps.all": {"en": "Connections per app", "de": "Verbindungen je App"},
    "apps.per_app": {"en": "Verdict per mail app", "de": "Ergebnis je Mail-App"},
    "apps.per_app.text": {
        "en": "Apps that spoke a mail protocol, contacted the mail host, used a mail relay or sent account data, "
        "each judged on its own connections.",
        "de": "Apps, die ein Mailprotokoll sprachen, den Mailserver kontaktierten, ein Mail-Relay nutzten oder "
        "Kontodaten sendeten, jede nach ihren eigenen Verbindungen beurteilt.",
    },
    "apps.others": {"en": "Other apps", "de": "Andere Apps"},
    "apps.others.text": {
        "en": "Connections of the other apps on the device: not part of the verdict, listed so that none is left "
        "out (each is in the JSON report's flow table with its app).",
        "de": "Verbindungen der anderen Apps auf dem Gerät: nicht Teil des Ergebnisses, aufgeführt, damit keine "
        "fehlt (jede steht mit ihrer App in der Verbindungstabelle des JSON-Berichts).",
    },
    "apps.app": {"en": "App", "de": "App"},
    "apps.unattributed": {"en": "no app recorded", "de": "keine App erfasst"},
    "apps.source": {"en": "Attributed by", "de": "Zugeordnet durch"},
    "apps.relays": {"en": "Mail relays", "de": "Mail-Relays"},
    "apps.categories": {"en": "Bytes per category", "de": "Bytes je Kategorie"},
    "apps.leaks": {"en": "Account data sent", "de": "Kontodaten gesendet"},
    "apps.mail_host": {"en": "Mail host", "de": "Mailserver"},
    "apps.basis": {"en": "Basis", "de": "Grundlage"},
    "apps.domain_level": {
        "en": "App Privacy Report, domain level (no bytes, no protocols)",
        "de": "App-Datenschutzbericht, auf Domain-Ebene (keine Bytes, keine Protokolle)",
    },
    "apps.mail_host_names": {
        "en": "Configured mail host contacted (names)",
        "de": "Konfigurierter Mailserver kontaktiert (Namen)",
    },
    "apps.relay_domains": {"en": "Mail-relay domains", "de": "Mail-Relay-Domains"},
    "apps.vendor_domains": {"en": "Vendor domains", "de": "Domains von Anbietern"},
    "n_hits": {"en": "{n} hits", "de": "{n} Zugriffe"},
    "n_hits.one": {"en": "{n} hit", "de": "{n} Zugriff"},
    "n_domains": {"en": "{n} domains", "de": "{n} Domains"},
    "n_domains.one": {"en": "{n} domain", "de": "{n} Domain"},
    "app_report": {"en": "App Privacy Report (iOS)", "de": "App-Datenschutzbericht (iOS)"},
    "app_report.text": {
        "en": "The domains each app contacted in the seven days before the report was saved, as iOS recorded "
        "them: hits, first and latest contact, who initiated it (the app, or the user in an in-app browser), the "
        "owner iOS names, and the catalog's category. Domain level: no bytes, no protocols.",
        "de": "Die Domains, die jede App in den sieben Tagen vor dem Sichern des Berichts kontaktierte, wie iOS "
        "sie erfasst hat: Zugriffe, erster und letzter Kontakt, wer ihn auslöste (die App oder der Nutzer in "
        "einem In-App-Browser), der von iOS genannte Betreiber und die Kategorie laut Katalog. Auf Domain-Ebene: "
        "keine Bytes, keine Protokolle.",
    },
    "app_report.method": {
        "en": "No traffic was captured: the verdict rests on the app's App Privacy Report (iOS), which lists the "
        "domains the app contacted with hit counts and times. Each domain was assigned a category as a "
        "connection's name would be: the configured mail host first, then the endpoint catalog named below.",
        "de": "Es wurde kein Datenverkehr mitgeschnitten: Das Ergebnis beruht auf dem App-Datenschutzbericht (iOS) "
        "der App, der die von ihr kontaktierten Domains mit Zugriffszahlen und Zeiten nennt. Jede Domain wurde "
        "wie der Name einer Verbindung einer Kategorie zugeordnet: zuerst der konfigurierte Mailserver, dann der "
        "unten genannte Endpunkt-Katalog.",
    },
    "app_report.attribution": {
        "en": "Connections of the capture attributed to an app through these domains: {flows}; matching domains "
        "of several apps and left unattributed: {ambiguous}.",
        "de": "Verbindungen des Mitschnitts, die über diese Domains einer App zugeordnet wurden: {flows}; "
        "passend zu Domains mehrerer Apps und daher nicht zugeordnet: {ambiguous}.",
    },
    "app_report.domain": {"en": "Domain", "de": "Domain"},
    "app_report.hits": {"en": "Hits", "de": "Zugriffe"},
    "app_report.initiated": {"en": "Initiated by", "de": "Ausgelöst durch"},
    "app_report.by_app": {"en": "app", "de": "App"},
    "app_report.by_user": {"en": "user (in-app browser)", "de": "Nutzer (In-App-Browser)"},
    "app_report.domain_owner": {"en": "Owner (iOS)", "de": "Betreiber (iOS)"},
    "app_report.tracker": {"en": "Tracker (iOS)", "de": "Tracker (iOS)"},
    "app_report.access": {"en": "Resources accessed", "de": "Zugriffe auf Ressourcen"},
    "app_report.resource": {"en": "Resource", "de": "Ressource"},
    "app_report.count": {"en": "Accesses", "de": "Zugriffe"},
}


def text(key: str, lang: str, **values: object) -> str:
    """The report string ``key`` in ``lang`` (English if missing, else the key), with ``{name}`` fields filled
    in: whole numbers in the language's format, and the singular ``key.one`` when ``n`` is 1."""
    if key + ".one" in WORDS:
        key = plural(values.get("n"), (key + ".one", key))
    entry = WORDS.get(key, {})
    template = entry.get(language(lang)) or entry.get("en") or key
    if not values:
        return template
    shown = {k: number(v, lang) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in values.items()}
    return template.format(**shown)
