"""The records every stage of the pipeline shares.

source (pcap | mitmproxy | live addon | server logs) -> Flow records -> classify -> verdict -> report.
Field names follow ../shared/CONTRACTS.md; JSON shapes are produced by ``to_json`` methods so
the report code never guesses at attribute names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from json import JSONEncoder
from json.encoder import encode_basestring

from analysis.communityid import community_id
from analysis.sharedpath import shared_path

_JSON = JSONEncoder(ensure_ascii=False, check_circular=False).encode


TS_MIN = -62135596800.0  # 0001-01-01T00:00:00Z: the first epoch time a datetime can show
TS_MAX = math.nextafter(253402300800.0, 0.0)  # the last float one, 30 microseconds before the year 10000
LAST_TEXT = "9999-12-31T23:59:59.999999Z"  # how iso_utc shows TS_MAX and anything later


def clamp_time(ts: float) -> float:
    """``ts`` moved into [TS_MIN, TS_MAX] (NaN stays NaN)."""
    return TS_MIN if ts < TS_MIN else TS_MAX if ts > TS_MAX else ts


def iso_utc(ts: float | None) -> str | None:
    """Epoch seconds -> ISO 8601 UTC with microseconds (``2020-08-28T09:07:56.123456Z``).

    The text of ``datetime.fromtimestamp(ts, UTC)`` (microseconds rounded half to even, as it rounds),
    with the whole second's text cached: a flow table formats two times per flow, mostly a few seconds.
    Never raises: a time before year 1 shows as its first microsecond, one after 9999 as its last
    (``LAST_TEXT``, also for ``TS_MAX``, 30 microseconds earlier), NaN as None.
    """
    if ts is None or ts != ts:
        return None
    if not TS_MIN <= ts < TS_MAX:
        if ts >= TS_MAX:
            return LAST_TEXT
        ts = TS_MIN
    frac, whole = math.modf(ts)
    micro = round(frac * 1e6)
    second = int(whole)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    elif micro < 0:
        second, micro = second - 1, micro + 1_000_000
    if micro >= 100_000:  # six digits already (nine times in ten): no padding to format
        return f"{_second_text(second)}.{micro}Z"
    return f"{_second_text(second)}.{micro:06d}Z"


def _json_text(text: str | None) -> str:
    return "null" if text is None else encode_basestring(text)


def _json_list(items: list[str]) -> str:
    return "[" + ", ".join(map(encode_basestring, items)) + "]" if items else "[]"


def _json_app(app: App | None) -> str:
    if app is None:
        return "null"
    uid = "null" if app.uid is None else int(app.uid)
    return (f'{{"id": {_json_text(app.id)}, "name": {_json_text(app.name)}, "uid": {uid}, '
            f'"source": {encode_basestring(app.source)}}}')


@lru_cache(maxsize=4096)
def _second_text(second: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of a whole epoch second, UTC."""
    return datetime.fromtimestamp(second, UTC).isoformat()[:19]


@dataclass(slots=True)
class Endpoint:
    ip: str
    port: int

    def to_json(self) -> dict:
        return {"ip": self.ip, "port": self.port}


@dataclass(slots=True)
class Names:
    """Names seen for a flow's server, each list in first-seen order without duplicates."""

    sni: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    http_host: list[str] = field(default_factory=list)

    def add(self, kind: str, name: str) -> None:
        bucket: list[str] = getattr(self, kind)
        if name and name not in bucket and len(bucket) < 64:
            bucket.append(name)

    def all(self) -> list[tuple[str, str]]:
        """(source, name) pairs, strongest evidence first: SNI, HTTP Host, then DNS."""
        return [("sni", n) for n in self.sni] + [("http_host", n) for n in self.http_host] + [
            ("dns", n) for n in self.dns
        ]

    def to_json(self) -> dict:
        return {"sni": list(self.sni), "dns": list(self.dns), "http_host": list(self.http_host)}


@dataclass(slots=True)
class Evidence:
    """Why a flow got its category: the rule that decided and the name or address it matched."""

    rule: str  # e.g. "mail-host:name", "catalog:exact", "catalog:suffix", "catalog:cidr", "fallback:port"
    matched: str  # the name, address or port that matched
    source: str  # "sni" | "dns" | "http_host" | "address" | "port" | "protocol"
    entry: str | None = None  # catalog entry id
    catalog_source: str | None = None  # where the catalog fact comes from

    def to_json(self) -> dict:
        return {
            "rule": self.rule,
            "matched": self.matched,
            "source": self.source,
            "entry": self.entry,
            "catalog_source": self.catalog_source,
        }


