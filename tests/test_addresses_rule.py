"""analysis.addresses reads plain addresses with inet_pton/inet_ntop: every answer must be the one Python's
``ipaddress`` gives by the module's rule, for valid and invalid text of every shape (generated from a fixed
seed, so a failure repeats)."""

from __future__ import annotations

import ipaddress
import random
import socket

import pytest

from analysis.addresses import canonical, is_address, numeric, packed, packed_text, parse
from analysis.owners import ip_text, parse_ip


def reference_parse(text):
    """The rule as ``ipaddress`` alone implements it (the module's code before the fast path)."""
    if not text or not isinstance(text, str):
        return None
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _words(rng: random.Random) -> list[int]:
    """Eight IPv6 words, mostly zero runs, 0xffff and small values: the cases the text forms differ on."""
    pick = rng.random()
    if pick < 0.2:  # IPv4-compatible and mapped shapes
        return [0] * 5 + [rng.choice([0, 0xFFFF, 1])] + [rng.randrange(0x10000) for _ in range(2)]
    words = [rng.choice([0, 0, 0, 1, 0xFFFF, rng.randrange(0x10000), rng.randrange(0x100)]) for _ in range(8)]
    if pick < 0.5:  # one or two zero runs of random length
        for _ in range(rng.randrange(1, 3)):
            start = rng.randrange(8)
            for i in range(start, min(8, start + rng.randrange(1, 8))):
                words[i] = 0
    return words


def _v6_forms(rng: random.Random, words: list[int]) -> list[str]:
    value = int.from_bytes(b"".join(w.to_bytes(2) for w in words))
    addr = ipaddress.IPv6Address(value)
    raw = addr.packed
    forms = [str(addr), addr.exploded, socket.inet_ntop(socket.AF_INET6, raw), str(addr).upper(),
             ":".join(f"{w:x}" for w in words), ":".join(f"{w:04X}" for w in words)]
    v4 = str(ipaddress.IPv4Address(raw[12:]))
    forms.append(":".join(f"{w:x}" for w in words[:6]) + ":" + v4)
    text = str(addr)
    if text.count(":") < 7 and "::" not in text:
        forms.append(text + "::")
    # compress a zero run that is not the longest, or a single zero word (valid to read, never written)
    groups = [f"{w:x}" for w in words]
    for i, w in enumerate(words):
        if w == 0:
            forms.append(":".join(groups[:i]) + "::" + ":".join(groups[i + 1:]))
            break
    return forms


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randrange(1, 3)):
        op = rng.randrange(5)
        pos = rng.randrange(len(chars) + 1)
        if op == 0 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif op == 1:
            chars.insert(pos, rng.choice("0:.:f9%[] 0x\x00١０g-/"))
        elif op == 2 and chars:
            chars[min(pos, len(chars) - 1)] = rng.choice("0:.f")
        elif op == 3:
            chars.insert(pos, rng.choice(["::", "0", "00", "ffff:", "1.2.3.4", ".0"]))
        else:
            chars = chars[:pos] + chars[:pos]
    return "".join(chars)


def _v4_forms(rng: random.Random) -> list[str]:
    odd = rng.random() < 0.3  # an octet out of range, or three or five octets
    octets = [rng.choice([0, 1, 9, 10, 99, 100, 127, 192, 255, rng.randrange(256)]) for _ in range(4)]
    if odd:
        octets[rng.randrange(4)] = rng.choice([256, 300, 999, 1000, 65535])
        octets = octets[:rng.choice([3, 4])] + ([1] if rng.random() < 0.3 else [])
    plain = ".".join(map(str, octets))
    padded = ".".join(f"{o:0{rng.randrange(1, 4)}d}" for o in octets)
    return [plain, padded, plain + ".", "." + plain, plain.replace(".", "..", 1), "::ffff:" + plain,
            "::" + plain, "64:ff9b::" + plain, "1:2:3:4:5:6:" + plain, "1:2:3:4:5:6:7:" + plain]


def _dress(rng: random.Random, text: str) -> str:
    """Spaces, brackets and zones around a form, as logs and URLs write them."""
    if rng.random() < 0.3:
        text = text + rng.choice(["%eth0", "%25en0", "%", "%1", "%%"])
    if rng.random() < 0.3:
        text = f"[{text}]"
    if rng.random() < 0.3:
        text = rng.choice([" ", "\t", "\n", "\u3000", ""]) + text + rng.choice([" ", "\r\n", ""])
    return text


def _inputs(count: int, seed: int = 16) -> list:
    rng = random.Random(seed)
    out: list = [None, "", " ", "[]", "%", "::", ":::", "::1", "::ffff:0:0", "0.0.0.0", "255.255.255.255",
                 b"1.2.3.4", 16909060, "1.2.3.4\x00", "\ud800", "::1.2.3.4", "::ffff:1.2.3.4", "::0.0.1.0",
                 "::ffff:0.0.0.0", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1::2::3", "1:2:3:4::5:6:7:8",
                 "example.org", "cafe.de", "beef", "1.2.3.4:993", "[::1]:993", "١.٢.٣.٤", "１.２.３.４"]
    while len(out) < count:
        kind = rng.random()
        if kind < 0.3:
            forms = _v6_forms(rng, _words(rng))
        elif kind < 0.65:
            forms = _v4_forms(rng)
        else:
            alphabet = rng.choice(["0123456789.", "0123456789abcdefABCDEF:.", "0f:.%[] ", "01:.gx-/\t"])
            forms = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 46)))]
        for form in forms:
            out.append(form)
            out.append(_dress(rng, form))
            out.append(_mutate(rng, form))
    return out


@pytest.fixture(scope="module")
def inputs() -> list:
    return _inputs(60_000)


def test_generated_inputs_cover_both_answers(inputs) -> None:
    answers = [reference_parse(t) for t in inputs]
    assert sum(a is None for a in answers) > 10_000
    assert sum(a is not None and a.version == 4 for a in answers) > 3_000
    assert sum(a is not None and a.version == 6 for a in answers) > 10_000


def test_parse_canonical_numeric_agree_with_ipaddress(inputs) -> None:
    for text in inputs:
        expected = reference_parse(text)
        got = parse(text)
        assert got == expected and type(got) is type(expected), repr(text)
        assert canonical(text) == (None if expected is None else str(expected)), repr(text)
        assert numeric(text) == (None if expected is None else (expected.version, int(expected))), repr(text)
        assert packed(text) == (None if expected is None else expected.packed), repr(text)
        assert is_address(text) is (expected is not None), repr(text)
        if isinstance(text, str):
            assert parse_ip(text) == numeric(text), repr(text)


def test_canonical_text_is_pythons_for_every_kind_of_ipv6_value() -> None:
    """inet_ntop writes ``::1.2.3.4`` and ``::ffff:1.2.3.4``; the rule's text is ipaddress's, for all values."""
    rng = random.Random(6)
    for _ in range(20_000):
        value = int.from_bytes(b"".join(w.to_bytes(2) for w in _words(rng)))
        addr = ipaddress.IPv6Address(value)
        assert packed_text(addr.packed) == str(addr)
        assert ip_text(6, value) == str(addr)
        if addr.ipv4_mapped is None:
            assert canonical(socket.inet_ntop(socket.AF_INET6, addr.packed)) == str(addr)
    for value in (0, 1, 0xFFFF_FFFF, 0x7F00_0001):
        assert packed_text(value.to_bytes(4)) == str(ipaddress.IPv4Address(value)) == ip_text(4, value)
