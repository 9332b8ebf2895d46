"""The report as a Markdown memo (English or German), the same sections as the HTML page.

Text from the network is escaped: Markdown punctuation gets a backslash, ``< > &`` become entities (no
raw HTML), table pipes are escaped, and code spans and fences are longer than any backtick run inside.
"""

from __future__ import annotations

import re

from analysis.report import apps, memo, whois
from analysis.report.build import destinations as group_destinations
from analysis.report.memo import MAX_LIST, MAX_ROWS, Code, Flag, Num
from analysis.report.memo import short_list as _list
from analysis.text import number, title

_PUNCT = re.compile(r"([\\`*_\[\]|~])")
_LINE_START = re.compile(r"^(\d{1,9})([.)])(?=\s|$)|^([#+=-])(?=[#\s]|$)")


def md(value) -> str:
    """Inline text made inert: one line, HTML neutralised, Markdown punctuation escaped."""
    s = "" if value is None else str(value)
    s = " ".join(s.splitlines())
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _PUNCT.sub(r"\\\1", s)
    return _LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", s)


def code(value, table: bool = True) -> str:
    """An inline code span holding ``value`` verbatim; in a table cell its pipes are escaped (GFM)."""
    s = " ".join(("" if value is None else str(value)).splitlines())
    if not s:
        return ""
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    if table:
        s = s.replace("|", "\\|")
    return f"{fence}{pad}{s}{pad}{fence}"


