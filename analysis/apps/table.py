"""The report's ``app_report``: per app of the App Privacy Report, the domains it contacted (hits, first and latest
time, who initiated it, iOS's owner, the catalog's category and owner, the capture's flows attributed through
it) and the resources it accessed.

A domain is classified as a flow's name would be: the configured mail host's names and addresses first, then
the endpoint catalog (exact name, suffix, or the address's range), else ``unknown`` owned by its registrable
domain.
"""

from __future__ import annotations

from analysis.addresses import is_address
from analysis.apps.attribute import Attribution
from analysis.apps.privacyreport import PrivacyReport, domain_key
from analysis.case import Case
from analysis.catalog import Catalog
from analysis.model import iso_utc
from analysis.sharedpath import shared_path
from analysis.vocab import CATEGORIES

ORDER = {c: i for i, c in enumerate(CATEGORIES)}


class DomainClassifier:
    """Category, owner and rule of a reported domain (the case's mail host, then the catalog)."""

    def __init__(self, case: Case, catalog: Catalog) -> None:
        self.catalog = catalog
        self.hosts = {domain_key(h) for h in case.mail_host_names()}
        self.addresses = {domain_key(a) for a in case.mail_host_ips()}

    def __call__(self, domain: str) -> tuple[str, str, str]:
        address = is_address(domain)
        if domain in self.hosts or domain in self.addresses:
            owner = domain if address else self.catalog.registrable_domain(domain)
            return "mail-host", owner, "mail-host:name" if not address else "mail-host:address"
        hit = self.catalog.match_ip(domain) if address else self.catalog.match_name(domain)
        if hit is not None:
            return hit.category, hit.owner, f"catalog:{hit.rule}"
        return "unknown", domain if address else self.catalog.registrable_domain(domain), "unknown:name"


def app_table(report: PrivacyReport, case: Case, catalog: Catalog, attribution: Attribution | None = None,
              first: str | None = None) -> dict:
    """``app_report`` of the report; the app ``first`` (the one the verdict concerns) leads the list."""
    classify = DomainClassifier(case, catalog)
    linked = attribution.flows if attribution is not None else {}
    apps: dict[str, dict] = {}

    def entry(app: str) -> dict:
        if app not in apps:
            apps[app] = {"app": app, "hits": 0, "first": None, "last": None, "domains": [], "access": []}
        return apps[app]

    for row in report.domains:
        category, owner, rule = classify(row.domain)
        e = entry(row.app)
        e["hits"] += row.hits
        e["domains"].append({
            "domain": row.domain, "category": category, "owner": owner, "rule": rule,
            "domain_owner": row.owner, "hits": row.hits, "first": iso_utc(row.first), "last": iso_utc(row.last),
            "initiated": row.initiated, "tracker": row.tracker, "contexts": list(row.contexts),
            "flows": list(linked.get((row.app, row.domain), [])),
        })
        for key, pick in (("first", min), ("last", max)):
            value = getattr(row, key)
            if value is not None:
                e[key] = value if e[key] is None else pick(e[key], value)
    for row in report.access:
        entry(row.app)["access"].append({"category": row.category, "count": row.count,
                                         "first": iso_utc(row.first), "last": iso_utc(row.last)})
    for e in apps.values():
        e["first"], e["last"] = iso_utc(e["first"]), iso_utc(e["last"])
        e["domains"].sort(key=lambda d: (ORDER.get(d["category"], len(ORDER)), -d["hits"], d["domain"]))
    listed = sorted(apps.values(), key=lambda e: (e["app"] != first, e["app"]))
    info = report.info
    return {
        "path": shared_path(info.path), "sha256": info.sha256, "complete": info.complete,
        "warnings": list(info.warnings), "apps": listed,
        "attribution": attribution.to_json() if attribution is not None else None,
    }
