"""Credential leaks: canary hits in what a client sent become ``credential-leak`` findings, once the flows are
classified.

The loaders (captures, mitmproxy files) and the live session find the hits; a hit is a finding unless its flow
went to the configured mail host (where the password belongs). One finding per flow, secret and form; a
finding names the secret, its encoding and where it was seen, never the value.
"""

from __future__ import annotations

from collections.abc import Iterable

from analysis.case import Case
from analysis.model import CanaryHit, Finding, Flow
from analysis.redact import Redactor
from analysis.text import leak_seen

MAX_FINDINGS = 10_000


def flow_name(f: Flow) -> str:
    """The strongest name of a flow's server, else its address."""
    names = f.names.all()
    return names[0][1] if names else f.server.ip


class LeakFindings:
    """The credential-leak findings made so far (bounded, one per flow, secret and form)."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.findings: list[Finding] = []
        self._seen: set[tuple[int, str, str]] = set()

    def add(self, f: Flow, hit: CanaryHit) -> Finding | None:
        """The finding for one hit in the classified flow ``f`` (None: the mail host, a repeat, or over the
        bound)."""
        key = (f.id, hit.secret, hit.form)
        if f.category == "mail-host" or key in self._seen or len(self.findings) >= MAX_FINDINGS:
            return None
        self._seen.add(key)
        details = {"secret": hit.secret, "form": hit.form, "where": hit.where, "destination": flow_name(f),
                   "server": f"{f.server.ip}:{f.server.port}", "category": f.category, "owner": f.owner}
        if hit.inside_tls:
            details["inside_tls"] = True
        message = leak_seen("en", **details)  # the report's language is not known here
        finding = Finding(
            kind="credential-leak", severity=hit.severity, message=self.redactor.text(message), flows=[f.id],
            frames=[hit.frame] if hit.frame else [], wireshark_filter=f.wireshark_filter(), details=details,
        )
        self.findings.append(finding)
        return finding


def leak_findings(hits: Iterable[CanaryHit], flows: Iterable[Flow], case: Case) -> list[Finding]:
    """The findings for a loaded capture's ``hits`` on its classified ``flows`` (hits of flows not among them,
    e.g. another device's, are left out)."""
    made = LeakFindings(case.redactor())
    by_id: dict[int, Flow] | None = None
    for hit in hits:
        if by_id is None:
            by_id = {f.id: f for f in flows}
        f = by_id.get(hit.flow_id)
        if f is not None:
            made.add(f, hit)
    return made.findings
