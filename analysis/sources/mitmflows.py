"""The one converter from mitmproxy flows to ``analysis.model.Flow`` records (live addon and ``.mitm`` files).

A record is one connection as a capture would count it: one per (client connection, server connection),
so the HTTP requests of one keep-alive connection are one Flow. ``bytes`` are payload bytes both ways
(HTTP: request/response line, headers and body as HTTP/1 would send them), ``packets`` are messages: a
proxy never sees frames. Per record only the first ``HEAD_LIMIT`` bytes of each direction are kept, to
recognise the application protocol.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mitmproxy import connection, dns, flow, http, tcp, udp

from analysis.addresses import canonical, is_address
from analysis.model import DnsEntry, Endpoint, Flow
from analysis.protocols import mail as mailproto

HEAD_LIMIT = 1024
MAX_DNS_VALUES = 64
MAIL_FEED_LIMIT = 64 * 1024  # mail protocol lines are followed this far into a connection
UNKNOWN_IP = "0.0.0.0"


def mail_protocol(server_port: int, server_head: bytes, tls: bool, client_head: bytes = b"") -> str | None:
    """The mail app protocol of a proxied TCP stream from its first bytes each way, None when it is not mail
    (analysis.protocols.mail decides; the proxy saw the connection open). ``tls``: implicit TLS."""
    dialogue = mailproto.recognise(mailproto.first_line(server_head), mailproto.first_line(client_head),
                                   server_port, whole=True)
    return mailproto.app_protocol(dialogue, server_port, tls)


def endpoint(addr) -> Endpoint | None:
    """A mitmproxy address tuple as an Endpoint (IPv4-mapped IPv6, as on a dual-stack listener, as IPv4)."""
    ip = canonical(addr[0]) if addr and len(addr) >= 2 and isinstance(addr[0], str) else None
    return None if ip is None else Endpoint(ip, int(addr[1]))


def _strip_port(host: str) -> str:
    host = host.strip()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _head_size(first_line: int, headers: http.Headers) -> int:
    return first_line + 2 + sum(len(k) + len(v) + 4 for k, v in headers.fields) + 2


def request_size(req: http.Request) -> int:
    line = len(req.method) + len(req.path) + len(req.http_version) + 2
    return _head_size(line, req.headers) + len(req.raw_content or b"")


def response_size(resp: http.Response) -> int:
    line = len(resp.http_version) + 4 + len(resp.reason or "")
    return _head_size(line, resp.headers) + len(resp.raw_content or b"")


@dataclass(slots=True)
class _State:
    flow: Flow
    client_head: bytes = b""
    server_head: bytes = b""
    tls: bool = False
    dns: bool = False
    quic: bool = False
    http: bool = False
    killed: bool = False
    mail: mailproto.MailSession | None = None  # IMAP/POP3/SMTP follower, once recognised
    mail_fed: int = 0
    pending: list[bytes] = field(default_factory=lambda: [b"", b""])  # bytes not followed yet: client, server
    seen: tuple = ()  # connection attributes at the last refresh
    classified: tuple = ()  # (names, protocol) at the last classification
    extra: dict = field(default_factory=dict)  # the addon's per-record state (e.g. canary streams)


Key = tuple[str, str]


class ProxyConnections:
    """mitmproxy connections -> Flow records; ``pop``/``pop_client``/``pop_all`` hand finished ones over."""

    def __init__(self, source: str = "live", input_index: int = 0, max_active: int = 100_000,
                 on_evict: Callable[[Flow], None] | None = None) -> None:
        self.source = source
        self.input_index = input_index
        self.max_active = max_active
        self.on_evict = on_evict  # gets a record closed early because too many were open
        self.evicted: list[Flow] = []  # ... or they are kept here (and returned by pop_all)
        self._active: dict[Key, _State] = {}
        self._by_client: dict[str, dict[Key, None]] = {}
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._active)

    # ---- records ------------------------------------------------------------------------------------

    def state(self, client: connection.Client, server: connection.Server) -> _State:
        """The record for this connection pair, created on first sight."""
        key = (client.id, server.id)
        st = self._active.get(key)
        if st is None:
            st = _State(self._new_flow(client, server))
            if len(self._active) >= self.max_active:  # never grow without limit: close the oldest
                old = self.pop_key(next(iter(self._active)))
                if old is not None:
                    old.notes.append("closed early: too many open connections")
                    if self.on_evict is not None:
                        self.on_evict(old)
                    else:
                        self.evicted.append(old)
            self._active[key] = st
            self._by_client.setdefault(client.id, {})[key] = None
        self._refresh(st, client, server)
        return st

    def get(self, client: connection.Client, server: connection.Server) -> Flow:
        return self.state(client, server).flow

    def find(self, client: connection.Client, server: connection.Server) -> _State | None:
        return self._active.get((client.id, server.id))

    def _new_flow(self, client: connection.Client, server: connection.Server) -> Flow:
        fid, self._next_id = self._next_id, self._next_id + 1
        transport = "udp" if client.transport_protocol == "udp" else "tcp"
        c = endpoint(client.peername) or Endpoint(UNKNOWN_IP, 0)
        f = Flow(id=fid, transport=transport, client=c, server=Endpoint(UNKNOWN_IP, 0),
                 server_by="proxy", source=self.source, input_index=self.input_index)
        f.first_seen = client.timestamp_start
        return f

    def _refresh(self, st: _State, client: connection.Client, server: connection.Server) -> None:
        """Copy what the connections learned since the last call (cheap when nothing changed)."""
        seen = (server.peername, server.address, client.sni, server.sni, client.alpn, server.alpn,
                client.timestamp_tls_setup, server.timestamp_start, server.timestamp_end)
        if st.seen == seen:
            return
        st.seen = seen
        f = st.flow
        if f.server.ip == UNKNOWN_IP:
            ep = endpoint(server.peername) or endpoint(server.address)
            if ep is None and not server.address:
                ep = endpoint(client.sockname)  # DNS mode, reverse proxies: the proxy answered itself
            if ep is not None:
                f.server = ep
            elif server.address and f.server.port == 0:
                f.server = Endpoint(UNKNOWN_IP, int(server.address[1]))
        if server.address and isinstance(server.address[0], str) and not is_address(server.address[0]):
            # the name the client asked the proxy for (SOCKS5, CONNECT), which the proxy resolved
            f.names.add("dns", server.address[0].rstrip(".").lower())
        for sni in (client.sni, server.sni):
            if sni and not is_address(sni):
                f.names.add("sni", sni.lower())
        alpn = client.alpn or server.alpn
        if alpn:
            text = alpn.decode("ascii", "replace") if isinstance(alpn, bytes) else str(alpn)
            if text not in f.alpn and len(f.alpn) < 8:
                f.alpn.append(text)
        if client.tls_established or client.tls:
            st.tls = True
        starts = [t for t in (f.first_seen, server.timestamp_start) if t]
        f.first_seen = min(starts) if starts else None
        ends = [t for t in (f.last_seen, server.timestamp_end, server.timestamp_start) if t]
        if ends:
            f.last_seen = max(ends)

    def pop_key(self, key: Key) -> Flow | None:
        st = self._active.pop(key, None)
        if st is None:
            return None
        keys = self._by_client.get(key[0])
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self._by_client[key[0]]
        self.finish(st)
        return st.flow

    def pop(self, client: connection.Client, server: connection.Server) -> Flow | None:
        return self.pop_key((client.id, server.id))

    def pop_client(self, client: connection.Client) -> list[Flow]:
        keys = list(self._by_client.get(client.id, ()))
        return [f for f in (self.pop_key(k) for k in keys) if f is not None]

    def pop_all(self) -> list[Flow]:
        flows, self.evicted = self.evicted, []
        return flows + [f for f in (self.pop_key(k) for k in list(self._active)) if f is not None]

    def active(self) -> list[_State]:
        return list(self._active.values())

    # ---- what happened on a connection ----------------------------------------------------------------

    @staticmethod
    def _count(st: _State, from_client: bool, size: int, ts: float | None) -> None:
        f = st.flow
        f.packets += 1
        f.bytes += size
        if from_client:
            f.c2s_packets += 1
            f.c2s_bytes += size
        else:
            f.s2c_packets += 1
            f.s2c_bytes += size
        if ts:
            f.first_seen = min(f.first_seen or ts, ts)
            f.last_seen = max(f.last_seen or ts, ts)

    def add_client_hello(self, client: connection.Client, server: connection.Server, sni: str | None,
                         alpn: Iterable[bytes | str] = ()) -> _State:
        """A TLS ClientHello seen (intercepted or not)."""
        st = self.state(client, server)
        st.tls = True
        if sni and not is_address(sni):
            st.flow.names.add("sni", sni.lower())
        for proto in alpn:
            text = proto.decode("ascii", "replace") if isinstance(proto, bytes) else str(proto)
            if text not in st.flow.alpn and len(st.flow.alpn) < 8:
                st.flow.alpn.append(text)
        return st

    def add_http_request(self, f: http.HTTPFlow) -> _State:
        """A complete request: names and size (call once per request)."""
        st = self.add_http_names(f)
        self._count(st, True, request_size(f.request), f.request.timestamp_start)
        return st

    def add_http_names(self, f: http.HTTPFlow) -> _State:
        """The Host header (and the destination of an explicit proxy request), before the body arrives."""
        st = self.state(f.client_conn, f.server_conn)
        st.http = True
        req = f.request
        host = req.headers.get("host") or req.authority or ""
        if host == st.extra.get("host"):
            return st  # the same Host as the connection's last request
        st.extra["host"] = host
        if host:
            name = _strip_port(host).rstrip(".").lower()
            if name and not is_address(name):
                st.flow.names.add("http_host", name)
        if f.server_conn.address is None or st.flow.server.ip == UNKNOWN_IP:
            ip = canonical(req.host)
            if ip is not None and st.flow.server.ip == UNKNOWN_IP:
                st.flow.server = Endpoint(ip, req.port)
        return st

    def add_http_response(self, f: http.HTTPFlow) -> _State:
        st = self.state(f.client_conn, f.server_conn)
        if f.response is not None:
            resp = f.response
            self._count(st, False, response_size(resp), resp.timestamp_end or resp.timestamp_start)
        if f.websocket is not None:
            for msg in f.websocket.messages:
                self._count(st, msg.from_client, len(msg.content), msg.timestamp)
        return st

    def add_websocket_message(self, f: http.HTTPFlow) -> _State:
        """The latest WebSocket message of a live flow (offline, add_http_response counts them all)."""
        st = self.state(f.client_conn, f.server_conn)
        msg = f.websocket.messages[-1]
        self._count(st, msg.from_client, len(msg.content), msg.timestamp)
        return st

    def add_tcp_message(self, f: tcp.TCPFlow, msg: tcp.TCPMessage) -> _State:
        st = self.state(f.client_conn, f.server_conn)
        self._count(st, msg.from_client, len(msg.content), msg.timestamp)
        if msg.from_client:
            if len(st.client_head) < HEAD_LIMIT:
                st.client_head += msg.content[: HEAD_LIMIT - len(st.client_head)]
        elif len(st.server_head) < HEAD_LIMIT:
            st.server_head += msg.content[: HEAD_LIMIT - len(st.server_head)]
        if st.mail_fed < MAIL_FEED_LIMIT:
            self._feed_mail(st, msg.from_client, msg.content)
        return st

    def _feed_mail(self, st: _State, from_client: bool, data: bytes) -> None:
        """Follow IMAP/POP3/SMTP (analysis.protocols.mail) for STARTTLS, AUTH and clear-text logins; a client
        line cites its message's number as its frame."""
        st.mail_fed += len(data)
        side = 0 if from_client else 1
        st.pending[side] += data
        session = st.mail
        sides: tuple[int, ...] = (side,)
        if session is None:
            proto = mailproto.recognise(mailproto.first_line(st.pending[1]), mailproto.first_line(st.pending[0]),
                                        st.flow.server.port, whole=True)
            if not proto:
                if proto == "" or st.mail_fed >= HEAD_LIMIT:
                    _stop_mail(st)  # not a mail protocol
                return
            session = st.mail = mailproto.MailSession(proto)
            sides = (1, 0)  # what waited, the server's lines first
        frame = st.flow.c2s_packets
        for s in sides:
            used = session.feed(s == 0, st.pending[s], lambda _: frame)
            st.pending[s] = st.pending[s][used:]
        if session.awaiting_tls and st.pending[0]:
            _stop_mail(st)  # TLS after STARTTLS: no more lines

    def add_udp_message(self, f: udp.UDPFlow, msg: udp.UDPMessage) -> _State:
        st = self.state(f.client_conn, f.server_conn)
        self._count(st, msg.from_client, len(msg.content), msg.timestamp)
        if msg.from_client and st.flow.c2s_packets == 1 and msg.content[:1] and msg.content[0] & 0xC0 == 0xC0:
            st.quic = st.flow.server.port == 443 or st.quic  # a QUIC long header to 443
        return st

    def add_dns(self, f: dns.DNSFlow) -> tuple[_State, list[DnsEntry]]:
        """A DNS exchange: counted on its record; its questions and answers as DnsEntry records."""
        st = self.state(f.client_conn, f.server_conn)
        st.dns = True
        if f.request is not None and not st.extra.get(("dns-req", f.id)):
            st.extra[("dns-req", f.id)] = True
            self._count(st, True, len(f.request.packed), f.request.timestamp)
        if f.response is not None and not st.extra.get(("dns-resp", f.id)):
            st.extra[("dns-resp", f.id)] = True
            self._count(st, False, len(f.response.packed), f.response.timestamp)
        for k in [k for k in st.extra if isinstance(k, tuple) and k[0].startswith("dns-")][:-64]:
            del st.extra[k]  # keep the per-record bookkeeping bounded
        return st, dns_entries(f, st.flow.client.ip)

    def mark_killed(self, st: _State, why: str) -> None:
        st.killed = True
        if why not in st.flow.notes and len(st.flow.notes) < 16:
            st.flow.notes.append(why)

    # ---- offline: a whole mitmproxy flow at once --------------------------------------------------------

    def add_flow(self, f: flow.Flow) -> _State | None:
        """Account for a complete mitmproxy flow (as read from a ``mitmdump -w`` file)."""
        st: _State | None = None
        if isinstance(f, http.HTTPFlow):
            st = self.add_http_request(f)
            st = self.add_http_response(f)
        elif isinstance(f, tcp.TCPFlow):
            st = self.state(f.client_conn, f.server_conn)
            for msg in f.messages:
                st = self.add_tcp_message(f, msg)
        elif isinstance(f, udp.UDPFlow):
            st = self.state(f.client_conn, f.server_conn)
            for msg in f.messages:
                st = self.add_udp_message(f, msg)
        elif isinstance(f, dns.DNSFlow):
            st, _ = self.add_dns(f)
        if st is not None and f.error is not None and f.error.msg == flow.Error.KILLED_MESSAGE:
            self.mark_killed(st, "killed by the proxy")
        return st

    # ---- closing a record -----------------------------------------------------------------------------

    def finish(self, st: _State) -> Flow:
        """Write what was learned (application protocol, STARTTLS, AUTH) into the Flow record."""
        f = st.flow
        f.app_protocol = app_protocol(st)
        session = st.mail
        if session is not None and f.app_protocol in ("imap", "pop3", "smtp", "submission"):
            f.starttls = session.starttls
            for mech in session.mechanisms:
                if mech not in f.auth_mechanisms and len(f.auth_mechanisms) < 8:
                    f.auth_mechanisms.append(mech)
            f.cleartext_credentials = session.cleartext_credentials and not st.tls  # inside TLS: not clear
        st.extra.clear()
        return f


