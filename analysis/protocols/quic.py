"""QUIC Initial packets (RFC 9000/9001, v2 RFC 9369, draft-23..34, reserved 0x?a?a?a?a versions): the client's
ClientHello and its SNI.

Initial packets are encrypted with keys anyone can derive from the Destination Connection ID. Steps:
parse the long header, derive the keys (HKDF with the version's salt), remove header protection (AES-ECB
mask), decrypt (AES-128-GCM), read the frames and join the CRYPTO data, which may be spread over
several packets, coalesced or in separate datagrams, in any order. Bounded; never raises on bad input.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from analysis.protocols.tls import ClientHello, parse_handshake

MAX_CRYPTO = 65536  # CRYPTO bytes kept per connection
MAX_CRYPTO_PIECES = 256
MAX_FRAMES = 512  # frames read per packet
MAX_PACKETS_PER_DATAGRAM = 8

V1 = 0x00000001
V2 = 0x6B3343CF
SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")  # RFC 9001, 5.2
SALT_V2 = bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9")  # RFC 9369, 3.3.1
SALT_D29 = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")  # draft-ietf-quic-tls-29..34
SALT_D23 = bytes.fromhex("c3eef712c72ebb5a11a7d2432bb46365bef9f502")  # draft-ietf-quic-tls-23..28


def is_reserved(version: int) -> bool:
    """A version of the form 0x?a?a?a?a, reserved to exercise version negotiation (RFC 9000, 15)."""
    return version & 0x0F0F0F0F == 0x0A0A0A0A


def version_salts(version: int) -> tuple[bytes, ...]:
    """The Initial salts to try for a version (empty: versions whose Initials we cannot read).

    A reserved version names no salt. Wireshark still reads such Initials: tshark 4.0 takes them for
    draft-29 (its salt and v1's labels), later releases for v1; both are tried, the AEAD tag tells which.
    """
    if version == V1:
        return (SALT_V1,)
    if version == V2:
        return (SALT_V2,)
    if is_reserved(version):
        return (SALT_D29, SALT_V1)
    if version >> 8 == 0xFF0000:
        draft = version & 0xFF
        if 29 <= draft <= 34:
            return (SALT_D29,)
        if 23 <= draft <= 28:
            return (SALT_D23,)
    return ()


def version_salt(version: int) -> bytes | None:
    """The first Initial salt of a version, None for versions whose Initials we cannot read."""
    salts = version_salts(version)
    return salts[0] if salts else None


def is_initial_type(version: int, first: int) -> bool:
    ptype = (first >> 4) & 0x03
    return ptype == (0b01 if version == V2 else 0b00)


def read_varint(data: bytes, pos: int) -> tuple[int, int] | None:
    """A QUIC variable-length integer at ``pos``: (value, next position), or None."""
    if pos >= len(data):
        return None
    first = data[pos]
    size = 1 << (first >> 6)
    if pos + size > len(data):
        return None
    value = first & 0x3F
    for b in data[pos + 1 : pos + size]:
        value = (value << 8) | b
    return value, pos + size


@dataclass(slots=True)
class LongHeader:
    first: int
    version: int
    dcid: bytes
    scid: bytes
    token: bytes
    pn_offset: int  # where the (protected) packet number starts, from the packet's start
    end: int  # packet end, from the packet's start (coalesced packets follow)

    @property
    def is_initial(self) -> bool:
        return is_initial_type(self.version, self.first)


def parse_long_header(data: bytes, start: int = 0) -> LongHeader | None:
    """The long header of the packet at ``start``; for non-Initial packets pn_offset is 0."""
    if start + 7 > len(data):
        return None
    first = data[start]
    if not first & 0x80:
        return None
    version = int.from_bytes(data[start + 1 : start + 5], "big")
    pos = start + 5
    dlen = data[pos]
    if dlen > 20 and version_salt(version) is not None:
        return None
    dcid = data[pos + 1 : pos + 1 + dlen]
    pos += 1 + dlen
    if pos >= len(data) or len(dcid) != dlen:
        return None
    slen = data[pos]
    scid = data[pos + 1 : pos + 1 + slen]
    pos += 1 + slen
    if len(scid) != slen or version == 0:
        return None if len(scid) != slen else LongHeader(first, 0, dcid, scid, b"", 0, len(data) - start)
    token = b""
    ptype = (first >> 4) & 0x03
    if is_initial_type(version, first):
        got = read_varint(data, pos)
        if got is None or got[1] + got[0] > len(data):
            return None
        token = data[got[1] : got[1] + got[0]]
        pos = got[1] + got[0]
    elif ptype == (0b00 if version == V2 else 0b11):  # Retry: no length field, runs to the datagram's end
        return LongHeader(first, version, dcid, scid, b"", 0, len(data) - start)
    got = read_varint(data, pos)
    if got is None:
        return None
    length, pos = got
    end = pos + length
    if end > len(data):
        return None
    return LongHeader(first, version, dcid, scid, token, pos - start, end - start)


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    """HKDF-Expand-Label (RFC 8446, 7.1) with an empty context, SHA-256, up to 32 bytes."""
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return hmac.digest(secret, info + b"\x01", "sha256")[:length]


@dataclass(frozen=True, slots=True)
class InitialKeys:
    key: bytes
    iv: bytes
    hp: bytes


def client_initial_keys(version: int, dcid: bytes, salt: bytes | None = None) -> InitialKeys | None:
    """The client's Initial packet protection keys for a version and Destination Connection ID (``salt``: one
    of ``version_salts(version)``, the first by default)."""
    salt = salt or version_salt(version)
    if salt is None:
        return None
    initial = hmac.digest(salt, dcid, "sha256")  # HKDF-Extract
    client = _expand_label(initial, b"client in", 32)
    prefix = b"quicv2 " if version == V2 else b"quic "
    return InitialKeys(
        _expand_label(client, prefix + b"key", 16),
        _expand_label(client, prefix + b"iv", 12),
        _expand_label(client, prefix + b"hp", 16),
    )


def decrypt_initial(packet: bytes, header: LongHeader, keys: InitialKeys) -> bytes | None:
    """The plaintext payload of one Initial packet (``packet`` starts at the packet), None if it fails."""
    pn_offset = header.pn_offset
    sample = packet[pn_offset + 4 : pn_offset + 20]
    if len(sample) < 16 or header.end > len(packet):
        return None
    mask = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor().update(sample)
    first = packet[0] ^ (mask[0] & 0x0F)
    pn_len = (first & 0x03) + 1
    pn_bytes = bytes(packet[pn_offset + k] ^ mask[1 + k] for k in range(pn_len))
    aad = bytes([first]) + packet[1:pn_offset] + pn_bytes
    pn = int.from_bytes(pn_bytes, "big")
    nonce = (int.from_bytes(keys.iv, "big") ^ pn).to_bytes(12, "big")
    try:
        return AESGCM(keys.key).decrypt(nonce, bytes(packet[pn_offset + pn_len : header.end]), aad)
    except (InvalidTag, ValueError):
        return None


def crypto_frames(plain: bytes) -> list[tuple[int, bytes]] | None:
    """(offset, data) of the CRYPTO frames in an Initial packet's plaintext; None on an unknown frame."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    n = len(plain)
    for _ in range(MAX_FRAMES):
        if pos >= n:
            return out
        ftype = plain[pos]
        if ftype == 0x00:  # PADDING: skip the run
            pos = n - len(plain[pos:].lstrip(b"\x00"))
            continue
        if ftype == 0x01:  # PING
            pos += 1
            continue
        if ftype in (0x02, 0x03):  # ACK: largest, delay, range count, first range, ranges, ECN counts
            p = pos + 1
            values = []
            for _k in range(4):
                got = read_varint(plain, p)
                if got is None:
                    return None
                values.append(got[0])
                p = got[1]
            if values[2] > 256:
                return None
            for _k in range(values[2] * 2 + (3 if ftype == 0x03 else 0)):
                got = read_varint(plain, p)
                if got is None:
                    return None
                p = got[1]
            pos = p
            continue
        if ftype == 0x06:  # CRYPTO
            off = read_varint(plain, pos + 1)
            if off is None:
                return None
            ln = read_varint(plain, off[1])
            if ln is None or ln[1] + ln[0] > n:
                return None
            out.append((off[0], plain[ln[1] : ln[1] + ln[0]]))
            pos = ln[1] + ln[0]
            continue
        if ftype == 0x1C:  # CONNECTION_CLOSE (transport)
            p = pos + 1
            for _k in range(2):
                got = read_varint(plain, p)
                if got is None:
                    return None
                p = got[1]
            got = read_varint(plain, p)
            if got is None:
                return None
            pos = got[1] + got[0]
            continue
        return out if out else None
    return out


