"""The live session behind the mitmproxy addon: Flow records as they happen, tagged, logged and reported.

mitmproxy connections become Flow records through ``analysis.sources.mitmflows`` (the same converter as
for ``.mitm`` files), are classified by ``analysis.classify.Classifier`` with names learned from DNS, end
up one JSON line each in the live log, and the report comes from ``analysis.pipeline.analyze_capture``:
the same stages as ``maildetour analyze``. Nothing here holds more than a bounded window per flow.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import IO

from analysis.canary import CanaryHit
from analysis.case import Case, load_case
from analysis.errors import CaseError, MaildetourError
from analysis.model import CATEGORIES, Capture, DnsEntry, Finding, Flow, InputInfo
from analysis.sources.leaks import LeakScanner, flow_name
from analysis.sources.mitmflows import FlowTable, _State, app_protocol, endpoint
from analysis.sources.scrub import Scrubber

log = logging.getLogger("maildetour")

BLOCKABLE = (*CATEGORIES, "quic")
MARKS = {  # one mitmproxy marker (emoji name) per category, shown in mitmweb and mitmproxy's console
    "mail-host": ":mailbox:",
    "mail-relay": ":incoming_envelope:",
    "other-mail": ":envelope:",
    "auth": ":key:",
    "telemetry": ":bar_chart:",
    "crash-report": ":boom:",
    "diagnostics": ":stethoscope:",
    "push": ":bell:",
    "cdn": ":package:",
    "ads-analytics": ":moneybag:",
    "platform": ":iphone:",
    "name-resolution": ":compass:",
    "unknown": ":question:",
}
BLOCKED_MARK = ":no_entry:"
BLOCK_NOTE = "blocked by maildetour_block"
MAX_DNS_ENTRIES = 100_000
MAX_OTHER_CLIENTS = 4096  # clients that are not the device, remembered for the log and the report's count
REPORT_FORMATS = {".json": "json", ".md": "md", ".html": "html", ".htm": "html", ".csv": "csv"}


def split_list(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@dataclass
class LiveConfig:
    """The addon's options, checked: every problem is a MaildetourError with one clear line."""

    case: Case
    catalog_paths: list[str] = field(default_factory=list)
    jsonl: str = ""
    report: str = ""
    block: frozenset[str] = frozenset()
    lang: str = "en"

    @classmethod
    def from_options(cls, case_path: str = "", mail_hosts: str = "", devices: str = "", jsonl: str = "",
                     report: str = "", block: str = "", catalogs: str = "", lang: str = "en") -> LiveConfig:
        case = load_case(case_path or None)
        case.override(mail_hosts=split_list(mail_hosts), devices=split_list(devices))
        unknown = [b for b in split_list(block) if b not in BLOCKABLE]
        if unknown:
            raise CaseError(f"maildetour_block: unknown {', '.join(unknown)} (known: {', '.join(BLOCKABLE)})")
        for path, what in ((jsonl, "maildetour_jsonl"), (report, "maildetour_report")):
            folder = os.path.dirname(os.path.abspath(path)) if path else ""
            if path and not os.path.isdir(folder):
                raise CaseError(f"{what}: folder {folder} does not exist")
        if report and os.path.splitext(report)[1].lower() not in REPORT_FORMATS:
            raise CaseError(f"maildetour_report: {report}: name must end in {', '.join(REPORT_FORMATS)}")
        if lang not in ("en", "de"):
            raise CaseError("maildetour_lang: must be en or de")
        return cls(case=case, catalog_paths=split_list(catalogs), jsonl=jsonl, report=report,
                   block=frozenset(split_list(block)), lang=lang)