@dataclass(slots=True, frozen=True)
class App:
    """The app a flow belongs to and who said so (one record, shared by all the flows of that app)."""

    id: str | None  # Android package or iOS bundle id; None when the source names no package
    name: str | None  # the app's display name
    uid: int | None  # Android user id (PCAPdroid), else None
    source: str  # "pcapdroid" | "app-privacy-report" | "case"

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "uid": self.uid, "source": self.source}


@dataclass(slots=True)
class Flow:
    """One TCP connection or one UDP conversation, counted as Wireshark's conversation table does."""

    id: int
    transport: str  # "tcp" | "udp"
    client: Endpoint
    server: Endpoint
    packets: int = 0
    bytes: int = 0
    c2s_packets: int = 0
    c2s_bytes: int = 0
    s2c_packets: int = 0
    s2c_bytes: int = 0
    first_frame: int = 0
    last_frame: int = 0
    first_seen: float | None = None  # epoch seconds
    last_seen: float | None = None
    server_by: str = ""  # tcp-syn | tcp-synack | port-heuristic | first-packet-dst | proxy
    names: Names = field(default_factory=Names)
    app_protocol: str = "other"
    starttls: bool = False
    alpn: list[str] = field(default_factory=list)
    auth_mechanisms: list[str] = field(default_factory=list)  # SASL mechanisms the client used
    cleartext_credentials: bool = False  # a password crossed the wire unencrypted
    credential_frames: list[int] = field(default_factory=list)
    category: str = "unknown"
    owner: str = ""
    asn: int | None = None  # autonomous system of the server address (analysis.owners), None when unknown
    as_org: str = ""
    state: str | None = None  # Zeek's conn_state word (analysis.capture.connstate), None when not known (proxy flows)
    history: str | None = None  # Zeek's history letters, None when not known
    tls_established: bool | None = None  # a TLS ServerHello (or later record) came from the server; None: QUIC
    c2s_payload: int = 0  # TCP/UDP payload bytes the client sent, as captured
    s2c_payload: int = 0
    evidence: Evidence | None = None
    source: str = "pcap"  # pcap | mitm | live
    input_index: int = 0  # which entry of Report.inputs it came from
    notes: list[str] = field(default_factory=list)
    app: App | None = None  # which app made it (e.g. from PCAPdroid's per-packet records), None when unknown

    @property
    def duration(self) -> float:
        if self.first_seen is None or self.last_seen is None:
            return 0.0
        return self.last_seen - self.first_seen

    @property
    def established(self) -> bool | None:
        """Did the server answer: a TCP SYN+ACK or payload from it (``h`` or ``d`` in Zeek's history), a UDP
        datagram back (``SF``)? None when the flow has no state (proxy flows)."""
        if self.state is None or self.history is None:
            return None
        if self.transport == "udp":
            return self.state == "SF"
        return "h" in self.history or "d" in self.history

    @property
    def community_id(self) -> str | None:
        """Community ID v1 (seed 0): the key Zeek, Suricata, Arkime and Wireshark give this flow."""
        return community_id(self.transport, self.client.ip, self.client.port, self.server.ip, self.server.port)

    def wireshark_filter(self) -> str:
        """A display filter that shows exactly this conversation in Wireshark."""
        fam = "ipv6" if ":" in self.client.ip else "ip"
        t = self.transport
        return (
            f"{fam}.addr=={self.client.ip} && {fam}.addr=={self.server.ip} && "
            f"{t}.port=={self.client.port} && {t}.port=={self.server.port}"
        )

    def to_json(self) -> dict:
        client, server, names, evidence = self.client, self.server, self.names, self.evidence
        first, last = self.first_seen, self.last_seen
        return {  # the nested shapes inlined (same keys and order as their to_json): this runs per flow
            "id": self.id,
            "transport": self.transport,
            "client": {"ip": client.ip, "port": client.port},
            "server": {"ip": server.ip, "port": server.port},
            "packets": self.packets,
            "bytes": self.bytes,
            "c2s": {"packets": self.c2s_packets, "bytes": self.c2s_bytes, "payload": self.c2s_payload},
            "s2c": {"packets": self.s2c_packets, "bytes": self.s2c_bytes, "payload": self.s2c_payload},
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "first_seen": iso_utc(first),
            "last_seen": iso_utc(last),
            "duration": 0.0 if first is None or last is None else round(last - first, 6),
            "names": {"sni": list(names.sni), "dns": list(names.dns), "http_host": list(names.http_host)},
            "app_protocol": self.app_protocol,
            "starttls": self.starttls,
            "alpn": list(self.alpn),
            "auth_mechanisms": list(self.auth_mechanisms),
            "cleartext_credentials": self.cleartext_credentials,
            "category": self.category,
            "owner": self.owner,
            "asn": self.asn,
            "as_org": self.as_org,
            "community_id": self.community_id,
            "state": self.state,
            "history": self.history,
            "tls_established": self.tls_established,
            "evidence": evidence.to_json() if evidence else None,
            "wireshark_filter": self.wireshark_filter(),
            "source": self.source,
            "input": self.input_index,
            "notes": list(self.notes),
            "app": None if self.app is None else self.app.to_json(),
        }

    def json_line(self) -> str:
        """``to_json()`` as the text ``json.dumps(..., ensure_ascii=False)`` gives, built directly: a big
        flow table writes hundreds of thousands of these (about 2x faster than the dict and the encoder).
        Texts that need no escapes are quoted as they are: times (digits, ``-:.TZ``) and the Community ID
        (base64). tests/test_model_json.py checks both agree on every flow of the test captures."""
        first, last = self.first_seen, self.last_seen
        duration = 0.0 if first is None or last is None else last - first
        if duration == 0.0 and math.copysign(1.0, duration) > 0:  # no time or one packet: a third of all flows
            duration_text = "0.0"
        else:
            duration = round(duration, 6)
            if not math.isfinite(duration):
                return _JSON(self.to_json())
            duration_text = float.__repr__(duration)
        enc = encode_basestring
        client, server, names, ev = self.client, self.server, self.names, self.evidence
        sni, dns, http_host, alpn, mechs, notes = (names.sni, names.dns, names.http_host, self.alpn,
                                                   self.auth_mechanisms, self.notes)
        first_text = iso_utc(first)
        last_text = first_text if last == first else iso_utc(last)  # equal times have equal texts
        cid = self.community_id
        starttls, cleartext, tls, state, history = (self.starttls, self.cleartext_credentials,
                                                    self.tls_established, self.state, self.history)
        if ev is None:
            evidence = "null"
        else:
            rule, matched, source, entry, origin = ev.rule, ev.matched, ev.source, ev.entry, ev.catalog_source
            evidence = (
                f'{{"rule": {"null" if rule is None else enc(rule)}, '
                f'"matched": {"null" if matched is None else enc(matched)}, '
                f'"source": {"null" if source is None else enc(source)}, '
                f'"entry": {"null" if entry is None else enc(entry)}, '
                f'"catalog_source": {"null" if origin is None else enc(origin)}}}'
            )
        return (
            f'{{"id": {self.id}, "transport": {enc(self.transport)}, '
            f'"client": {{"ip": {enc(client.ip)}, "port": {client.port}}}, '
            f'"server": {{"ip": {enc(server.ip)}, "port": {server.port}}}, '
            f'"packets": {self.packets}, "bytes": {self.bytes}, '
            f'"c2s": {{"packets": {self.c2s_packets}, "bytes": {self.c2s_bytes}, "payload": {self.c2s_payload}}}, '
            f'"s2c": {{"packets": {self.s2c_packets}, "bytes": {self.s2c_bytes}, "payload": {self.s2c_payload}}}, '
            f'"first_frame": {self.first_frame}, "last_frame": {self.last_frame}, '
            f'"first_seen": {"null" if first_text is None else f'"{first_text}"'}, '
            f'"last_seen": {"null" if last_text is None else f'"{last_text}"'}, '
            f'"duration": {duration_text}, '
            f'"names": {{"sni": {_json_list(sni) if sni else "[]"}, "dns": {_json_list(dns) if dns else "[]"}, '
            f'"http_host": {_json_list(http_host) if http_host else "[]"}}}, '
            f'"app_protocol": {enc(self.app_protocol)}, '
            f'"starttls": {"true" if starttls is True else "false" if starttls is False else _JSON(starttls)}, '
            f'"alpn": {_json_list(alpn) if alpn else "[]"}, '
            f'"auth_mechanisms": {_json_list(mechs) if mechs else "[]"}, '
            f'"cleartext_credentials": '
            f'{"true" if cleartext is True else "false" if cleartext is False else _JSON(cleartext)}, '
            f'"category": {enc(self.category)}, "owner": {enc(self.owner)}, '
            f'"asn": {"null" if self.asn is None else int(self.asn)}, "as_org": {enc(self.as_org)}, '
            f'"community_id": {"null" if cid is None else f'"{cid}"'}, '
            f'"state": {"null" if state is None else enc(state)}, '
            f'"history": {"null" if history is None else enc(history)}, '
            f'"tls_established": {"true" if tls is True else "false" if tls is False else _JSON(tls)}, '
            f'"evidence": {evidence}, "wireshark_filter": {enc(self.wireshark_filter())}, '
            f'"source": {enc(self.source)}, "input": {self.input_index}, '
            f'"notes": {_json_list(notes) if notes else "[]"}, '
            f'"app": {"null" if self.app is None else _json_app(self.app)}}}'
        )


