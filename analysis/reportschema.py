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


def _record(name: str, fields: dict[str, object], *bases: type) -> type:
    """A TypedDict with every key optional; ``{"sni dns": list[str]}`` declares two keys of one type (in the
    order written, after the bases' keys: the check names the first wrong key in this order)."""
    keys: dict[str, object] = {}
    for base in bases:
        keys |= get_type_hints(base)
    keys |= {key: tp for names, tp in fields.items() for key in names.split()}
    return TypedDict(name, keys, total=False)  # type: ignore[operator]


Tool = _record("Tool", {"name version": str})
InputRecord = _record("InputRecord", {"path sha256 format": str, "packets": int, "complete": bool,
                                      "warnings": list[str], "error_offset": int | None})
Account = _record("Account", {"address username": str})
Canary = _record("Canary", {"env": str, "set": bool})
MailHosts = _record("MailHosts", {"hosts addresses": list[str]})
Addresses = _record("Addresses", {"addresses": list[str]})
CaseTimeline = _record("CaseTimeline", {"account_added app_removed": str | None})
AppInfo = _record("AppInfo", {"id name version": str | None})
CaseRecord = _record("CaseRecord", {"path": str | None, "account": Account, "canary": Canary, "mail": MailHosts,
                                    "device": Addresses, "timeline": CaseTimeline, "app": AppInfo})

Endpoint = _record("Endpoint", {"ip": str, "port": int})
Direction = _record("Direction", {"packets bytes payload": int})
Names = _record("Names", {"sni dns http_host": list[str]})
Evidence = _record("Evidence", {"rule matched source": str, "entry catalog_source": str | None})
FlowApp = _record("FlowApp", {"id name": str | None, "uid": int | None, "source": str})
FlowRecord = _record("FlowRecord", {
    "id": int, "transport": str, "client server": Endpoint, "packets bytes": int, "c2s s2c": Direction,
    "first_frame last_frame": int, "first_seen last_seen": str | None, "duration": float, "names": Names,
    "app_protocol": str, "starttls": bool, "alpn auth_mechanisms": list[str], "cleartext_credentials": bool,
    "category owner": str, "asn": int | None, "as_org": str, "community_id state history": str | None,
    "tls_established": bool | None, "evidence": Evidence | None, "wireshark_filter source": str, "input": int,
    "notes": list[str], "app": FlowApp | None})
DnsRecord = _record("DnsRecord", {"query": str, "types answers": list[str], "first_frame": int, "client": str})

Channel = _record("Channel", {"status": str, "flows": list[int]})
Vendor = _record("Vendor", {"owner": str, "categories": list[str], "flows": list[int]})
# what a relay and a relay candidate both name: who, its AS, the device's flows to it
Party = _record("Party", {"owner": str, "asn": int | None, "as_org": str, "device_addresses names": list[str],
                          "flows": list[int]})
Relay = _record("Relay", {"basis": list[str], "link": str, "login_addresses": list[str], "frames": list[int],
                          "log_lines": list[str]}, Party)
Candidate = _record("Candidate", {"reasons": list[str]}, Party)
Verdict = _record("Verdict", {
    "summary basis": str, "mail_host_contacted": bool, "receive send": Channel, "vendors": list[Vendor],
    "relays": list[Relay], "candidates": list[Candidate], "explanation": str, "missing": list[str],
    "per_app": list[dict]})
FindingRecord = _record("FindingRecord", {"kind severity message": str, "flows frames": list[int],
                                          "wireshark_filter": str, "log_lines": list[str], "details": dict})

CatalogFile = _record("CatalogFile", {"path sha256": str, "entries": int})
CatalogRecord = _record("CatalogRecord", {"version": str | None, "files": list[CatalogFile]})
AsnSource = _record("AsnSource", {"name licence attribution": str})
Settings = _record("Settings", {"lang": str, "log_offset": float | None, "device_filter": list[str],
                                "asn_data": list[AsnSource], "rdap apps": dict})
# flows, packets and bytes of one category (``by_category``), one owner (``by_owner``) or all
Tally = _record("Tally", {"category owner": str, "flows packets bytes c2s_bytes s2c_bytes": int})
Stats = _record("Stats", {"total": Tally, "by_category by_owner": list[Tally]})
# an address's autonomous system, the range matched and the AS data it came from
AsFields = _record("AsFields", {"asn": int | None, "as_org as_range as_source": str})
OwnerRow = _record("OwnerRow", {
    "address owner category": str, "categories": list[str], "rule matched source entry catalog_source": str | None,
    "names": list[str], "ports flows": list[int], "bytes": int, "roles": list[str]}, AsFields)

Mark = _record("Mark", {"kind": str, "time": str | None, "offset": float | None})
# spans: [flow id, start, end], seconds from the first packet
Lane = _record("Lane", {"category": str, "spans": list[list[float]]})
Timeline = _record("Timeline", {"start end": str | None, "duration": float, "marks": list[Mark],
                                "lanes": list[Lane]})
Server = _record("Server", {
    "address": str, "port": int, "transport owner": str, "names protocols": list[str], "flows": int,
    "flow_ids": list[int], "packets bytes c2s_bytes": int, "first_seen last_seen": str | None,
    "first_frame": int | None, "wireshark_filter": str})
Destination = _record("Destination", {"category": str, "servers": list[Server]})

LogDamage = _record("LogDamage", {"line": int, "reason": str})
LogRecord = _record("LogRecord", {
    "path sha256 kind": str, "compressed": bool, "lines parsed unmatched": int, "software": list[str],
    "complete": bool, "warnings": list[str], "zone": str | None, "damage": LogDamage})
Origin = _record("Origin", {
    "account address owner category catalog_source": str, "in_catalog": bool, "first last": str | None,
    "count logins submissions failures": int, "is_device after_removal": bool, "after_removal_count": int,
    "services software": list[str]}, AsFields)
# a connection of a netstat/ss snapshot to a mail port
Held = _record("Held", {
    "file": str, "line": int, "local remote": str, "remote_port": int, "remote_owner": str,
    "remote_asn": int | None, "remote_as_org category": str, "port": int, "service state": str, "is_device": bool})
MailServer = _record("MailServer", {
    "logs": list[LogRecord], "log_offset": float, "accounts": list[str], "year": int, "assumptions": list[str],
    "origins": list[Origin], "connections": list[Held], "events": list[dict]})

# ``maildetour.report/1`` as analysis.report.build writes it (the apps' parts: analysis.apps)
Report = _record("Report", {
    "schema": str, "tool": Tool, "inputs": list[InputRecord], "case": CaseRecord, "flows": list[FlowRecord],
    "dns": list[DnsRecord], "verdict": Verdict, "findings": list[FindingRecord], "catalog": CatalogRecord | None,
    "settings": Settings, "stats": Stats, "owners": list[OwnerRow], "timeline": Timeline,
    "destinations": list[Destination], "mail_server": MailServer, "whois apps other_apps": list[dict],
    "app_report": dict})


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
