"""The report's JSON shape as record types, and the one check of a report read from a file.

``maildetour report`` and ``maildetour compare`` read reports written by ``analyze`` (or by someone else):
``check_report(data, path)`` type-checks every field a renderer reads, once, where the JSON enters, and
raises one InputError naming the file and the JSON path (``report.json: verdict.relays[0].flows: expected a
list of integers``). A key may be absent (older reports lack newer fields; the renderers know each default);
when present, its value has the type written here. Keys not listed here are not checked.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import TypedDict, Union, get_args, get_origin, get_type_hints

from analysis.errors import InputError

# ---- the records (a TypedDict is a JSON object; every key optional, typed when present) --------------------


class Tool(TypedDict, total=False):
    name: str
    version: str


class InputRecord(TypedDict, total=False):
    path: str
    sha256: str
    format: str
    packets: int
    complete: bool
    warnings: list[str]
    error_offset: int | None


class Account(TypedDict, total=False):
    address: str
    username: str


class Canary(TypedDict, total=False):
    env: str
    set: bool


class MailHosts(TypedDict, total=False):
    hosts: list[str]
    addresses: list[str]


class Addresses(TypedDict, total=False):
    addresses: list[str]


class CaseTimeline(TypedDict, total=False):
    account_added: str | None
    app_removed: str | None


class AppInfo(TypedDict, total=False):
    id: str | None
    name: str | None
    version: str | None


class CaseRecord(TypedDict, total=False):
    path: str | None
    account: Account
    canary: Canary
    mail: MailHosts
    device: Addresses
    timeline: CaseTimeline
    app: AppInfo


class Endpoint(TypedDict, total=False):
    ip: str
    port: int


class Direction(TypedDict, total=False):
    packets: int
    bytes: int
    payload: int


class Names(TypedDict, total=False):
    sni: list[str]
    dns: list[str]
    http_host: list[str]


class Evidence(TypedDict, total=False):
    rule: str
    matched: str
    source: str
    entry: str | None
    catalog_source: str | None


class FlowApp(TypedDict, total=False):
    id: str | None
    name: str | None
    uid: int | None
    source: str


class FlowRecord(TypedDict, total=False):
    id: int
    transport: str
    client: Endpoint
    server: Endpoint
    packets: int
    bytes: int
    c2s: Direction
    s2c: Direction
    first_frame: int
    last_frame: int
    first_seen: str | None
    last_seen: str | None
    duration: float
    names: Names
    app_protocol: str
    starttls: bool
    alpn: list[str]
    auth_mechanisms: list[str]
    cleartext_credentials: bool
    category: str
    owner: str
    asn: int | None
    as_org: str
    community_id: str | None
    state: str | None
    history: str | None
    tls_established: bool | None
    evidence: Evidence | None
    wireshark_filter: str
    source: str
    input: int
    notes: list[str]
    app: FlowApp | None


class DnsRecord(TypedDict, total=False):
    query: str
    types: list[str]
    answers: list[str]
    first_frame: int
    client: str


class Channel(TypedDict, total=False):
    status: str
    flows: list[int]


class Vendor(TypedDict, total=False):
    owner: str
    categories: list[str]
    flows: list[int]


class Party(TypedDict, total=False):
    """What a relay and a relay candidate both name: who, its AS, the device's flows to it."""

    owner: str
    asn: int | None
    as_org: str
    device_addresses: list[str]
    names: list[str]
    flows: list[int]


class Relay(Party, total=False):
    basis: list[str]
    link: str
    login_addresses: list[str]
    frames: list[int]
    log_lines: list[str]


class Candidate(Party, total=False):
    reasons: list[str]


class Verdict(TypedDict, total=False):
    summary: str
    basis: str
    mail_host_contacted: bool
    receive: Channel
    send: Channel
    vendors: list[Vendor]
    relays: list[Relay]
    candidates: list[Candidate]
    explanation: str
    missing: list[str]
    per_app: list[dict]


