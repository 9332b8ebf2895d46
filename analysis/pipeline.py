"""The one pipeline: inputs -> Flow records and canary hits -> classify -> credential leaks -> verdict -> report.

The only place that loads, classifies, decides and reports. The command line, the demo, the lab and the live
mitmproxy session (``analysis.live``) call its public parts only: ``Settings``, ``load``, ``analyze``,
``analyze_capture``, ``flow_table`` (a ``FlowStream``: records made, classified and written a part at a time),
``logs_view`` and, for flows that arrive one at a time, ``LiveAnalysis``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from analysis.capture import CountedCapture, count_capture
from analysis.capture.decrypt import apply_keylog
from analysis.case import Case
from analysis.catalog import Catalog
from analysis.classify import Classifier, classify
from analysis.errors import InputError
from analysis.inputkind import sniff
from analysis.leaks import leak_findings
from analysis.logs.correlate import correlate_logs
from analysis.model import Capture, DnsEntry, Flow, FlowStream, InputInfo
from analysis.owners import AsnDatabase, annotate
from analysis.progress import progress_bar
from analysis.rdap import Rdap
from analysis.redact import redact_record
from analysis.report.build import build_report, redact
from analysis.report.logsview import logs_document
from analysis.verdict import decide


@dataclass
class Settings:
    case: Case = field(default_factory=Case)
    catalog_paths: list[str] = field(default_factory=list)
    keylog: str | None = None
    logs: list[str] = field(default_factory=list)
    log_offset: float = 0.0  # seconds added to log times to match the capture clock
    year: int | None = None  # for year-less syslog timestamps
    lang: str = "en"
    asn_db: list[str] = field(default_factory=list)  # --asn-db files over the bundled AS data, later wins
    rdap: bool = False  # --rdap: look up the relevant addresses (analysis.rdap), an appendix of the report
    rdap_server: str | None = None  # --rdap-server: one RDAP base URL for every query (default: IANA's)
    evidence: str | None = None  # --evidence DIR: per-finding pcapng files (analysis.evidence), after the report


def load(paths: list[str], case: Case | None = None, digest: bool = True) -> Capture:
    """Read every input into one Capture; flow ids are renumbered to be unique across inputs. With a case, the
    raw hits of its canary and account names too, and only its devices' flows when it names devices. ``digest``
    False: no SHA-256 of the capture files (``inputs[].sha256`` left empty; for output that does not show it)."""
    sources = _read_all(paths, case, digest)
    flows = [flow for part in _records(sources, case) for flow in part]
    hits = [hit for source in sources for hit in source.hits]
    if case is not None and case.devices:
        kept = {f.id for f in flows}
        hits = [h for h in hits if h.flow_id in kept]
    return Capture(inputs=[info for source in sources for info in source.inputs], flows=flows,
                   dns=_dns(sources, case), hits=hits)


def _read_all(paths: list[str], case: Case | None, digest: bool) -> list[Capture | CountedCapture]:
    """Every input read to its end; capture files up to their flow records (made as they are taken)."""
    kinds = [sniff(path) for path in paths]  # fail fast, before any work, on an unreadable input
    sources: list[Capture | CountedCapture] = []
    for index, (path, kind) in enumerate(zip(paths, kinds, strict=True)):
        if kind == "mitm":
            from analysis.sources.mitm import load_mitm  # mitmproxy: imported only for its flow files

            sources.append(load_mitm(path, input_index=index, case=case))
        else:
            with progress_bar(os.path.basename(path), os.path.getsize(path)) as advance:
                sources.append(count_capture(path, input_index=index, progress=advance, case=case, digest=digest))
    return sources


def _records(sources: list[Capture | CountedCapture], case: Case | None, share: int = 0,
             shares: int = 1) -> Iterator[list[Flow]]:
    """Every input's flow records in parts. Ids go on from the inputs before (each input numbers from 1),
    its hits too once its records are made; with a case that names devices, only their flows. With
    ``shares`` over 1, only the parts numbered ``share`` modulo ``shares`` across the inputs, each even when
    the device filter empties it (see ``FlowStream.share``)."""
    keep = set(case.devices) if case is not None and case.devices else None
    offset = first = 0
    for source in sources:
        mine = None if shares == 1 else (lambda number, first=first: (first + number) % shares == share)
        for part in source.records(mine=mine):
            if offset:
                for flow in part:
                    flow.id += offset
            if keep is not None:
                part = [f for f in part if f.client.ip in keep]
            if part or mine is not None:
                yield part
        if offset:
            for hit in source.hits:
                hit.flow_id += offset
        offset += source.flow_count
        first += source.part_count


def _dns(sources: list[Capture | CountedCapture], case: Case | None) -> list[DnsEntry]:
    """The inputs' DNS entries; with a case that names devices, only their queries."""
    dns = [entry for source in sources for entry in source.dns]
    if case is not None and case.devices:
        keep = set(case.devices)
        dns = [d for d in dns if d.client in keep]
    return dns


