"""Flows given the app whose App Privacy Report names their server (``app.source``: ``app-privacy-report``).

A flow's names are its SNI, HTTP Host and DNS names, the names the capture's DNS answers give its server
address, and the address itself (the report names connections to bare addresses by the address); the
strongest name that one app reported decides. Several apps reporting a name (a shared SDK's endpoint) are
narrowed to those whose reported period (first to latest connection, ``SLACK`` seconds either side) holds the
flow's start; if that leaves more than one, the flow stays unattributed and is counted as ambiguous. A flow
that already has an app (PCAPdroid's per-packet record) keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from analysis.apps.privacyreport import DomainRow, PrivacyReport, domain_key
from analysis.dnsmap import DnsMap
from analysis.model import App, DnsEntry, Flow

SOURCE = "app-privacy-report"
SLACK = 300.0  # seconds: the phone's and the capture's clocks may differ a little


@dataclass
class Attribution:
    """What the report attributed: flows per (app, domain) and how many flows matched several apps."""

    attributed: int = 0
    ambiguous: int = 0
    flows: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (bundle id, domain) -> flow ids

    def to_json(self) -> dict:
        return {"source": SOURCE, "flows": self.attributed, "ambiguous": self.ambiguous, "slack_seconds": SLACK}


def _covers(row: DomainRow, at: float | None) -> bool:
    if at is None or row.first is None or row.last is None:
        return False
    return row.first - SLACK <= at <= row.last + SLACK


def _names(flow: Flow, dns: DnsMap) -> list[str]:
    """The flow's names, strongest first, then its server address; each once."""
    names = [n for _src, n in flow.names.all()] + dns.names_for(flow.server.ip) + [flow.server.ip]
    return list(dict.fromkeys(k for k in map(domain_key, names) if k))


def attribute(flows: Iterable[Flow], dns: Iterable[DnsEntry], report: PrivacyReport) -> Attribution:
    """Give each flow without an app the one app the report ties its names to."""
    index: dict[str, list[DomainRow]] = {}
    for row in report.domains:
        index.setdefault(row.domain, []).append(row)
    dmap = DnsMap(dns)
    apps: dict[str, App] = {}
    result = Attribution()
    for flow in flows:
        if flow.app is not None:
            continue
        matched = False
        for name in _names(flow, dmap):
            rows = index.get(name)
            if not rows:
                continue
            matched = True
            bundles = {r.app for r in rows}
            if len(bundles) > 1:
                bundles = {r.app for r in rows if _covers(r, flow.first_seen)}
            if len(bundles) == 1:
                (bundle,) = bundles
                flow.app = apps.get(bundle) or apps.setdefault(bundle, App(bundle, None, None, SOURCE))
                result.attributed += 1
                result.flows.setdefault((bundle, name), []).append(flow.id)
                break
        else:
            result.ambiguous += matched
    return result
