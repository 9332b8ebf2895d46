"""Per-flow payload inspection: the bridge between the flow table and the pure protocol parsers.

Interface (the flow table relies on it; the body is being filled in):
- ``FlowInspector(transport, client_port, server_port)`` is created when a flow starts;
- ``feed(from_client, payload, frame, ts, seq=None, tcp_flags=0)`` is called for each packet with
  payload while ``done`` is False (TCP: ``seq`` is the sequence number of the payload's first byte);
- ``dns`` lists ``(frame, ts, DnsMessage)`` for every DNS message parsed in the flow;
- ``apply(flow)`` writes what was learned into the Flow record (app_protocol, starttls, names, ...).

TCP payload is put back in sequence order per direction (retransmissions dropped, out-of-order segments
held, a SYN fed with empty payload gives the ISN), at most ``STREAM_LIMIT`` bytes per direction. ``done``
turns True as soon as nothing more can be learned: after a ClientHello, an HTTP request head, a QUIC or
gQUIC ClientHello; mail sessions are followed until STARTTLS and its ClientHello, DNS until a bound.
"""

from __future__ import annotations

from typing import NamedTuple

from analysis.model import Flow
from analysis.protocols import dns as dnsp
from analysis.protocols import gquic, http, mail, quic, socks, tls

STREAM_LIMIT = 65536  # bytes reassembled per direction
MAX_PENDING = 16  # out-of-order segments held per direction before the gap is given up
MAX_FRAME_MARKS = 256
MAX_DNS = 16384  # DNS messages kept per flow (a resolver link may reuse one port pair)
MAX_UDP_PROBES = 16  # client datagrams looked at for QUIC/gQUIC, requests for SSDP
SSDP_PORT = 1900  # HTTP over UDP (SSDP): Wireshark dissects it on this port only, either side
UNKNOWN_LIMIT = 2048  # bytes per direction without recognising anything -> give up
SERVER_TLS_LIMIT = 4096  # server bytes read for its answer to a ClientHello (ServerHello, alert, ...)
SYN = 0x02


class Inspection(NamedTuple):
    """What one flow's payload showed; ``apply_inspection`` writes it into the flow record (a plain tuple of
    these fields too: a second process sends them so, as plain tuples load several times faster)."""

    app_protocol: str
    sni: list[str]
    http_hosts: list[str]
    alpn: list[str]
    starttls: bool
    auth_mechanisms: list[str]
    cleartext_credentials: bool
    credential_frames: list[int]
    notes: list[str]
    tls_established: bool | None  # the server answered the ClientHello with a ServerHello or later; None: QUIC


def apply_inspection(result: tuple, flow: Flow) -> None:
    """Write an ``Inspection`` (or a plain tuple of its fields) into ``flow``."""
    app_protocol, sni, http_hosts, alpn, starttls, mechanisms, cleartext, credential_frames, notes, tls_ok = result
    flow.tls_established = tls_ok
    for name in sni:
        flow.names.add("sni", name)
    for host in http_hosts:
        flow.names.add("http_host", host)
    for proto in alpn:
        if proto not in flow.alpn:
            flow.alpn.append(proto)
    flow.starttls = flow.starttls or starttls
    for mech in mechanisms:
        if mech not in flow.auth_mechanisms:
            flow.auth_mechanisms.append(mech)
    if cleartext:
        flow.cleartext_credentials = True
        flow.credential_frames = sorted(set(flow.credential_frames) | set(credential_frames))
    for note in notes:
        if note not in flow.notes:
            flow.notes.append(note)
    flow.app_protocol = app_protocol


