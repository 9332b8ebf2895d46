"""Tag every flow with a category and an owner, and record the evidence that decided.

Rules, first match wins:
1. the configured mail host, by name (SNI, then HTTP Host, then DNS) or by address (configured addresses
   and whatever the capture's DNS resolved a configured host name to);
2. the catalog by exact name, then by suffix (names in the same strength order), then by CIDR;
3. protocol fallbacks: a mail protocol to any other host is ``other-mail``, DNS is ``name-resolution``,
   DHCP, NTP and SSDP are ``platform``;
   but while no address of the named mail host is known (no DNS answer, no --mail-ip), a mail protocol to an
   address with no name at all (on a configured port, if any) is assumed to be the mail host;
4. ``unknown``, owned by the registrable domain of the best name, or by the address.

Per flow the cost is a few dict lookups (bounded by the number of names and labels), so the live
mitmproxy addon can call ``classify_flow`` as flows arrive.
"""

from __future__ import annotations

from collections.abc import Iterable

from analysis.addresses import canonical, packed, packed_text
from analysis.case import Case
from analysis.catalog import Catalog, CatalogEntry, normalize_name
from analysis.dnsmap import DnsMap
from analysis.model import Capture, DnsEntry, Evidence, Flow
from analysis.vocab import DNS_PORTS, MAIL_PORTS, MAIL_PROTOCOLS, UNSEEN, channel

PLATFORM_UDP_PORTS = frozenset({67, 68, 123, 1900})  # DHCP, NTP, SSDP: operating-system services
MEMO_LIMIT = 65536  # entries per per-address memo


