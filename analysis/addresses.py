"""The one rule for comparing IP addresses written by different sources (captures, proxies, logs, case files).

``canonical`` gives one text per address: IPv4 dotted quad, IPv6 compressed in lower case, an IPv4-mapped
IPv6 address (``::ffff:192.0.2.7``, as dual-stack sockets and some logs write IPv4 peers) as its IPv4
address; surrounding space, ``[brackets]`` and a ``%zone`` are dropped. Anything else is not an address
(None). Records keep the address as their source wrote it; comparisons go through this rule.

The answers are those of Python's ``ipaddress``; text the C library's ``inet_pton`` reads (a plain address,
what captures and most logs hold) is read by it, several times faster: for every text it accepts,
``ipaddress`` reads the same bytes (tests/test_addresses.py compares both on many inputs). The text of an
IPv6 address is ``inet_ntop``'s unless that one shows an embedded IPv4 address, which ``ipaddress`` does
not (``::102:304``, not ``::1.2.3.4``).
"""

from __future__ import annotations

import ipaddress
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAPPED = bytes(10) + b"\xff\xff"  # the first 12 bytes of an IPv4-mapped IPv6 address
_ADDRESS_CHARS = frozenset("0123456789abcdefABCDEF:.")  # all that ipaddress reads once the zone is gone


def packed(text: str | None) -> bytes | None:
    """The address ``text`` names (see the module's rule) in network byte order: 4 bytes for IPv4 (mapped
    IPv6 included), 16 for IPv6; None when it names none."""
    if not text or not isinstance(text, str):
        return None
    try:
        raw = inet_pton(AF_INET6 if ":" in text else AF_INET, text)
    except (OSError, ValueError):  # ValueError: a NUL or a lone surrogate in the text
        return _packed_slow(text)
    return raw[12:] if raw[:12] == _MAPPED else raw


def _packed_slow(text: str) -> bytes | None:
    """``packed`` for text that is not a plain address: spaces, brackets or a zone around one, or no address."""
    bare = text.strip()
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    bare = bare.split("%", 1)[0]
    if bare != text:
        try:
            raw = inet_pton(AF_INET6 if ":" in bare else AF_INET, bare)
        except (OSError, ValueError):
            pass
        else:
            return raw[12:] if raw[:12] == _MAPPED else raw
    if not bare or not _ADDRESS_CHARS.issuperset(bare):
        return None
    try:
        addr = ipaddress.ip_address(bare)
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.packed
    return addr.packed


def packed_text(raw: bytes) -> str:
    """``str()`` of the ``ipaddress`` address with these 4 or 16 bytes."""
    if len(raw) == 4:
        return inet_ntop(AF_INET, raw)
    text = inet_ntop(AF_INET6, raw)
    return text if "." not in text else str(ipaddress.IPv6Address(raw))


def parse(text: str | None) -> Address | None:
    """The address ``text`` names (see the module's rule), or None when it names none."""
    raw = packed(text)
    if raw is None:
        return None
    return ipaddress.IPv4Address(raw) if len(raw) == 4 else ipaddress.IPv6Address(raw)


def numeric(text: str | None) -> tuple[int, int] | None:
    """(4 or 6, the address as an integer) of the address ``text`` names, or None when it names none."""
    raw = packed(text)
    if raw is None:
        return None
    return (4 if len(raw) == 4 else 6), int.from_bytes(raw)


def canonical(text: str | None) -> str | None:
    """The canonical text of the address ``text`` names; None ("" included) when it names none."""
    raw = packed(text)
    return None if raw is None else packed_text(raw)


def is_address(text: str) -> bool:
    """Whether ``text`` names an IP address (rather than a host name)."""
    return packed(text) is not None
