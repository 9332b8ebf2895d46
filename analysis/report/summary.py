"""The verdict in one terminal line, as ``make demo`` and ``maildetour analyze`` print it."""

from __future__ import annotations

MAX_NAME = 80  # an owner name comes from the network (SNI, DNS): bound it on a terminal line


def _printable(text: object) -> str:
    """``text`` without control characters (no terminal escapes from network strings), bounded."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return clean if len(clean) <= MAX_NAME else clean[: MAX_NAME - 1] + "…"


def _relay_owners(verdict: dict) -> list[str]:
    owners = {r.get("owner") for r in verdict.get("relays") or [] if isinstance(r, dict)}
    owners |= {v.get("owner") for v in verdict.get("vendors") or []
               if isinstance(v, dict) and "mail-relay" in (v.get("categories") or [])}
    return sorted(_printable(o) for o in owners if o)


def _status(verdict: dict, key: str) -> str:
    part = verdict.get(key)
    return _printable(part.get("status", "?")) if isinstance(part, dict) else "?"


def verdict_line(report: dict) -> str:
    """``verdict: relayed  (mail host contacted by the phone: no; receive ..., send ...; mail relay: X)``;
    an inconclusive verdict also names what is missing."""
    verdict = report.get("verdict") if isinstance(report, dict) else None
    if not isinstance(verdict, dict):
        return "verdict: none (the report has no verdict)"
    contacted = "yes" if verdict.get("mail_host_contacted") else "no"
    parts = [f"mail host contacted by the phone: {contacted}",
             f"receive {_status(verdict, 'receive')}, send {_status(verdict, 'send')}",
             f"mail relay: {', '.join(_relay_owners(verdict)) or 'none'}"]
    missing = [_printable(m) for m in verdict.get("missing") or [] if isinstance(m, str)]
    if missing and verdict.get("summary") == "inconclusive":
        parts.append(f"missing: {', '.join(missing)}")
    return f"verdict: {_printable(verdict.get('summary', '?'))}  ({'; '.join(parts)})"