class FindingRecord(TypedDict, total=False):
    kind: str
    severity: str
    message: str
    flows: list[int]
    frames: list[int]
    wireshark_filter: str
    log_lines: list[str]
    details: dict


class CatalogFile(TypedDict, total=False):
    path: str
    sha256: str
    entries: int


class CatalogRecord(TypedDict, total=False):
    version: str | None
    files: list[CatalogFile]


class AsnSource(TypedDict, total=False):
    name: str
    licence: str
    attribution: str


class Settings(TypedDict, total=False):
    lang: str
    log_offset: float | None
    device_filter: list[str]
    asn_data: list[AsnSource]
    rdap: dict
    apps: dict


class Tally(TypedDict, total=False):
    """Flows, packets and bytes of one category (``by_category``), one owner (``by_owner``) or all."""

    category: str
    owner: str
    flows: int
    packets: int
    bytes: int
    c2s_bytes: int
    s2c_bytes: int


class Stats(TypedDict, total=False):
    total: Tally
    by_category: list[Tally]
    by_owner: list[Tally]


class AsFields(TypedDict, total=False):
    """An address's autonomous system, the range matched and the AS data it came from."""

    asn: int | None
    as_org: str
    as_range: str
    as_source: str


class OwnerRow(AsFields, total=False):
    address: str
    owner: str
    category: str
    categories: list[str]
    rule: str | None
    matched: str | None
    source: str | None
    entry: str | None
    catalog_source: str | None
    names: list[str]
    ports: list[int]
    flows: list[int]
    bytes: int
    roles: list[str]


class Mark(TypedDict, total=False):
    kind: str
    time: str | None
    offset: float | None


class Lane(TypedDict, total=False):
    category: str
    spans: list[list[float]]  # [flow id, start, end], seconds from the first packet


class Timeline(TypedDict, total=False):
    start: str | None
    end: str | None
    duration: float
    marks: list[Mark]
    lanes: list[Lane]


class Server(TypedDict, total=False):
    address: str
    port: int
    transport: str
    owner: str
    names: list[str]
    protocols: list[str]
    flows: int
    flow_ids: list[int]
    packets: int
    bytes: int
    c2s_bytes: int
    first_seen: str | None
    last_seen: str | None
    first_frame: int | None
    wireshark_filter: str


class Destination(TypedDict, total=False):
    category: str
    servers: list[Server]


class LogDamage(TypedDict, total=False):
    line: int
    reason: str


class LogRecord(TypedDict, total=False):
    path: str
    sha256: str
    kind: str
    compressed: bool
    lines: int
    parsed: int
    unmatched: int
    software: list[str]
    complete: bool
    warnings: list[str]
    zone: str | None
    damage: LogDamage


class Origin(AsFields, total=False):
    account: str
    address: str
    owner: str
    category: str
    catalog_source: str
    in_catalog: bool
    first: str | None
    last: str | None
    count: int
    logins: int
    submissions: int
    failures: int
    is_device: bool
    after_removal: bool
    after_removal_count: int
    services: list[str]
    software: list[str]


class Held(TypedDict, total=False):
    """A connection of a netstat/ss snapshot to a mail port."""

    file: str
    line: int
    local: str
    remote: str
    remote_port: int
    remote_owner: str
    remote_asn: int | None
    remote_as_org: str
    category: str
    port: int
    service: str
    state: str
    is_device: bool


class MailServer(TypedDict, total=False):
    logs: list[LogRecord]
    log_offset: float
    accounts: list[str]
    year: int
    assumptions: list[str]
    origins: list[Origin]
    connections: list[Held]
    events: list[dict]


