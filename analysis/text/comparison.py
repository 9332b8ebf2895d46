"""The words of the batch comparison (``maildetour batch``) and of ``maildetour compare``, English and German,
kept in comparison.toml.

``phrase(key, lang, **values)`` fills ``{name}`` fields (whole numbers in the language's format) and takes
``key.one`` when ``n`` is 1; an unknown language is English, an unknown key comes back as itself.
"""

from __future__ import annotations

from analysis.text.report import fill
from analysis.text.tables import Tables

TABLES = Tables("comparison")  # comparison.toml: the table ``words``, key -> {lang: text}


def __getattr__(name: str) -> dict:
    """``WORDS``: the table of comparison.toml under its constant name."""
    return TABLES.constant(name)


def phrase(key: str, lang: str, **values: object) -> str:
    """The comparison's string ``key`` in ``lang`` with its ``{name}`` fields filled in."""
    return fill(TABLES.words, key, lang, values)
