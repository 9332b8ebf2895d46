"""The lab's DNS server: answers A queries for the lab's names over UDP, logs each query."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime

from analysis.lab import dnswire


class DnsServer:
    """Serves ``hosts`` (name -> IPv4 address) on ``address:port``; NXDOMAIN for every other name."""

    def __init__(self, address: str, port: int, hosts: dict[str, str], log_path: str) -> None:
        self.hosts = {k.lower().rstrip("."): v for k, v in hosts.items()}
        self.log_path = log_path
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()

    def answer(self, data: bytes) -> tuple[bytes | None, str]:
        """The response to one datagram and a log description."""
        try:
            q = dnswire.parse_query(data)
        except dnswire.DnsWireError as exc:
            return dnswire.build_error(data), f"malformed query ({exc})"
        found = self.hosts.get(q.name)
        reply = dnswire.build_answer(q, [found] if found else None)
        return reply, f"query {q.name} type {q.qtype} -> {found or 'NXDOMAIN'}"

    def serve_forever(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(dnswire.MAX_MESSAGE + 1)
            except TimeoutError:
                continue
            except OSError:
                break
            reply, note = self.answer(data)
            if reply is not None:
                self.sock.sendto(reply, peer)
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(f"{stamp} dns {peer[0]}:{peer[1]} {note}\n")

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
