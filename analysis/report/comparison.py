"""The batch comparison (``maildetour.comparison/1``) as JSON, CSV and one self-contained, sortable HTML page.

Deterministic: the same comparison dict gives the same bytes. The page loads nothing: the CSS and a bar chart
(inline SVG, bytes per category and run) are inline, and its one inline script (sorting by a column; ``#sort=N``
or ``#sort=-N`` in the address sorts on opening) is the only one the Content-Security-Policy allows, by hash.
Every value is escaped; CSV cells a spreadsheet would run as a formula get a leading apostrophe.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
from importlib import resources
from urllib.parse import quote

from analysis.report.csvout import safe_cell
from analysis.report.jsonout import render_json
from analysis.text import number, text
from analysis.text.comparison import phrase
from analysis.vocab import CATEGORIES

CSV_COLUMNS = (
    "run", "app_id", "app_name", "app_version", "summary", "mail_host_contacted", "relays", "vendors", "leaks",
    "third_party_logins", "flows", "bytes", *(f"bytes_{c}" for c in CATEGORIES), "report", "report_html",
    "damaged", "error",
)
SCRIPT = """
(function () {
  var table = document.getElementById("runs");
  var heads = table.tHead.rows[0].cells;
  function sort(col, down) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var num = heads[col].classList.contains("num");
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
      var d = num ? (x === "" ? -1 : +x) - (y === "" ? -1 : +y) : (x < y ? -1 : x > y ? 1 : 0);
      return (down ? -d : d) || a.getAttribute("data-i") - b.getAttribute("data-i");
    });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    heads[col].setAttribute("aria-sort", down ? "descending" : "ascending");
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    function click() { sort(col, th.getAttribute("aria-sort") === "ascending"); }
    th.tabIndex = 0;
    th.addEventListener("click", click);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") { click(); } });
  });
  var m = /^#sort=(-?)(\\d+)$/.exec(location.hash);
  if (m && +m[2] < heads.length) { sort(+m[2], m[1] === "-"); }
})();
"""
STYLE = """th[tabindex] { cursor: pointer; } th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
.chip { display: inline-block; padding: 0 0.4rem; border-left: 6px solid #7f7f7f; }
.chip.v-relayed { border-color: #c51b7d; } .chip.v-mixed { border-color: #e08214; }
.chip.v-direct { border-color: #1b7837; } .error { color: #b2182b; } small.id { color: var(--muted); }
td.outcome { min-width: 9rem; }
"""
CHART_WIDTH, LABEL_WIDTH, BAR_WIDTH, ROW_HEIGHT = 780, 170, 500, 22
MAX_LABEL = 28  # characters of a run name in the chart


def comparison_json(table: dict) -> str:
    """One run per line, as the reports are laid out."""
    return render_json(table)


def _cell_list(values) -> str:
    return "; ".join(str(v) for v in values or [])


def _relays(row: dict) -> list[str]:
    return [f"{r.get('owner')} ({'+'.join(r.get('basis') or [])})" for r in row.get("relays") or []]


def comparison_csv(table: dict) -> str:
    """One row per run; a fixed column per category (the same columns in every batch)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in table.get("runs") or []:
        app, by_category = row.get("app") or {}, row.get("bytes_by_category") or {}
        failed = bool(row.get("error"))
        cells = [
            row.get("run"), app.get("id"), app.get("name"), app.get("version"), row.get("summary"),
            row.get("mail_host_contacted"), _cell_list(_relays(row)), _cell_list(row.get("vendors")),
            row.get("leaks"), row.get("third_party_logins"), row.get("flows"), row.get("bytes"),
            *(None if failed else by_category.get(c, 0) for c in CATEGORIES),
            row.get("report"), row.get("report_html"), row.get("damaged"), row.get("error"),
        ]
        writer.writerow([safe_cell(c) for c in cells])
    return buf.getvalue()


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _categories(rows: list[dict]) -> list[str]:
    """The categories with bytes in any run, in the contract's order (unknown words after, sorted)."""
    seen = {c for row in rows for c in row.get("bytes_by_category") or {}}
    return [c for c in CATEGORIES if c in seen] + sorted(seen - set(CATEGORIES))


def _class(cls: str) -> str:
    return f' class="{cls}"' if cls else ""


def _td(shown: str, key, cls: str = "") -> str:
    """A cell: ``shown`` is HTML already escaped; ``key`` sorts it (a number or text, '' when unknown)."""
    if isinstance(key, bool):
        key = int(key)
    value = key if isinstance(key, (int, float)) else ("" if key is None else str(key).lower())
    return f'<td{_class(cls)} data-v="{esc(value)}">{shown}</td>'


def _row_html(index: int, row: dict, categories: list[str], lang: str) -> str:
    app = row.get("app") or {}
    summary, contacted = row.get("summary"), row.get("mail_host_contacted")
    name = esc(row.get("run"))
    link = row.get("report_html")
    run = f'<a href="{esc(quote(link))}">{name}</a>' if isinstance(link, str) and link else name
    app_shown = esc(app.get("name") or app.get("id") or "")
    if app.get("name") and app.get("id"):
        app_shown += f'<br><small class="id">{esc(app["id"])}</small>'
    if row.get("error"):
        verdict = f'<span class="error">{esc(phrase("batch.chart.failed", lang))}: {esc(row["error"])}</span>'
    elif isinstance(summary, str) and summary:
        verdict = f'<span class="chip v-{esc(summary)}">{esc(text("word." + summary, lang))}</span>'
        if row.get("damaged"):
            verdict += f'<br><small class="error">{esc(phrase("batch.damaged", lang))}: {esc(row["damaged"])}</small>'
    else:
        verdict = ""
    yes_no = "" if contacted is None else esc(text("yes" if contacted else "no", lang))
    by_category = row.get("bytes_by_category") or {}
    failed = bool(row.get("error"))

    def count(value) -> str:
        return "" if value is None else esc(number(value, lang))

    cells = [
        _td(run, row.get("run")),
        _td(app_shown, app.get("name") or app.get("id")),
        _td(esc(app.get("version") or ""), app.get("version")),
        _td(verdict, summary or "~", "outcome"),  # failed runs sort after every verdict
        _td(yes_no, contacted),
        _td("<br>".join(esc(r) for r in _relays(row)), _cell_list(_relays(row))),
        _td("<br>".join(esc(v) for v in row.get("vendors") or []), _cell_list(row.get("vendors"))),
        _td(count(row.get("leaks")), row.get("leaks"), "num"),
        _td(count(row.get("third_party_logins")), row.get("third_party_logins"), "num"),
        _td(count(row.get("bytes")), row.get("bytes"), "num"),
        *(_td("" if failed else count(by_category.get(c, 0)), None if failed else by_category.get(c, 0), "num")
          for c in categories),
    ]
    return f'<tr data-i="{index}">' + "".join(cells) + "</tr>"


def _table(rows: list[dict], categories: list[str], lang: str) -> str:
    heads = [("col.run", ""), ("col.app", ""), ("col.version", ""), ("col.verdict", ""), ("col.mail_host", ""),
             ("col.relays", ""), ("col.vendors", ""), ("col.leaks", "num"), ("col.logins", "num"),
             ("col.total", "num")]
    cells = [f"<th{_class(cls)}>{esc(phrase(key, lang))}</th>" for key, cls in heads]
    cells += [f'<th class="num">{esc(c)}</th>' for c in categories]
    body = "".join(_row_html(i, row, categories, lang) for i, row in enumerate(rows))
    return (f'<div class="scroll"><table id="runs"><thead><tr>{"".join(cells)}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _short(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "…"


def chart_svg(rows: list[dict], lang: str) -> str:
    """Bytes per category, one stacked bar per run, on one scale; failed runs say so."""
    from analysis.report.charts import color  # the report's colours (matplotlib is imported with them)

    categories = _categories(rows)
    top = max((sum((r.get("bytes_by_category") or {}).values()) for r in rows), default=0) or 1
    legend_rows = (len(categories) + 3) // 4
    height = ROW_HEIGHT * (len(rows) + legend_rows) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
           f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" font-family="DejaVu Sans, sans-serif" font-size="12">',
           f"<title>{esc(phrase('batch.chart', lang))}</title>"]
    for i, row in enumerate(rows):
        y = 10 + i * ROW_HEIGHT
        out.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + 14}" text-anchor="end">{esc(_short(str(row["run"])))}'
                   "</text>")
        by_category = row.get("bytes_by_category") or {}
        if row.get("error"):
            out.append(f'<text x="{LABEL_WIDTH}" y="{y + 14}" fill="#b2182b">'
                       f"{esc(phrase('batch.chart.failed', lang))}</text>")
            continue
        x = float(LABEL_WIDTH)
        for category in categories:
            value = by_category.get(category, 0)
            if not value:
                continue
            width = BAR_WIDTH * value / top
            out.append(f'<rect x="{x:.2f}" y="{y + 3}" width="{width:.2f}" height="{ROW_HEIGHT - 6}" '
                       f'fill="{color(category)}"><title>{esc(category)}: {esc(number(value, lang))} bytes</title>'
                       "</rect>")
            x += width
        total = sum(by_category.values())
        label = number(total, lang) if total else phrase("batch.chart.empty", lang)
        out.append(f'<text x="{x + 6:.2f}" y="{y + 14}">{esc(label)}</text>')
    y0 = 20 + len(rows) * ROW_HEIGHT
    for i, category in enumerate(categories):
        x, y = LABEL_WIDTH + (i % 4) * 150, y0 + (i // 4) * ROW_HEIGHT
        out.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{color(category)}"/>'
                   f'<text x="{x + 17}" y="{y + 11}">{esc(category)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()  # the <script> element's text
    return (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:; "
            "font-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'; frame-src 'none'; "
            "object-src 'none'")


def comparison_html(table: dict, lang: str) -> str:
    """The page: the runs table (sortable), the chart, a footer; nothing loaded from anywhere."""
    rows = list(table.get("runs") or [])
    categories = _categories(rows)
    css = resources.files("analysis.report").joinpath("report.css").read_text(encoding="utf-8")
    failed = sum(1 for r in rows if r.get("error"))
    version = (table.get("tool") or {}).get("version", "")
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{esc(lang)}">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_csp()}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(phrase('batch.memo', lang))}</title>",
        f"<style>\n{css}{STYLE}</style>",
        "</head>",
        "<body>",
        f'<header><p class="memo">{esc(phrase("batch.memo", lang))}</p><h1>{esc(phrase("batch.title", lang))}</h1>',
        f'<p class="sub">{esc(phrase("batch.count", lang, n=len(rows), failed=failed))} '
        f"{esc(phrase('batch.sort', lang))}</p></header>",
        f"<h2>{esc(phrase('batch.runs', lang))}</h2>",
        _table(rows, categories, lang),
        f"<h2>{esc(phrase('batch.chart', lang))}</h2>",
        f'<div class="scroll">{chart_svg(rows, lang)}</div>',
        f'<footer><p class="sub">{esc(phrase("footer", lang, version=version))}</p></footer>',
        f"<script>{SCRIPT}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"