@dataclass(slots=True)
class DnsEntry:
    """One DNS query name with everything learned about it."""

    query: str
    types: list[str] = field(default_factory=list)  # "A", "AAAA", "HTTPS", ...
    answers: list[str] = field(default_factory=list)  # addresses and CNAME targets
    first_frame: int = 0
    client: str = ""

    def to_json(self) -> dict:
        return {
            "query": self.query,
            "types": list(self.types),
            "answers": list(self.answers),
            "first_frame": self.first_frame,
            "client": self.client,
        }


@dataclass(slots=True)
class InputInfo:
    """One input file and how far it could be read."""

    path: str
    sha256: str = ""
    format: str = ""  # pcap | pcapng | mitm | log
    packets: int = 0
    complete: bool = True
    warnings: list[str] = field(default_factory=list)
    error_offset: int | None = None  # byte offset of the damage, when incomplete

    def to_json(self) -> dict:
        """``path`` as a shared report may show it (no folders of the analyst's machine), see sharedpath."""
        return {
            "path": shared_path(self.path),
            "sha256": self.sha256,
            "format": self.format,
            "packets": self.packets,
            "complete": self.complete,
            "warnings": list(self.warnings),
            "error_offset": self.error_offset,
        }


@dataclass(slots=True)
class Finding:
    kind: str  # mail-host-not-contacted | mail-relay | telemetry | credential-leak | third-party-login | ...
    severity: str  # info | low | medium | high
    message: str
    flows: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    wireshark_filter: str = ""
    log_lines: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "flows": list(self.flows),
            "frames": list(self.frames),
            "wireshark_filter": self.wireshark_filter,
            "log_lines": list(self.log_lines),
            "details": self.details,
        }


