"""The report as one self-contained HTML memo (English or German), shaped like the seed memo.

Every value is escaped with ``html.escape`` (attributes too); the page loads nothing and runs nothing:
a Content-Security-Policy forbids scripts and every fetch, charts are inline SVG, the CSS is inline.
Every table sits in a box that scrolls sideways by itself, so a wide table never widens the page, and a
Wireshark filter wraps only between its terms (after ``&&`` or ``||``), never inside an address or a name.
"""

from __future__ import annotations

import html
import ipaddress
import re
from importlib import resources

from analysis.report import apps, charts, memo, whois
from analysis.report.build import destinations as group_destinations
from analysis.report.memo import MAX_LIST, MAX_ROWS, Code, Flag, Hash, Num
from analysis.report.memo import short_list as _list
from analysis.text import number, title

CSP = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src 'none'; "
    "connect-src 'none'; base-uri 'none'; form-action 'none'; frame-src 'none'; object-src 'none'"
)


class Markup(str):
    """Text that is already HTML (built here from escaped parts)."""


def esc(value) -> str:
    if isinstance(value, Markup):
        return value
    return html.escape("" if value is None else str(value), quote=True)


class _Page(memo.Writer):
    """Collects the page's HTML in order; ``t`` gives the report's words in its language."""

    def num(self, value) -> Markup:
        return Markup(esc(number(value, self.lang)) if isinstance(value, (int, float)) else esc(value))

    def cells(self, rows: list[list], names: set[int] = frozenset()) -> list[list]:
        """Shared table rows (analysis.report.memo) as cells: numbers, filters and yes/no formatted here;
        columns in ``names`` hold host names, which may wrap after their dots."""
        def cell(i: int, value):
            if isinstance(value, Num):
                return self.num(value.value)
            if isinstance(value, Hash):
                return Markup(f'<code class="hash">{esc(value.value)}</code>')
            if isinstance(value, Code):
                return _filter(value.value)
            if isinstance(value, Flag):
                return self.yes_no(value.value)
            return _dotted(value) if i in names and value else value

        return [[cell(i, c) for i, c in enumerate(row)] for row in rows]

    def table(
        self,
        headers: list[str],
        rows: list[list],
        numeric: set[int] = frozenset(),
        nowrap: set[int] = frozenset(),
        wide: set[int] = frozenset(),
        total: int | None = None,
    ) -> None:
        """Cells are escaped here; ``total`` counts the source rows when only the first were passed."""

        def attr(i: int) -> str:
            if i in numeric:
                return ' class="num"'
            return ' class="nowrap"' if i in nowrap else ' class="wide"' if i in wide else ""

        self.add('<div class="scroll"><table><thead><tr>')
        self.add(*(f"<th{attr(i)}>{esc(h)}</th>" for i, h in enumerate(headers)))
        self.add("</tr></thead><tbody>")
        for row in rows[:MAX_ROWS]:
            cells = (f"<td{attr(i)}>{esc(c)}</td>" for i, c in enumerate(row))
            self.add("<tr>", *cells, "</tr>")
        self.add("</tbody></table></div>")
        total = len(rows) if total is None else total
        if total > MAX_ROWS:
            self.add(f"<p>{esc(self.t('truncated_rows', n=total - MAX_ROWS))}</p>")

    def facts(self, pairs: list[tuple[str, object]]) -> None:
        self.add('<div class="scroll"><table class="facts"><tbody>')
        for key, value in pairs:
            self.add(f"<tr><th>{esc(key)}</th><td>{esc(value)}</td></tr>")
        self.add("</tbody></table></div>")


def _dotted(value) -> Markup:
    """Host names that may wrap after a dot (``telemetry.`` / ``vendor.test``) rather than inside a label;
    an address (or network) never wraps."""
    text = str(value)
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return Markup(esc(text).replace(".", ".<wbr>"))
    return Markup(f'<span class="nowrap">{esc(text)}</span>')


