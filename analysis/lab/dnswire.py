"""Just enough DNS wire format for the lab: build queries and answers (pure functions). Reading a query or an
answer goes through the project's one DNS parser, :mod:`analysis.protocols.dns`."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from analysis.protocols import dns

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
    """The one question of a DNS query, read with the project's parser (:mod:`analysis.protocols.dns`);
    a question name that is a compression pointer is refused (queries never use one)."""
    if len(data) > MAX_MESSAGE:
        raise DnsWireError("message too long")
    msg = dns.parse_message(data)
    if msg is None:
        raise DnsWireError("not a DNS query (header or question unreadable)")
    if msg.is_response:
        raise DnsWireError("a response, not a query")
    if struct.unpack_from("!H", data, 4)[0] != 1:
        raise DnsWireError("exactly one question expected")
    if data[12] & 0xC0:
        raise DnsWireError("compression pointer in a query")
    end = dns.read_name(data, 12)[1]  # parse_message read it: well formed
    qtype, qclass = struct.unpack_from("!HH", data, end)
    return Question(msg.id, struct.unpack_from("!H", data, 2)[0],
                    msg.questions[0][0].lower(), qtype, qclass, data[12:end + 4])


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
    """IPv4 addresses in the answer section of a response to query ``ident`` (read with the project's
    parser)."""
    msg = dns.parse_message(data)
    if msg is None or msg.id != ident or not msg.is_response:
        raise DnsWireError("not the response to this query")
    if msg.truncated:
        raise DnsWireError("answer truncated")
    return [r.value for r in msg.answers if r.rtype == "A"]
