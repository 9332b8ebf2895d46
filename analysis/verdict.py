"""The verdict (direct | relayed | mixed | inconclusive) and the findings that support it.

Works on classified flows only (``flow.category`` set by analysis.classify). Receive = IMAP/POP3 to the
mail host, send = SMTP/submission/SMTPS to the mail host, judged by ``flow.app_protocol`` and, when the
payload was not seen, by the server port. Every finding cites flow ids, frame numbers and a Wireshark
display filter built from addresses and ports only (never from names taken off the network).
"""

from __future__ import annotations

from collections.abc import Iterable

from analysis import vocab
from analysis.case import Case
from analysis.model import Capture, Finding, Flow, iso_utc
from analysis.relays import Lookup, Relay, RelayEvidence, find_relays
from analysis.text import explain, message

LONG_LIVED_SECONDS = 600.0  # a connection open longer than 10 minutes is reported
MAX_FRAMES = 200  # frame numbers cited per finding
MAX_FILTER_VALUES = 32  # addresses or ports in one display filter
MAX_CANDIDATES_LISTED = 5  # candidates named in the relay-candidates finding
SDK_KINDS = {"telemetry": "low", "crash-report": "low", "diagnostics": "medium", "ads-analytics": "medium"}
NOT_VENDORS = frozenset({"mail-host", "name-resolution"})


def channel(flow: Flow) -> str | None:
    """'receive', 'send' or None: by the protocol seen, else by the server port (analysis.vocab)."""
    return vocab.channel(flow.app_protocol, flow.server.port)


def contact(flows: list[Flow]) -> str:
    """How far the device got with these (mail-host) flows: "established" when the server answered one
    (TCP: a SYN+ACK or payload from it; UDP: a datagram back; proxy flows, whose state is not known, count
    as answered), "attempted" when none was answered (e.g. SYNs without reply, rejected), "none" without flows."""
    if not flows:
        return "none"
    return "established" if any(f.established is not False for f in flows) else "attempted"


def _assumed(flow: Flow) -> bool:
    return flow.evidence is not None and flow.evidence.rule == "mail-host:assumed"


def _unique(values) -> list:
    return list(dict.fromkeys(values))


def _any_of(field: str, values: list) -> str:
    values = values[:MAX_FILTER_VALUES]
    terms = [f"{field}=={v}" for v in values]
    return terms[0] if len(terms) == 1 else "(" + " || ".join(terms) + ")"