_OPERATOR = re.compile(r"(?<=\s)(?:&&|\|\||and|or)\s+")  # a filter may wrap after these, and only there


def _filter(value) -> Markup:
    """A display filter whose terms never break inside: each term with the operator after it is one
    unbreakable span; the spaces between spans are the only places a line may wrap."""
    if not value:
        return Markup("")
    text = " ".join(str(value).split())
    terms, start = [], 0
    for m in _OPERATOR.finditer(text):
        terms.append(text[start : m.end()].rstrip())
        start = m.end()
    terms.append(text[start:])
    spans = " ".join(f'<span class="term">{esc(term)}</span>' for term in terms if term)
    return Markup(f'<code class="filter">{spans}</code>')


def _header(p: _Page) -> None:
    case = p.r.get("case") or {}
    account = (case.get("account") or {}).get("address") or (case.get("account") or {}).get("username") or ""
    hosts = ", ".join(map(str, (case.get("mail") or {}).get("hosts") or []))
    p.add("<header>", f'<p class="memo">{esc(p.t("memo"))}</p>', f"<h1>{esc(p.t('title'))}</h1>")
    sub = " · ".join(x for x in (account, hosts) if x)
    if sub:
        p.add(f'<p class="sub">{esc(sub)}</p>')
    p.add("</header>")


def _summary(p: _Page) -> None:
    v = p.r.get("verdict") or {}
    word = str(v.get("summary", "inconclusive"))
    p.add('<section id="summary">', f"<h2>{esc(p.t('summary'))}</h2>")
    p.add(
        f'<div class="verdict v-{esc(word)}" id="verdict"><span class="label">{esc(p.t("verdict"))}:</span> '
        f'<strong class="word">{esc(p.t("word." + word))}</strong>'
        f'<p class="meaning">{esc(p.t("verdict." + word))}</p></div>'
    )
    if v.get("explanation"):
        p.add(f'<p class="explanation">{esc(v["explanation"])}</p>')
    for info in p.r.get("inputs") or []:
        if not info.get("complete", True):
            where = (
                p.t("incomplete_at", offset=info.get("error_offset"))
                if info.get("error_offset") is not None
                else p.t("complete") + ": " + p.t("no")
            )
            warn = _list(info.get("warnings"), 3)
            p.add(f'<p class="warn">{esc(info.get("path"))}: {esc(where)}. {esc(warn)}</p>')
    p.facts(apps.summary_facts(p.t, v, flows=p.r.get("flows")))
    p.add("</section>")


def _method(p: _Page) -> None:
    r = p.r
    p.add('<section id="method">', f"<h2>{esc(p.t('method'))}</h2>", f"<p>{esc(p.t(apps.method_key(r)))}</p>")
    p.add(f"<h3>{esc(p.t('inputs'))}</h3>")
    rows = p.cells(memo.input_rows(p.t, r.get("inputs") or [], "; "))
    p.table(p.headers(memo.INPUT_COLUMNS), rows, numeric={2}, wide={0, 5})
    p.facts(memo.run_facts(p.t, r, p.lang))
    p.add(f"<h3>{esc(p.t('case'))}</h3>")
    p.facts(memo.case_facts(p.t, r.get("case") or {}))
    sources = memo.as_sources(r)
    if sources:
        p.add(f"<h3>{esc(p.t('as_data'))}</h3>", f"<p>{esc(p.t('as_data.text'))}</p>", "<ul>")
        p.add(*(f"<li>{esc(line)}</li>" for line in sources), "</ul>")
    logs = (r.get("mail_server") or {}).get("logs") or []
    if logs:
        p.add(f"<h3>{esc(p.t('logs'))}</h3>")
        p.table(p.headers(memo.LOG_COLUMNS), p.cells(memo.log_rows(logs)), numeric={2, 3, 4}, wide={0})
    _rdap_note(p)
    p.add("</section>")


