"""Community ID v1 of a TCP or UDP flow: the flow key that Zeek, Suricata, Arkime and Wireshark share.

Spec (github.com/corelight/community-id-spec): SHA-1 over the seed (2 bytes), the two addresses, the IP
protocol number, one zero byte and the two ports, all in network byte order, the endpoint with the smaller
(address, port) first, so both directions of a flow give the same ID; the digest in base64 after ``1:``.
maildetour uses seed 0 and base64, the defaults of every implementation.
"""

from __future__ import annotations

import hashlib
import socket
from base64 import b64encode
from struct import Struct

PROTOCOLS = {"tcp": 6, "udp": 17}
_TAIL = Struct("!BxHH")  # protocol, padding, source port, destination port
_SEED = Struct("!H")


def packed_address(text: str) -> bytes | None:
    """An address in network byte order (4 or 16 bytes), None when ``text`` is no IPv4/IPv6 address."""
    try:
        return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
    except (OSError, ValueError, TypeError):
        return None


def community_id(transport: str, a_ip: str, a_port: int, b_ip: str, b_port: int, seed: int = 0) -> str | None:
    """``1:<base64 SHA-1>`` for a TCP or UDP flow between the two endpoints (either order gives the same ID);
    None for another transport, an address that is not IP, two address families or a port out of range."""
    proto = PROTOCOLS.get(transport)
    a, b = packed_address(a_ip), packed_address(b_ip)
    if proto is None or a is None or b is None or len(a) != len(b):
        return None
    if not (0 <= a_port <= 0xFFFF and 0 <= b_port <= 0xFFFF):
        return None
    if (b, b_port) < (a, a_port):
        a, a_port, b, b_port = b, b_port, a, a_port
    data = _SEED.pack(seed & 0xFFFF) + a + b + _TAIL.pack(proto, a_port, b_port)
    digest = hashlib.sha1(data, usedforsecurity=False).digest()
    return "1:" + b64encode(digest).decode("ascii")
