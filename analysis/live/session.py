"""The live session behind the mitmproxy addon: Flow records as they happen, tagged, logged and reported.

mitmproxy connections become Flow records through ``analysis.sources.mitmflows`` (the same converter as for
``.mitm`` files) and are classified as they change, with the names learned from DNS; each finished one is a
JSON line in the live log, and the report comes from the pipeline (``analysis.pipeline.LiveAnalysis``): the
same stages as ``maildetour analyze``. The addon calls one public method per mitmproxy event and never sees a
record. Nothing here holds more than a bounded window per flow.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from analysis.canary import TCP, UDP, WEBSOCKET, CanaryMatch
from analysis.case import Case, load_case
from analysis.errors import CaseError, MaildetourError
from analysis.leaks import LeakFindings, flow_name
from analysis.live.scrub import Scrubber
from analysis.model import CanaryHit, Capture, DnsEntry, Finding, Flow, InputInfo
from analysis.output import write_output
from analysis.pipeline import LiveAnalysis, Settings
from analysis.report.render import render
from analysis.sources.mitmcanary import message_hits, request_hits
from analysis.sources.mitmflows import ProxyConnections, app_protocol, endpoint
from analysis.text import message
from analysis.vocab import CATEGORIES, LANGS

if TYPE_CHECKING:  # mitmproxy's types (the session only runs inside mitmproxy)
    from mitmproxy import connection, dns, flow, http, tcp, udp

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
        if lang not in LANGS:
            raise CaseError("maildetour_lang: must be en or de")
        return cls(case=case, catalog_paths=split_list(catalogs), jsonl=jsonl, report=report,
                   block=frozenset(split_list(block)), lang=lang)


class LiveSession:
    """Everything the addon learns in one run: open and finished records, DNS, findings, the outputs.

    The public methods take mitmproxy's own objects (connections, flows); the records behind them (``st``
    in the private helpers: the converter's state of one connection, its Flow in ``st.flow``) stay inside."""

    def __init__(self, config: LiveConfig) -> None:
        self.config = config
        self.case = config.case
        self.stages = LiveAnalysis(Settings(case=self.case, catalog_paths=list(config.catalog_paths),
                                              lang=config.lang))
        self._table = ProxyConnections(source="live", on_evict=lambda evicted: self._end([evicted]))
        self.finished: list[Flow] = []
        self.dns: dict[str, DnsEntry] = {}
        self._ended: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.messages = 0  # every message mitmproxy passed (requests, responses, TCP/UDP/WebSocket, DNS)
        self.other_clients: dict[str, None] = {}  # proxied but not analysed: not the case's device
        self.matcher = self.case.matcher()
        self.redactor = self.case.redactor()
        self.leaks = LeakFindings(self.redactor)
        self.scrub = Scrubber(self.matcher)
        self._jsonl: IO[str] | None = None
        if config.jsonl:
            try:
                self._jsonl = open(config.jsonl, "a", encoding="utf-8")  # noqa: SIM115 - open for the session
            except OSError as exc:
                raise MaildetourError(f"maildetour_jsonl: {config.jsonl}: {exc.strerror}") from None

    # ---- connections -----------------------------------------------------------------------------------

    def connection(self, client: connection.Client, server: connection.Server) -> bool:
        """Record a connection; False when it is not analysed (another client than the case's devices, or a
        connection that has already ended)."""
        return self._record(client, server) is not None

    def client_hello(self, client: connection.Client, server: connection.Server, sni: str | None,
                     alpn: Iterable[bytes | str]) -> None:
        """A TLS ClientHello's server name and ALPN protocols (from mitmproxy, or parsed by the addon)."""
        if self._record(client, server) is not None:
            self._table.add_client_hello(client, server, sni, alpn)

    def block_reason(self, client: connection.Client, server: connection.Server) -> str | None:
        """Why a recorded connection must be refused (None: let it through); classifies it."""
        st = self._table.find(client, server)
        return self._block_reason(st) if st is not None else None

    def refuse(self, client: connection.Client, server: connection.Server, reason: str) -> None:
        """Note and log that the addon refuses a recorded connection (the addon does the refusing)."""
        st = self._table.find(client, server)
        if st is not None:
            self._kill(st, reason)

    def certificate_refused(self, client: connection.Client, server: connection.Server) -> None:
        st = self._record(client, server)
        if st is not None:
            note = "the client refused the proxy's certificate (pinned, or the CA is not trusted)"
            if note not in st.flow.notes:
                st.flow.notes.append(note)

    def server_closed(self, client: connection.Client, server: connection.Server) -> None:
        """A server connection ended: its record is finished."""
        key = (client.id, server.id)
        ended = self._table.pop(client, server)
        if ended is not None:
            self._ended[key] = None
            while len(self._ended) > 4096:
                self._ended.popitem(last=False)
            self._end([ended])

    def client_closed(self, client: connection.Client) -> None:
        """A client connection ended: every record of it is finished."""
        self._end(self._table.pop_client(client))

    # ---- HTTP and WebSocket ----------------------------------------------------------------------------

    def http_request(self, f: http.HTTPFlow) -> None:
        """A whole request, not yet sent: record, kill when blocked, tag, search for the canary."""
        if (st := self._message_record(f)) is None:
            return
        self._table.add_http_request(f)
        reason = self._block_reason(st) if not st.killed else "blocked"
        if reason is not None and f.killable:
            self._kill(st, reason)
            f.kill()
        self._retag(f, st)
        if st.flow.category != "mail-host":  # the mail host may see the password
            for match, where in request_hits(self.matcher, f.request):
                self._leak(st.flow, match, where)

    def http_response(self, f: http.HTTPFlow) -> None:
        self.messages += 1
        if self._table.find(f.client_conn, f.server_conn) is not None:
            self._table.add_http_response(f)

    def websocket_message(self, f: http.HTTPFlow) -> None:
        """The newest WebSocket message: counted, and searched for the canary when the client sent it."""
        self.messages += 1
        st = self._table.find(f.client_conn, f.server_conn)
        if st is None:
            return
        self._table.add_websocket_message(f)
        msg = f.websocket.messages[-1]
        if msg.from_client:
            self._scan(st, msg.content, WEBSOCKET)

    def tag(self, f: flow.Flow) -> None:
        """Refresh the comment and marker of a recorded flow (after an error)."""
        st = self._table.find(f.client_conn, f.server_conn)
        if st is not None:
            self._tag(f, st)

    # ---- raw TCP and UDP -------------------------------------------------------------------------------

    def stream_start(self, f: tcp.TCPFlow | udp.UDPFlow) -> None:
        """A raw TCP or UDP flow begins: record, kill when blocked, tag."""
        st = self._record(f.client_conn, f.server_conn)
        if st is None:
            return
        reason = self._block_reason(st)
        if reason is not None:
            self._kill(st, reason)
            f.kill()
        self._retag(f, st)

    def tcp_message(self, f: tcp.TCPFlow) -> None:
        """The newest TCP message: counted, the mail dialogue followed, the client's stream searched."""
        if (newest := self._newest(f)) is None:
            return
        st, msg = newest
        before = st.flow.app_protocol
        self._table.add_tcp_message(f, msg)
        if msg.from_client:
            self._scan(st, msg.content, TCP, stream_key="canary-c2s")
        if st.flow.packets <= 3 or before != st.flow.app_protocol:
            self._retag(f, st)

    def udp_message(self, f: udp.UDPFlow) -> None:
        if (newest := self._newest(f)) is None:
            return
        st, msg = newest
        self._table.add_udp_message(f, msg)
        if msg.from_client:
            self._scan(st, msg.content, UDP)

    def stream_end(self, f: tcp.TCPFlow | udp.UDPFlow) -> None:
        """A raw TCP or UDP flow ends (or fails): tag it a last time and finish its record."""
        st = self._table.find(f.client_conn, f.server_conn)
        if st is not None:
            self._retag(f, st)
            self.server_closed(f.client_conn, f.server_conn)

    def _newest(self, f: tcp.TCPFlow | udp.UDPFlow) -> tuple | None:
        """A raw flow's record and newest message; None when it is not tracked or blocked (emptied, then)."""
        self.messages += 1
        st = self._table.find(f.client_conn, f.server_conn)
        if st is None:
            return None
        msg = f.messages[-1]
        if st.killed:
            msg.content = b""  # a blocked flow forwards nothing
            return None
        return st, msg

    # ---- DNS -------------------------------------------------------------------------------------------

    def dns_request(self, f: dns.DNSFlow) -> None:
        if (st := self._message_record(f)) is None:
            return
        self._table.add_dns(f)
        if self._block_reason(st) is not None and f.killable:
            self._kill(st, st.flow.category)
            f.kill()
        self._retag(f, st)

    def dns_response(self, f: dns.DNSFlow) -> None:
        """A DNS answer: its names and addresses are learned for the classification of every later flow."""
        if (st := self._message_record(f)) is None:
            return
        _, entries = self._table.add_dns(f)
        self._learn_dns(entries)
        self._tag(f, st)

    def _learn_dns(self, entries: list[DnsEntry]) -> None:
        if not entries:
            return
        self.stages.learn_dns(entries)
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

    # ---- records ---------------------------------------------------------------------------------------

    def _tracks(self, client: connection.Client) -> bool:
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

    def _record(self, client: connection.Client, server: connection.Server):
        """The record of a connection, created on first sight; None when it is not analysed."""
        if not self._tracks(client) or (client.id, server.id) in self._ended:
            return None
        return self._table.state(client, server)

    def _message_record(self, f: flow.Flow):
        """One more message counted; the record of its connection (None when it is not analysed)."""
        self.messages += 1
        return self._record(f.client_conn, f.server_conn)

    def _classify(self, st) -> str:
        """Classify again only when the names or the protocol changed (a few dict lookups otherwise)."""
        f = st.flow
        f.app_protocol = app_protocol(st)
        key = (len(f.names.sni), len(f.names.http_host), len(f.names.dns), f.app_protocol, f.server.ip)
        if key != st.classified:
            self.stages.classify(f)
            st.classified = (len(f.names.sni), len(f.names.http_host), len(f.names.dns), f.app_protocol,
                             f.server.ip)
        return f.category

    def _block_reason(self, st) -> str | None:
        if not self.config.block:
            return None
        f = st.flow
        if "quic" in self.config.block and f.transport == "udp" and f.server.port == 443:
            return "quic"
        category = self._classify(st)
        return category if category in self.config.block else None

    def _kill(self, st, reason: str) -> None:
        """Note and log a kill (the caller does the killing)."""
        if st.killed:
            return
        f = st.flow
        self._table.mark_killed(st, f"{BLOCK_NOTE} ({reason})")
        log.warning("maildetour: blocked %s flow %d %s -> %s:%d (%s)", reason, f.id, f.client.ip,
                    flow_name(f), f.server.port, f.owner or "?")

    def _retag(self, mflow: flow.Flow, st) -> None:
        """Classify the record again (when something changed) and refresh the flow's comment and marker."""
        self._classify(st)
        self._tag(mflow, st)

    def _tag(self, mflow: flow.Flow, st) -> None:
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

    # ---- canary ----------------------------------------------------------------------------------------

    def _scan(self, st, data: bytes, where: str, stream_key: str | None = None) -> None:
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
        for match in message_hits(self.matcher, data, stream):
            self._leak(st.flow, match, where)

    def _leak(self, f: Flow, match: CanaryMatch, where: str) -> None:
        finding = self.leaks.add(f, CanaryHit(f.id, match.label, match.form, match.severity, where))
        if finding is not None:
            log.warning("maildetour: credential leak: %s", finding.message)

    # ---- the end of a record ---------------------------------------------------------------------------

    def _end(self, flows: list[Flow]) -> None:
        for f in flows:
            self.stages.finish(f)
            self.finished.append(f)
            self._write_jsonl(f)

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
        for st in self._table.active():
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
        details = {"count": len(self.other_clients), "clients": list(self.other_clients)[:32],
                   "devices": list(self.case.devices)}
        return [Finding(kind="proxy-other-clients", severity="info",
                        message=message("proxy-other-clients", self.config.lang, **details), details=details)]

    def report(self) -> dict:
        return self.stages.report(self.capture())

    def write_report(self, path: str | None = None) -> str:
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
        self._end(self._table.pop_all())
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