def _rdap_note(p: _Page) -> None:
    """The method's paragraph on the RDAP look-ups (--rdap) and their warnings."""
    rdap = (p.r.get("settings") or {}).get("rdap")
    if rdap is not None:
        p.add(f'<p id="rdap-note">{esc(whois.note(p.t, rdap))}</p>')
        p.add(*(f'<p class="warn">{esc(line)}</p>' for line in whois.warnings(rdap)))


def _whois(p: _Page) -> None:
    """The RDAP appendix (--rdap): one row per looked-up address."""
    records = p.r.get("whois")
    if records is None:
        return
    p.add('<section id="appendix-whois">', f"<h2>{esc(p.t('appendix.whois'))}</h2>",
          f"<p>{esc(p.t('whois.text'))}</p>")
    p.table(p.headers(whois.COLUMNS), whois.rows(p.t, records), nowrap={0, 2, 6})  # handles break at hyphens
    p.add("</section>")


def _expected_observed(p: _Page) -> None:
    case = p.r.get("case") or {}
    hosts = ", ".join(map(str, (case.get("mail") or {}).get("hosts") or [])) or "–"
    p.add(
        '<section id="expected">',
        f"<h2>{esc(p.t('expected'))}</h2>",
        f"<p>{esc(p.t('expected.text', hosts=hosts))}</p>",
        "</section>",
    )
    stats = p.r.get("stats") or {}
    p.add('<section id="observed">', f"<h2>{esc(p.t('observed'))}</h2>")
    p.add(f"<p>{esc(memo.observed_counts(p.t, p.lang, stats))}</p>")
    p.add(f'<figure class="chart" id="chart-timeline">{charts.timeline_svg(p.r, p.lang)}</figure>')
    p.add(f'<figure class="chart" id="chart-bytes">{charts.bytes_svg(p.r, p.lang)}</figure>')
    p.add(f"<h3>{esc(p.t('stats'))}</h3>")
    rows = [
        [
            Markup(
                f'<span class="swatch" style="background:{esc(charts.color(str(row.get("category"))))}">'
                f"</span>{esc(row.get('category'))}"
            ),
            p.t("cat." + str(row.get("category"))),
            p.num(row.get("flows", 0)),
            p.num(row.get("bytes", 0)),
            p.num(row.get("c2s_bytes", 0)),
        ]
        for row in stats.get("by_category") or []
    ]
    p.table([p.t("category"), "", p.t("flows_h"), p.t("bytes"), p.t("sent")], rows, numeric={2, 3, 4})
    p.add("</section>")


def _findings(p: _Page) -> None:
    p.add('<section id="findings">', f"<h2>{esc(p.t('findings'))}</h2>")
    findings = p.r.get("findings") or []
    if not findings:
        p.add(f"<p>{esc(p.t('no_findings'))}</p>")
    for i, f in enumerate(findings, 1):
        sev = str(f.get("severity", "info"))
        kind = str(f.get("kind", ""))
        p.add(
            f'<article class="finding sev-{esc(sev)}" data-kind="{esc(kind)}">',
            f'<h3><span class="sev">{esc(p.t("severity." + sev))}</span>{i}. {esc(title(kind, p.lang))}</h3>',
            f"<p>{esc(f.get('message'))}</p>",
            '<dl class="evidence">',
        )
        for label, value in memo.evidence(p.t, f):
            shown = _filter(value.value) if isinstance(value, Code) else esc(value)
            p.add(f"<dt>{esc(label)}</dt><dd>{shown}</dd>")
        p.add("</dl>")
        lines = f.get("log_lines") or []
        if lines:
            shown = "\n".join(str(x) for x in lines[:MAX_LIST])
            p.add(f"<p>{esc(p.t('log_lines'))}:</p><pre><code>{esc(shown)}</code></pre>")
            if len(lines) > MAX_LIST:
                p.add(f"<p>{esc(p.t('more', n=len(lines) - MAX_LIST))}</p>")
        p.add("</article>")
    p.add("</section>")


MAX_KEYS = 20  # flows named in a destination's tooltip