class _Stream:
    """One direction of a TCP connection in sequence order, from ``offset`` (consumed bytes dropped)."""

    __slots__ = ("next_seq", "buf", "offset", "pending", "marks", "gaps", "full")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.buf = bytearray()
        self.offset = 0  # stream offset of buf[0]
        self.pending: dict[int, tuple[bytes, int]] = {}
        self.marks: list[tuple[int, int]] = []  # (stream offset, frame) where each appended segment starts
        self.gaps = 0
        self.full = False

    @property
    def end(self) -> int:
        return self.offset + len(self.buf)

    def frame_at(self, pos: int) -> int:
        found = self.marks[0][1] if self.marks else 0
        for start, frame in self.marks:
            if start > pos:
                break
            found = frame
        return found

    def _append(self, data: bytes, frame: int) -> None:
        room = STREAM_LIMIT - self.end
        if room <= 0:
            self.full = True
            return
        if len(data) > room:
            data, self.full = data[:room], True
        if len(self.marks) < MAX_FRAME_MARKS:
            self.marks.append((self.end, frame))
        self.buf += data

    def add(self, seq: int | None, data: bytes, frame: int, syn: bool = False) -> bool:
        """Add a segment; True when new in-order bytes were appended."""
        if seq is None:
            self._append(data, frame)
            return bool(data)
        if syn:
            if self.next_seq is None:
                self.next_seq = (seq + 1) & 0xFFFFFFFF
            seq = (seq + 1) & 0xFFFFFFFF
        if not data or self.full:
            return False
        if self.next_seq is None:
            self.next_seq = seq
        rel = (seq - self.next_seq) & 0xFFFFFFFF
        if rel >= 0x80000000:  # before next_seq: a retransmission, maybe with new bytes at its end
            rel -= 1 << 32
            if rel + len(data) <= 0:
                return False
            data, rel = data[-rel:], 0
        if rel > 0:
            if rel < (1 << 20) and seq not in self.pending:
                self.pending[seq] = (data, frame)
            if len(self.pending) >= MAX_PENDING:  # the gap will not be filled: skip it
                self.gaps += 1
                self.next_seq = min(self.pending, key=lambda s: (s - self.next_seq) & 0xFFFFFFFF)
                self._drain()
                return True
            return False
        self._consume(data, frame)
        self._drain()
        return True

    def _consume(self, data: bytes, frame: int) -> None:
        self._append(data, frame)
        self.next_seq = (self.next_seq + len(data)) & 0xFFFFFFFF

    def _drain(self) -> None:
        while self.pending and not self.full:
            best = None
            for seq in self.pending:
                rel = (seq - self.next_seq) & 0xFFFFFFFF
                if rel >= 0x80000000 or rel == 0:
                    best = seq
                    break
            if best is None:
                return
            data, frame = self.pending.pop(best)
            rel = (best - self.next_seq) & 0xFFFFFFFF
            if rel:  # starts before next_seq
                skip = (1 << 32) - rel
                if skip >= len(data):
                    continue
                data = data[skip:]
            self._consume(data, frame)

    def take(self, n: int) -> None:
        """Drop the first n buffered bytes (they have been parsed)."""
        del self.buf[:n]
        self.offset += n

    def release(self) -> None:
        self.buf = bytearray()
        self.pending.clear()


