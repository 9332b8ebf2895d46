"""Per-flow payload inspection: the bridge between the flow table and the pure protocol parsers.

Interface (the flow table relies on it; the body is being filled in):
- ``FlowInspector(transport, client_port, server_port)`` is created when a flow starts;
- ``feed(from_client, payload, frame, ts, seq=None, tcp_flags=0)`` is called for each packet with
  payload while ``done`` is False (TCP: ``seq`` is the sequence number of the payload's first byte);
- ``dns`` lists ``(frame, ts, DnsMessage)`` for every DNS message parsed in the flow;
- ``apply(flow)`` writes what was learned into the Flow record (app_protocol, starttls, names, ...).
"""

from __future__ import annotations

from analysis.model import Flow


class FlowInspector:
    __slots__ = ("transport", "client_port", "server_port", "done", "dns")

    def __init__(self, transport: str, client_port: int, server_port: int) -> None:
        self.transport = transport
        self.client_port = client_port
        self.server_port = server_port
        self.done = False
        self.dns: list = []

    def feed(self, from_client: bool, payload: bytes, frame: int, ts: float,
             seq: int | None = None, tcp_flags: int = 0) -> None:
        pass

    def apply(self, flow: Flow) -> None:
        pass
