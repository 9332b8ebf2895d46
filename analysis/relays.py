"""Which services relay the test account's mail, found from evidence rather than only from the catalog.

A test account is fresh and known only to the app under test. So whoever logs in to it, or receives its
password, acts for the app. Three kinds of evidence (the relay's ``basis``):

- ``catalog``: the endpoint catalog names the destination a ``mail-relay``;
- ``canary``: the test password (any encoding) left the device towards a host H other than the mail host;
  H's flows are the relay's;
- ``server-login``: the mail server logged successful logins or submissions for the account from addresses
  that are not the device, after ``timeline.account_added`` (else within the capture's time span), while the
  device never contacted the mail host. When the device did contact it, a foreign login could be the
  device's own (behind NAT), so only login addresses the device also talked to count then.

A server-login relay is tied to the device's flows (``link``) by the same address, or by the same owner
(catalog owner, else autonomous system) unless that network is shared by many customers (``SHARED_NETWORKS``),
where only the same /24 or /48 counts. Without a tie the relay has no flows and the device's destinations are
ranked as ``candidates``, as they are when no relay was found and the mail host was never contacted.

Inputs are plain: classified flows, the ``credential-leak`` findings, the login records of
analysis.logs.correlate, the case, the catalog and an address -> AS lookup (anything with ``asn`` and
``org``, e.g. analysis.owners' ranges). Nothing here reads files except the shared-network list.
"""

from __future__ import annotations

import ipaddress
import math
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.addresses import canonical, parse
from analysis.case import Case
from analysis.model import Evidence, Finding, Flow, iso_utc
from analysis.vocab import MAIL_PORTS

if TYPE_CHECKING:
    from analysis.logs.correlate import Login

SHARED_NETWORKS = Path(__file__).with_name("data") / "shared-networks.toml"
BASES = ("catalog", "canary", "server-login")  # the contract's order
LINKS = ("canary", "same-address", "catalog", "same-owner", "none")  # strongest first
LINKABLE = frozenset({"unknown", "mail-relay", "other-mail"})  # categories a login can tie to a relay
NEVER_RELAY = frozenset({"mail-host", "name-resolution"})
CANDIDATE_CATEGORIES = frozenset({"unknown", "other-mail"})  # the catalog calls everything else something else
LONG_LIVED_SECONDS = 600.0  # as the long-lived-connection finding
NEAR_SECONDS = 120.0  # "first contact close to account_added"
TLS_PORTS = frozenset({443, 465, 853, 993, 995, 5223})
MAX_QUOTED = 20  # log lines per relay
MAX_FRAMES = 200
MAX_CANDIDATES = 20
MAX_NAMES = 32
# name labels of services that are not a mail relay (telemetry, ads, content delivery, updates)
SERVICE_WORDS = frozenset(
    "telemetry analytics metrics stats statistics crash crashes crashlytics sentry log logs logging events "
    "ads adservice tracking tracker beacon collector cdn static update updates push".split()
)
WEIGHTS = {
    "mail-protocol": 3.0,
    "long-lived": 2.0,
    "repeated": 1.0,
    "tls": 1.0,
    "most-bytes": 1.0,
    "near-account-added": 1.0,
    "earliest": 0.5,
    "shared-network": -1.0,
    "service-name": -2.0,
}

Lookup = Callable[[str], Any]  # address -> an object with ``asn`` and ``org`` (owners.AsRange), or None


@dataclass(frozen=True, slots=True)
class Ownership:
    """Who holds an address: the catalog's owner and the autonomous system, each when known."""

    catalog_owner: str = ""
    asn: int | None = None
    as_org: str = ""

    @property
    def name(self) -> str:
        return self.catalog_owner or self.as_org or (f"AS{self.asn}" if self.asn else "")


@cache
def shared_networks() -> dict[int, str]:
    """ASN -> owner of the networks many unrelated customers share (analysis/data/shared-networks.toml)."""
    with SHARED_NETWORKS.open("rb") as fh:
        data = tomllib.load(fh)
    return {int(n["asn"]): str(n["owner"]) for n in data.get("network", [])}


@cache
def _shared_owners() -> frozenset[str]:
    return frozenset(o.casefold() for o in shared_networks().values())


def is_shared(own: Ownership) -> bool:
    """On a public cloud, CDN or hosting network (by AS number, or by the catalog owner's name)."""
    if own.asn is not None and own.asn in shared_networks():
        return True
    return bool(own.catalog_owner) and own.catalog_owner.casefold() in _shared_owners()


