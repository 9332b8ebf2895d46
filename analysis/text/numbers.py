"""How values are written in a sentence or a table cell, in English and German: numbers, plural forms, lists
and times. Every function takes the value first and the language second; an unknown language is English.

``number`` has one rule: whole numbers with the language's thousands separator (12,345 / 12.345), any other
number to one decimal (2.5 / 2,5). ``plural`` picks the singular for exactly one in both languages. The words
"none" and "and N more" are in numbers.toml.
"""

from __future__ import annotations

from datetime import UTC, datetime

from analysis.text.tables import Tables
from analysis.vocab import LANGS

MAX_ITEMS = 8  # values listed in one sentence before "and N more"
MAX_TEXT = 200  # one listed value is cut to this many characters
MAX_PARAM = 800  # one template parameter is cut to this many characters
TIMES = frozenset({"removed", "first", "last"})  # template parameters holding an ISO 8601 time
TABLES = Tables("numbers")  # numbers.toml: "none", "and N more"


def __getattr__(name: str) -> dict:
    """``NONE``, ``AND_MORE``: the tables of numbers.toml under their constant names."""
    return TABLES.constant(name)


def language(lang: str) -> str:
    """``lang`` when the text store has it, else English."""
    return lang if lang in LANGS else "en"


def _german(text: str) -> str:
    """Swap the English thousands separator and decimal mark: 12,345.5 -> 12.345,5."""
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def number(value: int | float, lang: str) -> str:
    """12345 -> '12,345' (en) or '12.345' (de); 2.54 -> '2.5' or '2,5'; a whole float has no decimals."""
    if isinstance(value, float) and not value.is_integer():
        text = f"{value:,.1f}"
    else:
        text = f"{int(value):,}"
    return _german(text) if language(lang) == "de" else text


def short(value: float, lang: str) -> str:
    """A measurement as short as it goes (``%g``: 0.15, 120, 1e+06) with the language's decimal mark."""
    text = f"{value:g}"
    return text.replace(".", ",") if language(lang) == "de" else text


def plural(n, forms: tuple[str, str]) -> str:
    """The (singular, plural) form for the count ``n``: the singular for exactly one, in English and German."""
    return forms[0] if n == 1 else forms[1]


def listing(values, lang: str) -> str:
    """A bounded, comma-separated list of plain-text values ("none" when empty, "and N more" past eight)."""
    lang = language(lang)
    items = [str(v)[:MAX_TEXT] for v in values]
    if not items:
        return TABLES.none[lang]
    shown = items[:MAX_ITEMS]
    if len(items) > MAX_ITEMS:
        shown.append(TABLES.and_more[lang].format(n=len(items) - MAX_ITEMS))
    return ", ".join(shown)


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


def param(key: str, value, lang: str) -> str:
    """One template parameter as text (yes/no words are the caller's): a time, a number, a list or plain text."""
    if key in TIMES:
        return when(value)
    if isinstance(value, int | float):
        return number(value, lang)
    if isinstance(value, list | tuple):
        return listing(value, lang)
    return "" if value is None else str(value)[:MAX_PARAM]


class Defaults(dict):
    """Template parameters; one a template names but the details lack reads "?" (a sentence never raises)."""

    def __missing__(self, key: str) -> str:
        return "?"
