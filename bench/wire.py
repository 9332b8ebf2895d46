"""Wire-format builders for the benchmark generator: TLS ClientHello, QUIC v1 Initial, DNS, checksums.

Pure functions over bytes, written for bench/gen.py. Built once per session or once per template,
never per packet, so they favour clarity over speed.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

# RFC 9001 section 5.2: the Initial salt of QUIC version 1.
QUIC_V1_SALT = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")


def ones_complement(total: int) -> int:
    """The Internet checksum of data whose 16-bit big-endian words sum (as an integer) to ``total``.

    Uses 2**16 == 1 (mod 0xFFFF): a byte string read as one big-endian integer is congruent to the sum
    of its 16-bit words, so ``int.from_bytes`` does the whole word sum in C.
    """
    r = total % 0xFFFF
    return 0xFFFF - r if r else 0


def word_sum(data: bytes | bytearray | memoryview) -> int:
    """An integer congruent (mod 0xFFFF) to the sum of the 16-bit words of ``data`` (odd length: zero pad)."""
    value = int.from_bytes(data, "big")
    return value << 8 if len(data) & 1 else value


def varint(value: int) -> bytes:
    """QUIC variable-length integer (RFC 9000 section 16)."""
    if value < 0x40:
        return bytes([value])
    if value < 0x4000:
        return struct.pack(">H", 0x4000 | value)
    if value < 0x40000000:
        return struct.pack(">I", 0x80000000 | value)
    return struct.pack(">Q", 0xC000000000000000 | value)


def _ext(ext_type: int, body: bytes) -> bytes:
    return struct.pack(">HH", ext_type, len(body)) + body


def client_hello(rng: random.Random, sni: str, alpn: list[bytes], quic_params: bytes | None = None) -> bytes:
    """A TLS 1.3 ClientHello handshake message (type 1, 3-byte length) as a mobile browser would send it."""
    name = sni.encode("ascii")
    protos = b"".join(bytes([len(p)]) + p for p in alpn)
    exts = [_ext(0, struct.pack(">HBH", len(name) + 3, 0, len(name)) + name)]
    if quic_params is None:
        exts += [_ext(23, b""), _ext(0xFF01, b"\x00"), _ext(11, b"\x01\x00"), _ext(35, b"")]
    exts += [
        _ext(10, struct.pack(">HHHH", 6, 0x001D, 0x0017, 0x0018)),
        _ext(5, b"\x01\x00\x00\x00\x00"),
        _ext(13, struct.pack(">9H", 16, 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)),
        _ext(51, struct.pack(">HHH", 36, 0x001D, 32) + rng.randbytes(32)),
        _ext(45, b"\x01\x01"),
    ]
    if alpn:
        exts.append(_ext(16, struct.pack(">H", len(protos)) + protos))
    if quic_params is None:
        exts.append(_ext(43, b"\x04\x03\x04\x03\x03"))
        suites = [
            0x1301,
            0x1302,
            0x1303,
            0xC02B,
            0xC02F,
            0xC02C,
            0xC030,
            0xCCA9,
            0xCCA8,
            0xC013,
            0xC014,
            0x009C,
            0x009D,
            0x002F,
            0x0035,
        ]
        session_id = rng.randbytes(32)
    else:
        exts += [_ext(43, b"\x02\x03\x04"), _ext(57, quic_params)]
        suites = [0x1301, 0x1302, 0x1303]
        session_id = b""
    ext_bytes = b"".join(exts)
    body = (
        b"\x03\x03"
        + rng.randbytes(32)
        + bytes([len(session_id)])
        + session_id
        + struct.pack(f">H{len(suites)}H", 2 * len(suites), *suites)
        + b"\x01\x00"
        + struct.pack(">H", len(ext_bytes))
        + ext_bytes
    )
    return b"\x01" + len(body).to_bytes(3, "big") + body


def tls_record(content_type: int, payload: bytes, version: int = 0x0303) -> bytes:
    return struct.pack(">BHH", content_type, version, len(payload)) + payload


def quic_transport_params(scid: bytes) -> bytes:
    """A few transport parameters (RFC 9000 section 18.2), ending with initial_source_connection_id."""
    params = [
        (0x01, varint(30000)),
        (0x04, varint(15728640)),
        (0x05, varint(6291456)),
        (0x08, varint(100)),
        (0x0F, scid),
    ]
    return b"".join(varint(pid) + varint(len(v)) + v for pid, v in params)


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    info = struct.pack(">HB", length, len(full)) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


def quic_client_initial(dcid: bytes, scid: bytes, crypto: bytes, size: int = 1252, pn: int = 0) -> bytes:
    """A protected QUIC v1 client Initial datagram of ``size`` bytes carrying ``crypto`` in one CRYPTO frame.

    Keys per RFC 9001 section 5.2, packet protection 5.3, header protection 5.4 (AES-128).
    """
    secret = hmac.new(QUIC_V1_SALT, dcid, hashlib.sha256).digest()
    client = _expand_label(secret, b"client in", 32)
    key, iv, hp = (
        _expand_label(client, b"quic key", 16),
        _expand_label(client, b"quic iv", 12),
        _expand_label(client, b"quic hp", 16),
    )
    pn_len = 2
    head = (
        bytes([0xC0 | (pn_len - 1)])
        + struct.pack(">I", 1)
        + bytes([len(dcid)])
        + dcid
        + bytes([len(scid)])
        + scid
        + varint(0)
    )
    frame = b"\x06" + varint(0) + varint(len(crypto)) + crypto
    plain_len = size - len(head) - 2 - pn_len - 16
    if plain_len < len(frame):
        raise ValueError("ClientHello too large for the Initial")
    plaintext = frame + bytes(plain_len - len(frame))  # PADDING frames
    header = head + struct.pack(">H", 0x4000 | (pn_len + plain_len + 16)) + pn.to_bytes(pn_len, "big")
    nonce = (int.from_bytes(iv, "big") ^ pn).to_bytes(12, "big")
    sealed = AESGCM(key).encrypt(nonce, plaintext, header)
    sample = sealed[4 - pn_len : 20 - pn_len]
    mask = Cipher(algorithms.AES(hp), modes.ECB()).encryptor().update(sample)
    protected = bytearray(header)
    protected[0] ^= mask[0] & 0x0F
    for i in range(pn_len):
        protected[len(header) - pn_len + i] ^= mask[1 + i]
    return bytes(protected) + sealed


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.split(".")) + b"\x00"


QTYPES = {"A": 1, "AAAA": 28, "CNAME": 5, "HTTPS": 65}


def dns_query(qid: int, name: str, qtype: str) -> bytes:
    return (
        struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
        + dns_name(name)
        + struct.pack(">HH", QTYPES[qtype], 1)
    )


def dns_response(qid: int, name: str, qtype: str, cname: str | None, addresses: list[bytes]) -> bytes:
    """A response with an optional CNAME (pointing back at the question name) and address records."""
    question = dns_name(name) + struct.pack(">HH", QTYPES[qtype], 1)
    answers = []
    owner = b"\xc0\x0c"  # compression pointer to the question name at offset 12
    if cname is not None:
        target = dns_name(cname)
        answers.append(owner + struct.pack(">HHIH", 5, 1, 300, len(target)) + target)
        owner = struct.pack(">H", 0xC000 | (12 + len(question) + 12))
    rtype = QTYPES[qtype] if qtype in ("A", "AAAA") else 0
    if rtype:
        for addr in addresses:
            answers.append(owner + struct.pack(">HHIH", rtype, 1, 60, len(addr)) + addr)
    head = struct.pack(">HHHHHH", qid, 0x8180, 1, len(answers), 0, 0)
    return head + question + b"".join(answers)