@dataclass(slots=True)
class CryptoAssembler:
    """CRYPTO data of one connection, joined in offset order (bounded)."""

    pieces: dict[int, bytes] = field(default_factory=dict)
    size: int = 0

    def add(self, offset: int, data: bytes) -> None:
        if not data or offset >= MAX_CRYPTO or len(self.pieces) >= MAX_CRYPTO_PIECES:
            return
        data = data[: MAX_CRYPTO - offset]
        if len(data) > len(self.pieces.get(offset, b"")):
            self.pieces[offset] = data

    def contiguous(self) -> bytes:
        out = bytearray()
        for offset in sorted(self.pieces):
            data = self.pieces[offset]
            if offset > len(out):
                break
            if offset + len(data) > len(out):
                out += data[len(out) - offset :]
        return bytes(out)


@dataclass(slots=True)
class InitialReader:
    """The client's side of one QUIC connection: feed its datagrams, get the ClientHello once complete."""

    original_dcid: bytes | None = None
    version: int = 0
    crypto: CryptoAssembler = field(default_factory=CryptoAssembler)
    keys: dict[tuple[int, bytes], list[InitialKeys]] = field(default_factory=dict)
    client_hello: ClientHello | None = None
    failed: bool = False  # the CRYPTO data is not a ClientHello

    def _keys(self, version: int, dcid: bytes) -> list[InitialKeys]:
        """The candidate keys, one per salt of the version (bounded: 8 version/DCID pairs)."""
        k = (version, dcid)
        if k not in self.keys:
            if len(self.keys) >= 8:
                return []
            found = (client_initial_keys(version, dcid, salt) for salt in version_salts(version))
            self.keys[k] = [keys for keys in found if keys is not None]
        return self.keys[k]

    def _decrypt(self, packet: bytes, header: LongHeader) -> bytes | None:
        """The packet's plaintext with the keys of its own DCID or of the connection's first one."""
        for dcid in dict.fromkeys((header.dcid, self.original_dcid or header.dcid)):
            for keys in self._keys(header.version, dcid):
                plain = decrypt_initial(packet, header, keys)
                if plain is not None:
                    return plain
        return None

    def add_datagram(self, data: bytes) -> bool:
        """True when the datagram held at least one readable Initial packet."""
        pos = 0
        useful = False
        for _ in range(MAX_PACKETS_PER_DATAGRAM):
            header = parse_long_header(data, pos)
            if header is None:
                break
            if header.is_initial and version_salt(header.version) is not None:
                packet = data[pos : pos + header.end]
                if self.original_dcid is None:
                    self.original_dcid, self.version = header.dcid, header.version
                plain = self._decrypt(packet, header)
                frames = crypto_frames(plain) if plain is not None else None
                if frames is not None:
                    useful = True
                    for offset, chunk in frames:
                        self.crypto.add(offset, chunk)
            pos += header.end
            if header.end <= 0 or pos >= len(data):
                break
        if useful and self.client_hello is None and not self.failed:
            status, ch = parse_handshake(self.crypto.contiguous())
            if status == "ok":
                self.client_hello = ch
            elif status == "not-tls":
                self.failed = True
        return useful


def client_hello_from_datagrams(datagrams: list[bytes]) -> ClientHello | None:
    """Convenience: the ClientHello carried by a client's Initial datagrams (any order)."""
    reader = InitialReader()
    for d in datagrams:
        reader.add_datagram(d)
    return reader.client_hello
