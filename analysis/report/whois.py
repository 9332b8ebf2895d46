"""The RDAP ("whois") appendix as both memos show it: its columns, its rows and the method note.

Input is the report's JSON alone: ``whois`` (records of analysis.rdap) and ``settings.rdap`` (the note).
"""

from __future__ import annotations

from analysis.report.memo import Words, when

COLUMNS = (
    "whois.address", "whois.range", "whois.network", "whois.organisation", "whois.country", "whois.registry",
    "whois.retrieved", "whois.source",
)
MAX_CIDRS = 4  # prefixes shown per range


def _range(record: dict) -> str:
    rng = record.get("range") if isinstance(record.get("range"), dict) else {}
    start, end = str(rng.get("start") or ""), str(rng.get("end") or "")
    cidr = [str(c) for c in rng.get("cidr") or []]
    span = f"{start} – {end}" if start or end else ""
    prefixes = ", ".join(cidr[:MAX_CIDRS]) + (f" (+{len(cidr) - MAX_CIDRS})" if len(cidr) > MAX_CIDRS else "")
    return f"{span} ({prefixes})" if span and prefixes else span or prefixes


def source(t: Words, record: dict) -> str:
    """live, cache, or why there is no record (in the report's language)."""
    status = str(record.get("status") or "unavailable")
    if status == "not-public":
        return t("whois.not-public", reason=t("whois.reason." + str(record.get("reason") or "reserved")))
    return t("whois." + status)


def rows(t: Words, records: list) -> list[list[str]]:
    out = []
    for r in records:
        name, handle = str(r.get("name") or ""), str(r.get("handle") or "")
        out.append([
            str(r.get("address") or ""),
            _range(r),
            f"{name} ({handle})" if name and handle else name or handle,
            str(r.get("organisation") or ""),
            str(r.get("country") or ""),
            str(r.get("registry") or ""),
            when(r.get("retrieved")) if r.get("retrieved") else "",
            source(t, r),
        ])
    return out


def note(t: Words, rdap: dict) -> str:
    """One paragraph: where the answers came from and how many addresses got which."""
    def n(key: str) -> int:
        value = rdap.get(key)
        return value if isinstance(value, int) else 0

    text = t("whois.note", n=n("addresses"), source=str(rdap.get("source") or ""), live=n("live"),
             cache=n("cache"), cache_dir=str(rdap.get("cache_dir") or ""),
             other=n("not-public") + n("not-found") + n("unavailable"))
    if n("over_limit"):
        text += " " + t("whois.over_limit", n=n("over_limit"), limit=n("limit"))
    return text


def warnings(rdap: dict) -> list[str]:
    return [str(w) for w in rdap.get("warnings") or []][:10]
