"""maildetour for mitmproxy: tag a test phone's traffic by destination as it happens.

    mitmdump -s addons/maildetour.py --set maildetour_case=case.toml --set maildetour_jsonl=live.jsonl \\
             --set maildetour_report=report.json [--set maildetour_block=mail-relay,quic]

Every flow gets a comment "category owner" and a marker per category; each finished flow is one JSON
line in ``maildetour_jsonl``; the report (same pipeline as ``maildetour analyze``) is written on
shutdown and by the command ``maildetour.report``; ``maildetour.summary`` logs the verdict so far.
Only the case's device is analysed; every other client is logged once and counted in the report.
With a canary, the password is scrubbed from every flow mitmproxy keeps (and saves with ``-w``), whoever
the client, once the data has gone out: responses are streamed to the client as they come, so that their
saved copy can be scrubbed after the client got them unchanged.
An exception in here is logged and never breaks or delays a proxied connection.
"""

from __future__ import annotations

import functools
import logging
import re

from mitmproxy import command, connection, ctx, dns, exceptions, http, tcp, tls, udp
from mitmproxy.proxy import commands, layer, layers
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.utils import human

from analysis.errors import MaildetourError
from analysis.live.session import BLOCKABLE, LiveConfig, LiveSession
from analysis.protocols.tls import parse_client_hello_stream
from analysis.vocab import MAIL_PORTS

log = logging.getLogger("maildetour")
MAX_KEPT = 64 << 20  # a streamed response body longer than this is not kept (as mitmproxy's own streaming)

OPTIONS = {
    "maildetour_case": "Case file (TOML): account, mail hosts, device addresses, canary_env.",
    "maildetour_mail_host": "Configured mail host(s), comma separated, HOST[:PORT]; overrides the case file.",
    "maildetour_device": "Device address(es), comma separated; only their flows are analysed.",
    "maildetour_jsonl": "Live log: one JSON flow record per line, appended and flushed as each flow ends.",
    "maildetour_report": "Report written on shutdown and by maildetour.report (.json, .md, .html or .csv).",
    "maildetour_block": f"Kill flows of these categories, comma separated ({', '.join(BLOCKABLE)}).",
    "maildetour_catalog": "Extra endpoint catalog file(s) (TOML), comma separated; their entries win.",
}


def guarded(hook):
    """Log an exception inside a hook (one line, traceback at debug level) instead of raising it."""

    @functools.wraps(hook)
    def run(self, *args):
        if self.session is None:
            return None
        try:
            return hook(self, *args)
        except Exception as exc:  # noqa: BLE001 - the proxied connection must never suffer
            log.error("maildetour: %s failed: %s: %s", hook.__name__, type(exc).__name__, exc)
            log.debug("maildetour: %s traceback", hook.__name__, exc_info=True)
            return None

    return run


def _to_session(name: str):
    """A hook that hands its one argument to the session's method of the same name."""

    def hook(self, arg) -> None:
        getattr(self.session, name)(arg)

    hook.__name__ = hook.__qualname__ = name
    return guarded(hook)


class Refuse(layer.Layer):
    """Close both sides at once: what a blocked destination looks like to the app."""

    def _handle_event(self, event):
        if self.context.server.connected:
            yield commands.CloseConnection(self.context.server)
        yield commands.CloseConnection(self.context.client)
        self._handle_event = self._done

    def _done(self, event):
        yield from ()


class Kept:
    """A response's ``stream``: passes the body to the client unchanged and keeps a copy up to ``limit`` bytes."""

    __slots__ = ("chunks", "limit", "size", "used")

    def __init__(self, limit: int) -> None:
        self.chunks: list[bytes] = []
        self.limit, self.size, self.used = limit, 0, False

    def __call__(self, data: bytes) -> bytes:
        self.used = True
        self.size += len(data)
        if self.size <= self.limit:
            self.chunks.append(data)
        elif self.chunks:
            self.chunks = []
        return data

    def body(self) -> bytes | None:
        """The body, or None when it was longer than the limit."""
        return b"".join(self.chunks) if self.size <= self.limit else None


def sent_response(resp) -> bool:
    """True when ``resp`` has already gone to the client (it was streamed), with its kept body put back."""
    if resp is None or not resp.stream:
        return False
    if isinstance(resp.stream, Kept):
        kept = resp.stream
        if not kept.used:
            return False  # no body, so not streamed: it goes out after the response hook
        resp.stream = True
        resp.raw_content = kept.body()
        return True
    return bool(resp.raw_content)  # streamed by mitmproxy (stream_large_bodies) and stored


