"""The sentence of each of the tool's own findings, in English and German, from the words in findings.toml.

Findings keep their template parameters in ``Finding.details``, so a report can be re-rendered in the other
language from the JSON alone: ``message(kind, lang, **details)``. Every kind here has a title and a template in
both languages (tests/test_finding_words.py checks it). Values are plain text; the renderers escape them.
"""

from __future__ import annotations

from analysis.text.numbers import MAX_TEXT, TIMES, Defaults, language, listing, param, plural, when
from analysis.text.tables import Tables

TABLES = Tables("findings")  # findings.toml: templates, titles and the phrases the sentences are built from
NUMBERS = Tables("numbers")
MAX_CANDIDATES_TEXT = 5  # relay candidates named in one sentence


def __getattr__(name: str) -> dict:
    """``TEMPLATES``, ``TITLES``, ``MISSING``, ...: the tables of findings.toml under their constant names."""
    return TABLES.constant(name)


def coded(table: dict, codes, lang: str) -> list[str]:
    """The words of a list of codes (an unknown code stands for itself, cut short; no list: none)."""
    items = codes if isinstance(codes, list) else []
    return [table.get(str(c), {}).get(lang, str(c)[:MAX_TEXT]) for c in items]


def _relay_params(details: dict, params: dict, lang: str) -> dict:
    """``basis_text`` and ``evidence_text`` of a relay-evidence finding, from its details alone."""
    basis = details.get("basis") if isinstance(details.get("basis"), list) else []
    since = "since.account_added" if details.get("since_from") == "account_added" else "since.capture"
    params = Defaults(params)
    params["since"] = when(details.get("since"))
    params["logins_word"] = plural(details.get("logins", 0), TABLES.login_forms[lang])
    params["since_text"] = TABLES.relay_sentences[since][lang].format_map(params)
    sentences = [TABLES.relay_sentences[b][lang].format_map(params) for b in TABLES.basis_words if b in basis]
    link = str(details.get("link", ""))
    if "server-login" in basis and link in ("same-address", "same-owner", "none"):
        sentences.append(TABLES.relay_sentences[link][lang].format_map(params))
    if "server-login" in basis:
        sentences.append(TABLES.device_only[lang])
    return {"basis_text": TABLES.basis_lead[lang] + ", ".join(coded(TABLES.basis_words, basis, lang)),
            "evidence_text": "".join(" " + x for x in sentences)}


def candidate_text(item, lang: str) -> str:
    """One relay candidate: its owner, (addresses: reasons)."""
    if not isinstance(item, dict):
        return str(item)[:MAX_TEXT]
    addresses = listing(item.get("addresses") or [], lang)
    reasons = ", ".join(coded(TABLES.reason_words, item.get("reasons") or [], lang))
    return f"{str(item.get('owner', '?'))[:MAX_TEXT]} ({addresses}{': ' + reasons if reasons else ''})"


def settle_text(codes, lang: str) -> str:
    """What would settle which candidate is the relay (or that nothing given would)."""
    items = coded(TABLES.settle_words, codes, lang)
    return TABLES.settle_lead[lang].format(items="; ".join(items)) if items else TABLES.settle_none[lang]


def _candidates_params(details: dict, params: dict, lang: str) -> dict:
    items = details.get("candidates") if isinstance(details.get("candidates"), list) else []
    text = "; ".join(candidate_text(c, lang) for c in items[:MAX_CANDIDATES_TEXT]) or NUMBERS.none[lang]
    return {"candidates_text": text, "settle_text": settle_text(details.get("settle"), lang)}


def _inside_tls(details: dict, lang: str) -> str:
    return TABLES.inside_tls[lang] if details.get("inside_tls") is True else ""


def _leak_params(details: dict, params: dict, lang: str) -> dict:
    return {"inside_tls": _inside_tls(details, lang)}


COMPOSED = {"relay-evidence": _relay_params, "relay-candidates": _candidates_params, "credential-leak": _leak_params}


def missing_text(codes, lang: str) -> str:
    """What the verdict lacks, as words: "the input holds no traffic; ..." (nothing: none)."""
    lang = language(lang)
    words = TABLES.missing
    return "; ".join(words.get(str(c), {}).get(lang, str(c)[:MAX_TEXT]) for c in codes) or NUMBERS.none[lang]


def _param(key: str, value, lang: str) -> str:
    if key == "missing":
        return missing_text(value if isinstance(value, list) else [value], lang)
    if isinstance(value, bool) and key not in TIMES:
        return str(value).lower()
    return param(key, value, lang)


def _secret(details: dict, lang: str) -> str:
    """What leaked, in words (the password unless the details name another secret)."""
    return TABLES.secrets.get(str(details.get("secret", "password")), TABLES.secrets["password"])[lang]


def message(kind: str, lang: str, /, **details) -> str:
    """The finding's sentence in ``lang`` from its template parameters (unknown kinds: the kind itself)."""
    lang = language(lang)
    template = TABLES.templates.get(kind, {}).get(lang)
    if template is None:
        return kind
    params = Defaults({k: _param(k, v, lang) for k, v in details.items()})
    params["secret"] = _secret(details, lang)
    params["connections"] = plural(details.get("flows", details.get("count", 0)), TABLES.connections[lang])
    if kind in COMPOSED:
        params.update(COMPOSED[kind](details, params, lang))
    return template.format_map(params)


def leak_seen(lang: str, /, **details) -> str:
    """The canary scanner's note of one hit, from the credential-leak finding's details."""
    lang = language(lang)
    return TABLES.leak_seen[lang].format(
        secret=_secret(details, lang), destination=details.get("destination", "?"), server=details.get("server", "?"),
        category=details.get("category") or "unknown", form=details.get("form", "?"),
        where=details.get("where", "?"), inside_tls=_inside_tls(details, lang),
    )