class LiveSession:
    """Everything the addon learns in one run: open and finished records, DNS, findings, the outputs."""

    def __init__(self, config: LiveConfig) -> None:
        from analysis.catalog import Catalog
        from analysis.classify import Classifier

        self.config = config
        self.case = config.case
        self.catalog = Catalog.load(config.catalog_paths)
        self.classifier = Classifier(self.case, self.catalog)
        from analysis.owners import AsnDatabase

        self.asn_db = AsnDatabase.load()  # the bundled AS data, read at the first finished record
        self.table = FlowTable(source="live", on_evict=lambda flow: self.end([flow]))
        self.finished: list[Flow] = []
        self.dns: dict[str, DnsEntry] = {}
        self._ended: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.messages = 0  # every message mitmproxy passed (requests, responses, TCP/UDP/WebSocket, DNS)
        self.other_clients: dict[str, None] = {}  # proxied but not analysed: not the case's device
        self.leaks = LeakScanner(self.case)
        self.matcher = self.leaks.matcher
        self.redactor = self.leaks.redactor
        self.scrub = Scrubber(self.matcher)
        self._jsonl: IO[str] | None = None
        if config.jsonl:
            try:
                self._jsonl = open(config.jsonl, "a", encoding="utf-8")  # noqa: SIM115 - open for the session
            except OSError as exc:
                raise MaildetourError(f"maildetour_jsonl: {config.jsonl}: {exc.strerror}") from None

    # ---- which records ---------------------------------------------------------------------------------

    def tracks(self, client) -> bool:
        """Only the configured devices are analysed (all clients when none is configured); any other client
        is logged once and counted for the report."""
        if not self.case.devices:
            return True
        ep = endpoint(client.peername)
        if ep is not None and ep.ip in self.case.devices:
            return True
        ip = ep.ip if ep is not None else "?"
        if ip not in self.other_clients and len(self.other_clients) < MAX_OTHER_CLIENTS:
            self.other_clients[ip] = None
            log.warning("maildetour: client %s is proxied but not analysed: it is not the case's device (%s)",
                        ip, ", ".join(self.case.devices))
        return False

    def record(self, client, server) -> _State | None:
        if not self.tracks(client) or (client.id, server.id) in self._ended:
            return None
        return self.table.state(client, server)

    def classify(self, st: _State) -> str:
        """Classify again only when the names or the protocol changed (a few dict lookups otherwise)."""
        f = st.flow
        f.app_protocol = app_protocol(st)
        key = (len(f.names.sni), len(f.names.http_host), len(f.names.dns), f.app_protocol, f.server.ip)
        if key != st.classified:
            self.classifier.classify_flow(f)
            st.classified = (len(f.names.sni), len(f.names.http_host), len(f.names.dns), f.app_protocol,
                             f.server.ip)
        return f.category

    def block_reason(self, st: _State) -> str | None:
        """Why this record's flow must be killed (None: let it through)."""
        if not self.config.block:
            return None
        f = st.flow
        if "quic" in self.config.block and f.transport == "udp" and f.server.port == 443:
            return "quic"
        category = self.classify(st)
        return category if category in self.config.block else None

    def kill(self, st: _State, reason: str) -> None:
        """Note and log a kill (the caller does the killing)."""
        if st.killed:
            return
        f = st.flow
        self.table.mark_killed(st, f"{BLOCK_NOTE} ({reason})")
        log.warning("maildetour: blocked %s flow %d %s -> %s:%d (%s)", reason, f.id, f.client.ip,
                    flow_name(f), f.server.port, f.owner or "?")

    def tag(self, mflow, st: _State) -> None:
        """mitmproxy's comment and marker: "category owner", one marker per category."""
        f = st.flow
        if mflow.comment and mflow.comment.split(" ", 1)[0] not in CATEGORIES:
            return  # an analyst's own comment stays
        key = (f.category, f.owner, st.killed)
        cached = st.extra.get("tag")
        if cached is None or cached[0] != key:
            comment = f"{f.category} {f.owner}".strip() + (" [blocked]" if st.killed else "")
            mark = BLOCKED_MARK if st.killed else MARKS.get(f.category, ":question:")
            cached = st.extra["tag"] = (key, self.redactor.text(comment), mark)
        mflow.comment, mflow.marked = cached[1], cached[2]

    # ---- DNS -------------------------------------------------------------------------------------------

    def learn_dns(self, entries: list[DnsEntry]) -> None:
        if not entries:
            return
        self.classifier.learn_dns(entries)
        for entry in entries:
            key = entry.query.lower()
            have = self.dns.get(key)
            if have is None:
                if len(self.dns) < MAX_DNS_ENTRIES:
                    self.dns[key] = copy.deepcopy(entry)
                continue
            have.types.extend(t for t in entry.types if t not in have.types)
            have.answers.extend(a for a in entry.answers if a not in have.answers)
            del have.answers[64:]

    # ---- canary ----------------------------------------------------------------------------------------

    def scan(self, st: _State, data: bytes, where: str, stream_key: str | None = None) -> None:
        """Look for the canary and the account's names in what the client sent (never to the mail host)."""
        if not self.matcher.active or not data:
            return
        if st.flow.category == "mail-host":
            return
        stream = None
        if stream_key is not None:
            stream = st.extra.get(stream_key)
            if stream is None:
                stream = st.extra[stream_key] = self.matcher.stream()
        for hit in self.leaks.data_hits(data, stream):
            self._leak(st.flow, hit, where)

    def scan_request(self, st: _State, req) -> None:
        """Scan a request's URL, headers and body in one pass; findings only for destinations other than the
        mail host."""
        hits, _ = self.leaks.request_hits(req, parts=st.flow.category != "mail-host")
        for hit, where in hits:
            self._leak(st.flow, hit, where)

    def _leak(self, f: Flow, hit: CanaryHit, where: str) -> None:
        finding = self.leaks.add(f, hit, where)
        if finding is not None:
            log.warning("maildetour: credential leak: %s", finding.message)

    # ---- the end of a record ---------------------------------------------------------------------------

    def end(self, flows: list[Flow]) -> None:
        from analysis.owners import annotate

        for f in flows:
            self.classifier.classify_flow(f)
            annotate([f], self.asn_db)
            self.finished.append(f)
            self._write_jsonl(f)

    def end_pair(self, client, server) -> None:
        key = (client.id, server.id)
        flow = self.table.pop(client, server)
        if flow is not None:
            self._ended[key] = None
            while len(self._ended) > 4096:
                self._ended.popitem(last=False)
            self.end([flow])

    def _write_jsonl(self, f: Flow) -> None:
        if self._jsonl is None:
            return
        record = f.to_json()
        record.setdefault("notes", list(f.notes))  # e.g. "blocked by maildetour_block (telemetry)"
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        try:
            self._jsonl.write(self.redactor.text(line) + "\n")
            self._jsonl.flush()
        except OSError as exc:
            log.error("maildetour: cannot write %s: %s", self.config.jsonl, exc.strerror)

    # ---- the report ------------------------------------------------------------------------------------

    def capture(self) -> Capture:
        """Everything so far: finished records plus a snapshot of the open ones."""
        open_flows = []
        for st in self.table.active():
            snap = copy.deepcopy(st.flow)
            snap.app_protocol = app_protocol(st)
            open_flows.append(snap)
        flows = sorted(self.finished + open_flows, key=lambda f: f.id)
        info = InputInfo(path="mitmproxy (live)", format="live", packets=self.messages)
        findings = list(self.leaks.findings) + self._block_findings(flows) + self._other_client_findings()
        return Capture(inputs=[info], flows=flows, dns=list(self.dns.values()), findings=findings)

    @staticmethod
    def _block_findings(flows: list[Flow]) -> list[Finding]:
        """One finding per blocked category, so the report says which flows the proxy killed."""
        by_reason: dict[str, list[int]] = {}
        for f in flows:
            for note in f.notes:
                if note.startswith(BLOCK_NOTE):
                    by_reason.setdefault(note[len(BLOCK_NOTE):].strip(" ()"), []).append(f.id)
        return [Finding(kind="proxy-block", severity="info",
                        message=f"maildetour_block killed {len(ids)} {reason} flow(s) at the proxy",
                        flows=ids[:1000], details={"reason": reason, "count": len(ids)})
                for reason, ids in sorted(by_reason.items())]

    def _other_client_findings(self) -> list[Finding]:
        """One finding that counts the clients proxied but not analysed (not the case's device)."""
        if not self.other_clients:
            return []
        from analysis.findings_text import message

        details = {"count": len(self.other_clients), "clients": list(self.other_clients)[:32],
                   "devices": list(self.case.devices)}
        return [Finding(kind="proxy-other-clients", severity="info",
                        message=message("proxy-other-clients", self.config.lang, **details), details=details)]

    def report(self) -> dict:
        from analysis.pipeline import Settings, analyze_capture

        settings = Settings(case=self.case, catalog_paths=list(self.config.catalog_paths),
                            lang=self.config.lang)
        return analyze_capture(self.capture(), settings, self.asn_db)

    def write_report(self, path: str | None = None) -> str:
        from analysis.output import write_output
        from analysis.report.render import render

        target = path or self.config.report
        if not target:
            raise MaildetourError("no report path: set maildetour_report")
        fmt = REPORT_FORMATS.get(os.path.splitext(target)[1].lower(), "json")
        write_output(target, render(self.report(), fmt, self.config.lang))
        return target

    def summary(self) -> str:
        report = self.report()
        v = report.get("verdict") or {}
        cats: dict[str, int] = {}
        for f in report.get("flows", []):
            cats[f["category"]] = cats.get(f["category"], 0) + 1
        counted = ", ".join(f"{k} {n}" for k, n in sorted(cats.items())) or "no flows yet"
        leaks = sum(1 for x in report.get("findings", []) if x.get("kind") == "credential-leak")
        receive = (v.get("receive") or {}).get("status", "?")
        send = (v.get("send") or {}).get("status", "?")
        contacted = "yes" if v.get("mail_host_contacted") else "no"
        return (f"verdict so far: {v.get('summary', '?')}; mail host contacted: {contacted}; "
                f"receive {receive}, send {send}; flows: {counted}; credential leaks: {leaks}")

    def close(self) -> None:
        """End every open record (shutdown); the caller writes the report."""
        self.end(self.table.pop_all())
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