def _classify(capture: Capture, case: Case, catalog_paths: list[str] | tuple[str, ...] = ()) -> Catalog:
    """Category, owner and evidence on every flow (the bundled catalog plus ``catalog_paths``); the catalog."""
    catalog = Catalog.load(catalog_paths)
    classify(capture, case, catalog)
    return catalog


def flow_table(paths: list[str], case: Case, catalog_paths: list[str] | tuple[str, ...] = (),
               asn_db: list[str] | tuple[str, ...] = ()) -> FlowStream:
    """``maildetour flows``: the inputs' flows classified as ``analyze`` classifies them, with their servers'
    AS (``asn_db``: --asn-db files), every text redacted when the case's canary is set. No verdict and no
    canary search (the table shows no findings). The records are made, classified and redacted a part at a
    time as the stream is taken, so a caller that writes them as they come never holds them all."""
    owners_db = AsnDatabase.load(asn_db)  # a bad --asn-db file fails before the long read
    catalog = Catalog.load(catalog_paths)
    # the device filter, not the search; no file hashes (the table does not show them)
    sources = _read_all(paths, dataclasses.replace(case, _canary=None), digest=False)
    dns = _dns(sources, case)
    classifier = Classifier(case, catalog)
    classifier.learn_dns(dns)  # every input's answers, before the first flow is classified
    inputs = [info for source in sources for info in source.inputs]

    def parts(share: int = 0, shares: int = 1) -> Iterator[list[Flow]]:
        return _table_parts(_records(sources, case, share, shares), classifier, owners_db, case, inputs)

    return FlowStream(inputs, dns, parts(), parts if all(s.shareable for s in sources) else None,
                      sum(s.part_count for s in sources))


def _table_parts(parts: Iterator[list[Flow]], classifier: Classifier, owners_db: AsnDatabase, case: Case,
                 inputs: list[InputInfo]) -> Iterator[list[Flow]]:
    """``flow_table``'s parts: classified, with AS, redacted; the inputs' descriptions redacted at the end."""
    redactor = case.redactor()
    for part in parts:
        for flow in part:
            classifier.classify_flow(flow)
        annotate(part, owners_db)
        if redactor.secrets:
            for flow in part:
                if redactor.found_in(flow.json_line()):  # all the flow's texts in one string: a quick test first
                    redact_record(flow, redactor)
        yield part
    if redactor.secrets:
        for info in inputs:
            redact_record(info, redactor)


def logs_view(paths: list[str], case: Case, year: int | None = None, lang: str = "en",
              asn_db: list[str] | tuple[str, ...] = (), rdap: Rdap | None = None) -> dict:
    """``maildetour logs``: the mail server view of the logs alone (analysis.report.logsview's document), with
    its findings and AS data (``asn_db``: --asn-db files); with ``rdap`` (--rdap) who holds the login origins.
    Every text redacted with the case's secrets; a damaged log has ``damage`` in its ``logs`` entry."""
    owners_db = AsnDatabase.load(asn_db)  # a bad --asn-db file fails before the logs are read
    logs = correlate_logs(paths, case, None, Catalog.load(), year=year, lang=lang, asn_db=owners_db)
    whois = None
    if rdap is not None:
        records = rdap.lookup_all(o["address"] for o in logs.view["origins"])
        whois = {"whois": [r.to_json() for r in records], "rdap": rdap.summary()}
    doc = logs_document(logs.view, [f.to_json() for f in logs.findings], owners_db.sources(), whois)
    return redact(doc, case.redactor())


