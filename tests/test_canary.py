"""The canary matcher: every encoding of the test password is found in bytes, the account's names at a
lower severity, across chunk borders with a bounded window, and never reported or kept as its value."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from urllib.parse import quote, quote_plus, urlencode

import pytest

from analysis.canary import CanaryMatcher, base64_fragments, forms, text_forms

SECRET = "Tr0ub4dor&3 ü/+?"
ADDRESS = "lft2@example.org"


def matcher() -> CanaryMatcher:
    return CanaryMatcher(SECRET, ADDRESS, "lft2")


def found(data: bytes, m: CanaryMatcher | None = None) -> set[tuple[str, str]]:
    return {(h.label, h.form) for h in (m or matcher()).scan(data)}


@pytest.mark.parametrize("prefix_len", range(0, 7))
def test_base64_found_at_every_alignment(prefix_len):
    blob = b"x" * prefix_len + b'{"user":"lft2","pass":"' + SECRET.encode() + b'"}'
    text = b"Authorization: Basic " + base64.b64encode(blob) + b"\r\n"
    hits = found(text)
    assert any(label == "password" and form.startswith("base64/") for label, form in hits), hits


def test_base64url_form_is_found():
    blob = b"\xff\xfe" + SECRET.encode() + b"\xfb"
    encoded = base64.urlsafe_b64encode(b"ab" + blob).rstrip(b"=")
    m = matcher()
    assert any(h.label == "password" and "base64" in h.form for h in m.scan(b"token=" + encoded))


def test_plain_url_json_and_hashes():
    raw = SECRET.encode()
    cases = {
        "plain": b"pw=" + raw,
        "url": urlencode({"password": SECRET}, quote_via=quote).encode(),
        "url-plus": urlencode({"password": SECRET}).encode(),
        "json": json.dumps({"password": SECRET}).encode(),
        "md5": b"h=" + hashlib.md5(raw).hexdigest().upper().encode(),  # hex in upper case too
        "sha1": hashlib.sha1(raw).hexdigest().encode(),
        "sha256": b'{"digest":"' + hashlib.sha256(raw).hexdigest().encode() + b'"}',
    }
    for form, data in cases.items():
        assert ("password", form) in found(data), (form, found(data))


def test_url_escapes_in_lower_case_are_found():
    data = quote(SECRET, safe="").lower().encode()
    assert ("password", "url") in found(b"p=" + data)


def test_names_are_found_at_low_severity_and_password_high():
    m = matcher()
    hits = m.scan(b"LOGIN lft2 " + SECRET.encode() + b" FROM lft2@example.org")
    by_label = {h.label: h.severity for h in hits}
    assert by_label["password"] == "high"
    assert by_label["address"] == "low"
    assert by_label["username"] == "low"


def test_nothing_in_unrelated_or_random_bytes():
    rng = random.Random(7)
    noise = bytes(rng.getrandbits(8) for _ in range(200_000))
    noise_b64 = base64.b64encode(noise)
    assert not [h for h in matcher().scan(noise + noise_b64) if h.label == "password"]
    assert found(b"GET /index.html HTTP/1.1\r\nHost: example.org\r\n\r\n") == set()


def test_short_names_are_not_searched_in_encodings():
    m = CanaryMatcher(None, "", "ab1")  # too short to be told from chance
    assert not m.active
    m = CanaryMatcher(None, "", "lft2")
    assert [h.form for h in m.scan(b"user lft2")] == ["plain"]
    assert m.scan(base64.b64encode(b"lft2")) == []  # 4-character base64 fragments would match anything


def test_stream_finds_a_secret_split_across_chunks_with_a_bounded_window():
    m = matcher()
    data = b"A" * 5000 + base64.b64encode(b"zz" + SECRET.encode() + b"tail") + b"B" * 5000
    for cut in range(5000, 5000 + 40, 3):
        stream = m.stream()
        hits = stream.feed(data[:cut]) + stream.feed(data[cut:])
        assert any(h.label == "password" for h in hits), cut
        assert len(stream._tail) <= m.max_len - 1


def test_stream_reports_a_hit_once_per_chunk_not_twice_across_the_border():
    m = matcher()
    stream = m.stream()
    first = stream.feed(b"xx" + SECRET.encode())
    second = stream.feed(b"yy")
    assert [h.form for h in first if h.label == "password"] == ["plain"]
    assert second == []


def test_large_input_and_a_secret_at_a_megabyte_border():
    m = matcher()
    data = b"\0" * (3 << 20) + SECRET.encode() + b"\0" * 100
    assert ("password", "plain") in {(h.label, h.form) for h in m.scan(data)}
    border = (1 << 20) - 3  # a secret straddling the scan window's edge
    data = b"\0" * border + SECRET.encode() + b"\0" * 100
    assert ("password", "plain") in {(h.label, h.form) for h in m.scan(data)}


def test_redact_removes_every_password_form_and_keeps_names():
    m = matcher()
    raw = SECRET.encode()
    data = (b"LOGIN lft2 " + raw + b" " + base64.b64encode(b"\0" + raw) + b" "
            + hashlib.sha256(raw).hexdigest().encode() + b" " + quote_plus(SECRET).encode())
    clean = m.redact(data)
    assert b"lft2" in clean
    assert m.scan(clean) and not [h for h in m.scan(clean) if h.label == "password"]
    assert clean.count(b"[REDACTED]") >= 4


def test_hits_never_carry_the_value():
    for hit in matcher().scan(SECRET.encode()):
        assert SECRET not in repr(hit)


def test_forms_keep_the_redactor_contract():
    names = [name for name, _ in forms(SECRET)]
    assert names[0] == "plain" and "sha256" in names
    assert text_forms(SECRET)[0] == SECRET
    assert len(set(text_forms(SECRET))) == len(text_forms(SECRET))
    frags = base64_fragments(SECRET.encode())
    assert [k for k, _ in frags] == ["base64/0", "base64/1", "base64/2"]


def test_no_secret_means_an_inactive_matcher():
    m = CanaryMatcher(None)
    assert not m.active
    assert m.scan(b"anything") == []
    assert m.redact(b"anything") == b"anything"
    assert m.stream().feed(b"anything") == []
