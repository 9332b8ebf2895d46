"""The report as a Markdown memo (English or German), the same sections as the HTML page.

Text from the network is escaped: Markdown punctuation gets a backslash, ``< > &`` become entities (no
raw HTML), table pipes are escaped, and code spans and fences are longer than any backtick run inside.
"""

from __future__ import annotations

import re

from analysis.report.build import destinations as group_destinations
from analysis.report.i18n import number, text

MAX_ROWS = 500
MAX_LIST = 50
MAX_NAMES = 8
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


def when(value) -> str:
    s = "" if value is None else str(value)
    return s[:19].replace("T", " ") if len(s) >= 19 and s[10:11] == "T" else s


def _list(items, limit: int = MAX_LIST) -> str:
    items = list(items or [])
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" (+{len(items) - limit})" if len(items) > limit else "")


class _Doc:
    def __init__(self, report: dict, lang: str) -> None:
        self.r = report
        self.lang = lang
        self.out: list[str] = []

    def t(self, key: str, **values) -> str:
        return text(self.lang, key, **values)

    def num(self, value) -> str:
        return number(self.lang, value) if isinstance(value, (int, float)) else md(value)

    def yes_no(self, value) -> str:
        return self.t("yes") if value else self.t("no")

    def add(self, *lines: str) -> None:
        self.out.extend(lines)

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

    def facts(self, pairs: list[tuple[str, str]]) -> None:
        for key, value in pairs:
            self.add(f"- **{md(key)}:** {value}")
        self.add("")


def _summary(d: _Doc) -> None:
    v = d.r.get("verdict") or {}
    word = str(v.get("summary", "inconclusive"))
    d.heading(2, d.t("summary"))
    d.add(f"**{md(d.t('verdict'))}: {md(word.upper())}**: {md(d.t('verdict.' + word))}", "")
    if v.get("explanation"):
        d.add(md(v["explanation"]), "")
    for info in d.r.get("inputs") or []:
        if not info.get("complete", True):
            where = d.t("incomplete_at", offset=info.get("error_offset"))
            d.add(f"> **{md(info.get('path'))}**: {md(where)}. {md(_list(info.get('warnings'), 3))}", "")
    rows = [(d.t("mail_host_contacted"), d.yes_no(v.get("mail_host_contacted")))]
    for channel in ("receive", "send"):
        c = v.get(channel) or {}
        status = d.t("status." + str(c.get("status", "not-observed")))
        flows = c.get("flows") or []
        rows.append((d.t(channel), md(status + (f" ({d.t('flows')} {_list(flows, 20)})" if flows else ""))))
    vendors = v.get("vendors") or []
    rows.append(
        (
            d.t("vendors"),
            "; ".join(
                f"{md(x.get('owner', ''))} ({md(', '.join(map(str, x.get('categories') or [])))}; "
                f"{len(x.get('flows') or [])} {md(d.t('flows'))})"
                for x in vendors
            )
            or md(d.t("none")),
        )
    )
    d.facts(rows)


def _method(d: _Doc) -> None:
    r = d.r
    d.heading(2, d.t("method"))
    d.add(md(d.t("method.text")), "")
    d.heading(3, d.t("inputs"))
    rows = []
    for info in r.get("inputs") or []:
        done = d.yes_no(info.get("complete", True))
        if info.get("error_offset") is not None:
            done += "; " + d.t("incomplete_at", offset=info["error_offset"])
        rows.append(
            [
                md(info.get("path")),
                md(info.get("format")),
                d.num(info.get("packets", 0)),
                code(info.get("sha256")),
                md(done),
                md(_list(info.get("warnings"), 5)),
            ]
        )
    d.table(
        [d.t("path"), d.t("format"), d.t("packets"), d.t("sha256"), d.t("complete"), d.t("warnings")], rows
    )
    tool = r.get("tool") or {}
    catalog = r.get("catalog") or {}
    settings = r.get("settings") or {}
    files = "; ".join(
        f"{f.get('path')} (SHA-256 {f.get('sha256')}, {f.get('entries')})" for f in catalog.get("files") or []
    )
    facts = [
        (d.t("tool"), md(f"{tool.get('name', '')} {tool.get('version', '')}")),
        (
            d.t("catalog"),
            md(" ".join(x for x in (str(catalog.get("version") or ""), files) if x) or d.t("none")),
        ),
        (d.t("language"), md(settings.get("lang", d.lang))),
    ]
    if settings.get("log_offset") is not None:
        facts.append((d.t("log_offset"), md(settings["log_offset"])))
    d.facts(facts)
    case = r.get("case") or {}
    account = case.get("account") or {}
    canary = case.get("canary") or {}
    tl = case.get("timeline") or {}
    mail = case.get("mail") or {}
    d.heading(3, d.t("case"))
    canary_text = d.t("canary.set", env=canary.get("env") or "") if canary.get("set") else d.t("canary.unset")
    d.facts(
        [
            (d.t("account"), md(account.get("address") or "–")),
            (d.t("username"), md(account.get("username") or "–")),
            (d.t("canary"), md(canary_text)),
            (d.t("mail_hosts"), md(", ".join(map(str, mail.get("hosts") or [])) or "–")),
            (d.t("mail_addresses"), md(", ".join(map(str, mail.get("addresses") or [])) or "–")),
            (
                d.t("devices"),
                md(
                    ", ".join(map(str, (case.get("device") or {}).get("addresses") or []))
                    or d.t("all_clients")
                ),
            ),
            (d.t("account_added"), md(tl.get("account_added") or "–")),
            (d.t("app_removed"), md(tl.get("app_removed") or "–")),
        ]
    )
    logs = (r.get("mail_server") or {}).get("logs") or []
    if logs:
        d.heading(3, d.t("logs"))
        d.table(
            [d.t("path"), d.t("sha256"), d.t("lines"), d.t("parsed"), d.t("unmatched"), d.t("software")],
            [
                [
                    md(lg.get("path")),
                    code(lg.get("sha256")),
                    d.num(lg.get("lines", 0)),
                    d.num(lg.get("parsed", 0)),
                    d.num(lg.get("unmatched", 0)),
                    md(_list(lg.get("software"), 5)),
                ]
                for lg in logs
            ],
        )


