"""Credential leaks in what a client sent through mitmproxy: the one canary search for the live addon and for
saved flow files (``mitmdump -w``).

The live addon scans each request and message as it passes; ``load_mitm`` scans the saved ones with
:func:`saved_hits`. Either way every hit becomes a ``credential-leak`` Finding through
:meth:`LeakScanner.add`, unless the flow went to the configured mail host (where the password belongs).
A finding names the secret, its encoding and where it was seen, never the value.
"""

from __future__ import annotations

from collections.abc import Iterator
from copy import deepcopy
from typing import TYPE_CHECKING

from analysis.canary import CanaryHit, CanaryMatcher, CanaryStream
from analysis.case import Case
from analysis.model import DnsEntry, Finding, Flow

if TYPE_CHECKING:  # mitmproxy is only needed for mitmproxy's own flows; captures use LeakScanner without it
    from mitmproxy import flow as mflow_mod
    from mitmproxy import http

MAX_FINDINGS = 10_000
WEBSOCKET, TCP, UDP = "WebSocket message", "TCP stream", "UDP datagram"  # where a message hit was seen
MAX_SCAN_BODY = 64 << 20  # request bodies longer than this are scanned up to here
_WHAT = {"password": "The test account's password (canary)", "address": "The test account's address",
         "username": "The test account's username"}


def flow_name(f: Flow) -> str:
    """The strongest name of a flow's server, else its address."""
    names = f.names.all()
    return names[0][1] if names else f.server.ip


def _request_body(req: http.Request) -> bytes:
    fields = req.headers.fields
    if not req.raw_content:
        return b""
    if b"content-encoding" in (k.lower() for k, _ in fields):
        return (req.get_content(strict=False) or b"")[:MAX_SCAN_BODY]
    return req.raw_content[:MAX_SCAN_BODY]


class LeakScanner:
    """The canary matcher for a case, and the credential-leak findings found so far (bounded, one per
    flow, secret and form)."""

    def __init__(self, case: Case) -> None:
        self.matcher = CanaryMatcher(case.canary, case.account_address, case.username)
        self.redactor = case.redactor()
        self.findings: list[Finding] = []
        self._seen: set[tuple[int, str, str]] = set()

    @property
    def active(self) -> bool:
        return self.matcher.active

    def data_hits(self, data: bytes, stream: CanaryStream | None = None) -> list[CanaryHit]:
        """Hits in one message; with the flow direction's ``stream``, also forms split across messages."""
        return stream.feed(data) if stream is not None else self.matcher.scan(data[:MAX_SCAN_BODY])

    def request_hits(self, req: http.Request, parts: bool = True) -> tuple[list[tuple[CanaryHit, str]], bool]:
        """Hits in a request's URL, headers and body, each with where it was seen, and whether the password
        is among them. One pass over the whole request first; ``parts=False`` stops there (no places)."""
        if not self.matcher.active:
            return [], False
        fields = req.headers.fields
        body = _request_body(req)
        blob = b"\n".join([req.data.path, *(k + b": " + v for k, v in fields), body])
        hits = self.matcher.scan(blob)
        password = any(h.label == "password" for h in hits)
        if not hits or not parts:
            return [], password
        places = [("URL", req.url.encode("utf-8", "surrogateescape"))]
        places += [(f"header {k.decode('latin-1')[:40]}", k + b": " + v) for k, v in fields]
        places.append(("request body", body))
        return [(hit, where) for where, data in places for hit in self.matcher.scan(data)], password

    def add(self, f: Flow, hit: CanaryHit, where: str) -> Finding | None:
        """The finding for one hit in a classified flow (None: the mail host, a repeat, or over the bound)."""
        key = (f.id, hit.label, hit.form)
        if f.category == "mail-host" or key in self._seen or len(self.findings) >= MAX_FINDINGS:
            return None
        self._seen.add(key)
        dest = f"{flow_name(f)} ({f.server.ip}:{f.server.port})"
        message = f"{_WHAT[hit.label]} was sent to {dest}, {f.category or 'unknown'}, as {hit.form} in the {where}"
        finding = Finding(
            kind="credential-leak", severity=hit.severity, message=self.redactor.text(message), flows=[f.id],
            wireshark_filter=f.wireshark_filter(),
            details={"secret": hit.label, "form": hit.form, "where": where, "destination": flow_name(f),
                     "server": f"{f.server.ip}:{f.server.port}", "category": f.category, "owner": f.owner},
        )
        self.findings.append(finding)
        return finding