def _flow_keys(cell, ids: list, flows: dict) -> Markup:
    """A destination's flow count with a tooltip naming each flow's id, Zeek connection state and history
    and Community ID (the keys to find it in Zeek, Suricata, Arkime or Wireshark)."""
    lines = []
    for i in ids[:MAX_KEYS]:
        f = flows.get(i) or {}
        words = [f"#{i}", f.get("state"), f.get("history"), f.get("community_id")]
        lines.append(" ".join(str(w) for w in words if w))
    if len(ids) > MAX_KEYS:
        lines.append(f"+{len(ids) - MAX_KEYS}")
    return Markup(f'<span title="{esc(chr(10).join(lines))}">{esc(cell)}</span>') if lines else Markup(esc(cell))


def _destinations(p: _Page) -> None:
    flows = p.r.get("flows") or []
    by_id = {f.get("id"): f for f in flows}
    groups = p.r.get("destinations")
    if groups is None:
        groups = group_destinations(flows)
    p.add('<section id="destinations">', f"<h2>{esc(p.t('destinations'))}</h2>")
    for group in groups:
        cat = str(group.get("category"))
        p.add(
            f'<h3 id="cat-{esc(cat)}">'
            f'<span class="swatch" style="background:{esc(charts.color(cat))}"></span>'
            f"{esc(cat)}: {esc(p.t('cat.' + cat))}</h3>"
        )
        servers = group.get("servers") or []
        rows = p.cells(memo.destination_rows(servers), names={2, 3})
        for row, server in zip(rows, servers, strict=False):
            row[4] = _flow_keys(row[4], server.get("flow_ids") or [], by_id)
        p.table(
            p.headers(memo.DESTINATION_COLUMNS),
            rows,
            numeric={4, 5, 6},
            nowrap={0},
            wide={2, 3},
            total=len(group.get("servers") or []),
        )
    p.add("</section>")


def _apps(p: _Page) -> None:
    """The verdict per mail app, and the connections of the other apps (with --app) or of every app."""
    lines, groups, title = memo.app_parts(p.r)
    if not lines and not groups:
        return
    p.add('<section id="apps">', f"<h2>{esc(p.t('apps'))}</h2>")
    if lines:
        p.add(f'<h3 id="per-app">{esc(p.t("apps.per_app"))}</h3>', f"<p>{esc(p.t('apps.per_app.text'))}</p>")
        p.table(p.headers(apps.PER_APP_COLUMNS), p.cells(apps.per_app_rows(p.t, lines)), numeric={7, 8},
                wide={0, 6}, total=len(lines))
    if groups:
        p.add(f'<h3 id="{esc(title.replace(".", "-"))}">{esc(p.t(title))}</h3>')
        if title == "apps.others":
            p.add(f"<p>{esc(p.t('apps.others.text'))}</p>")
        p.table(p.headers(apps.GROUP_COLUMNS), p.cells(apps.group_rows(p.t, p.lang, groups)), numeric={2, 3, 5},
                wide={0, 4}, total=len(groups))
    p.add("</section>")


def _app_report(p: _Page) -> None:
    """The App Privacy Report: per app its domains, then the resources the apps accessed."""
    rep = p.r.get("app_report")
    if not isinstance(rep, dict):
        return
    p.add('<section id="app-report">', f"<h2>{esc(p.t('app_report'))}</h2>", f"<p>{esc(p.t('app_report.text'))}</p>")
    if apps.attribution_text(p.t, rep):
        p.add(f"<p>{esc(apps.attribution_text(p.t, rep))}</p>")
    entries = [e for e in rep.get("apps") or [] if isinstance(e, dict)]
    for entry in entries[:apps.MAX_APPS]:
        domains = entry.get("domains") or []
        p.add(f"<h3>{esc(apps.app_heading(p.t, entry))}</h3>")
        p.table(p.headers(apps.DOMAIN_COLUMNS), p.cells(apps.domain_rows(p.t, domains), names={0, 2}),
                numeric={4}, wide={0}, total=len(domains))
    if len(entries) > apps.MAX_APPS:
        p.add(f"<p>{esc(p.t('truncated_rows', n=len(entries) - apps.MAX_APPS))}</p>")
    access = apps.access_rows(entries)
    if access:
        p.add(f"<h3>{esc(p.t('app_report.access'))}</h3>")
        p.table(p.headers(apps.ACCESS_COLUMNS), p.cells(access), numeric={2})
    p.add("</section>")


