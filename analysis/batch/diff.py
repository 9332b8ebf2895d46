"""``maildetour compare A.json B.json``: what changed between two runs' reports.

The verdict (summary, mail host contacted, receive and send), the relays and their basis, the destinations
(a server name, else its address, with port and transport: added, removed, or in another category), bytes and
connections per category, the owners contacted, the credential leaks (by secret, form, where and destination)
and the third-party logins. Only changes are listed; ``changed`` says whether there is any.
"""

from __future__ import annotations

import os
from collections import Counter

from analysis.batch.rows import LEAK_KIND, count, third_party_logins
from analysis.vocab import CATEGORIES

SCHEMA = "maildetour.compare/1"


def label(path: str) -> str:
    """How the output names a report: as a shared report shows paths, with its folder when that alone would
    be a bare file name (``direct/report.json``, not ``report.json`` twice)."""
    from analysis.sharedpath import shared_path

    shown = shared_path(path) or path
    if os.sep in shown:
        return shown
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return f"{parent}/{shown}" if parent else shown


def _verdict(report: dict) -> dict:
    return report.get("verdict") or {}


def _side(report: dict, path: str) -> dict:
    app = (report.get("case") or {}).get("app") or {}
    return {"path": path, "app": {"id": app.get("id"), "name": app.get("name"), "version": app.get("version")},
            "summary": _verdict(report).get("summary"),
            "inputs": [str(i.get("path")) for i in report.get("inputs") or []]}


def _status(verdict: dict, channel: str):
    return (verdict.get(channel) or {}).get("status")


def verdict_changes(a: dict, b: dict) -> list[dict]:
    va, vb = _verdict(a), _verdict(b)
    facts = [("summary", va.get("summary"), vb.get("summary")),
             ("mail_host_contacted", va.get("mail_host_contacted"), vb.get("mail_host_contacted")),
             ("receive", _status(va, "receive"), _status(vb, "receive")),
             ("send", _status(va, "send"), _status(vb, "send"))]
    return [{"what": what, "a": x, "b": y} for what, x, y in facts if x != y]


def _added_removed(a: dict, b: dict) -> tuple[list, list]:
    return [b[k] for k in b if k not in a], [a[k] for k in a if k not in b]


def relay_changes(a: dict, b: dict) -> dict:
    def relays(report: dict) -> dict:
        return {str(r.get("owner")): {"owner": r.get("owner"), "basis": sorted(r.get("basis") or [])}
                for r in _verdict(report).get("relays") or []}

    ra, rb = relays(a), relays(b)
    added, removed = _added_removed(ra, rb)
    changed = [{"owner": k, "a": ra[k]["basis"], "b": rb[k]["basis"]} for k in ra
               if k in rb and ra[k]["basis"] != rb[k]["basis"]]
    return {"added": added, "removed": removed, "changed": changed}


def destinations(report: dict) -> dict[tuple, dict]:
    """The report's destinations by (name or address, port, transport)."""
    out: dict[tuple, dict] = {}
    for group in report.get("destinations") or []:
        for server in group.get("servers") or []:
            names = server.get("names") or []
            host = str(names[0]) if names else str(server.get("address"))
            key = (host, server.get("port"), server.get("transport"))
            entry = out.setdefault(key, {"destination": host, "port": server.get("port"),
                                         "transport": server.get("transport"), "category": group.get("category"),
                                         "owner": server.get("owner"), "bytes": 0})
            entry["bytes"] += count(server.get("bytes"))
    return out


def destination_changes(a: dict, b: dict) -> dict:
    da, db = destinations(a), destinations(b)
    added, removed = _added_removed(da, db)
    changed = [{**db[k], "a": da[k]["category"], "b": db[k]["category"]} for k in da
               if k in db and da[k]["category"] != db[k]["category"]]
    order = lambda d: (str(d["destination"]), str(d["port"]), str(d["transport"]))  # noqa: E731
    return {"added": sorted(added, key=order), "removed": sorted(removed, key=order),
            "changed": sorted(changed, key=order)}


def _by_category(report: dict) -> dict[str, dict]:
    return {str(r.get("category")): {"flows": count(r.get("flows")), "bytes": count(r.get("bytes"))}
            for r in (report.get("stats") or {}).get("by_category") or []}


def category_changes(a: dict, b: dict) -> list[dict]:
    ca, cb = _by_category(a), _by_category(b)
    seen = set(ca) | set(cb)
    order = [c for c in CATEGORIES if c in seen] + sorted(seen - set(CATEGORIES))
    none = {"flows": 0, "bytes": 0}
    return [{"category": c, "a": ca.get(c, none), "b": cb.get(c, none)} for c in order
            if ca.get(c, none) != cb.get(c, none)]


def owner_changes(a: dict, b: dict) -> dict:
    def owners(report: dict) -> dict:
        return {str(r.get("owner")): {"owner": r.get("owner"), "flows": count(r.get("flows")),
                                      "bytes": count(r.get("bytes"))}
                for r in (report.get("stats") or {}).get("by_owner") or []}

    added, removed = _added_removed(owners(a), owners(b))
    return {"added": added, "removed": removed}


def leak_key(finding: dict) -> tuple:
    details = finding.get("details")
    if not details:
        return ("", "", "", str(finding.get("message", "")), "")
    return tuple(str(details.get(k) or "") for k in ("secret", "form", "where", "destination", "owner"))


def leak_changes(a: dict, b: dict) -> dict:
    def leaks(report: dict) -> Counter:
        return Counter(leak_key(f) for f in report.get("findings") or [] if f.get("kind") == LEAK_KIND)

    la, lb = leaks(a), leaks(b)
    fields = ("secret", "form", "where", "destination", "owner")

    def listed(counter: Counter) -> list[dict]:
        return [{**dict(zip(fields, k, strict=True)), "count": n} for k, n in sorted(counter.items())]

    return {"a": sum(la.values()), "b": sum(lb.values()), "added": listed(lb - la), "removed": listed(la - lb),
            "third_party_logins": {"a": third_party_logins(a.get("findings") or []),
                                   "b": third_party_logins(b.get("findings") or [])}}


def changes(a: dict, b: dict, a_path: str, b_path: str) -> dict:
    """The changes from report ``a`` to report ``b`` (``maildetour.compare/1``)."""
    leaks = leak_changes(a, b)
    out = {
        "schema": SCHEMA,
        "a": _side(a, a_path),
        "b": _side(b, b_path),
        "verdict": verdict_changes(a, b),
        "relays": relay_changes(a, b),
        "destinations": destination_changes(a, b),
        "categories": category_changes(a, b),
        "owners": owner_changes(a, b),
        "leaks": leaks,
    }
    logins = leaks["third_party_logins"]
    out["changed"] = bool(out["verdict"] or any(out["relays"].values()) or any(out["destinations"].values())
                          or out["categories"] or any(out["owners"].values()) or leaks["added"]
                          or leaks["removed"] or logins["a"] != logins["b"])
    return out
