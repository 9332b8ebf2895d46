"""The report's own words (headings, labels, fixed sentences) in English and German, kept in report.toml; the
logs view (``maildetour logs --format md``) takes its words from here too.

``text(key, lang, **values)`` falls back to English for an unknown language, writes whole numbers with the
language's separators, and takes ``key.one`` instead of ``key`` when ``n`` is 1.
"""

from __future__ import annotations

from analysis.text.numbers import language, number, plural
from analysis.text.tables import Tables

TABLES = Tables("report")  # report.toml: the table ``words``, key -> {lang: text}


def __getattr__(name: str) -> dict:
    """``WORDS``: the table of report.toml under its constant name."""
    return TABLES.constant(name)


def text(key: str, lang: str, **values: object) -> str:
    """The report string ``key`` in ``lang`` with its ``{name}`` fields filled in (see ``fill``)."""
    return fill(TABLES.words, key, lang, values)


def fill(words: dict[str, dict[str, str]], key: str, lang: str, values: dict[str, object]) -> str:
    """The string ``key`` of ``words`` in ``lang`` (English if missing, else the key), with ``{name}`` fields
    filled in: whole numbers in the language's format, and the singular ``key.one`` when ``n`` is 1."""
    if key + ".one" in words:
        key = plural(values.get("n"), (key + ".one", key))
    entry = words.get(key, {})
    template = entry.get(language(lang)) or entry.get("en") or key
    if not values:
        return template
    shown = {k: number(v, lang) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in values.items()}
    return template.format(**shown)
