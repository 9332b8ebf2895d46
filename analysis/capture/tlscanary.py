"""The canary inside TLS (``--keylog``): tshark decrypts, the clients' plaintext is searched for every form of the
password (and the account's names), as the clear text is.

``tshark -P -x`` prints, per frame, a summary line (our columns: frame number, source address and port,
destination address and port) and a hex dump of each of the frame's data sources: ``Decrypted TLS`` (the
plaintext of the frame's TLS records) and what dissectors make of it (``Decompressed Header``: HTTP/2 headers
out of HPACK; ``Uncompressed entity body``, ``De-chunked entity body``; ``Unmasked data`` of WebSocket...). Per
flow, the decrypted bytes its client sent are searched as one stream (forms split over records or segments are
found); each derived source alone. The plaintext lives only in this process's memory while it is searched: a
hit keeps the flow, the secret, its form and the frame, never a byte of the payload. No TLS of our own: tshark
decrypts.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import threading
from collections.abc import Iterator

from analysis.addresses import canonical
from analysis.canary import TCP, CanaryMatch, CanaryMatcher, CanaryStream
from analysis.errors import InputError
from analysis.model import CanaryHit, Flow

MAX_HITS = 10_000
CHUNK = 1 << 16  # decrypted bytes gathered before a search (bounds the memory of one data source)
MAX_FILTER_CLIENTS = 256  # more client addresses than this: tshark prints every TLS frame, ours are picked here
COLUMNS = ("frame.number", "ip.src||ipv6.src", "tcp.srcport", "ip.dst||ipv6.dst", "tcp.dstport")
DECRYPTED = "Decrypted TLS"
SKIPPED = ("Frame", "Reassembled")  # the raw frame (searched in clear already) and reassembled copies
SOURCE_WORDS = {  # tshark's data source -> the words of a finding's "where"
    "Decompressed Header": "HTTP/2 header",
    "Uncompressed entity body": "HTTP body (decompressed)",
    "De-chunked entity body": "HTTP body (de-chunked)",
    "Unmasked data": "WebSocket message (unmasked)",
}
_HEX = re.compile(rb"([0-9a-f]{4,8})  ((?:[0-9a-f]{2} ){0,15}[0-9a-f]{2})(?:  |$)")
_HEADING = re.compile(rb"(.{1,80}) \(\d+ bytes?\):$")

FlowKey = frozenset  # {(address, port), (address, port)}


def _source_filter(clients: set[str]) -> str:
    """``ip.src in {...} || ipv6.src in {...}`` for a few client addresses as the flows write them ("": any)."""
    try:
        addrs = {ipaddress.ip_address(a) for a in clients}
    except ValueError:
        return ""
    if not 0 < len(addrs) <= MAX_FILTER_CLIENTS:
        return ""
    parts = []
    for field, version in (("ip.src", 4), ("ipv6.src", 6)):
        chosen = sorted(str(a) for a in addrs if a.version == version)
        if chosen:
            parts.append(f"{field} in {{{', '.join(chosen)}}}")
    return " || ".join(parts)


def tshark_command(tshark: str, capture_path: str, keylog_path: str, clients: set[str]) -> list[str]:
    """tshark printing the TLS frames (of ``clients``, when they are few) with our columns and hex dumps."""
    columns = ",".join(f'"{k}","%Cus:{name}"' for k, name in enumerate(COLUMNS))
    sources = _source_filter(clients)
    return [tshark, "-n", "-r", capture_path, "-o", f"tls.keylog_file:{keylog_path}",
            "-o", "tcp.desegment_tcp_streams:TRUE", "-o", "tls.desegment_ssl_records:TRUE",
            "-o", f"gui.column.format:{columns}", "-Y", f"tls && ({sources})" if sources else "tls", "-P", "-x"]


class _Search:
    """The hits of one capture: a stream per flow for its client's decrypted bytes, one per derived source; the
    first hit of each (flow, secret, form) is kept."""

    def __init__(self, matcher: CanaryMatcher, flows: dict[FlowKey, Flow]) -> None:
        self.matcher = matcher
        self.flows = flows
        self.hits: dict[tuple[int, str, str], CanaryHit] = {}
        self._streams: dict[int, CanaryStream] = {}
        self._derived: CanaryStream | None = None  # the derived source being read

    def next_source(self) -> None:
        self._derived = None

    def search(self, flow: Flow, source: str, data: bytes, frame: int) -> None:
        """``data``: the next bytes of ``source`` (the whole source, or CHUNK bytes of a larger one)."""
        if source == DECRYPTED:
            stream = self._streams.get(flow.id)
            if stream is None:
                stream = self._streams[flow.id] = self.matcher.stream()
            self._keep(flow, stream.feed(data), TCP, frame)
            return
        if self._derived is None:
            self._derived = self.matcher.stream()
        self._keep(flow, self._derived.feed(data), SOURCE_WORDS.get(source, source.lower()), frame)

    def _keep(self, flow: Flow, found: list[CanaryMatch], where: str, frame: int) -> None:
        for match in found:
            key = (flow.id, match.label, match.form)
            if key not in self.hits and len(self.hits) < MAX_HITS:
                self.hits[key] = CanaryHit(flow.id, match.label, match.form, match.severity,
                                           f"{where} (frame {frame})", frame, inside_tls=True)


def endpoint(address: str, port: int) -> tuple[str, int]:
    """An address and port as flows are keyed here (the canonical address text)."""
    return canonical(address) or address, port


def _client_flow(line: bytes, flows: dict[FlowKey, Flow]) -> tuple[Flow, int] | None:
    """The flow of a summary line whose frame its client sent, and the frame number (else None)."""
    words = line.decode("ascii", "replace").split()
    if len(words) != len(COLUMNS) or not words[0].isdigit():
        return None
    src, sport, dst, dport = (w.split(",")[-1] for w in words[1:])  # tunnels: the innermost header is last
    if not (sport.isdigit() and dport.isdigit()):
        return None
    a, b = endpoint(src, int(sport)), endpoint(dst, int(dport))
    flow = flows.get(frozenset((a, b)))
    if flow is None or endpoint(flow.client.ip, flow.client.port) != a:
        return None
    return flow, int(words[0])


def search_output(lines: Iterator[bytes], search: _Search) -> None:
    """Feed tshark's ``-P -x`` output to ``search``, a data source at a time, CHUNK bytes at most at once."""
    flow: Flow | None = None
    frame, source, data = 0, "", bytearray()

    def flush() -> None:
        if flow is not None and data and not source.startswith(SKIPPED):
            search.search(flow, source, bytes(data), frame)
        data.clear()

    for raw in lines:
        line = raw.rstrip(b"\r\n")
        hexed = _HEX.match(line)
        if hexed:
            if flow is not None and not source.startswith(SKIPPED):
                data += bytes.fromhex(hexed.group(2).decode())
                if len(data) >= CHUNK:
                    flush()
            continue
        flush()
        search.next_source()
        if not line:
            continue
        heading = _HEADING.match(line)
        if heading:
            source = heading.group(1).decode("ascii", "replace")
            continue
        found = _client_flow(line, search.flows)
        flow, frame = found if found else (None, 0)
        source = "Frame"  # a frame with one data source prints its hex dump without a heading
    flush()


