"""DNS messages (RFC 1035) over UDP and TCP: questions and answers, never raising on bad input.

Names come back without the trailing dot, in the case seen on the wire; bytes outside printable ASCII
are escaped as ``\\DDD`` (as in zone files), so a name is always safe, short text.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from dataclasses import dataclass, field

MAX_NAME_JUMPS = 16  # compression pointers followed for one name
MAX_NAME_LEN = 255
MAX_RECORDS = 64  # questions/answers kept per message (the header's counts may lie)
MAX_TCP_BUFFER = 65536 + 2
MAX_CACHED_MESSAGE = 512  # larger messages (zone transfers, DNSSEC) are parsed every time

TYPE_NAMES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 28: "AAAA",
    33: "SRV", 35: "NAPTR", 41: "OPT", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 50: "NSEC3",
    64: "SVCB", 65: "HTTPS", 99: "SPF", 252: "AXFR", 255: "ANY", 257: "CAA",
}


def type_name(rtype: int) -> str:
    return TYPE_NAMES.get(rtype, f"TYPE{rtype}")


@dataclass(slots=True)
class DnsRecord:
    name: str
    rtype: str  # "A", "AAAA", "CNAME", ...
    value: str  # address text, target name, or a short description


@dataclass(slots=True)
class DnsMessage:
    id: int
    is_response: bool
    rcode: int
    questions: list[tuple[str, str]] = field(default_factory=list)  # (name, type text)
    answers: list[DnsRecord] = field(default_factory=list)  # the answer section
    additional: list[DnsRecord] = field(default_factory=list)  # A/AAAA/CNAME of authority + additional
    truncated: bool = False  # the message ended before its counts said (what was read is kept)


_UNSAFE = re.compile(rb"[^\x21-\x2d\x2f-\x5b\x5d-\x7e]")  # not printable ASCII, or "." or "\\"


def _label_text(raw: bytes) -> str:
    if not _UNSAFE.search(raw):
        return raw.decode("ascii")
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b not in (0x2E, 0x5C) else f"\\{b:03d}" for b in raw)


NameCache = dict[int, tuple[str, int]]


def read_name(data: bytes, pos: int, cache: NameCache | None = None) -> tuple[str, int] | None:
    """The name at ``pos`` and the offset after it (after the first pointer); None when malformed.

    ``cache`` (per message) maps an offset to the name text and wire length found there, so names that
    point at an earlier name are not decoded again.
    """
    labels: list[str] = []
    starts: list[int] = []  # offsets of the labels read before the first pointer (for the cache)
    end = -1
    jumps = 0
    total = 0
    n = len(data)
    suffix = None
    size = 0
    while True:
        if pos >= n:
            return None
        if jumps and cache is not None and pos in cache:  # only after a pointer: ``end`` is known
            suffix, size = cache[pos]
            if total + size > MAX_NAME_LEN:
                return None
            break
        length = data[pos]
        if length == 0:
            if end < 0:
                end = pos + 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= n:
                return None
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if end < 0:
                end = pos + 2
            jumps += 1
            if jumps > MAX_NAME_JUMPS or target >= pos:  # only backwards: no loops
                return None
            pos = target
            continue
        if kind:
            return None  # 0x40/0x80: extended label types, obsolete
        if pos + 1 + length > n:
            return None
        total += length + 1
        if total > MAX_NAME_LEN:
            return None
        if not jumps:
            starts.append(pos)
        labels.append(_label_text(data[pos + 1 : pos + 1 + length]))
        pos += 1 + length
    if suffix:
        labels.append(suffix)
    name = ".".join(labels)
    if cache is not None and starts and starts[0] not in cache:
        cache[starts[0]] = (name, total + (size if suffix is not None else 0))
    return name, end


def _svcb_hints(name: str, rdata: bytes, msg: bytes, start: int, rtype: str,
                cache: NameCache) -> list[DnsRecord]:
    """SVCB/HTTPS: the target name (or the owner for ".") and ipv4hint/ipv6hint as A/AAAA records."""
    if len(rdata) < 3:
        return []
    got = read_name(msg, start + 2, cache)
    if got is None:
        return []
    target, after = got
    out = [DnsRecord(name, rtype, target or ".")]
    pos = after - start
    hint_owner = target or name
    while pos + 4 <= len(rdata) and len(out) < 16:
        key, length = struct.unpack_from("!HH", rdata, pos)
        value = rdata[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if len(value) < length:
            break
        if key == 4:
            out += [DnsRecord(hint_owner, "A", str(ipaddress.IPv4Address(value[i : i + 4])))
                    for i in range(0, length - 3, 4)]
        elif key == 6:
            out += [DnsRecord(hint_owner, "AAAA", str(ipaddress.IPv6Address(value[i : i + 16])))
                    for i in range(0, length - 15, 16)]
    return out


def _rdata_text(rtype: str, rdata: bytes, msg: bytes, start: int, cache: NameCache) -> str | None:
    if rtype == "A":
        return f"{rdata[0]}.{rdata[1]}.{rdata[2]}.{rdata[3]}" if len(rdata) == 4 else None
    if rtype == "AAAA":
        return str(ipaddress.IPv6Address(rdata)) if len(rdata) == 16 else None
    if rtype in ("CNAME", "NS", "PTR"):
        got = read_name(msg, start, cache)
        return got[0] if got else None
    if rtype == "MX":
        got = read_name(msg, start + 2, cache) if len(rdata) >= 3 else None
        return f"{struct.unpack_from('!H', rdata)[0]} {got[0]}" if got else None
    if rtype == "SRV":
        got = read_name(msg, start + 6, cache) if len(rdata) >= 7 else None
        return f"{struct.unpack_from('!H', rdata, 4)[0]} {got[0]}" if got else None
    if rtype == "TXT":
        return _label_text(rdata[1 : 1 + rdata[0]])[:100] if rdata else ""
    return f"{len(rdata)} bytes"


def parse_message(data: bytes) -> DnsMessage | None:
    """A DNS message from its wire bytes; None when even the header or first question is unreadable."""
    if len(data) < 12:
        return None
    ident, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", data)
    # opcode: QUERY, IQUERY, STATUS, NOTIFY, UPDATE
    if flags & 0x7800 not in (0, 0x0800, 0x1000, 0x2000, 0x2800):
        return None
    msg = DnsMessage(ident, bool(flags & 0x8000), flags & 0xF)
    pos = 12
    cache: NameCache = {}
    for _ in range(min(qd, MAX_RECORDS)):
        got = read_name(data, pos, cache)
        if got is None or got[1] + 4 > len(data):
            if not msg.questions:
                return None
            msg.truncated = True
            return msg
        name, pos = got
        qtype = struct.unpack_from("!H", data, pos)[0]
        msg.questions.append((name, type_name(qtype)))
        pos += 4
    if qd > MAX_RECORDS:
        return msg
    for index in range(min(an + ns + ar, MAX_RECORDS)):
        got = read_name(data, pos, cache)
        if got is None or got[1] + 10 > len(data):
            msg.truncated = True
            return msg
        name, pos = got
        rtype_num, _cls, _ttl, rdlen = struct.unpack_from("!HHIH", data, pos)
        pos += 10
        rdata = data[pos : pos + rdlen]
        if len(rdata) < rdlen:
            msg.truncated = True
            return msg
        rtype = type_name(rtype_num)
        if index < an:
            if rtype in ("HTTPS", "SVCB"):
                msg.answers += _svcb_hints(name, rdata, data, pos, rtype, cache)
            else:
                value = _rdata_text(rtype, rdata, data, pos, cache)
                if value is not None:
                    msg.answers.append(DnsRecord(name, rtype, value))
        elif rtype in ("A", "AAAA", "CNAME"):
            value = _rdata_text(rtype, rdata, data, pos, cache)
            if value is not None:
                msg.additional.append(DnsRecord(name, rtype, value))
        pos += rdlen
    return msg


class MessageCache:
    """``parse`` is ``parse_message`` that parses each distinct message once: resolvers and devices repeat
    the same questions and answers under new IDs, so messages are keyed by their bytes after the ID.
    Messages of equal bytes share their question and record lists: callers must not change them.
    Bounded: messages up to ``MAX_CACHED_MESSAGE`` bytes, ``limit`` entries; it starts over when full."""

    __slots__ = ("_parsed", "limit")

    def __init__(self, limit: int = 1024) -> None:
        self._parsed: dict[bytes, DnsMessage | None] = {}
        self.limit = limit

    def parse(self, data: bytes) -> DnsMessage | None:
        if not 12 <= len(data) <= MAX_CACHED_MESSAGE:
            return parse_message(data)
        body = bytes(data[2:])
        parsed = self._parsed
        if body in parsed:
            known = parsed[body]
        else:
            if len(parsed) >= self.limit:
                parsed.clear()
            known = parsed[body] = parse_message(data)
        if known is None:
            return None
        # a fresh message with this ID; its lists are shared with the cached one (parsed messages are read-only)
        return DnsMessage((data[0] << 8) | data[1], known.is_response, known.rcode, known.questions,
                          known.answers, known.additional, known.truncated)


def split_tcp(stream: bytes) -> tuple[list[bytes], bytes]:
    """DNS over TCP: complete messages (2-byte length prefix removed) and the unfinished rest."""
    messages: list[bytes] = []
    pos = 0
    n = len(stream)
    while pos + 2 <= n:
        length = (stream[pos] << 8) | stream[pos + 1]
        if pos + 2 + length > n:
            break
        messages.append(stream[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return messages, stream[pos:]