def saved_hits(scanner: LeakScanner, f: mflow_mod.Flow) -> Iterator[tuple[CanaryHit, str]]:
    """Hits in what the client sent in one complete mitmproxy flow, as the live addon would have seen them:
    the request, client WebSocket messages, the client's TCP stream, client UDP datagrams."""
    from mitmproxy import http, tcp, udp

    if not scanner.active:
        return
    if isinstance(f, http.HTTPFlow):
        yield from scanner.request_hits(f.request)[0]
        messages, where, stream = (f.websocket.messages if f.websocket else []), WEBSOCKET, None
    elif isinstance(f, tcp.TCPFlow):
        messages, where, stream = f.messages, TCP, scanner.matcher.stream()
    elif isinstance(f, udp.UDPFlow):
        messages, where, stream = f.messages, UDP, None
    else:
        return
    for msg in messages:
        if msg.from_client:
            yield from ((hit, where) for hit in scanner.data_hits(msg.content, stream))


def classified_findings(case: Case, scanner: LeakScanner, hits: list[tuple], dns: list[DnsEntry],
                        catalog_paths: list[str] | tuple[str, ...]) -> list[Finding]:
    """The scanner's findings for ``(flow, hit, where, frame)`` hits, the flows classified as the pipeline
    will (on copies: the flows themselves are classified later, with every input's DNS)."""
    from analysis.catalog import Catalog
    from analysis.classify import Classifier

    classifier = Classifier(case, Catalog.load(list(catalog_paths)))
    classifier.learn_dns(dns)
    classified: dict[int, Flow] = {}
    for flow, hit, where, *frame in hits:
        copy = classified.get(id(flow))
        if copy is None:
            copy = classified[id(flow)] = deepcopy(flow)
            classifier.classify_flow(copy)
        finding = scanner.add(copy, hit, where)
        if finding is not None and frame and frame[0]:
            finding.frames.append(frame[0])
    return scanner.findings


class PayloadLeaks:
    """Canary hits in the payloads a capture's clients sent: each TCP direction as one stream (forms split
    over segments are found), each UDP datagram alone. Bounded: a short window per connection, at most
    MAX_FINDINGS hits. TLS payloads are opaque here; ``--keylog`` or the addon see inside.

    The flow table feeds it per packet with its own connection object as ``owner``; ``resolved`` maps the
    owners to the Flow records made at the end."""

    def __init__(self, case: Case) -> None:
        self.scanner = LeakScanner(case)
        self._hits: dict[tuple[int, str, str], tuple[object, CanaryHit, str, int]] = {}
        self._streams: dict[int, CanaryStream] = {}

    @property
    def active(self) -> bool:
        return self.scanner.active

    def feed(self, owner: object, transport: str, payload: bytes, frame: int) -> None:
        """One client-to-server payload of the connection ``owner`` (frame number ``frame``)."""
        if len(self._hits) >= MAX_FINDINGS:
            return
        if transport == "tcp":
            stream = self._streams.get(id(owner))
            if stream is None:
                stream = self._streams[id(owner)] = self.scanner.matcher.stream()
            found, where = stream.feed(payload), TCP
        else:
            found, where = self.scanner.matcher.scan(payload), UDP
        for hit in found:
            self._hits.setdefault((id(owner), hit.label, hit.form), (owner, hit, f"{where} (frame {frame})", frame))

    def resolved(self, flow_of: dict[int, Flow]) -> list[tuple[Flow, CanaryHit, str, int]]:
        """The hits as ``(flow, hit, where, frame)``, ``flow_of`` mapping ``id(owner)`` to its Flow."""
        return [(flow_of[id(owner)], hit, where, frame) for owner, hit, where, frame in self._hits.values()
                if id(owner) in flow_of]