def same_owner(a: Ownership, b: Ownership) -> bool:
    """Both catalogued under one owner, or (when the catalog does not name both) in one AS."""
    if a.catalog_owner and b.catalog_owner:
        return a.catalog_owner.casefold() == b.catalog_owner.casefold()
    return a.asn is not None and a.asn == b.asn


def network_prefix(ip: str) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) holding ``ip``; None when it is not an address."""
    addr = parse(ip)
    if addr is None:
        return None
    bits = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))


@lru_cache(maxsize=65536)
def _canon(ip: str) -> str:
    """The address's canonical text (analysis.addresses), other text as it is."""
    return canonical(ip) or ip


class Owners:
    """Ownership of addresses (catalog first, then the AS lookup) and of flows, memoised per address."""

    def __init__(self, catalog=None, lookup: Lookup | None = None) -> None:
        self._catalog = catalog
        self._lookup = lookup
        self._memo: dict[str, Ownership] = {}

    def address(self, ip: str) -> Ownership:
        hit = self._memo.get(ip)
        if hit is None:
            canon = _canon(ip)
            match = self._catalog.match_ip(canon) if self._catalog is not None else None
            asn, org = self._as(canon)
            hit = self._memo[ip] = Ownership(match.owner if match else "", asn, org)
        return hit

    def flow(self, flow: Flow) -> Ownership:
        """The flow's server: its catalog owner when the catalog classified it, and its AS (the pipeline's
        ``flow.asn`` when set, else the lookup)."""
        base = self.address(flow.server.ip)
        by_catalog = flow.evidence is not None and flow.evidence.rule.startswith("catalog:")
        asn = getattr(flow, "asn", None) or base.asn
        org = getattr(flow, "as_org", "") or base.as_org
        return Ownership(flow.owner if by_catalog else base.catalog_owner, asn, org)

    def _as(self, ip: str) -> tuple[int | None, str]:
        if self._lookup is None:
            return None, ""
        try:
            hit = self._lookup(ip)
        except ValueError:
            return None, ""
        if hit is None:
            return None, ""
        asn = getattr(hit, "asn", None)
        return (int(asn) if asn else None), str(getattr(hit, "org", "") or "")


def flow_names(flow: Flow) -> list[str]:
    return [name for _, name in flow.names.all()]


def _unique(values: Iterable) -> list:
    return list(dict.fromkeys(values))


@dataclass(slots=True)
class Relay:
    """One service that handles the account's mail for the device, with the evidence for it."""

    owner: str = ""
    basis: list[str] = field(default_factory=list)
    link: str = "none"
    asn: int | None = None
    as_org: str = ""
    login_addresses: list[str] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    logins: list[Login] = field(default_factory=list)
    leaks: list[Finding] = field(default_factory=list)
    links: dict[int, Evidence] = field(default_factory=dict)  # flow id -> the evidence that ties it here

    def add(self, flow: Flow, evidence: Evidence) -> None:
        if flow.id not in self.links:
            self.flows.append(flow)
            self.links[flow.id] = evidence
        elif _link_rank(evidence) < _link_rank(self.links[flow.id]):
            self.links[flow.id] = evidence

    @property
    def device_addresses(self) -> list[str]:
        return _unique(f.server.ip for f in self.flows)

    @property
    def names(self) -> list[str]:
        return _unique(n for f in self.flows for n in flow_names(f))[:MAX_NAMES]

    def to_json(self) -> dict:
        times = [x.time for x in self.logins if x.time is not None]
        return {
            "owner": self.owner,
            "asn": self.asn,
            "as_org": self.as_org,
            "basis": list(self.basis),
            "link": self.link,
            "device_addresses": self.device_addresses,
            "login_addresses": list(self.login_addresses),
            "names": self.names,
            "flows": [f.id for f in self.flows],
            "frames": list(self.frames),
            "log_lines": list(self.log_lines),
            "login_count": len(self.logins),
            "first_login": iso_utc(min(times)) if times else None,
            "last_login": iso_utc(max(times)) if times else None,
        }


@dataclass(slots=True)
class Candidate:
    """A destination that could be the relay, with the reasons it ranks where it does."""

    owner: str
    flows: list[Flow]
    asn: int | None = None
    as_org: str = ""
    reasons: list[str] = field(default_factory=list)
    score: float = 0.0

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.flows)

    @property
    def first_seen(self) -> float:
        return min((f.first_seen for f in self.flows if f.first_seen is not None), default=math.inf)

    def to_json(self) -> dict:
        return {
            "owner": self.owner,
            "asn": self.asn,
            "as_org": self.as_org,
            "device_addresses": _unique(f.server.ip for f in self.flows),
            "names": _unique(n for f in self.flows for n in flow_names(f))[:MAX_NAMES],
            "flows": [f.id for f in self.flows],
            "reasons": list(self.reasons),
            "score": round(self.score, 3),
            "bytes": self.bytes,
        }


