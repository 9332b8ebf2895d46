"""Link layers: where the IP header starts inside a frame, for each supported pcap link type.

``ip_offset(linktype, buf, off, end)`` returns the offset of the IPv4/IPv6 header or -1 when the frame
carries no IP (ARP, LLC, ...). Pure functions over bytes; the IP version is read by the caller.
Link-type numbers: https://www.tcpdump.org/linktypes.html
"""

from __future__ import annotations

from collections.abc import Callable

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
MPLS = frozenset({0x8847, 0x8848})
PPPOE_SESSION = 0x8864
AF_INET = frozenset({2, 2 << 24})
AF_INET6 = frozenset({10, 24, 28, 30, 10 << 24, 24 << 24, 28 << 24, 30 << 24})
NFULA_PAYLOAD = 9
MAX_TAGS = 8  # VLAN/MPLS labels followed before giving up

LINKTYPE_NAMES = {
    0: "NULL", 1: "ETHERNET", 9: "PPP", 12: "RAW", 14: "RAW", 50: "PPP_HDLC", 101: "RAW", 104: "C_HDLC",
    108: "LOOP", 113: "LINUX_SLL", 228: "IPV4", 229: "IPV6", 239: "NFLOG", 276: "LINUX_SLL2",
}


def linktype_name(linktype: int) -> str:
    name = LINKTYPE_NAMES.get(linktype)
    return f"{linktype} ({name})" if name else str(linktype)


def _ethertype(buf: bytes, p: int, end: int) -> int:
    """Offset of IP after an ethertype field at ``p`` (VLAN tags, QinQ, MPLS, PPPoE followed)."""
    for _ in range(MAX_TAGS):
        if p + 2 > end:
            return -1
        et = (buf[p] << 8) | buf[p + 1]
        if et == ETH_IPV4 or et == ETH_IPV6:
            return p + 2
        if et in VLAN_TAGS:
            p += 4
            continue
        if et in MPLS:
            q = p + 2
            for _ in range(MAX_TAGS):
                if q + 4 > end:
                    return -1
                bottom = buf[q + 2] & 1
                q += 4
                if bottom:
                    return q
            return -1
        if et == PPPOE_SESSION:
            return _ppp(buf, p + 8, end)
        return -1
    return -1


def _ethernet(buf: bytes, off: int, end: int) -> int:
    return _ethertype(buf, off + 12, end)


def _sll(buf: bytes, off: int, end: int) -> int:
    return _ethertype(buf, off + 14, end)


def _sll2(buf: bytes, off: int, end: int) -> int:
    if off + 20 > end:
        return -1
    et = (buf[off] << 8) | buf[off + 1]
    if et in (ETH_IPV4, ETH_IPV6):
        return off + 20
    return _ethertype(buf, off + 22, end) if et in VLAN_TAGS else -1


def _raw(buf: bytes, off: int, end: int) -> int:
    return off


def _null(buf: bytes, off: int, end: int) -> int:
    if off + 4 > end:
        return -1
    family = int.from_bytes(buf[off:off + 4], "little")
    return off + 4 if family in AF_INET or family in AF_INET6 else -1


def _ppp(buf: bytes, off: int, end: int) -> int:
    if off + 2 <= end and buf[off] == 0xFF and buf[off + 1] == 0x03:
        off += 2
    if off + 1 > end:
        return -1
    if buf[off] & 1:  # protocol-field compression: one byte
        proto, off = buf[off], off + 1
    elif off + 2 <= end:
        proto, off = (buf[off] << 8) | buf[off + 1], off + 2
    else:
        return -1
    return off if proto in (0x21, 0x57) else -1


def _chdlc(buf: bytes, off: int, end: int) -> int:
    return _ethertype(buf, off + 2, end)


def _nflog(buf: bytes, off: int, end: int) -> int:
    """NFLOG: 4-byte header, then TLVs in the capturing host's byte order; the payload TLV holds IP."""
    for order in ("little", "big"):
        p = off + 4
        while p + 4 <= end:
            length = int.from_bytes(buf[p:p + 2], order)
            tlv_type = int.from_bytes(buf[p + 2:p + 4], order) & 0x3FFF
            if length < 4 or p + length > end:
                break
            if tlv_type == NFULA_PAYLOAD:
                return p + 4
            p += (length + 3) & ~3
    return -1


DECODERS: dict[int, Callable[[bytes, int, int], int]] = {
    0: _null, 1: _ethernet, 9: _ppp, 12: _raw, 14: _raw, 50: _ppp, 101: _raw, 104: _chdlc, 108: _null,
    113: _sll, 228: _raw, 229: _raw, 239: _nflog, 276: _sll2,
}
SUPPORTED_LINKTYPES = frozenset(DECODERS)


def ip_offset(linktype: int, buf: bytes, off: int, end: int) -> int:
    """Offset of the IP header in ``buf[off:end]`` for this link type, or -1."""
    decoder = DECODERS.get(linktype)
    return decoder(buf, off, end) if decoder else -1
