"""The one way maildetour writes values in English and German (analysis.text.numbers): thousands separators,
decimals, singular and plural, bounded lists; and the text store as a whole: every word of every data file
(analysis/text/*.toml) in both languages with the same fields, the functions answering from those files, and a
package that imports nothing of the project above it."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from analysis import text as store
from analysis.text import apps, comparison, explanation, findings, listing, logs, number, plural, report, short, text
from analysis.text.tables import load

TEXT = Path(store.__file__).resolve().parent
DATA = sorted(TEXT.glob("*.toml"))


@pytest.mark.parametrize(
    ("value", "en", "de"),
    [
        (0, "0", "0"),
        (7, "7", "7"),
        (999, "999", "999"),
        (1000, "1,000", "1.000"),
        (12345, "12,345", "12.345"),
        (1234567, "1,234,567", "1.234.567"),
        (-4200, "-4,200", "-4.200"),
        (12.0, "12", "12"),  # a whole float has no decimals
        (2.5, "2.5", "2,5"),
        (2.54, "2.5", "2,5"),  # one decimal
        (1234.56, "1,234.6", "1.234,6"),
        (0.04, "0.0", "0,0"),
        (True, "1", "1"),
    ],
)
def test_number_separators_and_decimals(value, en, de):
    assert number(value, "en") == en
    assert number(value, "de") == de
    assert number(value, "fr") == en  # an unknown language is English


def test_number_of_odd_floats_never_raises():
    assert number(float("inf"), "en") == "inf" and number(float("nan"), "de") == "nan"


def test_short_measurements_take_the_decimal_mark():
    assert [short(x, "en") for x in (0.0, 0.15, 2.5, 120.0, 1e6)] == ["0", "0.15", "2.5", "120", "1e+06"]
    assert [short(x, "de") for x in (0.15, 2.5, 120.0)] == ["0,15", "2,5", "120"]


@pytest.mark.parametrize(("n", "form"), [(0, "Verbindungen"), (1, "Verbindung"), (2, "Verbindungen"),
                                          (1.0, "Verbindung"), (None, "Verbindungen"), (12345, "Verbindungen")])
def test_plural_takes_the_singular_for_exactly_one(n, form):
    assert plural(n, ("Verbindung", "Verbindungen")) == form


def test_counts_in_sentences_and_labels_agree_on_singular_and_plural():
    for lang, one, many in (("en", "1 connection", "12,345 connections"),
                            ("de", "1 Verbindung", "12.345 Verbindungen")):
        assert text("n_connections", lang, n=1) == one and text("n_connections", lang, n=12345) == many
    assert text("whois.over_limit", "de", n=1, limit=50) == "1 weitere Adresse wurde nicht abgefragt (höchstens 50 " \
        "je Lauf)."
    assert text("whois.over_limit", "en", n=3, limit=1000) == "3 more addresses were not looked up (at most 1,000 " \
        "per run)."
    assert text("no-such-word", "de") == "no-such-word"
    assert "2.500 Bytes" in store.message("telemetry", "de", flows=1, endpoints=["t.example"], owners=["X"],
                                          bytes_sent=2500)
    assert "(longest: 12.5 minutes)" in store.message("long-lived-connection", "en", count=3, threshold_minutes=10,
                                                      longest_minutes=12.5, endpoints=["a"])
    assert "(längste: 12,5 Minuten)" in store.message("long-lived-connection", "de", count=3, threshold_minutes=10,
                                                      longest_minutes=12.5, endpoints=["a"])


def test_listing_is_bounded_and_says_none():
    assert listing([], "en") == "none" and listing([], "de") == "keine"
    assert listing(["a", "b"], "de") == "a, b"
    many = [f"h{i}" for i in range(20)]
    assert listing(many, "en").endswith("h7, and 12 more") and listing(many, "de").endswith("h7, und 12 weitere")
    assert len(listing(["x" * 5000], "en")) == 200


def entries(node: dict, path: tuple[str, ...] = ()):
    """Every (path, entry) of a data file: an entry is a table holding a language's text; any other table
    holds entries."""
    if "en" in node or "de" in node:
        yield path, node
        return
    assert node, path  # no empty table
    for key, value in node.items():
        assert isinstance(value, dict), (*path, key)  # a text outside an entry names no language
        yield from entries(value, (*path, key))


def test_every_data_file_gives_every_word_in_both_languages_with_the_same_fields():
    assert {p.stem for p in DATA} == {"apps", "comparison", "explanation", "findings", "logs", "numbers", "report"}
    assert {p.stem for p in TEXT.glob("*.py")} - {p.stem for p in DATA} == {"__init__", "tables"}
    count = 0
    for path in DATA:
        with path.open("rb") as file:
            data = tomllib.load(file)  # read as a translator's edit would be, not through the cache
        for where, entry in entries(data):
            count += 1
            name = (path.name, *where)
            assert set(entry) == {"en", "de"}, name
            en, de = entry["en"], entry["de"]
            if isinstance(en, list):  # word forms: [singular, plural]
                assert len(en) == len(de) == 2, name
                assert all(isinstance(v, str) and v for v in (*en, *de)), name
                continue
            assert isinstance(en, str) and en and isinstance(de, str) and de, name
            assert sorted(_fields(en)) == sorted(_fields(de)), name  # both languages fill the same fields
    assert count > 400  # every word moved, none lost


def test_the_functions_answer_from_the_data_files():
    words = load("report")["words"]
    assert text("verdict", "de") == words["verdict"]["de"] == "Ergebnis"
    assert text("n_flows", "en", n=1) == words["n_flows.one"]["en"].format(n=1)
    assert text("n_flows", "de", n=1200) == "1.200 Verbindungen"
    assert comparison.phrase("cmp.title", "de") == load("comparison")["words"]["cmp.title"]["de"]
    assert store.title("telemetry", "de") == load("findings")["titles"]["telemetry"]["de"] == "Telemetrie"
    assert store.title("third-party-login", "en") == load("logs")["titles"]["third-party-login"]["en"]
    assert store.word("assume.utc", "de") == load("logs")["words"]["assume.utc"]["de"]
    assert listing([], "de") == load("numbers")["none"]["de"] == "keine"
    found = load("findings")
    missing = found["missing"]["no-traffic"]["en"]
    assert store.message("inconclusive", "en", missing=["no-traffic"]) == (
        found["templates"]["inconclusive"]["en"].format(missing=missing))
    lead = load("explanation")["summary"]["direct"]["en"]
    assert explanation.explain({"summary": "direct"}, "en").startswith(lead)
    assert findings.CONNECTIONS["de"] == ("Verbindung", "Verbindungen")  # word forms come back as tuples
    # the former constants answer from the same cache, and the package merges every finding kind's words
    assert report.WORDS is words and logs.WORDS is load("logs")["words"] and apps.LEAD is load("apps")["lead"]
    kinds = {**load("findings")["templates"], **load("logs")["templates"], **load("apps")["templates"]}
    assert store.TEMPLATES == kinds and tuple(kinds) == store.kinds()
    with pytest.raises(AttributeError):
        findings.NO_SUCH_TABLE  # noqa: B018


def _fields(template: str) -> set[str]:
    from string import Formatter

    return {name for _, name, _, _ in Formatter().parse(template) if name}


def test_the_text_store_imports_nothing_above_it():
    for path in TEXT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("analysis"):
                assert node.module == "analysis.text" or node.module.startswith(("analysis.text.", "analysis.vocab")), \
                    (path.name, node.module)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("analysis") for a in node.names), path.name