@dataclass(slots=True)
class CanaryHit:
    """The canary (or the account's address or username) in what a client sent, as a loader found it: which
    flow, which secret in which encoding, where (and the frame, 0 when there are no frames); never the value.
    Whether it is a leak is decided after classification (``analysis.leaks``)."""

    flow_id: int
    secret: str  # "password" | "address" | "username"
    form: str  # "plain", "url", "base64/1", "sha256", ...
    severity: str  # "high" for the password, "low" for the account's names
    where: str  # "request body", "header Cookie", "TCP stream (frame 12)", ...
    frame: int = 0
    inside_tls: bool = False  # found in what tshark decrypted with the key log (--keylog)


@dataclass(slots=True)
class Capture:
    """What a source produced: flows and DNS entries of one or more inputs, before classification."""

    inputs: list[InputInfo] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    dns: list[DnsEntry] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # source-level findings (the live addon's)
    hits: list[CanaryHit] = field(default_factory=list)  # raw canary hits, in the order they were found

    @property
    def complete(self) -> bool:
        return all(i.complete for i in self.inputs)

    @property
    def flow_count(self) -> int:
        return len(self.flows)

    @property
    def part_count(self) -> int:
        return 1 if self.flows else 0

    shareable = True  # its one part can be made in another process (see ``CountedCapture``)

    def records(self, mine: Callable[[int], bool] | None = None) -> Iterator[list[Flow]]:
        """The flows as one part (what ``CountedCapture.records`` gives in many); none when ``mine`` refuses
        part 0."""
        if self.flows and (mine is None or mine(0)):
            yield self.flows


@dataclass(slots=True)
class FlowStream:
    """Flow records of one or more inputs, made as ``parts`` is taken (lists of flows in id order; once), with
    the inputs' descriptions and DNS entries. The inputs' warnings are complete once every part is taken.

    ``share``, where set, makes the same ``part_count`` parts another way, for two processes: ``share(k, n)``
    yields parts k, k + n, k + 2n... (each, even an empty one, in order) and makes no other; taken instead of
    ``parts``, by every process, after a fork (``analysis.twoprocess``)."""

    inputs: list[InputInfo]
    dns: list[DnsEntry]
    parts: Iterator[list[Flow]]
    share: Callable[[int, int], Iterator[list[Flow]]] | None = None
    part_count: int = 0

    @classmethod
    def of(cls, capture: Capture) -> FlowStream:
        return cls(capture.inputs, capture.dns, capture.records())

    def capture(self) -> Capture:
        """Every part at once."""
        flows = [flow for part in self.parts for flow in part]
        return Capture(inputs=self.inputs, flows=flows, dns=self.dns)
