"""What DNS taught us: which names resolve to which addresses (following CNAME chains).

One ``DnsMap`` serves the flow table (names per flow), the classifier (the mail host's addresses) and the
live addon (names from ``dns_response``). Names are compared case-insensitively without a trailing dot;
addresses are compared in canonical text form (analysis.addresses), so ``2001:DB8::1`` equals ``2001:db8::1``.
"""

from __future__ import annotations

from collections.abc import Iterable

from analysis.addresses import canonical
from analysis.model import DnsEntry, Flow

MAX_NAMES = 200_000  # bound on distinct names kept (a hostile capture cannot grow the map without limit)
CACHE_LIMIT = 65_536  # server addresses whose names DnsNames keeps at once


def _key(name: str) -> str:
    return name.strip().rstrip(".").lower()


class DnsMap:
    """Name -> addresses and address -> names, built from DnsEntry records (or single answers)."""

    __slots__ = ("_spelling", "_queried", "_addresses", "_cnames", "_reverse")

    def __init__(self, entries: Iterable[DnsEntry] = ()) -> None:
        self._spelling: dict[str, str] = {}  # key -> name as first seen (no trailing dot)
        self._queried: dict[str, None] = {}  # keys that were asked for, in first-seen order
        self._addresses: dict[str, dict[str, None]] = {}  # key -> addresses it resolved to directly
        self._cnames: dict[str, dict[str, None]] = {}  # key -> CNAME target keys
        self._reverse: dict[str, list[str]] | None = None  # address -> names; rebuilt after changes
        for entry in entries:
            self.add_entry(entry)

    def _name(self, name: str) -> str | None:
        key = _key(name)
        if not key:
            return None
        if key not in self._spelling:
            if len(self._spelling) >= MAX_NAMES:
                return None
            self._spelling[key] = name.strip().rstrip(".")
        return key

    def add_entry(self, entry: DnsEntry) -> None:
        """Learn from one query name: its answers are addresses and CNAME targets, in answer order.

        A flattened answer list loses which record owned an address, so every CNAME target in the list
        is taken to resolve to the addresses listed after it (the usual chain order of DNS answers).
        """
        query = self._name(entry.query)
        if query is None:
            return
        self._queried.setdefault(query, None)
        self.add_answers(query, entry.answers)

    def add_answers(self, name: str, answers: Iterable[str]) -> None:
        """``name`` resolved to these values (addresses or CNAME targets, in answer order)."""
        owner = self._name(name)
        if owner is None:
            return
        self._reverse = None
        chain = [owner]
        for value in answers:
            ip = canonical(value)
            if ip is not None:
                for holder in chain:
                    self._addresses.setdefault(holder, {})[ip] = None
                continue
            target = self._name(value) if value else None
            if target is None or target == chain[-1]:
                continue
            self._cnames.setdefault(chain[-1], {})[target] = None
            chain.append(target)

    def add_address(self, name: str, address: str) -> None:
        """One A/AAAA record (the live addon learns records one by one)."""
        self.add_answers(name, [address])

    def add_cname(self, name: str, target: str) -> None:
        """One CNAME record: ``name`` is an alias of ``target``."""
        owner, dest = self._name(name), self._name(target)
        if owner is None or dest is None or owner == dest:
            return
        self._reverse = None
        self._cnames.setdefault(owner, {})[dest] = None

    def addresses_for(self, name: str) -> set[str]:
        """Every address ``name`` resolved to, directly or through CNAMEs (loop-safe)."""
        start = _key(name)
        seen = {start}
        todo = [start]
        found: set[str] = set()
        while todo:
            key = todo.pop()
            found.update(self._addresses.get(key, ()))
            for target in self._cnames.get(key, ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return found

    def names_for(self, ip: str) -> list[str]:
        """Names that resolved to ``ip``: query names first (first-seen order), then CNAME-only names."""
        if self._reverse is None:
            self._reverse = self._build_reverse()
        canon = canonical(ip)
        return list(self._reverse.get(canon, ())) if canon else []

    def names(self) -> list[str]:
        """Every name known, query names first."""
        return [self._spelling[k] for k in self._ordered_keys()]

    def _ordered_keys(self) -> list[str]:
        rest = [k for k in self._spelling if k not in self._queried]
        return list(self._queried) + rest

    def _build_reverse(self) -> dict[str, list[str]]:
        reverse: dict[str, list[str]] = {}
        for key in self._ordered_keys():
            for ip in self.addresses_for(key):
                reverse.setdefault(ip, []).append(self._spelling[key])
        return reverse

    def __len__(self) -> int:
        return len(self._spelling)


def attach_dns_names(flows: Iterable[Flow], entries: list[DnsEntry]) -> None:
    """Add to each flow's ``names.dns`` every name that resolved to its server address."""
    DnsNames(entries).attach(flows)


class DnsNames:
    """``attach_dns_names`` for flows that come in parts: the map is built once."""

    def __init__(self, entries: list[DnsEntry]) -> None:
        self._map = DnsMap(entries)
        self._cache: dict[str, list[str]] = {}  # server address -> its names

    def attach(self, flows: Iterable[Flow]) -> None:
        if not len(self._map):
            return
        cache = self._cache
        for flow in flows:
            ip = flow.server.ip
            names = cache.get(ip)
            if names is None:
                if len(cache) >= CACHE_LIMIT:
                    cache.clear()
                names = cache[ip] = self._map.names_for(ip)
            for name in names:
                flow.names.add("dns", name)


ADDRESS_TYPES = frozenset({"A", "AAAA", "CNAME"})


class DnsEntries:
    """Builds one DnsEntry per query name (case-insensitive) from DNS messages as they are parsed.

    A message needs ``is_response``, ``questions`` [(name, type)] and ``answers`` [records with
    ``rtype`` and ``value``]; a response's A/AAAA/CNAME values become answers of its first question.
    Memory is bounded by the number of names, not of messages.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, DnsEntry] = {}

    def add(self, frame: int, client: str, msg: object) -> None:
        entries = self._entries
        first: DnsEntry | None = None
        for name, qtype in getattr(msg, "questions", ())[:16]:
            key = _key(name)
            if not key:
                continue
            entry = entries.get(key)
            if entry is None:
                if len(entries) >= MAX_NAMES:
                    continue
                entry = entries[key] = DnsEntry(query=name.rstrip("."), first_frame=frame, client=client)
            elif frame < entry.first_frame:
                entry.first_frame, entry.client = frame, client
            if qtype and qtype not in entry.types:
                entry.types.append(qtype)
            first = first or entry
        if first is None or not getattr(msg, "is_response", False):
            return
        for rec in getattr(msg, "answers", ()):
            if rec.rtype in ADDRESS_TYPES and rec.value and rec.value not in first.answers:
                if len(first.answers) < 64:
                    first.answers.append(rec.value)

    def take(self, client: str | None, messages: list) -> None:
        """Add a flow's parsed ``(frame, ts, message)`` list and empty it (no client: the flow is not on
        port 53, its messages are dropped)."""
        if client is not None:
            for frame, _ts, msg in messages:
                self.add(frame, client, msg)
        messages.clear()

    def entries(self) -> list[DnsEntry]:
        """The entries in order of their first frame."""
        return sorted(self._entries.values(), key=lambda e: e.first_frame)


def entries_from_messages(messages: Iterable[tuple[int, str, object]]) -> list[DnsEntry]:
    """One DnsEntry per query name from ``(frame, client_ip, DnsMessage)`` triples (see DnsEntries)."""
    builder = DnsEntries()
    for frame, client, msg in sorted(messages, key=lambda m: m[0]):
        builder.add(frame, client, msg)
    return builder.entries()