@dataclass(slots=True)
class RelayEvidence:
    relays: list[Relay] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    since: float | None = None  # the start of the window in which logins count
    since_from: str = ""  # "account_added" | "capture" | "" (no window)

    def apply(self) -> None:
        """Re-categorise the inferred relay flows as ``mail-relay``, owned by their relay, with their evidence
        (flows the catalog already calls a relay keep the catalog's word)."""
        for relay in self.relays:
            for flow in relay.flows:
                evidence = relay.links[flow.id]
                if evidence.rule.startswith("inferred:") and flow.category != "mail-relay":
                    flow.category, flow.owner, flow.evidence = "mail-relay", relay.owner, evidence


def _link_word(evidence: Evidence) -> str:
    rule = evidence.rule
    if rule.startswith("catalog:"):
        return "catalog"
    if rule == "inferred:canary":
        return "canary"
    return rule.removeprefix("inferred:server-login-")


def _link_rank(evidence: Evidence) -> int:
    word = _link_word(evidence)
    return LINKS.index(word) if word in LINKS else len(LINKS)


def login_window(case: Case, flows: list[Flow]) -> tuple[float, float, str] | None:
    """(start, end, from): logins count from ``account_added`` on, else within the capture's time span
    (whole seconds, as logs write them); None when neither is known."""
    if case.account_added is not None:
        return case.account_added.timestamp(), math.inf, "account_added"
    firsts = [f.first_seen for f in flows if f.first_seen is not None]
    lasts = [f.last_seen if f.last_seen is not None else f.first_seen for f in flows if f.first_seen is not None]
    if not firsts:
        return None
    return float(math.floor(min(firsts))), float(math.ceil(max(lasts))), "capture"


def find_relays(
    flows: list[Flow],
    case: Case,
    *,
    leaks: Iterable[Finding] = (),
    logins: Iterable[Login] | None = None,
    devices: Iterable[str] | None = None,
    catalog=None,
    lookup: Lookup | None = None,
) -> RelayEvidence:
    """The relays behind the classified ``flows`` and, when no relay ties to the device's flows, the ranked
    candidates. ``devices``: the device's addresses (default: the case's and every client in ``flows``)."""
    owners = Owners(catalog, lookup)
    found = RelayEvidence()
    relays = _catalog_relays(flows) + _canary_relays(flows, list(leaks))
    window = login_window(case, flows)
    if window is not None:
        found.since, found.since_from = window[0], window[2]
    if logins is not None and flows and window is not None:
        mine = {_canon(a) for a in (devices if devices is not None else case.devices)}
        mine |= {_canon(f.client.ip) for f in flows}
        relays += _login_relays(flows, list(logins), mine, window, owners)
    found.relays = _merge(relays, owners)
    for relay in found.relays:
        _finish(relay, owners)
    contacted = any(f.category == "mail-host" for f in flows)
    if (not contacted and not found.relays) or any(r.link == "none" for r in found.relays):
        taken = {f.id for r in found.relays for f in r.flows}
        rest = [f for f in flows if f.id not in taken]
        found.candidates = rank_candidates(rest, case, owners)
    return found


def _catalog_relays(flows: list[Flow]) -> list[Relay]:
    by_owner: dict[str, Relay] = {}
    for flow in flows:
        if flow.category == "mail-relay" and flow.evidence is not None and flow.evidence.rule.startswith("catalog:"):
            relay = by_owner.setdefault(flow.owner or flow.server.ip, Relay(owner=flow.owner, basis=["catalog"]))
            relay.add(flow, flow.evidence)
    return list(by_owner.values())


def _canary_relays(flows: list[Flow], leaks: list[Finding]) -> list[Relay]:
    """Per host H the password was sent to: every flow to H's address or under H's name."""
    by_id = {f.id: f for f in flows}
    by_key: dict[str, list[Flow]] = {}  # server address, and "name:" + first name -> flows
    for flow in flows:
        if flow.category not in NEVER_RELAY:
            names = flow_names(flow)
            by_key.setdefault(flow.server.ip, []).append(flow)
            if names:
                by_key.setdefault("name:" + names[0], []).append(flow)
    by_host: dict[tuple[str, str], Relay] = {}
    for leak in leaks:
        if leak.kind != "credential-leak" or leak.details.get("secret") != "password":
            continue
        for fid in leak.flows:
            flow = by_id.get(fid)
            if flow is None or flow.category in NEVER_RELAY:
                continue
            names = flow_names(flow)
            host = (flow.server.ip, names[0] if names else "")
            relay = by_host.setdefault(host, Relay(basis=["canary"]))
            if not any(x is leak for x in relay.leaks):
                relay.leaks.append(leak)
                relay.frames.extend(leak.frames)
            evidence = Evidence("inferred:canary", str(leak.details.get("form", ""))[:40], "canary")
            for other in by_key.get(host[0], []) + (by_key.get("name:" + host[1], []) if host[1] else []):
                relay.add(other, evidence)
    return list(by_host.values())