def fenced(lines: list[str]) -> list[str]:
    """A fenced code block for quoted lines; the fence outgrows any backtick run in them."""
    body = [" ".join(str(x).splitlines()) for x in lines]
    run = max((len(m) for line in body for m in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, run + 1)
    return [fence, *body, fence]


class Doc(memo.Writer):
    """A Markdown memo being written: the report's and the ``logs`` view's (analysis.report.logsview)."""

    def num(self, value) -> str:
        return number(value, self.lang) if isinstance(value, (int, float)) else md(value)

    def cells(self, rows: list[list]) -> list[list[str]]:
        """Shared table rows (analysis.report.memo) as escaped cells."""
        def cell(value) -> str:
            if isinstance(value, Num):
                return self.num(value.value)
            if isinstance(value, Code):  # a Hash too
                return code(value.value)
            return self.yes_no(value.value) if isinstance(value, Flag) else md(value)

        return [[cell(c) for c in row] for row in rows]

    def heading(self, level: int, title: str) -> None:
        self.add("", "#" * level + " " + md(title), "")

    def table(self, headers: list[str], rows: list[list[str]], total: int | None = None) -> None:
        """Rows are escaped cells; ``total`` counts the source rows when only the first were passed."""
        self.add("| " + " | ".join(md(h) for h in headers) + " |", "|" + "---|" * len(headers))
        for row in rows[:MAX_ROWS]:
            self.add("| " + " | ".join(c if c else " " for c in row) + " |")
        total = len(rows) if total is None else total
        if total > MAX_ROWS:
            self.add("", md(self.t("truncated_rows", n=total - MAX_ROWS)))
        self.add("")

    def titled_table(self, level: int, title: str, columns: tuple[str, ...], rows: list[list],
                     total: int | None = None) -> None:
        """A heading and its table: ``columns`` are word keys, ``rows`` shared rows (analysis.report.memo)."""
        self.heading(level, title)
        self.table(self.headers(columns), self.cells(rows), total=total)

    def facts(self, pairs: list[tuple[str, str]]) -> None:
        for key, value in pairs:
            self.add(f"- **{md(key)}:** {value}")
        self.add("")


def _summary(d: Doc) -> None:
    v = d.r.get("verdict") or {}
    word = str(v.get("summary", "inconclusive"))
    d.heading(2, d.t("summary"))
    d.add(f"**{md(d.t('verdict'))}: {md(d.t('word.' + word).upper())}**: {md(d.t('verdict.' + word))}", "")
    if v.get("explanation"):
        d.add(md(v["explanation"]), "")
    for info in d.r.get("inputs") or []:
        if not info.get("complete", True):
            where = d.t("incomplete_at", offset=info.get("error_offset"))
            d.add(f"> **{md(info.get('path'))}**: {md(where)}. {md(_list(info.get('warnings'), 3))}", "")
    d.facts(apps.summary_facts(d.t, v, md, d.r.get("flows")))


def _method(d: Doc) -> None:
    r = d.r
    d.heading(2, d.t("method"))
    d.add(md(d.t(apps.method_key(r))), "")
    d.heading(3, d.t("inputs"))
    d.table(d.headers(memo.INPUT_COLUMNS), d.cells(memo.input_rows(d.t, r.get("inputs") or [], ", ")))
    d.facts([(k, md(v)) for k, v in memo.run_facts(d.t, r, d.lang)])
    d.heading(3, d.t("case"))
    d.facts([(k, md(v)) for k, v in memo.case_facts(d.t, r.get("case") or {})])
    sources = memo.as_sources(r)
    if sources:
        d.heading(3, d.t("as_data"))
        d.add(md(d.t("as_data.text")), "", *(f"- {md(line)}" for line in sources), "")
    logs = (r.get("mail_server") or {}).get("logs") or []
    if logs:
        d.titled_table(3, d.t("logs"), memo.LOG_COLUMNS, memo.log_rows(logs))
    _rdap_note(d, (r.get("settings") or {}).get("rdap"))


def _rdap_note(d: Doc, rdap) -> None:
    """The paragraph on the RDAP look-ups (--rdap) and their warnings."""
    if rdap is not None:
        d.add(md(whois.note(d.t, rdap)), "", *(f"> {md(line)}" for line in whois.warnings(rdap)), "")


def _whois(d: Doc) -> None:
    """The RDAP appendix (--rdap): one row per looked-up address."""
    records = d.r.get("whois")
    if records is not None:
        d.heading(2, d.t("appendix.whois"))
        d.add(md(d.t("whois.text")), "")
        d.table(d.headers(whois.COLUMNS), [[md(c) for c in row] for row in whois.rows(d.t, records)])


def whois_section(part: dict, lang: str) -> str:
    """``maildetour logs --rdap --format md``: the appendix with its note (``part``: whois, rdap)."""
    d = Doc(part, lang)
    _whois(d)
    _rdap_note(d, part.get("rdap"))
    return "\n".join(d.out).strip("\n") + "\n"


def _expected_observed(d: Doc) -> None:
    case = d.r.get("case") or {}
    hosts = ", ".join(map(str, (case.get("mail") or {}).get("hosts") or [])) or "–"
    d.heading(2, d.t("expected"))
    d.add(md(d.t("expected.text", hosts=hosts)), "")
    stats = d.r.get("stats") or {}
    d.heading(2, d.t("observed"))
    d.add(md(memo.observed_counts(d.t, d.lang, stats)), "")
    d.heading(3, d.t("stats"))
    d.table(
        [d.t("category"), "", d.t("flows_h"), d.t("bytes"), d.t("sent")],
        [
            [
                code(row.get("category")),
                md(d.t("cat." + str(row.get("category")))),
                d.num(row.get("flows", 0)),
                d.num(row.get("bytes", 0)),
                d.num(row.get("c2s_bytes", 0)),
            ]
            for row in stats.get("by_category") or []
        ],
    )


def _findings(d: Doc) -> None:
    d.heading(2, d.t("findings"))
    findings = d.r.get("findings") or []
    if not findings:
        d.add(md(d.t("no_findings")), "")
    for i, f in enumerate(findings, 1):
        sev = d.t("severity." + str(f.get("severity", "info")))
        d.heading(3, f"{i}. {title(str(f.get('kind', '')), d.lang)} ({sev})")
        d.add(md(f.get("message")), "")
        for label, value in memo.evidence(d.t, f):
            d.add(f"- {md(label)}: {code(value.value, table=False) if isinstance(value, Code) else md(value)}")
        d.add("")
        lines = f.get("log_lines") or []
        if lines:
            d.add(md(d.t("log_lines")) + ":", "", *fenced(lines[:MAX_LIST]), "")
            if len(lines) > MAX_LIST:
                d.add(md(d.t("more", n=len(lines) - MAX_LIST)), "")


def _destinations(d: Doc) -> None:
    groups = d.r.get("destinations")
    if groups is None:
        groups = group_destinations(d.r.get("flows") or [])
    d.heading(2, d.t("destinations"))
    for group in groups:
        cat, servers = str(group.get("category")), group.get("servers") or []
        d.titled_table(3, f"{cat}: {d.t('cat.' + cat)}", memo.DESTINATION_COLUMNS, memo.destination_rows(servers),
                       len(servers))


def _apps(d: Doc) -> None:
    """The verdict per mail app, and the connections of the other apps (with --app) or of every app."""
    lines, groups, title = memo.app_parts(d.r)
    if not lines and not groups:
        return
    d.heading(2, d.t("apps"))
    if lines:
        d.heading(3, d.t("apps.per_app"))
        d.add(md(d.t("apps.per_app.text")), "")
        d.table(d.headers(apps.PER_APP_COLUMNS), d.cells(apps.per_app_rows(d.t, lines)), total=len(lines))
    if groups:
        d.heading(3, d.t(title))
        if title == "apps.others":
            d.add(md(d.t("apps.others.text")), "")
        d.table(d.headers(apps.GROUP_COLUMNS), d.cells(apps.group_rows(d.t, d.lang, groups)), total=len(groups))


def _app_report(d: Doc) -> None:
    """The App Privacy Report: per app its domains, then the resources the apps accessed."""
    rep = d.r.get("app_report")
    if not isinstance(rep, dict):
        return
    d.heading(2, d.t("app_report"))
    d.add(md(d.t("app_report.text")), "")
    if apps.attribution_text(d.t, rep):
        d.add(md(apps.attribution_text(d.t, rep)), "")
    entries = [e for e in rep.get("apps") or [] if isinstance(e, dict)]
    for entry in entries[:apps.MAX_APPS]:
        d.heading(3, apps.app_heading(d.t, entry))
        domains = entry.get("domains") or []
        d.table(d.headers(apps.DOMAIN_COLUMNS), d.cells(apps.domain_rows(d.t, domains)), total=len(domains))
    if len(entries) > apps.MAX_APPS:
        d.add(md(d.t("truncated_rows", n=len(entries) - apps.MAX_APPS)), "")
    access = apps.access_rows(entries)
    if access:
        d.heading(3, d.t("app_report.access"))
        d.table(d.headers(apps.ACCESS_COLUMNS), d.cells(access))


def _mail_server(d: Doc) -> None:
    view = d.r.get("mail_server")
    if view is None:
        return
    d.heading(2, d.t("mail_server"))
    d.add(md(d.t("mail_server.text")), "")
    origins = view.get("origins") or []
    for account in memo.origin_accounts(origins):
        d.titled_table(3, f"{d.t('origins')}: {account}", memo.ORIGIN_COLUMNS, memo.origin_rows(origins, account))
    conns = view.get("connections") or []
    if conns:
        d.titled_table(3, d.t("connections"), memo.CONNECTION_COLUMNS, memo.connection_rows(conns), len(conns))
    quoted = [f for f in d.r.get("findings") or [] if f.get("log_lines")]
    if quoted:
        d.heading(3, d.t("log_lines"))
        for f in quoted:
            name = title(str(f.get("kind", "")), d.lang)
            d.add(f"{md(name)}: {md(f.get('message'))}", "", *fenced(f["log_lines"][:MAX_LIST]), "")


def _appendix(d: Doc) -> None:
    owners = d.r.get("owners") or []
    d.titled_table(2, d.t("appendix.owners"), memo.OWNER_COLUMNS, memo.owner_rows(owners), len(owners))
    d.titled_table(3, d.t("appendix.as"), memo.AS_COLUMNS, memo.as_rows(d.t, owners), len(owners))
    dns = d.r.get("dns") or []
    if dns:
        d.titled_table(2, d.t("appendix.dns"), memo.DNS_COLUMNS, memo.dns_rows(dns), len(dns))


def render_markdown(report: dict, lang: str) -> str:
    d = Doc(report, lang)
    case = report.get("case") or {}
    account = (case.get("account") or {}).get("address") or (case.get("account") or {}).get("username") or ""
    d.add(f"*{md(d.t('memo'))}*", "", "# " + md(d.t("title")))
    if account:
        d.add("", md(account))
    sections = (_summary, _apps, _method, _expected_observed, _findings, _destinations, _app_report, _mail_server,
                _appendix, _whois)
    traffic = (_expected_observed, _destinations, _appendix)
    for section in memo.shown(sections, apps.domain_level(report), traffic):
        section(d)
    d.add("---", "", md(memo.footer(d.t, report)))
    return "\n".join(d.out).rstrip("\n") + "\n"