class Classifier:
    """Classifies flows for one case with one catalog; learns DNS answers as they arrive."""

    def __init__(self, case: Case, catalog: Catalog) -> None:
        self.case = case
        self.catalog = catalog
        self.dns = DnsMap()
        self._host_names = {normalize_name(n) for n in case.mail_host_names()}
        self._host_ips = {ip for ip in map(canonical, case.mail_host_ips()) if ip}
        self._dns_host_ips: dict[str, str] = {}  # address -> configured host name it was resolved from
        self._owner_default = self._first_host_owner()
        self._host_ports = {h.port for h in case.mail_hosts if h.port}
        # per-address memos (bounded): address as written -> (canonical text, catalog ranges holding it);
        # canonical text -> DNS names (reset when DNS is learned)
        self._address: dict[str, tuple[str, tuple[tuple[str, CatalogEntry], ...]]] = {}
        self._names_of: dict[str, list[str]] = {}

    def _first_host_owner(self) -> str:
        for host in sorted(self._host_names):
            return self.catalog.registrable_domain(host)
        return ""

    def learn_dns(self, entries: Iterable[DnsEntry]) -> None:
        """Remember name <-> address answers (and which addresses the mail host names resolved to)."""
        touched = False
        for entry in entries:
            self.dns.add_entry(entry)
            touched = True
        if touched:
            self._names_of.clear()
        if touched and self._host_names:
            for host in sorted(self._host_names):
                for ip in self.dns.addresses_for(host):
                    self._dns_host_ips.setdefault(ip, host)

    def _assumable(self, proto: str, port: int) -> bool:
        """A mail protocol to an unnamed address while no address of the (named) mail host is known at all:
        taken as the mail host (evidence ``mail-host:assumed``; the verdict reports it)."""
        if not self._host_names or self._host_ips or self._dns_host_ips:
            return False
        if channel(proto, port) is None:
            return False
        ports = self._host_ports
        return not ports or port in ports

    def mail_host_addresses(self) -> set[str]:
        """Configured addresses plus those the capture's DNS resolved a configured host name to."""
        return self._host_ips | set(self._dns_host_ips)

    def classify_flow(self, flow: Flow) -> None:
        """Set ``flow.category``, ``flow.owner`` and ``flow.evidence``; adds DNS names the flow lacks."""
        text = flow.server.ip
        known = self._address.get(text)
        if known is None:
            known = _remember(self._address, text, self._read_address(text))
        ip, ranges = known
        if not flow.names.dns:
            names = self._names_of.get(ip)
            if names is None:
                names = _remember(self._names_of, ip, self.dns.names_for(ip)[:16])
            for name in names:
                flow.names.add("dns", name)
        category, owner, evidence = self._decide(flow, ip, ranges)
        flow.category, flow.owner, flow.evidence = category, owner, evidence

    def _read_address(self, text: str) -> tuple[str, tuple[tuple[str, CatalogEntry], ...]]:
        """The canonical text of a server address (as written when it is none) and the catalog ranges holding it."""
        raw = packed(text)
        if raw is None:
            return text, ()
        return packed_text(raw), self.catalog.ranges_of(4 if len(raw) == 4 else 6, int.from_bytes(raw))

    def _decide(self, flow: Flow, ip: str, ranges: tuple[tuple[str, CatalogEntry], ...]) -> tuple[str, str, Evidence]:
        seen = flow.names
        names = []
        if seen.sni or seen.http_host or seen.dns:  # most flows of a big capture have no name at all
            names = [(src, normalize_name(n)) for src, n in seen.all()]
            names = [(src, n) for src, n in names if n]
        port = flow.server.port
        # 1. the configured mail host
        for src, name in names:
            if name in self._host_names:
                return (
                    "mail-host",
                    self.catalog.registrable_domain(name),
                    Evidence("mail-host:name", name, src),
                )
        if ip in self._host_ips:
            return "mail-host", self._owner_default or ip, Evidence("mail-host:address", ip, "address")
        if ip in self._dns_host_ips:
            host = self._dns_host_ips[ip]
            return "mail-host", self.catalog.registrable_domain(host), Evidence("mail-host:dns", ip, "dns")
        # 2. the catalog: names (exact, then suffix, per name in strength order), then the address
        for src, name in names:
            hit = self.catalog.match_name(name, port)
            if hit is not None:
                return (
                    hit.category,
                    hit.owner,
                    Evidence(
                        f"catalog:{hit.rule}",
                        name if hit.rule == "exact" else hit.matched,
                        src,
                        hit.entry,
                        hit.source,
                    ),
                )
        hit = self.catalog.pick_range(ranges, port) if ranges else None
        if hit is not None:
            return (
                hit.category,
                hit.owner,
                Evidence("catalog:cidr", hit.matched, "address", hit.entry, hit.source),
            )
        # 3. protocol fallbacks
        owner = self.catalog.registrable_domain(names[0][1]) if names else ip
        proto = flow.app_protocol
        if not names and self._assumable(proto, port):
            return "mail-host", self._owner_default or ip, Evidence("mail-host:assumed", proto, "protocol")
        if proto in MAIL_PROTOCOLS:
            return "other-mail", owner, Evidence("fallback:protocol", proto, "protocol")
        if proto in UNSEEN and port in MAIL_PORTS:
            return "other-mail", owner, Evidence("fallback:port", str(port), "port")
        if proto == "dns" or (proto in UNSEEN and port in DNS_PORTS):
            return (
                "name-resolution",
                ip,
                Evidence(
                    "fallback:protocol" if proto == "dns" else "fallback:port",
                    proto if proto == "dns" else str(port),
                    "protocol" if proto == "dns" else "port",
                ),
            )
        if flow.transport == "udp" and proto in UNSEEN and port in PLATFORM_UDP_PORTS:
            return "platform", owner, Evidence("fallback:port", str(port), "port")
        # 4. unknown
        if names:
            return "unknown", owner, Evidence("unknown:name", names[0][1], names[0][0])
        return "unknown", ip, Evidence("unknown:address", ip, "address")


def _remember(memo: dict, key, value):
    """Store ``value`` in a bounded memo (cleared when full) and return it."""
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


def classify(capture: Capture, case: Case, catalog: Catalog) -> None:
    """Classify every flow of a loaded capture (the pipeline's entry point)."""
    classifier = Classifier(case, catalog)
    classifier.learn_dns(capture.dns)
    for flow in capture.flows:
        classifier.classify_flow(flow)