class FlowInspector:
    __slots__ = ("transport", "client_port", "server_port", "done", "dns",
                 "_c", "_s", "_mode", "_sni", "_alpn", "_hosts", "_app", "_mail",
                 "_tls_from", "_quic", "_probes", "_socks", "_tunnel", "_notes", "_parse_dns", "_tls_ok")

    def __init__(self, transport: str, client_port: int, server_port: int,
                 dns_cache: dnsp.MessageCache | None = None) -> None:
        """``dns_cache`` (shared by the flows of one capture) parses repeated DNS messages once."""
        self.transport = transport
        self.client_port = client_port
        self.server_port = server_port
        self.done = False
        self.dns: list = []
        # the streams are made by the first TCP segment (UDP flows never need them)
        self._c: _Stream = None  # type: ignore[assignment]
        self._s: _Stream = None  # type: ignore[assignment]
        self._parse_dns = dnsp.parse_message if dns_cache is None else dns_cache.parse
        # tls | http | mail | socks | connect | dns | other; None until the first bytes decide
        self._mode = "dns" if 53 in (server_port, client_port) else None
        self._sni: list[str] = []
        self._alpn: list[str] = []
        self._hosts: list[str] = []
        self._app: str | None = None  # what the payload showed: tls|http|dns|quic|imap|pop3|smtp|other
        self._mail: mail.MailSession | None = None
        self._tls_from: int | None = None  # client stream offset where TLS starts (after STARTTLS/SOCKS)
        self._tls_ok = False  # the server answered the ClientHello with a ServerHello (or later)
        self._quic: quic.InitialReader | None = None
        self._probes = 0
        self._socks: socks.SocksRequest | None = None
        self._tunnel: tuple[tuple[str, int], int] | None = None  # CONNECT target and request head length
        self._notes: list[str] = []

    # -- entry points -------------------------------------------------------------------------------

    def feed(self, from_client: bool, payload: bytes, frame: int, ts: float,
             seq: int | None = None, tcp_flags: int = 0) -> None:
        if self.done:
            return
        if self.transport != "tcp":
            self._datagram(from_client, payload, frame, ts)
            return
        if self._c is None:
            self._c, self._s = _Stream(), _Stream()
        stream = self._c if from_client else self._s
        if not stream.add(seq, payload, frame, bool(tcp_flags & SYN)):
            return
        try:
            self._step(from_client, frame, ts)
        finally:
            if self._c.full or self._s.full:  # past the bound: the sessions' order is lost from here on
                self._finish()

    def feed_at(self, from_client: bool, buf, start: int, end: int, frame: int, ts: float, seq: int | None,
                tcp_flags: int) -> None:
        """``feed`` with the payload given as ``buf[start:end]`` (the flow table's form)."""
        self.feed(from_client, buf[start:end], frame, ts, seq, tcp_flags)

    def apply(self, flow: Flow) -> None:
        apply_inspection(self.result(), flow)

    def result(self) -> Inspection:
        """What was learned, as plain values (the inspector itself holds parser state)."""
        session = self._mail
        tls_ok = None if self._app == "quic" else self._tls_ok
        if session is None:
            return Inspection(self.app_protocol(), self._sni, self._hosts, self._alpn, False, [], False, [],
                              self._notes, tls_ok)
        return Inspection(self.app_protocol(), self._sni, self._hosts, self._alpn, session.starttls,
                          list(session.mechanisms), session.cleartext_credentials,
                          list(session.credential_frames), self._notes, tls_ok)

    def app_protocol(self) -> str:
        """The contract's app_protocol word for what was seen (the port decides only when nothing was)."""
        app, port = self._app, self.server_port
        if app in ("imap", "pop3", "smtp"):
            return mail.app_protocol(app, port) or "other"
        if app == "tls":
            return mail.app_protocol(None, port, tls=True) or "tls"
        if app in ("http", "dns", "quic"):
            return app
        if app is None and self._mode != "other":
            if self.transport == "udp" or port == 53:
                return "dns" if port == 53 else "other"
            return mail.app_protocol(None, port, tls=None) or "other"
        if self._mode == "other" and self.transport == "tcp" and self._mail is None:
            # unreadable payload (e.g. the capture began mid-session) on a plaintext mail port
            return mail.app_protocol(None, port) or "other"
        return "other"

    # -- UDP ------------------------------------------------------------------------------------------

    def _datagram(self, from_client: bool, payload: bytes, frame: int, ts: float) -> None:
        if self._mode == "dns":
            msg = self._parse_dns(payload)
            if msg is not None:
                self._app = "dns"
                self.dns.append((frame, ts, msg))
                if len(self.dns) >= MAX_DNS:
                    self._finish()
            return
        if not payload:
            return
        if SSDP_PORT in (self.client_port, self.server_port) and http.looks_like_request(bytes(payload[:12])):
            self._udp_http(payload)
            return
        if not from_client:
            if self._app is None and payload[0] & 0x80 and quic.parse_long_header(payload) is not None \
                    and quic.version_salt(int.from_bytes(payload[1:5], "big")) is not None:
                self._app = "quic"
            return
        self._probes += 1
        if self._probes > MAX_UDP_PROBES:
            self._finish()
            return
        if payload[0] & 0x80 and len(payload) > 5 and quic.version_salt(int.from_bytes(payload[1:5], "big")):
            self._app = "quic"
            if self._quic is None:
                self._quic = quic.InitialReader()
            self._quic.add_datagram(payload)
            ch = self._quic.client_hello
            if ch is not None:
                self._hello(ch)
                self._finish()
            elif self._quic.failed:
                self._finish()
            return
        hello = gquic.parse_client_hello(payload) if payload[0] & 0x81 else None
        if hello is not None:
            self._app = "quic"
            if hello.sni:
                self._add(self._sni, hello.sni)
            self._notes.append(f"gQUIC {hello.version}")
            self._finish()
        elif gquic.gquic_version(payload) is not None:
            self._app = "quic"
        elif self._app is None and self._probes >= 4:
            self._finish()  # neither QUIC nor gQUIC: nothing to learn from this UDP flow

    def _udp_http(self, payload: bytes) -> None:
        """An SSDP request (``M-SEARCH``, ``NOTIFY``): its Host header, as Wireshark's ``http.host``. A datagram
        is a whole message: a head without its blank line is read as it is. Bounded: the first MAX_UDP_PROBES
        requests of the flow."""
        self._probes += 1
        req = http.parse_request_head(bytes(payload) + b"\r\n\r\n")[1]
        if req is not None and req.host:
            self._add(self._hosts, req.host)
        if self._probes >= MAX_UDP_PROBES:
            self._finish()

    # -- TCP ------------------------------------------------------------------------------------------

    def _step(self, from_client: bool, frame: int, ts: float) -> None:
        mode = self._mode
        if mode is None:
            mode = self._detect()
            if mode is None:
                return
        if mode == "dns":
            self._dns_tcp(self._c if from_client else self._s, frame, ts)
        elif mode == "tls":
            self._tls()
        elif mode == "tls-server":
            self._server_tls()
        elif mode == "http":
            self._http()
        elif mode == "mail":
            self._mail_step()
        elif mode == "socks":
            self._socks_step()
        elif mode == "connect":
            self._connect_step()
        else:
            self._finish()

    def _detect(self) -> str | None:
        """Decide the protocol from the first bytes of either direction."""
        c, s = self._c, self._s
        mode = None
        if c.buf and c.offset == 0:
            head = bytes(c.buf[:16])
            if tls.looks_like_tls(head) or (len(head) < 3 and head[:1] == b"\x16"):
                mode = "tls"
            elif http.looks_like_request(head):
                mode = "http"
            elif head[0] in (4, 5) and socks.parse_client(bytes(c.buf))[0] != "no":
                mode = "socks"
        proto = None
        if mode is None:
            proto = mail.recognise(mail.first_line(s.buf), mail.first_line(c.buf), self.server_port)
            if proto:
                self._mail = mail.MailSession(proto)
                self._app = proto
                mode = "mail"
        if mode is None and (proto == "" or len(c.buf) > UNKNOWN_LIMIT or len(s.buf) > UNKNOWN_LIMIT):
            mode = "other"
        self._mode = mode
        return mode

    def _finish(self) -> None:
        self.done = True
        if self._c is not None:
            self._c.release()
            self._s.release()
        self._quic = None

    def _add(self, bucket: list[str], value: str) -> None:
        if value and value not in bucket and len(bucket) < 16:
            bucket.append(value)

    def _hello(self, ch: tls.ClientHello) -> None:
        if ch.sni:
            self._add(self._sni, ch.sni)
        for proto in ch.alpn:
            self._add(self._alpn, proto)

    def _dns_tcp(self, stream: _Stream, frame: int, ts: float) -> None:
        messages, rest = dnsp.split_tcp(bytes(stream.buf))
        stream.take(len(stream.buf) - len(rest))
        for raw in messages:
            msg = self._parse_dns(raw)
            if msg is not None:
                self._app = "dns"
                self.dns.append((frame, ts, msg))
        if len(self.dns) >= MAX_DNS:
            self._finish()

    def _tls(self) -> None:
        c = self._c
        start = (self._tls_from or 0) - c.offset
        if start < 0:
            self._finish()
            return
        status, ch = tls.parse_client_hello_stream(bytes(c.buf[start:]))
        if status == "need-more" and not c.full:
            return
        if status == "ok" and ch is not None:
            self._hello(ch)
            if self._app in (None, "other", "http"):  # "http": TLS inside an HTTP CONNECT tunnel
                self._app = "tls"
            self._mode = "tls-server"  # then the server's answer: did the handshake go on?
            self._server_tls()
            return
        if self._app is None:
            self._app = "other"
        self._finish()

    def _server_tls(self) -> None:
        """After the ClientHello: the server's first TLS records (``tls_established``: a ServerHello or a
        later message came back). After STARTTLS the server's last text line may still lead its stream."""
        s = self._s
        buf = bytes(s.buf[:SERVER_TLS_LIMIT])
        if self._mail is not None:
            buf = _after_lines(buf)
        status = tls.server_answer(buf)
        if status == "need-more" and not s.full and len(s.buf) < SERVER_TLS_LIMIT:
            return
        self._tls_ok = status == "established"
        self._finish()

    def _http(self) -> None:
        status, req = http.parse_request_head(bytes(self._c.buf))
        if status == "need-more" and not self._c.full:
            return
        if req is not None:
            self._app = "http"
            host = req.host or (req.target if req.method == "CONNECT" else None)
            if host:
                self._add(self._hosts, host)
            target = http.connect_target(req.target) if req.method == "CONNECT" else None
            if target is not None:  # a proxy tunnel: read what goes through it once the proxy agreed
                self._tunnel = (target, req.head_length)
                self._mode = "connect"
                self._connect_step()
                return
        else:
            self._app = "other"
        self._finish()

    def _connect_step(self) -> None:
        assert self._tunnel is not None
        (host, port), request_length = self._tunnel
        status, code, length = http.parse_response_head(bytes(self._s.buf))
        if status == "need-more" and not self._s.full:
            return
        if status != "ok" or not 200 <= code < 300:
            self._finish()
            return
        self._notes.append(f"HTTP CONNECT tunnel to {host}:{port}")
        self._enter_tunnel(request_length, length, port)

    def _socks_step(self) -> None:
        c, s = self._c, self._s
        if self._socks is None:
            status, req = socks.parse_client(bytes(c.buf))
            if status == "need-more" and not c.full:
                return
            if req is None:
                self._mode = "other"
                self._finish()
                return
            self._socks = req
            self._notes.append(f"SOCKS{req.version} tunnel to {req.host}:{req.port}")
        status, length = socks.server_length(self._socks.version, bytes(s.buf))
        if status == "need-more" and not s.full:
            return
        if status != "ok":
            self._finish()
            return
        self._enter_tunnel(self._socks.client_length, length, self._socks.port)

    def _enter_tunnel(self, client_length: int, server_length: int, port: int) -> None:
        """Drop a proxy handshake (SOCKS, HTTP CONNECT) and read the tunnel like a new connection."""
        c, s = self._c, self._s
        if len(c.buf) < client_length or len(s.buf) < server_length:
            self._finish()
            return
        c.take(client_length)
        s.take(server_length)
        for stream in (c, s):  # the tunnel's streams start here
            first = stream.frame_at(stream.offset)
            stream.marks = [(0, first)] if stream.marks else []
            stream.offset = 0
        self.server_port = port  # the protocol inside follows the tunnel's target port
        self._mode = None
        if c.buf or s.buf:
            mode = self._detect()
            if mode == "tls":
                self._tls()
            elif mode == "http":
                self._http()
            elif mode == "mail":
                self._mail_step()

    # -- mail -----------------------------------------------------------------------------------------

    def _lines(self, stream: _Stream, client: bool) -> None:
        """Feed the mail session the complete lines of ``stream`` (the buffer is trimmed once, at the end)."""
        assert self._mail is not None
        used = self._mail.feed(client, stream.buf, lambda i: stream.frame_at(stream.offset + i))
        if used:
            stream.take(used)

    def _mail_step(self) -> None:
        session = self._mail
        assert session is not None
        c, s = self._c, self._s
        if session.starttls and self._tls_from is not None:
            self._tls()
            return
        self._lines(s, client=False)
        self._lines(c, client=True)
        if session.awaiting_tls:
            if session.starttls or (c.buf and tls.looks_like_tls(bytes(c.buf[:3]))):
                session.starttls = True
                self._tls_from = c.offset
                self._tls()
                return
            self._lines(s, client=False)
            if session.starttls:
                self._tls_from = c.offset
                self._tls()
                return


def _after_lines(buf: bytes, most: int = 4) -> bytes:
    """``buf`` from its first TLS record on, past up to ``most`` leading text lines (b"" while a line is
    still incomplete)."""
    for _ in range(most):
        if not buf or buf[0] in (20, 21, 22, 23):  # a TLS record's content type
            return buf
        nl = buf.find(b"\n")
        if nl < 0:
            return b""
        buf = buf[nl + 1:]
    return buf
