"""SOCKS4/4a/5 CONNECT handshakes: how many bytes to skip in each direction, and the requested target.

Used to look through a SOCKS proxy (e.g. mitmproxy in SOCKS mode) at the TLS or mail protocol inside.
Pure functions over bytes, never raising. Status: "ok", "need-more" or "no".
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(slots=True)
class SocksRequest:
    version: int  # 4 or 5
    host: str
    port: int
    client_length: int  # client bytes of the handshake (greeting + request)


def address_size(atyp: int, name_length: int) -> int | None:
    """Bytes of a SOCKS5 address field of type ``atyp`` (IPv4, name with its length byte, IPv6); None for
    an unknown type. ``name_length`` is the first byte of the field (used for names only)."""
    return {1: 4, 4: 16, 3: 1 + name_length}.get(atyp)


def _host(raw: bytes) -> str:
    return "".join(chr(b) if 0x20 < b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in raw[:255])


def parse_client(buf: bytes) -> tuple[str, SocksRequest | None]:
    """A client's SOCKS greeting and CONNECT request (without user/password authentication)."""
    if not buf:
        return "need-more", None
    if buf[0] == 4:
        if len(buf) < 9:
            return ("need-more", None) if len(buf) < 2 or buf[1] == 1 else ("no", None)
        if buf[1] != 1:
            return "no", None
        port = int.from_bytes(buf[2:4], "big")
        end = buf.find(b"\x00", 8, 8 + 256)
        if end < 0:
            return ("need-more", None) if len(buf) < 8 + 256 else ("no", None)
        host = str(ipaddress.IPv4Address(buf[4:8]))
        length = end + 1
        if buf[4:7] == b"\x00\x00\x00" and buf[7]:  # SOCKS4a: the name follows the user id
            name_end = buf.find(b"\x00", length, length + 256)
            if name_end < 0:
                return "need-more", None
            host, length = _host(buf[length:name_end]), name_end + 1
        return "ok", SocksRequest(4, host, port, length)
    if buf[0] != 5:
        return "no", None
    if len(buf) < 2:
        return "need-more", None
    nmethods = buf[1]
    if nmethods == 0 or nmethods > 16:
        return "no", None
    req = 2 + nmethods
    if len(buf) < req + 5:
        return "need-more", None
    if buf[req] != 5 or buf[req + 1] != 1 or buf[req + 2] != 0:
        return "no", None
    atyp = buf[req + 3]
    pos = req + 4
    if atyp == 1:
        raw, pos = buf[pos : pos + 4], pos + 4
        host = str(ipaddress.IPv4Address(raw)) if len(raw) == 4 else ""
    elif atyp == 4:
        raw, pos = buf[pos : pos + 16], pos + 16
        host = str(ipaddress.IPv6Address(raw)) if len(raw) == 16 else ""
    elif atyp == 3:
        n = buf[pos]
        host, pos = _host(buf[pos + 1 : pos + 1 + n]), pos + 1 + n
    else:
        return "no", None
    if len(buf) < pos + 2:
        return "need-more", None
    return "ok", SocksRequest(5, host, int.from_bytes(buf[pos : pos + 2], "big"), pos + 2)


def server_length(version: int, buf: bytes) -> tuple[str, int]:
    """Bytes of the server's SOCKS answers (method choice and CONNECT reply) before the tunnel starts."""
    if version == 4:
        if len(buf) < 8:
            return "need-more", 0
        return ("ok", 8) if buf[1] == 0x5A else ("no", 0)
    if len(buf) < 2 + 5:
        return "need-more", 0
    if buf[0] != 5 or buf[1] != 0 or buf[2] != 5:
        return "no", 0
    if buf[3] != 0:
        return "no", 0
    size = address_size(buf[5], buf[6])
    if size is None:
        return "no", 0
    total = 2 + 4 + size + 2
    return ("ok", total) if len(buf) >= total else ("need-more", 0)
