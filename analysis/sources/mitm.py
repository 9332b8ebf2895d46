"""Read a mitmproxy flow file (``mitmdump -w``) into a Capture, through the one converter in mitmflows; with a
case, also the raw canary hits in what the clients sent (nothing here classifies).

A damaged file gives every flow read before the damage, with ``InputInfo.complete = False`` and the byte
offset of the first record that could not be read; a file that holds no readable flow is an InputError.
"""

from __future__ import annotations

import hashlib
import io
import os

from mitmproxy import exceptions
from mitmproxy.io import FlowReader

from analysis.canary import CanaryMatch
from analysis.case import Case
from analysis.errors import InputError
from analysis.model import CanaryHit, Capture, DnsEntry, Flow, InputInfo
from analysis.sources.mitmcanary import saved_hits
from analysis.sources.mitmflows import ProxyConnections, dns_entries

MAX_DNS_ENTRIES = 100_000
MAX_HITS = 10_000
_DAMAGE = (
    exceptions.FlowReadException, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError
)


class _Bounded(io.RawIOBase):
    """A read-only file whose reads never ask for more than what is left (a lying length prefix in a
    damaged file must not make the reader allocate terabytes)."""

    def __init__(self, fh, size: int) -> None:
        self._fh = fh
        self._size = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        left = max(0, self._size - self._fh.tell())
        return self._fh.read(left if n is None or n < 0 else min(n, left))

    def tell(self) -> int:
        return self._fh.tell()

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._fh.seek(pos, whence)

    def peek(self, n: int) -> bytes:
        pos = self._fh.tell()
        data = self._fh.read(n)
        self._fh.seek(pos)
        return data


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_mitm(path: str, input_index: int = 0, case: Case | None = None) -> Capture:
    """Flows, DNS entries and the input's description from one mitmproxy flow file; with a ``case``, also the
    hits of its canary (when set) and of the account's names in what the clients sent, the first place of each
    per flow, as the live addon finds them."""
    try:
        size = os.path.getsize(path)
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror}") from None
    info = InputInfo(path=path, format="mitm")
    table = ProxyConnections(source="mitm", input_index=input_index)
    dns: dict[str, DnsEntry] = {}
    good = 0  # offset just after the last flow read completely
    matcher = case.matcher() if case is not None else None
    found: dict[tuple[int, str, str], tuple[Flow, CanaryMatch, str]] = {}  # the first place of each, as live
    with fh:
        if size == 0:
            raise InputError(path, "empty file, not a mitmproxy flow file", 0)
        reader = FlowReader(_Bounded(fh, size))
        try:
            for mflow in reader.stream():
                good = fh.tell()
                info.packets += 1
                st = table.add_flow(mflow)
                if st is None:
                    continue
                if st.dns:
                    for entry in dns_entries(mflow, st.flow.client.ip):
                        _merge_dns(dns, entry)
                if matcher is not None and len(found) < MAX_HITS:
                    for match, where in saved_hits(matcher, mflow):
                        found.setdefault((id(st.flow), match.label, match.form), (st.flow, match, where))
        except _DAMAGE as exc:
            if info.packets == 0:
                raise InputError(path, f"not a mitmproxy flow file: {_why(exc)}", 0) from None
            info.complete = False
            info.error_offset = good
            info.warnings.append(f"unreadable flow record at offset {good}: {_why(exc)}")
    flows = table.pop_all()
    flows.sort(key=lambda f: (f.first_seen or 0.0, f.id))
    for number, f in enumerate(flows, 1):
        f.id = number
    info.sha256 = _sha256(path)
    hits = [CanaryHit(f.id, match.label, match.form, match.severity, where) for f, match, where in found.values()]
    return Capture(inputs=[info], flows=flows, dns=list(dns.values()), hits=hits)


def _why(exc: Exception) -> str:
    if isinstance(exc, RecursionError):  # mitmproxy's reader recurses once per level of nesting
        return "data nested too deeply"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _merge_dns(dns: dict[str, DnsEntry], entry: DnsEntry) -> None:
    key = entry.query.lower()
    have = dns.get(key)
    if have is None:
        if len(dns) < MAX_DNS_ENTRIES:
            dns[key] = entry
        return
    for t in entry.types:
        if t not in have.types:
            have.types.append(t)
    for a in entry.answers:
        if a not in have.answers and len(have.answers) < 64:
            have.answers.append(a)
