"""The report as JSON: deterministic (same dict, same bytes), keys in the order the report builds them.

Layout for people and diffs: the top two levels one key per line, every record of a list (a flow, a DNS
entry, a finding) on its own line. Records are written by the C encoder, so large reports stay fast.
"""

from __future__ import annotations

import json

NESTED_LEVELS = 2  # levels written one key or record per line


def _compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def _dump(value, level: int) -> str:
    if level >= NESTED_LEVELS or not value or not isinstance(value, (dict, list)):
        return _compact(value)
    pad, close = "  " * (level + 1), "  " * level
    if isinstance(value, dict):
        items = (f"{pad}{_compact(str(k))}: {_dump(v, level + 1)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + "\n" + close + "}"
    return "[\n" + ",\n".join(f"{pad}{_dump(v, level + 1)}" for v in value) + "\n" + close + "]"


def render_json(report: dict) -> str:
    """The JSON text with a final newline; no timestamps are added, so reruns compare equal."""
    return _dump(report, 0) + "\n"