def display_filter(flows: list[Flow]) -> str:
    """A Wireshark display filter showing these flows: server addresses and server ports."""
    if not flows:
        return ""
    v4 = _unique(f.server.ip for f in flows if ":" not in f.server.ip)
    v6 = _unique(f.server.ip for f in flows if ":" in f.server.ip)
    addr = [_any_of("ip.addr", v4)] if v4 else []
    addr += [_any_of("ipv6.addr", v6)] if v6 else []
    ports = []
    for transport in ("tcp", "udp"):
        values = sorted({f.server.port for f in flows if f.transport == transport})
        if values:
            ports.append(_any_of(f"{transport}.port", values))

    def join(parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else "(" + " || ".join(parts) + ")"

    return " && ".join(join(p) for p in (addr, ports) if p)


def _frames(flows: list[Flow]) -> list[int]:
    return sorted({f.first_frame for f in flows if f.first_frame})[:MAX_FRAMES]


def _endpoint(flow: Flow) -> str:
    names = flow.names.sni or flow.names.http_host or flow.names.dns
    return names[0] if names else flow.server.ip


def _ids(flows: list[Flow]) -> list[int]:
    return [f.id for f in flows]


def _vendors(flows: list[Flow]) -> list[dict]:
    groups: dict[str, dict] = {}
    for flow in flows:
        if flow.category in NOT_VENDORS:
            continue
        owner = flow.owner or flow.server.ip
        group = groups.setdefault(owner, {"owner": owner, "categories": set(), "flows": []})
        group["categories"].add(flow.category)
        group["flows"].append(flow.id)
    order = {c: i for i, c in enumerate(vocab.CATEGORIES)}
    result = [
        {"owner": g["owner"], "categories": sorted(g["categories"], key=order.get), "flows": g["flows"]}
        for g in groups.values()
    ]
    result.sort(key=lambda v: ("mail-relay" not in v["categories"], -len(v["flows"]), v["owner"]))
    return result


def _missing(capture: Capture, case: Case, flows: list[Flow], spoke: bool, relay: bool) -> list[str]:
    missing = []
    packets = sum(i.packets for i in capture.inputs)
    if not flows:
        missing.append("device-not-seen" if case.devices and packets else "no-traffic")
    if not case.mail_hosts and not case.mail_addresses:
        missing.append("no-mail-host")
    elif (
        flows
        and not capture.dns
        and not case.mail_host_ips()
        and not any(f.category == "mail-host" for f in flows)
    ):
        missing.append("no-dns")
    if flows and not spoke and not relay and not any(channel(f) for f in flows):
        missing.append("no-mail-traffic")
    if not capture.complete:
        missing.append("incomplete-input")
    return missing


def decide(
    capture: Capture,
    case: Case,
    lang: str = "en",
    *,
    logins: Iterable | None = None,
    devices: Iterable[str] | None = None,
    catalog=None,
    lookup: Lookup | None = None,
    keylog: bool = False,
) -> tuple[dict, list[Finding]]:
    """The ``verdict`` dict of the report and the findings, in ``lang`` (en or de).

    ``logins``: the test account's successful logins from the mail server's logs (None: no logs given);
    ``devices``: the addresses taken as the device's; ``catalog`` and ``lookup`` (address -> AS) tell who owns
    an address; ``keylog``: TLS keys were given. Flows that the evidence ties to a relay become ``mail-relay``.
    """
    flows = capture.flows
    leaks = [f for f in capture.findings if f.kind == "credential-leak"]
    evidence = find_relays(
        flows, case, leaks=leaks, logins=logins, devices=devices, catalog=catalog, lookup=lookup
    )
    evidence.apply()
    relays = evidence.relays
    host_flows = [f for f in flows if f.category == "mail-host"]
    receive = [f for f in host_flows if channel(f) == "receive"]
    send = [f for f in host_flows if channel(f) == "send"]
    relay = [f for f in flows if f.category == "mail-relay"]
    spoke = bool(receive or send)
    if relays:
        summary = "mixed" if host_flows else "relayed"
    elif spoke:
        summary = "direct"
    else:
        summary = "inconclusive"
    assumptions = ["mail-host-by-protocol"] if any(_assumed(f) for f in host_flows) else []
    if any("server-login" in r.basis for r in relays):
        assumptions.append("account-used-by-device-only")
    verdict = {
        "summary": summary,
        "mail_host_contacted": bool(host_flows),
        "mail_host_contact": contact(host_flows),
        "receive": {"status": "direct" if receive else "not-observed", "flows": _ids(receive)},
        "send": {"status": "direct" if send else "not-observed", "flows": _ids(send)},
        "vendors": _vendors(flows),
        "relays": [r.to_json() for r in relays],
        "candidates": [c.to_json() for c in evidence.candidates],
        "explanation": "",
        "missing": _missing(capture, case, flows, spoke, bool(relays)),
        "settle": _settle(evidence, case, logins is not None, keylog),
        "assumptions": assumptions,
        "mail_hosts": [str(h) for h in case.mail_hosts],
        "counts": {
            "flows": len(flows),
            "mail_host": len(host_flows),
            "mail_relay": len(relay),
            "other_mail": sum(1 for f in flows if f.category == "other-mail"),
        },
    }
    verdict["explanation"] = explain(verdict, lang)
    return verdict, findings(capture, case, verdict, lang) + relay_findings(evidence, verdict["settle"], lang)


def _settle(evidence: RelayEvidence, case: Case, logs: bool, keylog: bool) -> list[str]:
    """What would settle an open question about the relay: logs, a canary search, TLS keys (those not given)."""
    if not evidence.candidates:
        return []
    codes = [] if logs else ["logs"]
    codes += [] if case.canary else ["canary"]
    tls = any(f.app_protocol in ("tls", "quic") for c in evidence.candidates for f in c.flows)
    return codes + (["keylog"] if tls and not keylog else [])


def relay_findings(evidence: RelayEvidence, settle: list[str], lang: str = "en") -> list[Finding]:
    """One ``relay-evidence`` finding per relay (its basis, the log lines and frames behind it) and one
    ``relay-candidates`` finding when the device's relay flows are not known."""
    out = [_relay_finding(relay, evidence, lang) for relay in evidence.relays]
    if evidence.candidates:
        details = {
            "candidates": [
                {"owner": c.owner, "addresses": _unique(f.server.ip for f in c.flows)[:8], "reasons": c.reasons}
                for c in evidence.candidates[:MAX_CANDIDATES_LISTED]
            ],
            "count": len(evidence.candidates),
            "settle": list(settle),
        }
        flows = [f for c in evidence.candidates[:MAX_CANDIDATES_LISTED] for f in c.flows]
        out.append(_finding("relay-candidates", "info", lang, flows, details))
    return out


def _relay_finding(relay: Relay, evidence: RelayEvidence, lang: str) -> Finding:
    catalog = [f for f in relay.flows if f.evidence is not None and f.evidence.rule.startswith("catalog:")]
    times = [x.time for x in relay.logins if x.time is not None]
    details = {
        "owner": relay.owner,
        "basis": list(relay.basis),
        "link": relay.link,
        "login_addresses": list(relay.login_addresses),
        "device_addresses": relay.device_addresses,
        "flows": len(relay.flows),
        "logins": len(relay.logins),
        "first": iso_utc(min(times)) if times else None,
        "last": iso_utc(max(times)) if times else None,
        "since": iso_utc(evidence.since) if evidence.since is not None else None,
        "since_from": evidence.since_from,
        "catalog_endpoints": _unique(_endpoint(f) for f in catalog),
        "canary_hosts": _unique(str(x.details.get("destination", "?")) for x in relay.leaks),
        "canary_forms": _unique(str(x.details.get("form", "?")) for x in relay.leaks),
        "matched": _unique(e.matched for e in relay.links.values() if e.rule == "inferred:server-login-same-owner"),
    }
    f = _finding("relay-evidence", "high", lang, relay.flows, details, list(relay.frames))
    f.log_lines = list(relay.log_lines)
    if not relay.flows:
        f.wireshark_filter = _address_filter(relay.login_addresses)
    return f


def _address_filter(addresses: list[str]) -> str:
    terms = [f"{'ipv6' if ':' in a else 'ip'}.addr=={a}" for a in addresses[:MAX_FILTER_VALUES]]
    return " || ".join(terms)


def _finding(
    kind: str, severity: str, lang: str, flows: list[Flow], details: dict, frames: list[int] | None = None
) -> Finding:
    return Finding(
        kind=kind,
        severity=severity,
        message=message(kind, lang, **details),
        flows=_ids(flows),
        frames=frames if frames is not None else _frames(flows),
        wireshark_filter=display_filter(flows),
        details=details,
    )


def _endpoints_finding(kind: str, severity: str, lang: str, flows: list[Flow], endpoints) -> list[Finding]:
    """A finding naming the flows' distinct endpoints and counting the flows; none without flows."""
    if not flows:
        return []
    return [_finding(kind, severity, lang, flows, {"endpoints": _unique(endpoints), "flows": len(flows)})]


def _host_filter(case: Case, addresses: set[str]) -> str:
    terms = [f"{'ipv6' if ':' in a else 'ip'}.addr=={a}" for a in sorted(addresses)]
    for name in sorted(case.mail_host_names()):
        quoted = name.replace("\\", "").replace('"', "")
        terms.append(f'tls.handshake.extensions_server_name=="{quoted}"')
        terms.append(f'dns.qry.name=="{quoted}"')
    return " || ".join(terms[:MAX_FILTER_VALUES])


def findings(capture: Capture, case: Case, verdict: dict, lang: str = "en") -> list[Finding]:
    """Every finding for classified flows and the verdict already decided."""
    flows = capture.flows
    out: list[Finding] = []
    relay = [f for f in flows if f.category == "mail-relay"]
    configured = bool(case.mail_hosts or case.mail_addresses)
    hosts = [str(h) for h in case.mail_hosts] + list(case.mail_addresses)
    unreached = "high" if relay or verdict.get("relays") else "medium"  # the severity of a mail host not reached
    if configured and flows and not verdict["mail_host_contacted"]:
        f = Finding(
            kind="mail-host-not-contacted",
            severity=unreached,
            message="",
            flows=_ids(relay),
            frames=_frames(relay),
            wireshark_filter=_host_filter(case, set(case.mail_host_ips())),
            details={"hosts": hosts, "flows_total": len(flows)},
        )
        f.message = message(f.kind, lang, **f.details)
        out.append(f)
    if verdict.get("mail_host_contact") == "attempted":
        host = [f for f in flows if f.category == "mail-host"]
        states: dict[str, int] = {}
        for f in host:
            states[f.state or "?"] = states.get(f.state or "?", 0) + 1
        details = {
            "hosts": hosts,
            "flows": len(host),
            "states": ", ".join(f"{state} {n}" for state, n in sorted(states.items())),
        }
        out.append(_finding("mail-host-not-established", unreached, lang, host, details))
    assumed = [f for f in flows if f.category == "mail-host" and _assumed(f)]
    out += _endpoints_finding("mail-host-assumed", "info", lang, assumed,
                              (f"{f.server.ip}:{f.server.port}" for f in assumed))
    by_owner: dict[str, list[Flow]] = {}
    for flow in relay:
        by_owner.setdefault(flow.owner or flow.server.ip, []).append(flow)
    for owner, group in by_owner.items():
        details = {
            "owner": owner,
            "endpoints": _unique(_endpoint(f) for f in group),
            "addresses": _unique(f.server.ip for f in group),
            "flows": len(group),
            "bytes_sent": sum(f.c2s_bytes for f in group),
            "bytes_received": sum(f.s2c_bytes for f in group),
        }
        out.append(_finding("mail-relay", "high", lang, group, details))
    other_mail = [f for f in flows if f.category == "other-mail" and channel(f)]
    out += _endpoints_finding("other-mail", "medium", lang, other_mail,
                              (f"{_endpoint(f)}:{f.server.port}" for f in other_mail))
    for kind, severity in SDK_KINDS.items():
        group = [f for f in flows if f.category == kind]
        if group:
            details = {
                "endpoints": _unique(_endpoint(f) for f in group),
                "owners": _unique(f.owner for f in group if f.owner),
                "flows": len(group),
                "bytes_sent": sum(f.c2s_bytes for f in group),
            }
            out.append(_finding(kind, severity, lang, group, details))
    for flow in flows:
        if flow.cleartext_credentials and len(out) < 1000:
            details = {
                "protocol": flow.app_protocol,
                "server": f"{_endpoint(flow)} ({flow.server.ip}:{flow.server.port})",
                "mechanisms": list(flow.auth_mechanisms) or ["?"],
                "category": flow.category,
            }
            frames = sorted(set(flow.credential_frames))[:MAX_FRAMES] or _frames([flow])
            out.append(_finding("cleartext-credentials", "high", lang, [flow], details, frames))
    long_lived = sorted((f for f in flows if f.duration > LONG_LIVED_SECONDS), key=lambda f: -f.duration)
    if long_lived:
        details = {
            "count": len(long_lived),
            "threshold_minutes": int(LONG_LIVED_SECONDS // 60),
            "longest_minutes": round(long_lived[0].duration / 60, 1),
            "endpoints": _unique(f"{_endpoint(f)} ({f.category})" for f in long_lived),
        }
        severity = "medium" if any(f.category == "mail-relay" for f in long_lived) else "low"
        out.append(_finding("long-lived-connection", severity, lang, long_lived, details))
    if verdict["summary"] == "inconclusive":
        missing = verdict.get("missing") or ["no-mail-traffic"]
        out.append(
            Finding(
                kind="inconclusive",
                severity="info",
                message=message("inconclusive", lang, missing=missing),
                details={"missing": list(missing)},
            )
        )
    return out
