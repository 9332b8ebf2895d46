"""Every English and German word maildetour writes, and the one way it writes numbers, lists and times.

- ``message(kind, lang, **details)`` and ``title(kind, lang)``: a finding's sentence and heading, from the
  template parameters kept in ``Finding.details`` (so a saved report can be re-rendered in the other language);
  ``explain(verdict, lang)``: the verdict's paragraph, from the verdict dict alone.
- ``text(key, lang, **values)``: the report's and the logs view's own words; ``word(key, lang, **params)``:
  the phrases of the mail server's findings and of the logs view's assumptions.
- ``number``, ``short``, ``plural``, ``listing``, ``when``: values written for a language (analysis.text.numbers).

The words themselves are data, one TOML file beside each module (``findings.toml``: the tool's findings,
``explanation.toml``: the verdict, ``logs.toml``: the mail server's findings, ``apps.toml``: the per-app view,
``report.toml``: headings and labels, ``comparison.toml``, ``numbers.toml``), English and German side by side,
read on first use (``tables``); the languages are ``analysis.vocab.LANGS``. This package is the ground layer:
it imports nothing of the project but ``vocab``.
"""

from __future__ import annotations

from functools import cache

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


@cache
def _every(table: str) -> dict[str, dict[str, str]]:
    """One table (``templates``, ``titles``) of every finding kind: the tool's, the mail server's, the apps'."""
    return {**getattr(findings.TABLES, table), **getattr(logs.TABLES, table), **getattr(apps.TABLES, table)}


def __getattr__(name: str) -> dict[str, dict[str, str]]:
    """``TEMPLATES`` (kind -> {lang: sentence}) and ``TITLES`` (kind -> {lang: heading}) of every kind."""
    if name in ("TEMPLATES", "TITLES"):
        return _every(name.lower())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def kinds() -> tuple[str, ...]:
    """Every finding kind that has words."""
    return tuple(_every("templates"))


def title(kind: str, lang: str) -> str:
    """The finding's heading in ``lang`` (unknown kinds: the kind itself)."""
    return _every("titles").get(kind, {}).get(language(lang), kind)


def message(kind: str, lang: str, /, **details) -> str:
    """The finding's sentence in ``lang`` from its template parameters (unknown kinds: the kind itself; a
    parameter the details lack reads "?")."""
    if kind in logs.TABLES.templates:
        return logs.message(kind, lang, **details)
    if kind in apps.TABLES.templates:
        return apps.message(kind, lang, **details)
    return findings.message(kind, lang, **details)
