"""The canary in the payloads a capture's clients sent: raw hits, judged later (``analysis.leaks``).

Each TCP direction is searched as one stream (forms split over segments are found), each UDP datagram alone.
Bounded: a short window per connection, at most MAX_HITS hits. TLS payloads are opaque here; ``--keylog`` or
the addon see inside.
"""

from __future__ import annotations

from analysis.canary import TCP, UDP, CanaryMatch, CanaryMatcher, CanaryStream
from analysis.model import CanaryHit

MAX_HITS = 10_000


class PayloadHits:
    """The flow table feeds it per packet with its own connection object as ``owner``; ``hits`` maps the
    owners to the ids of the flow records made at the end."""

    def __init__(self, matcher: CanaryMatcher) -> None:
        self.matcher = matcher
        self._hits: dict[tuple[object, str, str], tuple[object, CanaryMatch, str, int]] = {}  # the first of each
        self._streams: dict[object, CanaryStream] = {}  # by owner (its identity)

    @property
    def active(self) -> bool:
        return self.matcher.active

    def feed(self, owner: object, transport: str, payload: bytes, frame: int) -> None:
        """One client-to-server payload of the connection ``owner`` (frame number ``frame``)."""
        if len(self._hits) >= MAX_HITS:
            return
        if transport == "tcp":
            stream = self._streams.get(owner)
            if stream is None:
                stream = self._streams[owner] = self.matcher.stream()
            found, where = stream.feed(payload), TCP
        else:
            found, where = self.matcher.scan(payload), UDP
        for match in found:
            self._hits.setdefault((owner, match.label, match.form),
                                  (owner, match, f"{where} (frame {frame})", frame))

    def hits(self, flow_of: dict) -> list[CanaryHit]:
        """The hits in the order found, ``flow_of`` mapping each owner to its flow's id."""
        return [CanaryHit(flow_of[owner], match.label, match.form, match.severity, where, frame)
                for owner, match, where, frame in self._hits.values() if owner in flow_of]
