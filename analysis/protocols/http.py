"""HTTP/1.x request heads: method, target, Host and User-Agent. Pure, bounded, never raises."""

from __future__ import annotations

from dataclasses import dataclass

MAX_HEAD = 16384  # a request head longer than this is not parsed
MAX_VALUE = 512
METHODS = frozenset({
    b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE",
    b"PROPFIND", b"PROPPATCH", b"MKCOL", b"COPY", b"MOVE", b"LOCK", b"UNLOCK", b"REPORT", b"SEARCH",
    b"SUBSCRIBE", b"NOTIFY", b"M-SEARCH",
})


@dataclass(slots=True)
class HttpRequest:
    method: str
    target: str
    version: str  # "HTTP/1.1"
    host: str | None = None  # the Host header as sent (may carry a port)
    user_agent: str | None = None
    head_length: int = 0  # bytes up to and including the blank line


def _text(raw: bytes) -> str:
    raw = raw.strip()[:MAX_VALUE]
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in raw)


def looks_like_request(first: bytes) -> bool:
    """Cheap test on a stream's first bytes: an HTTP method followed by a space."""
    space = first.find(b" ", 0, 10)
    return space > 0 and first[:space] in METHODS


def parse_request_head(buf: bytes) -> tuple[str, HttpRequest | None]:
    """("ok", request), ("need-more", None) or ("not-http", None) for a stream's first bytes."""
    if not buf:
        return "need-more", None
    space = buf.find(b" ", 0, 10)
    if space < 0:
        return ("need-more", None) if len(buf) < 10 and buf.isalpha() else ("not-http", None)
    if buf[:space] not in METHODS:
        return "not-http", None
    end = buf.find(b"\r\n\r\n", 0, MAX_HEAD)
    sep = 4
    if end < 0:
        end = buf.find(b"\n\n", 0, MAX_HEAD)
        sep = 2
    if end < 0:
        return ("need-more", None) if len(buf) < MAX_HEAD else ("not-http", None)
    lines = buf[:end].split(b"\n")
    parts = lines[0].rstrip(b"\r").split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return "not-http", None
    req = HttpRequest(_text(parts[0]), _text(parts[1]), _text(parts[2]), head_length=end + sep)
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        key = name.strip().lower()
        if key == b"host" and req.host is None:
            req.host = _text(value) or None
        elif key == b"user-agent" and req.user_agent is None:
            req.user_agent = _text(value) or None
    return "ok", req


def parse_response_head(buf: bytes) -> tuple[str, int, int]:
    """A server's response head: (status "ok"/"need-more"/"not-http", status code, head length)."""
    if len(buf) < 12:
        return ("need-more", 0, 0) if b"HTTP/1."[: len(buf)] == buf[:7] else ("not-http", 0, 0)
    if not buf.startswith(b"HTTP/1.") or not buf[9:12].isdigit():
        return "not-http", 0, 0
    end = buf.find(b"\r\n\r\n", 0, MAX_HEAD)
    if end < 0:
        return ("need-more", 0, 0) if len(buf) < MAX_HEAD else ("not-http", 0, 0)
    return "ok", int(buf[9:12]), end + 4


def connect_target(target: str) -> tuple[str, int] | None:
    """The (host, port) of a CONNECT request's target, None when it has no port."""
    host, _, port = target.rpartition(":")
    if not port.isdigit() or not host or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


def host_name(host: str) -> str:
    """The name in a Host value: "example.org:8080" -> "example.org", "[2001:db8::1]" -> "2001:db8::1"."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    name, _, port = host.rpartition(":")
    return name if name and port.isdigit() else host
