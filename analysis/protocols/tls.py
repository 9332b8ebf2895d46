"""TLS ClientHello (RFC 8446 / 5246): SNI, ALPN and versions, from a TCP stream or QUIC CRYPTO data.

Pure functions over bytes that never raise. A ClientHello may span several TLS records and several TCP
segments; ``parse_client_hello_stream`` says "need-more" until the whole handshake message is there.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

MAX_HANDSHAKE = 65536  # bigger ClientHellos (post-quantum key shares are ~2 KiB) are not plausible
MAX_LIST = 32

CONTENT_HANDSHAKE = 22
HANDSHAKE_CLIENT_HELLO = 1


@dataclass(slots=True)
class ClientHello:
    legacy_version: int
    sni: str | None = None
    alpn: list[str] = field(default_factory=list)
    supported_versions: list[int] = field(default_factory=list)
    record_version: int | None = None  # the first TLS record's version (None for QUIC)

    @property
    def max_version(self) -> int:
        """The highest version offered (supported_versions wins; GREASE values ignored)."""
        offered = [v for v in self.supported_versions if (v & 0x0F0F) != 0x0A0A]
        return max(offered) if offered else self.legacy_version


def looks_like_tls(first: bytes) -> bool:
    """Cheap test: the stream starts with a TLS handshake record (SSL 3.0 .. TLS 1.3 record versions),
    or an SSL 2.0-compatible ClientHello as old clients send it."""
    if len(first) < 3:
        return False
    if first[0] == CONTENT_HANDSHAKE:
        return first[1] == 3 and first[2] <= 4
    return _is_sslv2_hello(first)


def _is_sslv2_hello(first: bytes) -> bool:
    return len(first) >= 5 and bool(first[0] & 0x80) and first[2] == 1 and first[3] in (0, 3)


def _sslv2_hello(buf: bytes) -> tuple[str, ClientHello | None]:
    """SSL 2.0 record header (2 bytes, high bit set), CLIENT-HELLO, version: no extensions, so no SNI."""
    length = ((buf[0] & 0x7F) << 8) | buf[1]
    if len(buf) < 2 + min(length, 9):
        return "need-more", None
    version = struct.unpack_from("!H", buf, 3)[0]
    return "ok", ClientHello(legacy_version=version, record_version=0x0002)


_UNSAFE = re.compile(rb"[^\x21-\x5b\x5d-\x7e]")  # anything but printable ASCII without space and backslash


def _text(raw: bytes) -> str:
    raw = raw[:255]
    if not _UNSAFE.search(raw):
        return raw.decode("ascii")
    return "".join(chr(b) if 0x20 < b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in raw)


_EXT_HEAD = struct.Struct("!HH").unpack_from
_EXT_READ = frozenset((0, 16, 43))  # the extensions read below; the others are skipped without a copy


def _extensions(ch: ClientHello, data: bytes, pos: int, end: int) -> None:
    while pos + 4 <= end:
        etype, elen = _EXT_HEAD(data, pos)
        pos += 4
        if etype not in _EXT_READ:
            pos += elen
            continue
        body = data[pos : min(pos + elen, end)]
        pos += elen
        if etype == 0 and ch.sni is None:  # server_name
            i = 2
            while i + 3 <= len(body):
                ntype, nlen = body[i], struct.unpack_from("!H", body, i + 1)[0]
                if ntype == 0:
                    name = body[i + 3 : i + 3 + nlen]
                    ch.sni = _text(name) if name else None
                    break
                i += 3 + nlen
        elif etype == 16:  # application_layer_protocol_negotiation
            i = 2
            while i < len(body) and len(ch.alpn) < MAX_LIST:
                plen = body[i]
                proto = body[i + 1 : i + 1 + plen]
                if len(proto) == plen and plen:
                    ch.alpn.append(_text(proto))
                i += 1 + plen
        elif etype == 43 and body:  # supported_versions
            count = min(body[0] // 2, MAX_LIST)
            ch.supported_versions = [struct.unpack_from("!H", body, 1 + 2 * k)[0]
                                     for k in range(count) if 3 + 2 * k <= len(body)]


def parse_client_hello_body(body: bytes) -> ClientHello | None:
    """The ClientHello body (after the 4-byte handshake header); None when it is not one."""
    if len(body) < 38:
        return None
    version = struct.unpack_from("!H", body)[0]
    if version >> 8 != 3:
        return None
    ch = ClientHello(legacy_version=version)
    pos = 34  # version + random
    sid_len = body[pos]
    pos += 1 + sid_len
    if sid_len > 32 or pos + 2 > len(body):
        return None
    cs_len = struct.unpack_from("!H", body, pos)[0]
    pos += 2 + cs_len
    if pos + 1 > len(body):
        return None
    pos += 1 + body[pos]  # compression methods
    if pos + 2 > len(body):
        return ch  # no extensions (SSL 3.0 style)
    ext_len = struct.unpack_from("!H", body, pos)[0]
    pos += 2
    _extensions(ch, body, pos, min(pos + ext_len, len(body)))
    return ch


def parse_handshake(data: bytes) -> tuple[str, ClientHello | None]:
    """Handshake bytes (QUIC CRYPTO data, or the record payloads joined): status and the ClientHello."""
    if len(data) < 4:
        return "need-more", None
    if data[0] != HANDSHAKE_CLIENT_HELLO:
        return "not-tls", None
    length = int.from_bytes(data[1:4], "big")
    if length > MAX_HANDSHAKE:
        return "not-tls", None
    if len(data) < 4 + length:
        return "need-more", None
    ch = parse_client_hello_body(data[4 : 4 + length])
    return ("ok", ch) if ch else ("not-tls", None)


def parse_client_hello_stream(buf: bytes) -> tuple[str, ClientHello | None]:
    """The first bytes a client sent on a TCP connection: "ok", "need-more" or "not-tls"."""
    if len(buf) < 3:
        return ("need-more", None) if not buf or buf[0] == CONTENT_HANDSHAKE else ("not-tls", None)
    if not looks_like_tls(buf):
        return "not-tls", None
    if buf[0] != CONTENT_HANDSHAKE:
        return _sslv2_hello(buf)
    handshake = bytearray()
    pos = 0
    need = None  # total handshake length once the header is known
    while True:
        if pos + 5 > len(buf):
            return "need-more", None
        ctype, rversion, rlen = buf[pos], struct.unpack_from("!H", buf, pos + 1)[0], \
            struct.unpack_from("!H", buf, pos + 3)[0]
        if ctype != CONTENT_HANDSHAKE or rversion >> 8 != 3 or rlen == 0 or rlen > 18432:
            return "not-tls", None
        chunk = buf[pos + 5 : pos + 5 + rlen]
        handshake += chunk
        if need is None and len(handshake) >= 4:
            status, _ = parse_handshake(bytes(handshake[:4]))
            if status == "not-tls":
                return "not-tls", None
            need = 4 + int.from_bytes(handshake[1:4], "big")
        if need is not None and len(handshake) >= need:
            status, ch = parse_handshake(bytes(handshake[:need]))
            if ch is not None:
                ch.record_version = struct.unpack_from("!H", buf, 1)[0]
            return status, ch
        if len(chunk) < rlen:
            return "need-more", None
        pos += 5 + rlen


CONTENT_CHANGE_CIPHER_SPEC, CONTENT_ALERT, CONTENT_APPLICATION_DATA = 20, 21, 23
HANDSHAKE_SERVER_HELLO = 2
# handshake messages only a server sends after its ServerHello (ticket, encrypted extensions, certificate,
# key exchange, certificate request, hello done, certificate status, finished)
_AFTER_SERVER_HELLO = frozenset({4, 8, 11, 12, 13, 14, 22, 20})
# the random of a TLS 1.3 HelloRetryRequest (RFC 8446 4.1.3): a ServerHello that asks for another ClientHello
HELLO_RETRY_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
MAX_SERVER_RECORDS = 8  # records looked at before giving up


def server_answer(buf: bytes) -> str:
    """What the server's first TLS records say about the handshake: "established" (a ServerHello other
    than a HelloRetryRequest, or any later handshake message or application data), "alert", "need-more"
    or "not-tls". Change-cipher-spec records and a HelloRetryRequest are skipped (the real ServerHello
    follows them)."""
    pos = 0
    for _ in range(MAX_SERVER_RECORDS):
        if pos + 5 > len(buf):
            return "need-more"
        ctype, major, rlen = buf[pos], buf[pos + 1], struct.unpack_from("!H", buf, pos + 3)[0]
        if major != 3 or rlen == 0 or rlen > 18432:
            return "not-tls"
        if ctype == CONTENT_APPLICATION_DATA:
            return "established"
        if ctype == CONTENT_ALERT:
            return "alert"
        if ctype == CONTENT_HANDSHAKE:
            body = buf[pos + 5 : pos + 5 + rlen]
            if not body:
                return "need-more"
            kind = body[0]
            if kind in _AFTER_SERVER_HELLO:
                return "established"
            if kind != HANDSHAKE_SERVER_HELLO:
                return "not-tls"
            if len(body) < 38:  # header, version, random
                return "need-more"
            if body[6:38] != HELLO_RETRY_RANDOM:
                return "established"
        elif ctype != CONTENT_CHANGE_CIPHER_SPEC:
            return "not-tls"
        if pos + 5 + rlen > len(buf):
            return "need-more"
        pos += 5 + rlen
    return "not-tls"
