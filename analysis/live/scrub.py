"""The password out of the copies of flows that mitmproxy keeps (and saves with ``-w``), whoever the client.

Only what has already gone out is scrubbed, so the traffic itself never changes. Every form of the password
that ``analysis.canary`` knows (plain, URL, JSON, base64 at any alignment, hashes) becomes ``[REDACTED]``;
in TCP, UDP and WebSocket messages also a form split over consecutive messages of one direction.
"""

from __future__ import annotations

from analysis.canary import MASK_BYTES, CanaryMatcher


def _cut(data: bytes, ranges: list[tuple[int, int, bool]]) -> bytes:
    """``data`` without the ``(start, end, mask)`` ranges; ``[REDACTED]`` where a range says ``mask``."""
    out, pos = [], 0
    merged: list[list] = []
    for start, end, mask in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(end, merged[-1][1])
            merged[-1][2] = merged[-1][2] or mask
        else:
            merged.append([start, end, mask])
    for start, end, mask in merged:
        out.append(data[pos:start])
        if mask:
            out.append(MASK_BYTES)
        pos = end
    out.append(data[pos:])
    return b"".join(out)


class Scrubber:
    """Scrubs mitmproxy flows in place with the case's canary matcher (nothing to do without a canary)."""

    def __init__(self, matcher: CanaryMatcher) -> None:
        self.matcher = matcher

    @property
    def active(self) -> bool:
        return self.matcher.active

    def clean(self, data: bytes) -> bytes:
        """``data`` with the password's forms masked (the same object when there is none)."""
        spans = self.matcher.spans(data) if data and self.matcher.active else []
        return _cut(data, [(start, end, True) for start, end in spans]) if spans else data

    def flow(self, f) -> None:
        """Everything mitmproxy keeps of one HTTP, WebSocket, TCP or UDP flow (DNS flows are left alone)."""
        if not self.matcher.active:
            return
        request = getattr(f, "request", None)
        if request is not None:
            self.http_message(request)
            if f.response is not None:
                self.http_message(f.response)
            if f.websocket is not None:
                self.messages(f.websocket.messages)
        elif hasattr(f, "messages"):
            self.messages(f.messages)

    def http_message(self, msg) -> None:
        """A request's target and a request's or response's headers, body and trailers."""
        if not self.matcher.active:
            return
        data = msg.data
        targets = [getattr(data, name, None) or b"" for name in ("path", "authority")]
        heads = [h for h in (msg.headers, msg.trailers) if h is not None]
        if self.matcher.spans(b"\n".join([*targets, *(k + b": " + v for h in heads for k, v in h.fields)])):
            for name, value in zip(("path", "authority"), targets, strict=True):
                if value and (clean := self.clean(value)) is not value:
                    setattr(data, name, clean)
            for headers in heads:
                fields = tuple((self.clean(k), self.clean(v)) for k, v in headers.fields)
                if fields != headers.fields:
                    headers.fields = fields
        if msg.raw_content:
            self._body(msg)

    def _body(self, msg) -> None:
        try:
            body, decoded = msg.get_content(strict=True), True
        except ValueError:  # an encoding that does not decode: the raw bytes are what is kept
            body, decoded = msg.raw_content, False
        clean = self.clean(body or b"")
        if clean is body or not body:
            return
        if not decoded:
            msg.raw_content = clean
            return
        try:
            msg.content = clean  # encoded again as the headers say
        except ValueError:
            msg.headers.pop("content-encoding", None)
            msg.raw_content = clean

    def messages(self, messages) -> None:
        """TCP, UDP or WebSocket messages (``from_client``, ``content``), each direction as one stream."""
        if not self.matcher.active:
            return
        for side in (True, False):
            self._side([m for m in messages if m.from_client is side])

    def _side(self, msgs: list) -> None:
        """One direction's messages: each is searched together with the last ``max_len - 1`` bytes before
        it, so a form split over messages is found; the cuts are made at the end, on the original bytes."""
        keep = self.matcher.max_len - 1
        tail: list[tuple[int, int, bytes]] = []  # (message index, offset in it, bytes): the bytes before
        cuts: dict[int, list[tuple[int, int, bool]]] = {}
        for i, msg in enumerate(msgs):
            data = msg.content
            if not data:
                continue
            pieces = [*tail, (i, 0, data)]
            head = sum(len(p) for _, _, p in tail)
            window = b"".join(p for _, _, p in pieces) if tail else data
            for start, end in self.matcher.spans(window):
                if end <= head:
                    continue  # wholly before this message: cut already
                pos, first = 0, True
                for index, offset, piece in pieces:
                    lo, hi = max(start, pos), min(end, pos + len(piece))
                    if lo < hi:
                        cuts.setdefault(index, []).append((offset + lo - pos, offset + hi - pos, first))
                        first = False
                    pos += len(piece)
            total = head + len(data)
            while pieces and total - len(pieces[0][2]) >= keep:
                total -= len(pieces.pop(0)[2])
            if pieces and total > keep:
                index, offset, piece = pieces[0]
                pieces[0] = (index, offset + total - keep, piece[total - keep:])
            tail = pieces
        for index, ranges in cuts.items():
            msgs[index].content = _cut(msgs[index].content, ranges)