def _expected_observed(d: _Doc) -> None:
    case = d.r.get("case") or {}
    hosts = ", ".join(map(str, (case.get("mail") or {}).get("hosts") or [])) or "–"
    d.heading(2, d.t("expected"))
    d.add(md(d.t("expected.text", hosts=hosts)), "")
    stats = d.r.get("stats") or {}
    total = stats.get("total") or {}
    by_cat = {row.get("category"): row for row in stats.get("by_category") or []}
    d.heading(2, d.t("observed"))
    counts = d.t(
        "observed.counts",
        flows=number(d.lang, total.get("flows", 0)),
        bytes=number(d.lang, total.get("bytes", 0)),
        relay=number(d.lang, (by_cat.get("mail-relay") or {}).get("flows", 0)),
        mailhost=number(d.lang, (by_cat.get("mail-host") or {}).get("flows", 0)),
    )
    d.add(md(counts), "")
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


def _findings(d: _Doc) -> None:
    d.heading(2, d.t("findings"))
    findings = d.r.get("findings") or []
    if not findings:
        d.add(md(d.t("no_findings")), "")
    for i, f in enumerate(findings, 1):
        sev = d.t("severity." + str(f.get("severity", "info")))
        d.heading(3, f"{i}. {f.get('kind', '')} ({sev})")
        d.add(md(f.get("message")), "")
        if f.get("flows"):
            d.add(f"- {md(d.t('flows_h'))}: {md(_list(f['flows']))}")
        if f.get("frames"):
            d.add(f"- {md(d.t('frames'))}: {md(_list(f['frames']))}")
        if f.get("wireshark_filter"):
            d.add(f"- {md(d.t('wireshark_filter'))}: {code(f['wireshark_filter'], table=False)}")
        d.add("")
        lines = f.get("log_lines") or []
        if lines:
            d.add(md(d.t("log_lines")) + ":", "", *fenced(lines[:MAX_LIST]), "")
            if len(lines) > MAX_LIST:
                d.add(md(d.t("more", n=len(lines) - MAX_LIST)), "")


def _destinations(d: _Doc) -> None:
    groups = d.r.get("destinations")
    if groups is None:
        groups = group_destinations([f for f in d.r.get("flows") or [] if isinstance(f, dict)])
    d.heading(2, d.t("destinations"))
    for group in groups:
        cat = str(group.get("category"))
        d.heading(3, f"{cat}: {d.t('cat.' + cat)}")
        d.table(
            [
                d.t("server"),
                d.t("port"),
                d.t("names"),
                d.t("owner"),
                d.t("protocol"),
                d.t("flows_h"),
                d.t("bytes"),
                d.t("sent"),
                d.t("first_seen"),
                d.t("last_seen"),
                d.t("wireshark_filter"),
            ],
            [
                [
                    md(s.get("address")),
                    md(f"{s.get('port')}/{s.get('transport')}"),
                    md(_list(s.get("names"), MAX_NAMES)),
                    md(s.get("owner")),
                    md(", ".join(map(str, s.get("protocols") or []))),
                    d.num(s.get("flows", 0)),
                    d.num(s.get("bytes", 0)),
                    d.num(s.get("c2s_bytes", 0)),
                    md(when(s.get("first_seen"))),
                    md(when(s.get("last_seen"))),
                    code(s.get("wireshark_filter")),
                ]
                for s in (group.get("servers") or [])[:MAX_ROWS]
            ],
            total=len(group.get("servers") or []),
        )


