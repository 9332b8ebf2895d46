"""The words of the batch comparison (``maildetour batch``) and of ``maildetour compare``, English and German.

``phrase(key, lang, **values)`` fills ``{name}`` fields (whole numbers in the language's format) and takes
``key.one`` when ``n`` is 1; an unknown language is English, an unknown key comes back as itself.
"""

from __future__ import annotations

from analysis.text.numbers import language, number, plural

WORDS: dict[str, dict[str, str]] = {
    # maildetour batch: comparison.html
    "batch.title": {
        "en": "Comparison: which apps talk to the mail server, which hand the account to their vendor?",
        "de": "Vergleich: Welche Apps sprechen mit dem Mailserver, welche geben das Konto an ihren Anbieter?",
    },
    "batch.memo": {"en": "Batch comparison", "de": "Vergleich mehrerer Läufe"},
    "batch.count": {"en": "{n} runs, {failed} failed.", "de": "{n} Läufe, {failed} fehlgeschlagen."},
    "batch.count.one": {"en": "{n} run, {failed} failed.", "de": "{n} Lauf, {failed} fehlgeschlagen."},
    "batch.sort": {
        "en": "Click a column heading to sort by it (again: reverse).",
        "de": "Ein Klick auf eine Spaltenüberschrift sortiert nach ihr (noch einmal: umgekehrt).",
    },
    "batch.runs": {"en": "Runs", "de": "Läufe"},
    "batch.chart": {"en": "Bytes per category and run", "de": "Bytes je Kategorie und Lauf"},
    "batch.chart.empty": {"en": "no traffic", "de": "kein Verkehr"},
    "batch.chart.failed": {"en": "failed", "de": "fehlgeschlagen"},
    "batch.damaged": {"en": "damaged input", "de": "beschädigte Eingabe"},
    "col.run": {"en": "Run", "de": "Lauf"},
    "col.app": {"en": "App", "de": "App"},
    "col.version": {"en": "Version", "de": "Version"},
    "col.verdict": {"en": "Verdict", "de": "Ergebnis"},
    "col.mail_host": {"en": "Mail host contacted", "de": "Mailserver kontaktiert"},
    "col.relays": {"en": "Relays (basis)", "de": "Relays (Grundlage)"},
    "col.vendors": {"en": "Vendors", "de": "Anbieter"},
    "col.leaks": {"en": "Credential leaks", "de": "Zugangsdaten-Lecks"},
    "col.logins": {"en": "Third-party logins", "de": "Anmeldungen Dritter"},
    "col.total": {"en": "Bytes", "de": "Bytes"},
    "col.report": {"en": "Report", "de": "Bericht"},
    "footer": {
        "en": "Written by maildetour {version}. Each run's full report is linked in the table.",
        "de": "Erstellt von maildetour {version}. Der vollständige Bericht jedes Laufs ist in der Tabelle verlinkt.",
    },
    # maildetour compare
    "cmp.title": {"en": "What changed between two runs", "de": "Was sich zwischen zwei Läufen geändert hat"},
    "cmp.a": {"en": "A (before)", "de": "A (vorher)"},
    "cmp.b": {"en": "B (after)", "de": "B (nachher)"},
    "cmp.inputs": {"en": "Reports", "de": "Berichte"},
    "cmp.same": {"en": "unchanged", "de": "unverändert"},
    "cmp.verdict": {"en": "Verdict", "de": "Ergebnis"},
    "cmp.relays": {"en": "Relays", "de": "Relays"},
    "cmp.destinations": {"en": "Destinations", "de": "Ziele"},
    "cmp.categories": {"en": "Categories", "de": "Kategorien"},
    "cmp.owners": {"en": "Owners", "de": "Betreiber"},
    "cmp.leaks": {"en": "Leaks and third-party logins", "de": "Lecks und Anmeldungen Dritter"},
    "cmp.added": {"en": "added", "de": "neu"},
    "cmp.removed": {"en": "removed", "de": "weggefallen"},
    "cmp.changed": {"en": "changed", "de": "geändert"},
    "cmp.nothing": {"en": "No change.", "de": "Keine Änderung."},
    "cmp.what": {"en": "What", "de": "Was"},
    "cmp.change": {"en": "Change", "de": "Änderung"},
    "cmp.summary": {"en": "Verdict", "de": "Ergebnis"},
    "cmp.mail_host": {"en": "Mail host contacted", "de": "Mailserver kontaktiert"},
    "cmp.receive": {"en": "Receiving", "de": "Empfangen"},
    "cmp.send": {"en": "Sending", "de": "Senden"},
    "cmp.destination": {"en": "Destination", "de": "Ziel"},
    "cmp.category": {"en": "Category", "de": "Kategorie"},
    "cmp.owner": {"en": "Owner", "de": "Betreiber"},
    "cmp.basis": {"en": "Basis", "de": "Grundlage"},
    "cmp.bytes_a": {"en": "Bytes A", "de": "Bytes A"},
    "cmp.bytes_b": {"en": "Bytes B", "de": "Bytes B"},
    "cmp.flows": {"en": "Connections", "de": "Verbindungen"},
    "cmp.flows_a": {"en": "Connections A", "de": "Verbindungen A"},
    "cmp.flows_b": {"en": "Connections B", "de": "Verbindungen B"},
    "cmp.leak_count": {"en": "Credential leaks", "de": "Zugangsdaten-Lecks"},
    "cmp.logins": {"en": "Third-party logins", "de": "Anmeldungen Dritter"},
    "cmp.leak": {"en": "Credential leak", "de": "Zugangsdaten-Leck"},
}


def phrase(key: str, lang: str, **values: object) -> str:
    """The comparison's string ``key`` in ``lang`` with its ``{name}`` fields filled in."""
    if key + ".one" in WORDS:
        key = plural(values.get("n"), (key + ".one", key))
    entry = WORDS.get(key, {})
    template = entry.get(language(lang)) or entry.get("en") or key
    shown = {k: number(v, lang) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in values.items()}
    return template.format(**shown) if shown else template
