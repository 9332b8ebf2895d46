"""The words of the mail server's findings (from its logs) and of the assumptions the logs view states, in
English and German, kept in logs.toml. Same signature as the tool's own findings: ``message(kind, lang, **details)``.
"""

from __future__ import annotations

from analysis.text.numbers import TIMES, Defaults, language, number, param, plural
from analysis.text.report import text
from analysis.text.tables import Tables

TABLES = Tables("logs")  # logs.toml: templates, titles, plurals, words


def __getattr__(name: str) -> dict:
    """``TEMPLATES``, ``TITLES``, ``PLURALS``, ``WORDS``: the tables of logs.toml under their constant names."""
    return TABLES.constant(name)


def word(key: str, lang: str, **params) -> str:
    """The phrase ``key`` in ``lang`` with its ``{fields}`` filled in as given (unknown keys: the key)."""
    text = TABLES.words.get(key, {}).get(language(lang), key)
    return text.format(**params) if params else text


def _param(key: str, value, lang: str) -> str:
    if isinstance(value, bool) and key not in TIMES:
        return text("yes" if value else "no", lang)
    return param(key, value, lang)


def message(kind: str, lang: str, /, **details) -> str:
    """The finding's sentence in ``lang`` (unknown kinds: the kind itself)."""
    lang = language(lang)
    template = TABLES.templates.get(kind, {}).get(lang)
    if template is None:
        return kind
    params = Defaults({k: _param(k, v, lang) for k, v in details.items()})
    params["logins"] = plural(details.get("count"), TABLES.plurals["logins"][lang])
    params["address_word"] = plural(details.get("n_addresses"), TABLES.plurals["address_word"][lang])
    if kind == "third-party-login":
        params["whose"] = word("whose.device-known" if details.get("device_known") else "whose.catalog", lang)
    if kind == "login-after-removal":
        at_last = plural(details.get("count"), ("at_last.one", "at_last.many"))
        params["at_last"] = word(at_last, lang, last=params["last"])
    if kind == "persistent-connection":
        if details.get("source") == "snapshot":
            params["where"] = word("where.snapshot", lang, file=str(details.get("file", ""))[:300])
        else:
            params["where"] = word(
                "where.sessions", lang, minutes=number(details.get("longest_minutes", 0), lang)
            )
    return template.format_map(params)
