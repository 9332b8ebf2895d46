"""The canary: the test account's password and the forms it takes on the wire.

An app that leaks the password rarely sends it verbatim: it is URL-encoded in a form, base64 in an
``Authorization`` header or a JSON blob (at any of three byte alignments), JSON-escaped, or hashed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

_URLSAFE = str.maketrans("+/", "-_")
WEBSOCKET, TCP, UDP = "WebSocket message", "TCP stream", "UDP datagram"  # where a message's hit was seen


def base64_fragments(secret: bytes) -> list[tuple[str, str]]:
    """The base64 text that ``secret`` produces wherever it sits in a longer string (three alignments).

    For alignment k, the secret is preceded by k bytes; the encoded characters that depend on those
    bytes or on what follows are cut, leaving a fragment found in any base64 encoding of a string that
    contains the secret at that alignment.
    """
    out = []
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + secret).decode()
        start = (k * 8 + 5) // 6 if k else 0  # first char fully inside the secret
        end = ((k + len(secret)) * 8) // 6  # last char fully inside
        frag = enc[start:end]
        if len(frag) >= 4:
            out.append((f"base64/{k}", frag))
    return out


def forms(secret: str) -> list[tuple[str, str]]:
    """(form name, text) pairs for every encoding of ``secret`` that is searched for."""
    raw = secret.encode()
    result = [("plain", secret), ("url", quote(secret, safe="")), ("url-plus", quote_plus(secret))]
    result.append(("json", json.dumps(secret)[1:-1]))
    fragments = base64_fragments(raw)
    result += fragments
    result += [(name.replace("base64", "base64url"), text.translate(_URLSAFE))
               for name, text in fragments if "+" in text or "/" in text]
    result += [
        ("md5", hashlib.md5(raw).hexdigest()),
        ("sha1", hashlib.sha1(raw).hexdigest()),
        ("sha256", hashlib.sha256(raw).hexdigest()),
    ]
    seen: set[str] = set()
    unique = []
    for name, text in result:
        if text not in seen:
            seen.add(text)
            unique.append((name, text))
    return unique


def text_forms(secret: str) -> list[str]:
    return [text for _, text in forms(secret)]


# ---- scanning -------------------------------------------------------------------------------------------

_VERBATIM = ("plain", "url", "url-plus", "json")  # forms that are never shorter than the secret itself
_CASELESS = ("url", "url-plus", "md5", "sha1", "sha256")  # hex digits and %XX escapes come in either case
MASK_BYTES = b"[REDACTED]"


@dataclass(frozen=True, slots=True)
class CanaryMatch:
    """One secret found in bytes: which secret (``label``), which encoding, how bad; never the value."""

    label: str  # "password" | "address" | "username"
    form: str  # "plain", "url", "base64/1", "sha256", ...
    severity: str  # "high" for the password, "low" for the account's names


@dataclass(frozen=True, slots=True)
class _Secret:
    label: str
    value: str
    severity: str
    min_form: int  # shorter encoded forms are skipped (too many chance matches in binary data),
    # except verbatim forms of 4 bytes or more


@dataclass(frozen=True, slots=True)
class _Needle:
    text: bytes  # lower case when ``caseless``
    caseless: bool
    hit: CanaryMatch


class CanaryMatcher:
    """Every encoded form of the password (and the account's names) searched in bytes.

    Each form is one ``bytes.find`` (memchr speed, linear; caseless forms in one lower-cased copy), so
    a scan costs a few passes over the data and no backtracking. ``stream()`` gives a
    :class:`CanaryStream` that finds forms split across chunks by keeping ``max_len - 1`` bytes.
    """

    def __init__(self, password: str | None = None, address: str = "", username: str = "") -> None:
        secrets = []
        if password:
            secrets.append(_Secret("password", password, "high", 4))
        for label, value in (("address", address), ("username", username)):
            if value and len(value) >= 4 and value != password:
                secrets.append(_Secret(label, value, "low", 8))
        self._needles: list[_Needle] = []
        seen: set[bytes] = set()
        for secret in secrets:
            for form, text in forms(secret.value):
                raw = text.encode()
                caseless = form in _CASELESS
                key = raw.lower() if caseless else raw
                short_ok = form in _VERBATIM and len(raw) >= 4
                if (len(raw) < secret.min_form and not short_ok) or key in seen:
                    continue
                seen.add(key)
                self._needles.append(_Needle(key, caseless, CanaryMatch(secret.label, form, secret.severity)))
        self.max_len = max((len(n.text) for n in self._needles), default=1)
        self._any_caseless = any(n.caseless for n in self._needles)

    @property
    def active(self) -> bool:
        return bool(self._needles)

    def scan(self, data: bytes) -> list[CanaryMatch]:
        """The distinct (secret, form) hits in ``data``."""
        return self._find(data, 0)

    def _find(self, data: bytes, min_end: int) -> list[CanaryMatch]:
        """Hits whose match ends after ``min_end`` (earlier ones were reported before)."""
        if not self._needles or not data:
            return []
        lowered = data.lower() if self._any_caseless else data
        hits = []
        for needle in self._needles:
            start = min_end - len(needle.text) + 1 if min_end else 0
            if (lowered if needle.caseless else data).find(needle.text, start if start > 0 else 0) >= 0:
                hits.append(needle.hit)
        return hits

    def redact(self, data: bytes) -> bytes:
        """``data`` with every form of the password replaced by ``[REDACTED]`` (names stay)."""
        if not data:
            return data
        for needle in self._needles:
            if needle.hit.label != "password":
                continue
            if not needle.caseless:
                data = data.replace(needle.text, MASK_BYTES)
                continue
            lowered, out, pos = data.lower(), [], 0
            while (at := lowered.find(needle.text, pos)) >= 0:
                out += [data[pos:at], MASK_BYTES]
                pos = at + len(needle.text)
            data = b"".join(out) + data[pos:] if out else data
        return data

    def spans(self, data: bytes) -> list[tuple[int, int]]:
        """Where the password's forms are in ``data``: sorted, merged ``(start, end)`` ranges (names stay)."""
        found = []
        lowered = None
        for needle in self._needles:
            if needle.hit.label != "password" or not data:
                continue
            if needle.caseless and lowered is None:
                lowered = data.lower()
            hay, pos = (lowered if needle.caseless else data), 0
            while (at := hay.find(needle.text, pos)) >= 0:
                found.append((at, at + len(needle.text)))
                pos = at + 1
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def stream(self) -> CanaryStream:
        return CanaryStream(self)


class CanaryStream:
    """A bounded sliding window over one direction of one flow: at most ``max_len - 1`` bytes are kept."""

    __slots__ = ("_matcher", "_tail")

    def __init__(self, matcher: CanaryMatcher) -> None:
        self._matcher = matcher
        self._tail = b""

    def feed(self, chunk: bytes) -> list[CanaryMatch]:
        if not self._matcher.active or not chunk:
            return []
        data = self._tail + chunk
        hits = self._matcher._find(data, len(self._tail))
        keep = self._matcher.max_len - 1
        self._tail = data[-keep:] if keep else b""
        return hits
