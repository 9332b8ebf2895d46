"""A minimal SOCKS5 client (RFC 1928, no authentication, CONNECT to an IPv4 address): pure builders and
checks plus one connect helper. It talks on a socket and raises on a refusal; the passive reader of captured
handshakes is :mod:`analysis.protocols.socks`, whose address-size rule it shares."""

from __future__ import annotations

import ipaddress
import socket
import struct

from analysis.protocols.socks import address_size


class SocksError(OSError):
    """The proxy refused or answered something that is not SOCKS5."""


GREETING = b"\x05\x01\x00"  # version 5, one method: no authentication


def connect_request(ip: str, port: int) -> bytes:
    return b"\x05\x01\x00\x01" + ipaddress.IPv4Address(ip).packed + struct.pack("!H", port)


def check_method_reply(data: bytes) -> None:
    if len(data) != 2 or data[0] != 5:
        raise SocksError("not a SOCKS5 proxy")
    if data[1] != 0:
        raise SocksError("proxy requires an authentication method the lab does not offer")


def reply_length(head: bytes) -> int:
    """Total length of a CONNECT reply from its first 5 bytes; raises on a refusal."""
    if len(head) < 5 or head[0] != 5:
        raise SocksError("malformed SOCKS5 reply")
    if head[1] != 0:
        raise SocksError(f"proxy refused the connection (SOCKS5 reply {head[1]})")
    size = address_size(head[3], head[4])
    if size is None:
        raise SocksError(f"unknown SOCKS5 address type {head[3]}")
    return 4 + size + 2


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SocksError("proxy closed the connection")
        data += chunk
    return data


def socks_connect(proxy: tuple[str, int], ip: str, port: int, source: str | None,
                  timeout: float = 10.0) -> socket.socket:
    """A TCP socket to ``ip:port`` through the SOCKS5 proxy, optionally bound to ``source``."""
    sock = socket.create_connection(proxy, timeout=timeout, source_address=(source, 0) if source else None)
    try:
        sock.sendall(GREETING)
        check_method_reply(_recv_exact(sock, 2))
        sock.sendall(connect_request(ip, port))
        head = _recv_exact(sock, 5)
        _recv_exact(sock, reply_length(head) - 5)
    except BaseException:
        sock.close()
        raise
    return sock
