"""The canary in what a client sent through mitmproxy: one search for the live addon and for saved flow files.

The live session searches each request and message as it passes; ``load_mitm`` searches the saved ones with
:func:`saved_hits`. Either way the result is raw matches with where they were seen; whether one is a leak is
decided once the flow is classified (``analysis.leaks``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from analysis.canary import TCP, UDP, WEBSOCKET, CanaryMatch, CanaryMatcher, CanaryStream

if TYPE_CHECKING:  # mitmproxy is an optional, heavy library: only its types are needed here
    from mitmproxy import flow as mflow_mod
    from mitmproxy import http

MAX_SCAN_BODY = 64 << 20  # request bodies longer than this are searched up to here


def _request_body(req: http.Request) -> bytes:
    fields = req.headers.fields
    if not req.raw_content:
        return b""
    if b"content-encoding" in (k.lower() for k, _ in fields):
        return (req.get_content(strict=False) or b"")[:MAX_SCAN_BODY]
    return req.raw_content[:MAX_SCAN_BODY]


def message_hits(matcher: CanaryMatcher, data: bytes, stream: CanaryStream | None = None) -> list[CanaryMatch]:
    """Matches in one message; with the flow direction's ``stream``, also forms split across messages."""
    return stream.feed(data) if stream is not None else matcher.scan(data[:MAX_SCAN_BODY])


def request_hits(matcher: CanaryMatcher, req: http.Request) -> list[tuple[CanaryMatch, str]]:
    """Matches in a request's URL, headers and body, each with where it was seen. One pass over the whole
    request first; the parts are searched one by one only when it found something."""
    if not matcher.active:
        return []
    fields = req.headers.fields
    body = _request_body(req)
    if not matcher.scan(b"\n".join([req.data.path, *(k + b": " + v for k, v in fields), body])):
        return []
    places = [("URL", req.url.encode("utf-8", "surrogateescape"))]
    places += [(f"header {k.decode('latin-1')[:40]}", k + b": " + v) for k, v in fields]
    places.append(("request body", body))
    return [(match, where) for where, data in places for match in matcher.scan(data)]


def saved_hits(matcher: CanaryMatcher, f: mflow_mod.Flow) -> Iterator[tuple[CanaryMatch, str]]:
    """Matches in what the client sent in one complete mitmproxy flow, as the live addon would have seen them:
    the request, client WebSocket messages, the client's TCP stream, client UDP datagrams."""
    from mitmproxy import http, tcp, udp

    if not matcher.active:
        return
    if isinstance(f, http.HTTPFlow):
        yield from request_hits(matcher, f.request)
        messages, where, stream = (f.websocket.messages if f.websocket else []), WEBSOCKET, None
    elif isinstance(f, tcp.TCPFlow):
        messages, where, stream = f.messages, TCP, matcher.stream()
    elif isinstance(f, udp.UDPFlow):
        messages, where, stream = f.messages, UDP, None
    else:
        return
    for msg in messages:
        if msg.from_client:
            yield from ((match, where) for match in message_hits(matcher, msg.content, stream))
