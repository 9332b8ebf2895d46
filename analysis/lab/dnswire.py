"""Just enough DNS wire format for the lab: parse a query, build an answer, build a query (pure functions)."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

MAX_MESSAGE = 512  # classic UDP DNS limit; the lab never needs more
TYPE_A = 1
TYPE_AAAA = 28
CLASS_IN = 1
RCODE_NXDOMAIN = 3
RCODE_FORMERR = 1


class DnsWireError(ValueError):
    """A message that is not a well-formed single-question DNS query."""


@dataclass(frozen=True, slots=True)
class Question:
    id: int
    flags: int
    name: str  # lower case, no trailing dot
    qtype: int
    qclass: int
    raw_question: bytes  # the question section as received, echoed in the answer


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise DnsWireError(f"bad label in {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def parse_query(data: bytes) -> Question:
    """The one question of a DNS query; compression pointers are refused (queries never use them)."""
    if len(data) < 12 or len(data) > MAX_MESSAGE:
        raise DnsWireError("message too short or too long")
    ident, flags, qd, _an, _ns, _ar = struct.unpack("!6H", data[:12])
    if flags & 0x8000:
        raise DnsWireError("a response, not a query")
    if qd != 1:
        raise DnsWireError("exactly one question expected")
    pos, labels = 12, []
    while True:
        if pos >= len(data):
            raise DnsWireError("name runs past the end")
        length = data[pos]
        pos += 1
        if length == 0:
            break
        if length > 63 or pos + length > len(data):
            raise DnsWireError("bad label length")
        labels.append(data[pos:pos + length].decode("ascii", "replace").lower())
        pos += length
    if pos + 4 > len(data):
        raise DnsWireError("question truncated")
    qtype, qclass = struct.unpack("!HH", data[pos:pos + 4])
    return Question(ident, flags, ".".join(labels), qtype, qclass, data[12:pos + 4])


def build_answer(question: Question, addresses: list[str] | None, ttl: int = 60) -> bytes:
    """A response: A records for ``addresses`` (IPv4 only), NOERROR with no records for other types of a
    known name, NXDOMAIN when ``addresses`` is None."""
    rd = question.flags & 0x0100
    rcode = RCODE_NXDOMAIN if addresses is None else 0
    records = b""
    count = 0
    if addresses and question.qtype == TYPE_A and question.qclass == CLASS_IN:
        for address in addresses:
            packed = ipaddress.IPv4Address(address).packed
            records += struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, ttl, 4) + packed
            count += 1
    flags = 0x8000 | 0x0400 | rd | 0x0080 | rcode  # QR, AA, RD echoed, RA
    return struct.pack("!6H", question.id, flags, 1, count, 0, 0) + question.raw_question + records


def build_error(data: bytes, rcode: int = RCODE_FORMERR) -> bytes | None:
    """A header-only error response for an unparseable query (None when not even the id is there)."""
    if len(data) < 12:
        return None
    ident = struct.unpack("!H", data[:2])[0]
    return struct.pack("!6H", ident, 0x8000 | rcode, 0, 0, 0, 0)


def build_query(ident: int, name: str, qtype: int = TYPE_A) -> bytes:
    return struct.pack("!6H", ident & 0xFFFF, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack(
        "!HH", qtype, CLASS_IN
    )


def parse_a_answers(data: bytes, ident: int) -> list[str]:
    """IPv4 addresses in the answer section of a response to query ``ident`` (only the lab's own shape:
    one question, answers with compressed names)."""
    if len(data) < 12:
        raise DnsWireError("response too short")
    rid, flags, qd, an, _ns, _ar = struct.unpack("!6H", data[:12])
    if rid != ident or not flags & 0x8000:
        raise DnsWireError("not the response to this query")
    pos = 12
    for _ in range(qd):
        while pos < len(data) and data[pos] != 0:
            pos += data[pos] + 1
        pos += 5
    out = []
    for _ in range(an):
        if pos + 12 > len(data) or data[pos] & 0xC0 != 0xC0:
            raise DnsWireError("unexpected answer layout")
        rtype, _rclass, _ttl, rdlen = struct.unpack("!HHIH", data[pos + 2:pos + 12])
        pos += 12
        if pos + rdlen > len(data):
            raise DnsWireError("answer truncated")
        if rtype == TYPE_A and rdlen == 4:
            out.append(str(ipaddress.IPv4Address(data[pos:pos + 4])))
        pos += rdlen
    return out
