"""The one rule for comparing IP addresses written by different sources (captures, proxies, logs, case files).

``canonical`` gives one text per address: IPv4 dotted quad, IPv6 compressed in lower case, an IPv4-mapped
IPv6 address (``::ffff:192.0.2.7``, as dual-stack sockets and some logs write IPv4 peers) as its IPv4
address; surrounding space, ``[brackets]`` and a ``%zone`` are dropped. Anything else is not an address
(None). Records keep the address as their source wrote it; comparisons go through this rule.
"""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse(text: str | None) -> Address | None:
    """The address ``text`` names (see the module's rule), or None when it names none."""
    if not text or not isinstance(text, str):
        return None
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def canonical(text: str | None) -> str | None:
    """The canonical text of the address ``text`` names; None ("" included) when it names none."""
    addr = parse(text)
    return None if addr is None else str(addr)


def is_address(text: str) -> bool:
    """Whether ``text`` names an IP address (rather than a host name)."""
    return parse(text) is not None
