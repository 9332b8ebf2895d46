"""The word tables, read from the TOML data file beside each text module (``findings.py`` -> ``findings.toml``)
on first use and kept for the run.

A file holds tables of entries (``[templates.telemetry]``) or single entries (``[leak_seen]``); an entry is one
text in every language (``en = "..."``, ``de = "..."``), or a ``["singular", "plural"]`` pair, read as a tuple.
A module reads its tables as ``Tables("findings").templates`` and, for code that imported the former constants,
answers ``findings.TEMPLATES`` through its ``__getattr__``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

HERE = Path(__file__).parent


@cache
def load(name: str) -> dict[str, dict]:
    """Every table of ``<name>.toml`` (parsed once; the parser is imported only then)."""
    import tomllib

    with open(HERE / f"{name}.toml", "rb") as file:
        return _pairs(tomllib.load(file))


def _pairs(node):
    """The parsed file with each list of word forms made a tuple."""
    if isinstance(node, dict):
        return {key: _pairs(value) for key, value in node.items()}
    return tuple(node) if isinstance(node, list) else node


class Tables:
    """The tables of one data file as attributes: ``Tables("findings").templates``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, table: str) -> dict:
        if table.startswith("_"):  # dunder probes (copy, pickle) read no file
            raise AttributeError(table)
        try:
            return load(self.name)[table]
        except KeyError:
            raise AttributeError(f"{self.name}.toml has no table {table!r}") from None

    def constant(self, name: str) -> dict:
        """The table a module once held as the constant ``name`` (``TEMPLATES`` -> ``templates``)."""
        if not name.isupper():
            raise AttributeError(name)
        return getattr(self, name.lower())