def _login_relays(
    flows: list[Flow], logins: list[Login], devices: set[str], window: tuple[float, float, str], owners: Owners
) -> list[Relay]:
    start, end, _ = window
    linkable = [f for f in flows if f.category in LINKABLE]
    servers = {_canon(f.server.ip) for f in linkable}
    contacted = any(f.category == "mail-host" for f in flows)
    groups: dict[tuple, list] = {}
    for login in logins:
        address = _canon(login.address) if login.address else ""
        if not address or address in devices or login.time is None or not start <= login.time <= end:
            continue
        if contacted and address not in servers:  # could be the device itself, seen from outside its NAT
            continue
        own = owners.address(address)
        if own.catalog_owner:
            key: tuple = ("owner", own.catalog_owner.casefold())
        elif own.asn is not None:
            key = ("asn", own.asn)
        else:
            key = ("net", network_prefix(address) or address)
        groups.setdefault(key, []).append(login)
    relays = []
    for group in groups.values():
        addresses = _unique(_canon(x.address) for x in group)
        relay = Relay(basis=["server-login"], logins=group, login_addresses=addresses)
        blocks: dict[Ownership, set[str]] = {}  # the login addresses' owners, each with its /24s and /48s
        for address in addresses:
            blocks.setdefault(owners.address(address), set()).add(network_prefix(address) or address)
        links = [(flow, _login_link(flow, set(addresses), blocks, owners)) for flow in linkable]
        links = [(flow, evidence) for flow, evidence in links if evidence is not None]
        if any(e.rule == "inferred:server-login-same-address" for _, e in links):  # the relay's own endpoint
            links = [(flow, e) for flow, e in links if e.rule == "inferred:server-login-same-address"]
        for flow, evidence in links:
            relay.add(flow, evidence)
        relays.append(relay)
    return relays


def _login_link(
    flow: Flow, addresses: set[str], blocks: dict[Ownership, set[str]], owners: Owners
) -> Evidence | None:
    """How a device flow ties to logins from ``addresses``: the same address, else the same owner (on a
    shared network: the same /24 or /48); None when it does not."""
    ip = _canon(flow.server.ip)
    if ip in addresses:
        return Evidence("inferred:server-login-same-address", ip, "server-log")
    mine = owners.flow(flow)
    for theirs, prefixes in blocks.items():
        if not same_owner(mine, theirs):
            continue
        if is_shared(mine) or is_shared(theirs):
            block = network_prefix(ip)
            if block is not None and block in prefixes:
                return Evidence("inferred:server-login-same-owner", block, "server-log")
            continue
        matched = mine.catalog_owner if mine.catalog_owner and theirs.catalog_owner else f"AS{mine.asn}"
        return Evidence("inferred:server-login-same-owner", matched, "server-log")
    return None


