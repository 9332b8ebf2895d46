"""The output format from ``-o``'s suffix when ``--format`` is not given (``-o report.html`` writes HTML)."""

from __future__ import annotations

import os

from analysis.errors import UsageError

SUFFIX_FORMATS = {
    ".json": "json", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".csv": "csv",
    ".jsonl": "jsonl", ".ndjson": "jsonl",
}


def suffix_format(output: str | None) -> str | None:
    """The format ``output``'s suffix names (case-insensitive), or None for stdout and unknown suffixes."""
    if output in (None, "-"):
        return None
    return SUFFIX_FORMATS.get(os.path.splitext(output)[1].lower())


def pick_format(explicit: str | None, output: str | None, allowed: tuple[str, ...] | list[str], default: str) -> str:
    """``--format`` when given, else the format of ``-o``'s suffix, else ``default``. A suffix naming a format
    the command cannot write (``logs -o x.html``) is a usage error rather than, say, JSON in an .html file."""
    if explicit:
        return explicit
    fmt = suffix_format(output)
    if fmt is None:
        return default
    if fmt not in allowed:
        raise UsageError(f"{output}: cannot write {fmt} here (formats: {', '.join(allowed)}); "
                         f"choose one with --format")
    return fmt
