"""``maildetour compare``'s result (``maildetour.compare/1``) as Markdown, JSON or one self-contained HTML page.

Both texts are made from the same sections (a heading and a table, or "No change."); every value from the
reports is escaped (Markdown: analysis.report.markdown.md; HTML: html.escape) and the page runs no script.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from importlib import resources

from analysis.report.html import CSP
from analysis.report.markdown import md
from analysis.text import number, text
from analysis.text.comparison import phrase

FORMATS = ("md", "json", "html")


@dataclass
class Section:
    title: str
    headers: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)  # cells: text, or an int (a number, right-aligned)


def _word(value, lang: str) -> str:
    """A verdict word, yes/no, or the value as it is."""
    if isinstance(value, bool):
        return text("yes" if value else "no", lang)
    if value in ("direct", "relayed", "mixed", "inconclusive"):
        return text("word." + value, lang)
    return "" if value is None else str(value)


def _app(side: dict) -> str:
    app = side.get("app") or {}
    return " ".join(str(v) for v in (app.get("name") or app.get("id"), app.get("version")) if v)


def sections(diff: dict, lang: str) -> list[Section]:
    p = lambda key: phrase(key, lang)  # noqa: E731
    a, b = diff.get("a") or {}, diff.get("b") or {}
    out = [Section(p("cmp.inputs"), ["", p("cmp.a"), p("cmp.b")], [
        [p("col.report"), a.get("path"), b.get("path")],
        [p("col.app"), _app(a), _app(b)],
        [p("cmp.summary"), _word(a.get("summary"), lang), _word(b.get("summary"), lang)],
    ])]
    labels = {"summary": "cmp.summary", "mail_host_contacted": "cmp.mail_host", "receive": "cmp.receive",
              "send": "cmp.send"}
    out.append(Section(p("cmp.verdict"), [p("cmp.what"), "A", "B"],
                       [[p(labels.get(c["what"], c["what"])), _word(c["a"], lang), _word(c["b"], lang)]
                        for c in diff.get("verdict") or []]))
    relays = diff.get("relays") or {}
    rows = [[p("cmp.added"), r["owner"], "", "+".join(r["basis"])] for r in relays.get("added") or []]
    rows += [[p("cmp.removed"), r["owner"], "+".join(r["basis"]), ""] for r in relays.get("removed") or []]
    rows += [[p("cmp.changed"), r["owner"], "+".join(r["a"]), "+".join(r["b"])] for r in relays.get("changed") or []]
    out.append(Section(p("cmp.relays"), [p("cmp.change"), p("cmp.owner"), p("cmp.basis") + " A",
                                         p("cmp.basis") + " B"], rows))
    dest = diff.get("destinations") or {}
    rows = []
    for change, key in (("cmp.added", "added"), ("cmp.removed", "removed"), ("cmp.changed", "changed")):
        for d in dest.get(key) or []:
            category = f"{d['a']} → {d['b']}" if key == "changed" else d["category"]
            rows.append([p(change), d["destination"], f"{d['port']}/{d['transport']}", category, d["owner"],
                         d["bytes"]])
    out.append(Section(p("cmp.destinations"), [p("cmp.change"), p("cmp.destination"), text("port", lang),
                                               p("cmp.category"), p("cmp.owner"), text("bytes", lang)], rows))
    out.append(Section(p("cmp.categories"), [p("cmp.category"), p("cmp.flows_a"), p("cmp.flows_b"),
                                             p("cmp.bytes_a"), p("cmp.bytes_b")],
                       [[c["category"], c["a"]["flows"], c["b"]["flows"], c["a"]["bytes"], c["b"]["bytes"]]
                        for c in diff.get("categories") or []]))
    owners = diff.get("owners") or {}
    rows = [[p(change), o["owner"], o["flows"], o["bytes"]] for change, key in (("cmp.added", "added"),
            ("cmp.removed", "removed")) for o in owners.get(key) or []]
    out.append(Section(p("cmp.owners"), [p("cmp.change"), p("cmp.owner"), p("cmp.flows"),
                                         text("bytes", lang)], rows))
    leaks = diff.get("leaks") or {}
    logins = leaks.get("third_party_logins") or {}
    rows = [[p("cmp.leak_count"), leaks.get("a", 0), leaks.get("b", 0)],
            [p("cmp.logins"), logins.get("a", 0), logins.get("b", 0)]]
    rows += [[f"{p(change)}: {p('cmp.leak')}",
              f"{x['secret']} ({x['form']}, {x['where']}) → {x['destination']} ({x['owner']})", x["count"]]
             for change, key in (("cmp.added", "added"), ("cmp.removed", "removed")) for x in leaks.get(key) or []]
    out.append(Section(p("cmp.leaks"), [p("cmp.what"), "A", "B"], rows))
    return out


def _md_cell(value, lang: str) -> str:
    return number(value, lang) if isinstance(value, int) and not isinstance(value, bool) else md(value)


def render_md(diff: dict, lang: str) -> str:
    lines = [f"# {md(phrase('cmp.title', lang))}"]
    for section in sections(diff, lang):
        lines += ["", f"## {md(section.title)}", ""]
        if not section.rows:
            lines.append(md(phrase("cmp.nothing", lang)))
            continue
        lines.append("| " + " | ".join(md(h) for h in section.headers) + " |")
        lines.append("|" + "|".join("---:" if any(isinstance(r[i], int) for r in section.rows) else "---"
                                    for i in range(len(section.headers))) + "|")
        lines += ["| " + " | ".join(_md_cell(c, lang) for c in row) + " |" for row in section.rows]
    return "\n".join(lines) + "\n"


def _esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def render_html(diff: dict, lang: str) -> str:
    css = resources.files("analysis.report").joinpath("report.css").read_text(encoding="utf-8")
    title_text = phrase("cmp.title", lang)
    body = [f"<h1>{_esc(title_text)}</h1>"]
    for section in sections(diff, lang):
        body.append(f"<h2>{_esc(section.title)}</h2>")
        if not section.rows:
            body.append(f"<p>{_esc(phrase('cmp.nothing', lang))}</p>")
            continue
        body.append('<div class="scroll"><table><thead><tr>' + "".join(f"<th>{_esc(h)}</th>" for h in
                                                                        section.headers) + "</tr></thead><tbody>")
        for row in section.rows:
            cells = (f'<td class="num">{_esc(number(c, lang))}</td>' if isinstance(c, int) and not isinstance(c, bool)
                     else f"<td>{_esc(c)}</td>" for c in row)
            body.append("<tr>" + "".join(cells) + "</tr>")
        body.append("</tbody></table></div>")
    head = ["<!DOCTYPE html>", f'<html lang="{_esc(lang)}">', "<head>", '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="referrer" content="no-referrer">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_esc(title_text)}</title>", f"<style>\n{css}</style>", "</head>", "<body>"]
    return "\n".join([*head, *body, "</body>", "</html>"]) + "\n"


def render_changes(diff: dict, fmt: str, lang: str) -> str:
    """The comparison of two reports as ``fmt`` (md, json or html) in ``lang``."""
    if fmt == "json":
        return json.dumps(diff, ensure_ascii=False, indent=2) + "\n"
    return render_html(diff, lang) if fmt == "html" else render_md(diff, lang)