def analyze_capture(capture: Capture, settings: Settings, asn_db: AsnDatabase | None = None) -> dict:
    """Classify, judge the canary hits, decide and build the report dict for flows that are already loaded
    (``asn_db``: the AS data already loaded from ``settings.asn_db``)."""
    asn_db = asn_db if asn_db is not None else AsnDatabase.load(settings.asn_db)
    catalog = _classify(capture, settings.case, settings.catalog_paths)
    annotate(capture.flows, asn_db)
    leaks = leak_findings(capture.hits, capture.flows, settings.case)
    if leaks:  # first, as the source's findings: the verdict reads them there
        capture = dataclasses.replace(capture, findings=leaks + capture.findings)
    logs = None
    if settings.logs:  # before the verdict: the account's logins are relay evidence
        logs = correlate_logs(
            settings.logs, settings.case, capture, catalog,
            offset=settings.log_offset, year=settings.year, lang=settings.lang, asn_db=asn_db,
        )
    verdict, findings = decide(
        capture, settings.case, lang=settings.lang, catalog=catalog, lookup=asn_db.lookup,
        keylog=bool(settings.keylog), logins=logs.logins if logs else None, devices=logs.devices if logs else None,
    )
    findings = list(capture.findings) + findings + (logs.findings if logs else [])
    logs_view = logs.view if logs else None
    report = build_report(
        capture, settings.case, verdict, findings, catalog, logs_view=logs_view, lang=settings.lang,
        asn_db=asn_db,
    )
    if settings.rdap:
        _add_whois(report, settings)
    return report


def whois_addresses(report: dict) -> list[str]:
    """The addresses worth an RDAP look-up, most telling first: the relays' logins and device addresses,
    the account's login origins in the server's logs, the relay candidates' addresses."""
    verdict = report.get("verdict") or {}
    relays, candidates = verdict.get("relays") or [], verdict.get("candidates") or []
    origins = (report.get("mail_server") or {}).get("origins") or []
    found = [a for r in relays for a in r.get("login_addresses") or []]
    found += [a for r in relays for a in r.get("device_addresses") or []]
    found += [o.get("address") for o in origins]
    found += [a for c in candidates for a in c.get("device_addresses") or []]
    return list(dict.fromkeys(a for a in found if a))


def _add_whois(report: dict, settings: Settings) -> None:
    """``whois`` (one record per address) and ``settings.rdap`` (the method note) into the report."""
    rdap = Rdap(server=settings.rdap_server)
    records = [r.to_json() for r in rdap.lookup_all(whois_addresses(report))]
    part = redact({"whois": records, "rdap": rdap.summary()}, settings.case.redactor())
    report["whois"] = part["whois"]
    report.setdefault("settings", {})["rdap"] = part["rdap"]


def read(paths: list[str], settings: Settings) -> tuple[Capture, AsnDatabase]:
    """Every input loaded (``settings.keylog``: what it decrypts added), and the AS data; a bad key log or AS
    file fails first, before the long read."""
    if settings.keylog and not os.access(settings.keylog, os.R_OK):
        raise InputError(settings.keylog, "cannot read the TLS key log")
    asn_db = AsnDatabase.load(settings.asn_db)
    capture = load(paths, settings.case)
    if settings.keylog:
        apply_keylog(capture, paths, settings.keylog, settings.case)
    return capture, asn_db


def analyze(paths: list[str], settings: Settings) -> dict:
    """``maildetour analyze`` on the whole capture: :func:`read`, then :func:`analyze_capture`."""
    capture, asn_db = read(paths, settings)
    return analyze_capture(capture, settings, asn_db)


class LiveAnalysis:
    """The same stages for flows that arrive one at a time (the live mitmproxy session): each flow classified
    as it changes, with the DNS answers learned so far; the AS of a finished flow; the report so far."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.classifier = Classifier(settings.case, Catalog.load(settings.catalog_paths))
        self.asn_db = AsnDatabase.load(settings.asn_db)  # the bundled table is read at the first look-up

    def learn_dns(self, entries: Iterable[DnsEntry]) -> None:
        self.classifier.learn_dns(entries)

    def classify(self, flow: Flow) -> None:
        self.classifier.classify_flow(flow)

    def finish(self, flow: Flow) -> None:
        """A finished flow's last classification and its server's AS."""
        self.classifier.classify_flow(flow)
        annotate([flow], self.asn_db)

    def report(self, capture: Capture) -> dict:
        return analyze_capture(capture, self.settings, self.asn_db)