def _mail_server(d: _Doc) -> None:
    view = d.r.get("mail_server")
    if not isinstance(view, dict):
        return
    d.heading(2, d.t("mail_server"))
    d.add(md(d.t("mail_server.text")), "")
    origins = view.get("origins") or []
    accounts: list = []
    for o in origins:
        if o.get("account") not in accounts:
            accounts.append(o.get("account"))
    for account in accounts:
        d.heading(3, f"{d.t('origins')}: {account}")
        d.table(
            [
                d.t("address"),
                d.t("owner"),
                d.t("category"),
                d.t("first"),
                d.t("last"),
                d.t("count"),
                d.t("failures"),
                d.t("is_device"),
                d.t("after_removal"),
            ],
            [
                [
                    md(o.get("address")),
                    md(o.get("owner")),
                    md(o.get("category")),
                    md(when(o.get("first"))),
                    md(when(o.get("last"))),
                    d.num(o.get("count", 0)),
                    d.num(o.get("failures", 0)),
                    d.yes_no(o.get("is_device")),
                    d.yes_no(o.get("after_removal")),
                ]
                for o in origins
                if o.get("account") == account
            ],
        )
    conns = view.get("connections") or []
    if conns:
        d.heading(3, d.t("connections"))
        d.table(
            [d.t("file"), d.t("local"), d.t("remote"), d.t("owner"), d.t("port"), d.t("state")],
            [
                [
                    md(c.get("file")),
                    md(c.get("local")),
                    md(c.get("remote")),
                    md(c.get("remote_owner")),
                    md(c.get("port")),
                    md(c.get("state")),
                ]
                for c in conns[:MAX_ROWS]
            ],
            total=len(conns),
        )
    quoted = [f for f in d.r.get("findings") or [] if f.get("log_lines")]
    if quoted:
        d.heading(3, d.t("log_lines"))
        for f in quoted:
            d.add(f"{md(f.get('kind'))}: {md(f.get('message'))}", "", *fenced(f["log_lines"][:MAX_LIST]), "")


def _appendix(d: _Doc) -> None:
    d.heading(2, d.t("appendix.owners"))
    d.table(
        [
            d.t("address"),
            d.t("owner"),
            d.t("category"),
            d.t("rule"),
            d.t("matched"),
            d.t("source"),
            d.t("catalog_source"),
            d.t("names_seen"),
            d.t("port"),
            d.t("flows_h"),
        ],
        [
            [
                md(o.get("address")),
                md(o.get("owner")),
                md(", ".join(map(str, o.get("categories") or []))),
                md(o.get("rule")),
                md(o.get("matched")),
                md(o.get("source")),
                md(o.get("catalog_source")),
                md(_list(o.get("names"), 32)),
                md(_list(o.get("ports"), 20)),
                d.num(len(o.get("flows") or [])),
            ]
            for o in (d.r.get("owners") or [])[:MAX_ROWS]
        ],
        total=len(d.r.get("owners") or []),
    )
    dns = d.r.get("dns") or []
    if dns:
        d.heading(2, d.t("appendix.dns"))
        d.table(
            [d.t("query"), d.t("types"), d.t("answers"), d.t("first_frame"), d.t("client")],
            [
                [
                    md(x.get("query")),
                    md(", ".join(map(str, x.get("types") or []))),
                    md(_list(x.get("answers"), 16)),
                    md(x.get("first_frame")),
                    md(x.get("client")),
                ]
                for x in dns[:MAX_ROWS]
            ],
            total=len(dns),
        )


def render_markdown(report: dict, lang: str) -> str:
    d = _Doc(report, lang)
    tool = report.get("tool") or {}
    case = report.get("case") or {}
    account = (case.get("account") or {}).get("address") or (case.get("account") or {}).get("username") or ""
    d.add(f"*{md(d.t('memo'))}*", "", "# " + md(d.t("title")))
    if account:
        d.add("", md(account))
    _summary(d)
    _method(d)
    _expected_observed(d)
    _findings(d)
    _destinations(d)
    _mail_server(d)
    _appendix(d)
    d.add(
        "---",
        "",
        md(
            d.t(
                "footer",
                tool=tool.get("name", "maildetour"),
                version=tool.get("version", ""),
                schema=report.get("schema", ""),
            )
        ),
    )
    return "\n".join(d.out).rstrip("\n") + "\n"
