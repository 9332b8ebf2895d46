"""Every English and German word maildetour writes, and the one way it writes numbers, lists and times.

- ``message(kind, lang, **details)`` and ``title(kind, lang)``: a finding's sentence and heading, from the
  template parameters kept in ``Finding.details`` (so a saved report can be re-rendered in the other language);
  ``explain(verdict, lang)``: the verdict's paragraph, from the verdict dict alone.
- ``text(key, lang, **values)``: the report's and the logs view's own words; ``word(key, lang, **params)``:
  the phrases of the mail server's findings and of the logs view's assumptions.
- ``number``, ``short``, ``plural``, ``listing``, ``when``: values written for a language (analysis.text.numbers).

The tables live in ``findings`` (the tool's findings), ``explanation`` (the verdict), ``logs`` (the mail
server's findings) and ``report`` (headings and labels), English and German side by side; the languages are
``analysis.vocab.LANGS``. This package is the ground layer: it imports nothing of the project but ``vocab``.
"""

from __future__ import annotations

from analysis.text import apps, findings, logs
from analysis.text.explanation import explain
from analysis.text.findings import leak_seen
from analysis.text.logs import word
from analysis.text.numbers import language, listing, number, plural, short, when
from analysis.text.report import text

__all__ = [
    "TEMPLATES", "TITLES", "explain", "kinds", "language", "leak_seen", "listing", "message", "number", "plural",
    "short", "text", "title", "when", "word",
]

TEMPLATES: dict[str, dict[str, str]] = {**findings.TEMPLATES, **logs.TEMPLATES, **apps.TEMPLATES}  # kind -> {lang: ...}
TITLES: dict[str, dict[str, str]] = {**findings.TITLES, **logs.TITLES, **apps.TITLES}  # kind -> {lang: heading}


def kinds() -> tuple[str, ...]:
    """Every finding kind that has words."""
    return tuple(TEMPLATES)


def title(kind: str, lang: str) -> str:
    """The finding's heading in ``lang`` (unknown kinds: the kind itself)."""
    return TITLES.get(kind, {}).get(language(lang), kind)


def message(kind: str, lang: str, /, **details) -> str:
    """The finding's sentence in ``lang`` from its template parameters (unknown kinds: the kind itself; a
    parameter the details lack reads "?")."""
    if kind in logs.TEMPLATES:
        return logs.message(kind, lang, **details)
    if kind in apps.TEMPLATES:
        return apps.message(kind, lang, **details)
    return findings.message(kind, lang, **details)