def _mail_server(p: _Page) -> None:
    view = p.r.get("mail_server")
    if view is None:
        return
    p.add(
        '<section id="mail-server">',
        f"<h2>{esc(p.t('mail_server'))}</h2>",
        f"<p>{esc(p.t('mail_server.text'))}</p>",
    )
    origins = view.get("origins") or []
    for account in memo.origin_accounts(origins):
        p.add(f"<h3>{esc(p.t('origins'))}: {esc(account)}</h3>")
        p.table(p.headers(memo.ORIGIN_COLUMNS), p.cells(memo.origin_rows(origins, account), names={1}),
            numeric={5, 6, 8} if any("after_removal_count" in o for o in origins) else {5, 6},
            nowrap={0},
        )
    conns = view.get("connections") or []
    if conns:
        p.add(f"<h3>{esc(p.t('connections'))}</h3>")
        p.table(
            p.headers(memo.CONNECTION_COLUMNS),
            memo.connection_rows(conns),
            total=len(conns),
            wide={0},
        )
    quoted = [f for f in p.r.get("findings") or [] if f.get("log_lines")]
    if quoted:
        p.add(f"<h3>{esc(p.t('log_lines'))}</h3>")
        for f in quoted:
            shown = "\n".join(str(x) for x in f["log_lines"][:MAX_LIST])
            name = title(str(f.get("kind", "")), p.lang)
            p.add(f"<p>{esc(name)}: {esc(f.get('message'))}</p><pre><code>{esc(shown)}</code></pre>")
    p.add("</section>")


def _appendix(p: _Page) -> None:
    p.add('<section id="appendix-owners">', f"<h2>{esc(p.t('appendix.owners'))}</h2>")
    p.table(
        p.headers(memo.OWNER_COLUMNS),
        p.cells(memo.owner_rows(p.r.get("owners") or []), names={1, 4, 7}),
        total=len(p.r.get("owners") or []),
        numeric={9},
        nowrap={0},
        wide={1, 4, 6, 7},
    )
    p.add(f"<h3>{esc(p.t('appendix.as'))}</h3>")
    p.table(
        p.headers(memo.AS_COLUMNS),
        memo.as_rows(p.t, p.r.get("owners") or []),
        total=len(p.r.get("owners") or []),
        nowrap={0, 3},
        wide={4, 5},
    )
    p.add("</section>")
    dns = p.r.get("dns") or []
    if dns:
        p.add('<section id="appendix-dns">', f"<h2>{esc(p.t('appendix.dns'))}</h2>")
        p.table(
            p.headers(memo.DNS_COLUMNS),
            memo.dns_rows(dns),
            total=len(dns),
            numeric={3},
            wide={0, 2},
        )
        p.add("</section>")


def render_html(report: dict, lang: str) -> str:
    """The full page as a string."""
    p = _Page(report, lang)
    css = resources.files("analysis.report").joinpath("report.css").read_text(encoding="utf-8")
    p.add(
        "<!DOCTYPE html>",
        f'<html lang="{esc(lang)}">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'  # a constant without quotes,
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(p.t('title'))}</title>",
        f"<style>\n{css}</style>",
        "</head>",
        "<body>",
    )
    _header(p)
    sections = (_summary, _apps, _method, _expected_observed, _findings, _destinations, _app_report, _mail_server,
                _appendix, _whois)
    traffic = (_expected_observed, _destinations, _appendix)
    for section in memo.shown(sections, apps.domain_level(report), traffic):
        section(p)
    p.add(f"<footer><p>{esc(memo.footer(p.t, report))}</p></footer>", "</body>", "</html>")
    return "\n".join(p.out) + "\n"
