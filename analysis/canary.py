"""The canary: the test account's password and the forms it takes on the wire.

An app that leaks the password rarely sends it verbatim: it is URL-encoded in a form, base64 in an
``Authorization`` header or a JSON blob (at any of three byte alignments), JSON-escaped, or hashed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import quote, quote_plus


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
    result += base64_fragments(raw)
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