def _merge(relays: list[Relay], owners: Owners) -> list[Relay]:
    """One relay per service: relays that share a flow, or that the catalog (or one AS that is not a shared
    network) gives the same owner, are one."""
    parent = list(range(len(relays)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen_flow: dict[int, int] = {}
    seen_owner: dict[str, int] = {}
    for i, relay in enumerate(relays):
        keys = [seen_flow.setdefault(f.id, i) for f in relay.flows]
        owner = _known_owner(relay, owners).casefold()
        if owner:
            keys.append(seen_owner.setdefault(owner, i))
        for j in keys:
            parent[root(j)] = root(i)
    merged: dict[int, Relay] = {}
    for i, relay in enumerate(relays):
        into = merged.get(root(i))
        if into is None:
            merged[root(i)] = relay
            continue
        into.basis += relay.basis
        into.owner = into.owner or relay.owner
        for flow in relay.flows:
            into.add(flow, relay.links[flow.id])
        into.login_addresses += relay.login_addresses
        into.logins += relay.logins
        into.leaks += relay.leaks
        into.frames += relay.frames
    return list(merged.values())


def _known_owner(relay: Relay, owners: Owners) -> str:
    """The owner the catalog names, else the AS's unless that network is shared by many customers; never a
    name taken off the network; "" when unknown."""
    if relay.owner:  # a catalog relay
        return relay.owner
    known = [owners.address(a) for a in relay.login_addresses] + [owners.flow(f) for f in relay.flows]
    catalogued = next((o.catalog_owner for o in known if o.catalog_owner), "")
    if catalogued:
        return catalogued
    own = next((o for o in known if o.asn is not None), None)
    return own.name if own is not None and not is_shared(own) else ""


def _finish(relay: Relay, owners: Owners) -> None:
    """Owner, AS, link, and bounded, ordered evidence lists."""
    relay.basis = [b for b in BASES if b in relay.basis]
    relay.login_addresses = _unique(relay.login_addresses)
    relay.logins.sort(key=lambda x: (x.time is None, x.time or 0.0))
    relay.flows.sort(key=lambda f: f.id)
    relay.link = min((_link_word(e) for e in relay.links.values()), key=LINKS.index, default="none")
    sources = [owners.address(a) for a in relay.login_addresses] + [owners.flow(f) for f in relay.flows]
    with_as = next((o for o in sources if o.asn is not None), None)
    if with_as is not None:
        relay.asn, relay.as_org = with_as.asn, with_as.as_org
    common = Counter(f.owner for f in relay.flows if f.owner).most_common(1)
    relay.owner = (
        relay.owner
        or next((o.catalog_owner for o in sources if o.catalog_owner), "")
        or next((o.as_org for o in sources if o.as_org), "")
        or (common[0][0] if common else "")
        or next(iter(relay.login_addresses + relay.device_addresses), "?")
    )
    frames = relay.frames + [f.first_frame for f in relay.flows if f.first_frame]
    relay.frames = sorted(set(frames))[:MAX_FRAMES]
    firsts = {}
    for login in relay.logins:  # one line per address first, then the rest in time order
        firsts.setdefault(login.address, login)
    quoted = list(firsts.values()) + [x for x in relay.logins if firsts.get(x.address) is not x]
    relay.log_lines = [x.raw for x in quoted[:MAX_QUOTED]]


# ---- candidates --------------------------------------------------------------------------------------------


def _service_name(names: list[str]) -> bool:
    return any(word in SERVICE_WORDS for name in names for word in re.split(r"[.\-_]", name.lower()))


def rank_candidates(flows: list[Flow], case: Case, owners: Owners) -> list[Candidate]:
    """The device's destinations that could be the relay, best first, each with its reasons."""
    flows = [f for f in flows if f.category in CANDIDATE_CATEGORIES]
    named: dict[str, str] = {}  # address -> the owner its named flows have (a flow without names joins them)
    for flow in flows:
        if flow.owner and flow_names(flow):
            named.setdefault(flow.server.ip, flow.owner)
    groups: dict[str, list[Flow]] = {}
    for flow in flows:
        key = flow.owner if flow.owner and flow_names(flow) else named.get(flow.server.ip, flow.owner)
        groups.setdefault(key or flow.server.ip, []).append(flow)
    if not groups:
        return []
    candidates = [Candidate(owner=owner, flows=group) for owner, group in groups.items()]
    most = max(c.bytes for c in candidates)
    earliest = min(c.first_seen for c in candidates)
    added = case.account_added.timestamp() if case.account_added is not None else None
    for c in candidates:
        own = next((owners.flow(f) for f in c.flows if owners.flow(f).asn is not None), None)
        if own is not None:
            c.asn, c.as_org = own.asn, own.as_org
        checks = {
            "mail-protocol": any(f.category == "other-mail" or f.server.port in MAIL_PORTS for f in c.flows),
            "long-lived": any(f.duration > LONG_LIVED_SECONDS for f in c.flows),
            "repeated": len(c.flows) >= 2,
            "tls": any(f.app_protocol in ("tls", "quic") or f.server.port in TLS_PORTS for f in c.flows),
            "most-bytes": most > 0 and c.bytes == most,
            "near-account-added": added is not None and added - 5 <= c.first_seen <= added + NEAR_SECONDS,
            "earliest": len(candidates) > 1 and c.first_seen == earliest,
            "shared-network": any(is_shared(owners.flow(f)) for f in c.flows),
            "service-name": _service_name([n for f in c.flows for n in flow_names(f)]),
        }
        c.reasons = [word for word, hit in checks.items() if hit]
        c.score = sum(WEIGHTS[w] for w in c.reasons) + (c.bytes / most if most else 0.0)
    candidates.sort(key=lambda c: (-c.score, -c.bytes, c.first_seen, c.owner))
    return candidates[:MAX_CANDIDATES]