class Report(TypedDict, total=False):
    """``maildetour.report/1`` as analysis.report.build writes it (the apps' parts: analysis.apps)."""

    schema: str
    tool: Tool
    inputs: list[InputRecord]
    case: CaseRecord
    flows: list[FlowRecord]
    dns: list[DnsRecord]
    verdict: Verdict
    findings: list[FindingRecord]
    catalog: CatalogRecord | None
    settings: Settings
    stats: Stats
    owners: list[OwnerRow]
    timeline: Timeline
    destinations: list[Destination]
    mail_server: MailServer
    whois: list[dict]
    apps: list[dict]
    other_apps: list[dict]
    app_report: dict


# ---- the check --------------------------------------------------------------------------------------------


class _Bad(Exception):
    """A value of the wrong type; ``where`` collects the JSON path from the inside out."""

    def __init__(self, want: str) -> None:
        self.want = want
        self.where: list[str | int] = []


_WORDS = {str: ("a string", "strings"), int: ("an integer", "integers"), float: ("a number", "numbers"),
          bool: ("true or false", "true or false values"), dict: ("an object", "objects")}
_TYPES = {str: frozenset({str}), int: frozenset({int}), float: frozenset({int, float}), bool: frozenset({bool}),
          dict: frozenset({dict}), type(None): frozenset({type(None)})}

Check = Callable[[object], None]


def _compile(tp) -> tuple[frozenset | None, Check | None, str, str]:
    """(the Python types a plain value may have, or the check of a deeper one; its words, one and many)."""
    if tp in _WORDS:
        return _TYPES[tp], None, *_WORDS[tp]
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        plain, deep, one, many = _compile(inner)
        if plain is not None:
            return plain | _TYPES[type(None)], None, f"{one} or null", f"{many} or nulls"
        return None, _or_null(deep, f"{one} or null"), f"{one} or null", f"{many} or nulls"
    if origin is list:
        item = _compile(args[0])
        return None, _list_check(*item), f"a list of {item[3]}", "lists"
    return None, _record_check(tp), "an object", "objects"


def _or_null(deep: Check, want: str) -> Check:
    def check(value) -> None:
        if value is not None:
            try:
                deep(value)
            except _Bad as bad:
                if not bad.where:  # the value itself, not a field inside it
                    bad.want = want
                raise

    return check


def _list_check(plain: frozenset | None, deep: Check | None, one: str, many: str) -> Check:
    want = f"a list of {many}"
    if plain is not None:  # a list of plain values is named as a whole: "flows: expected a list of integers"
        def check(value) -> None:
            if type(value) is not list or any(type(x) not in plain for x in value):
                raise _Bad(want)

        return check

    def check_each(value) -> None:
        if type(value) is not list:
            raise _Bad(want)
        for i, item in enumerate(value):
            try:
                deep(item)
            except _Bad as bad:
                bad.where.append(i)
                raise

    return check_each


def _record_check(cls) -> Check:
    fields = [(key, *_compile(tp)[:3]) for key, tp in get_type_hints(cls).items()]
    plains = [(key, plain, one) for key, plain, _, one in fields if plain is not None]
    deeps = [(key, deep) for key, plain, deep, _ in fields if plain is None]

    def check(value) -> None:
        if type(value) is not dict:
            raise _Bad("an object")
        for key, plain, one in plains:
            if key in value and type(value[key]) not in plain:
                bad = _Bad(one)
                bad.where.append(key)
                raise bad
        for key, deep in deeps:
            if key in value:
                try:
                    deep(value[key])
                except _Bad as bad:
                    bad.where.append(key)
                    raise

    return check


_REPORT = _record_check(Report)


def json_path(where: list[str | int]) -> str:
    """``["flows", 0, "relays", "verdict"]`` (inside out) as ``verdict.relays[0].flows``."""
    out = ""
    for step in reversed(where):
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out or "(top level)"


def check_report(data: object, path: str) -> Report:
    """``data`` (a report read from ``path``) when every field a renderer reads has its type; otherwise one
    InputError naming the file and the first wrong field's JSON path."""
    try:
        _REPORT(data)
    except _Bad as bad:
        raise InputError(path, f"{json_path(bad.where)}: expected {bad.want}") from None
    return data  # type: ignore[return-value]