def _stop_mail(st: _State) -> None:
    st.mail_fed = MAIL_FEED_LIMIT
    st.pending = [b"", b""]


def app_protocol(st: _State) -> str:
    f = st.flow
    if st.dns:
        return "dns"
    if f.transport == "udp":
        if st.quic or st.http:  # HTTP over UDP is HTTP/3, i.e. QUIC
            return "quic"
        return "dns" if f.server.port in (53, 5353) else "other"
    if st.mail is not None:
        mail = mailproto.app_protocol(st.mail.protocol, f.server.port, st.tls)
    else:
        mail = mail_protocol(f.server.port, st.server_head, st.tls, st.client_head)
    if mail is not None and not st.http:
        return mail
    if st.http:
        return "tls" if st.tls else "http"
    return "tls" if st.tls else "other"


def _rdata(rr: dns.ResourceRecord) -> str | None:
    try:
        if rr.type in (1, 28):  # A, AAAA
            return str(ipaddress.ip_address(rr.data))
        if rr.type == 5:  # CNAME
            return rr.domain_name
    except (ValueError, IndexError):
        return None
    return None


def dns_entries(f: dns.DNSFlow, client_ip: str = "") -> list[DnsEntry]:
    """One DnsEntry per question name, with the response's A/AAAA/CNAME answers in answer order."""
    if f.request is None:
        return []
    entries: dict[str, DnsEntry] = {}
    for q in f.request.questions[:MAX_DNS_VALUES]:
        name = q.name.rstrip(".")
        entry = entries.setdefault(name.lower(), DnsEntry(query=name, client=client_ip))
        tname = dns.types.to_str(q.type)
        if tname not in entry.types:
            entry.types.append(tname)
    if f.response is not None and entries:
        first = next(iter(entries.values()))
        for rr in f.response.answers[:MAX_DNS_VALUES]:
            value = _rdata(rr)
            if value is None:
                continue
            entry = entries.get(rr.name.rstrip(".").lower(), first)
            if value not in entry.answers:
                entry.answers.append(value)
    return list(entries.values())