class MailDetour:
    def __init__(self) -> None:
        self.session: LiveSession | None = None
        self.open: set = set()  # HTTP, TCP and UDP flows mitmproxy keeps that are not finished yet

    def load(self, loader) -> None:
        for name, help_text in OPTIONS.items():
            loader.add_option(name, str, "", help_text)

    def configure(self, updated: set[str]) -> None:
        if not any(name in OPTIONS for name in updated):
            return
        o = ctx.options
        try:
            config = LiveConfig.from_options(
                case_path=o.maildetour_case, mail_hosts=o.maildetour_mail_host, devices=o.maildetour_device,
                jsonl=o.maildetour_jsonl, report=o.maildetour_report, block=o.maildetour_block,
                catalogs=o.maildetour_catalog,
            )
            session = LiveSession(config)
        except MaildetourError as exc:
            raise exceptions.OptionsError(f"maildetour: {exc}") from None
        if self.session is not None:
            self.session.close()
        self.session = session
        if not config.case.mail_hosts and not config.case.mail_addresses:
            log.warning("maildetour: no mail host configured (maildetour_case or maildetour_mail_host): "
                        "flows are tagged, but the verdict will be inconclusive")
        if config.case.canary_env and config.case.canary is None:
            log.warning("maildetour: the case names canary_env %s, but it is not set: no canary scan",
                        config.case.canary_env)
        log.info("maildetour: ready (mail hosts: %s; block: %s)",
                 ", ".join(str(h) for h in config.case.mail_hosts) or "none",
                 ", ".join(sorted(config.block)) or "nothing")

    # ---- connections -----------------------------------------------------------------------------------

    @guarded
    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        """Record the connection with its SNI; refuse blocked ones; mail ports go to raw TCP, not HTTP."""
        context = nextlayer.context
        if not context.server.address:
            return  # an explicit proxy's first request: the destination comes with it
        if not self.session.connection(context.client, context.server):
            return
        data = nextlayer.data_client()
        # the SNI now only matters for blocking and for connections mitmproxy will not intercept (their
        # tls_clienthello never comes); otherwise tls_clienthello brings it, parsed once by mitmproxy
        wanted = self.session.config.block or ctx.options.ignore_hosts or ctx.options.allow_hosts
        if wanted and context.client.transport_protocol == "tcp" and data and not context.client.tls:
            status, hello = parse_client_hello_stream(data[:65536])
            if status == "need-more":
                return  # mitmproxy asks again with more data
            if hello is not None:
                self.session.client_hello(context.client, context.server, hello.sni, hello.alpn)
        reason = self.session.block_reason(context.client, context.server)
        if reason is not None and nextlayer.layer is None:
            self.session.refuse(context.client, context.server, reason)
            nextlayer.layer = Refuse(context)
            return
        port = context.server.address[1]
        if (port in MAIL_PORTS and context.client.transport_protocol == "tcp" and nextlayer.layer is None
                and not (data[:1] == b"\x16" and not context.client.tls)):
            if data or nextlayer.data_server():
                nextlayer.layer = layers.TCPLayer(context, ignore=self._ignored(context))

    @staticmethod
    def _ignored(context) -> bool:
        """mitmproxy's ignore_hosts for a connection this addon routes itself (plain text mail ports)."""
        host, port = context.server.address[0], context.server.address[1]
        ignored = any(re.search(rx, f"{host}:{port}", re.IGNORECASE) for rx in ctx.options.ignore_hosts)
        return ignored and not ctx.options.show_ignored_hosts

    @guarded
    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        c = data.context
        self.session.client_hello(c.client, c.server, data.client_hello.sni, data.client_hello.alpn_protocols)

    @guarded
    def tls_failed_client(self, data: tls.TlsData) -> None:
        c = data.context
        self.session.certificate_refused(c.client, c.server)

    @guarded
    def server_disconnected(self, data: ServerConnectionHookData) -> None:
        self.session.server_closed(data.client, data.server)

    @guarded
    def client_disconnected(self, client: connection.Client) -> None:
        self.session.client_closed(client)

    # ---- HTTP ------------------------------------------------------------------------------------------

    @guarded
    def request(self, f: http.HTTPFlow) -> None:
        """The whole request is here and not yet sent: record, block, tag, scan for the canary."""
        self.open.add(f)
        self.session.http_request(f)

    @guarded
    def responseheaders(self, f: http.HTTPFlow) -> None:
        """With a canary, stream the body to the client as it comes and keep a copy (see ``Kept``)."""
        if self.session.scrub.active and not f.response.stream:
            f.response.stream = Kept(self._kept_limit())

    @staticmethod
    def _kept_limit() -> int:
        """MAX_KEPT, or mitmproxy's stream_large_bodies when smaller (and streamed bodies are not stored)."""
        limit = None if ctx.options.store_streamed_bodies else human.parse_size(ctx.options.stream_large_bodies)
        return MAX_KEPT if limit is None else min(limit, MAX_KEPT)

    @guarded
    def response(self, f: http.HTTPFlow) -> None:
        """The request has gone out (scrub its copy); a streamed response too (scrub it), else it goes
        out after this hook, unchanged."""
        sent = sent_response(f.response)
        self.session.http_response(f)
        self.session.scrub.http_message(f.request)
        if sent:
            self.session.scrub.http_message(f.response)
        if f.websocket is None:
            self.open.discard(f)

    @guarded
    def error(self, f: http.HTTPFlow) -> None:
        sent_response(f.response)
        self.session.tag(f)
        self.session.scrub.flow(f)  # nothing more of it goes out
        self.open.discard(f)

    websocket_message = _to_session("websocket_message")

    @guarded
    def websocket_end(self, f: http.HTTPFlow) -> None:
        self.session.scrub.flow(f)  # the messages, and the response to the upgrade, long gone out
        self.open.discard(f)

    # ---- raw TCP and UDP -------------------------------------------------------------------------------

    @guarded
    def stream_start(self, f: tcp.TCPFlow | udp.UDPFlow) -> None:
        """A raw TCP or UDP flow begins: record, block, tag."""
        self.open.add(f)
        self.session.stream_start(f)

    tcp_start = udp_start = stream_start

    tcp_message = _to_session("tcp_message")
    udp_message = _to_session("udp_message")

    @guarded
    def stream_end(self, f: tcp.TCPFlow | udp.UDPFlow) -> None:
        """A raw TCP or UDP flow ends (or fails): scrub the stored messages, tag, finish the record."""
        self.session.scrub.messages(f.messages)
        self.open.discard(f)
        self.session.stream_end(f)

    tcp_end = tcp_error = udp_end = udp_error = stream_end

    # ---- DNS -------------------------------------------------------------------------------------------

    dns_request = _to_session("dns_request")
    dns_response = _to_session("dns_response")

    @guarded
    def dns_error(self, f: dns.DNSFlow) -> None:
        self.session.tag(f)

    # ---- commands and shutdown -------------------------------------------------------------------------

    def _configured(self) -> LiveSession:
        if self.session is None:
            raise exceptions.CommandError("maildetour is not configured")
        return self.session

    @command.command("maildetour.report")
    def report_command(self) -> None:
        """Write the report now (to maildetour_report)."""
        session = self._configured()
        try:
            path = session.write_report()
        except MaildetourError as exc:
            raise exceptions.CommandError(f"maildetour: {exc}") from None
        log.info("maildetour: report written to %s", path)

    @command.command("maildetour.summary")
    def summary_command(self) -> None:
        """Log the verdict so far."""
        log.warning("maildetour: %s", self._configured().summary())

    def done(self) -> None:
        """Scrub the flows still open (mitmproxy saves them next), end every record, write the report."""
        session, self.session = self.session, None
        if session is None:
            return
        try:
            for f in self.open:
                sent_response(getattr(f, "response", None))
                session.scrub.flow(f)
        except Exception as exc:  # noqa: BLE001 - shutdown must finish
            log.error("maildetour: could not scrub the open flows: %s: %s", type(exc).__name__, exc)
        self.open.clear()
        try:
            session.close()
            if session.config.report:
                path = session.write_report()
                log.warning("maildetour: %s; report written to %s", session.summary(), path)
        except Exception as exc:  # noqa: BLE001 - shutdown must finish
            log.error("maildetour: could not write the report: %s: %s", type(exc).__name__, exc)


addons = [MailDetour()]