def tls_hits(tshark: str, capture_path: str, keylog_path: str, flows: dict[FlowKey, Flow],
             matcher: CanaryMatcher, timeout: float) -> list[CanaryHit]:
    """The canary hits in what the clients of ``flows`` (the TCP flows of one input, keyed by their two
    ``endpoint``s) sent inside TLS, decrypted by tshark with ``keylog_path``."""
    search = _Search(matcher, flows)
    clients = {flow.client.ip for flow in flows.values()}
    try:
        proc = subprocess.Popen(tshark_command(tshark, capture_path, keylog_path, clients),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise InputError(capture_path, f"tshark could not decrypt with the key log: {exc}") from None
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    last_error = [b""]

    def drain() -> None:  # stderr is read to its end (a full pipe would stall tshark); its last lines kept
        for chunk in iter(lambda: proc.stderr.read(4096), b""):
            last_error[0] = (last_error[0] + chunk)[-4096:]

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        search_output(iter(proc.stdout.readline, b""), search)
    finally:
        proc.stdout.close()
        code = proc.wait()
        timer.cancel()
        reader.join(5)
    if code != 0:
        lines = last_error[0].decode("utf-8", "replace").strip().splitlines()
        reason = f"timed out after {timeout:.0f} s" if timed_out.is_set() else (lines[-1] if lines else code)
        raise InputError(capture_path, f"tshark failed while decrypting with the key log: {reason}")
    return list(search.hits.values())
