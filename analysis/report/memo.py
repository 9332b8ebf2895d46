"""What the HTML and the Markdown memo both say, before either escapes it: the shared words, fact lists and
table rows. A renderer only decides how a cell looks (:class:`Num`, :class:`Code`, :class:`Flag` or text).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from analysis.text import number, text
from analysis.text import when as human_time

MAX_ROWS = 500  # rows per table; the JSON keeps everything
MAX_LIST = 50  # frames, flows or log lines listed per finding
MAX_NAMES = 8  # names per destination row
MAX_VENDORS = 7  # vendors named in the summary, most bytes first

Words = Callable[..., str]  # the memo's ``t``: key (and values) -> text in the report's language


@dataclass(frozen=True, slots=True)
class Num:
    """A count, written in the report language's number format."""

    value: object


@dataclass(frozen=True, slots=True)
class Code:
    """A value shown verbatim (a Wireshark display filter)."""

    value: object


class Hash(Code):
    """A file's SHA-256, shown verbatim in a code font (the HTML's own)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Flag:
    """A yes or no."""

    value: object


def when(value) -> str:
    """An ISO 8601 time in a table cell whose heading says UTC: 2020-08-28 09:07:56."""
    return human_time(value, zone=False)


def short_list(items, limit: int = MAX_LIST, sep: str = ", ") -> str:
    """The first ``limit`` items joined, and how many more there are."""
    items = list(items or [])
    shown = sep.join(str(i) for i in items[:limit])
    return shown + (f" (+{len(items) - limit})" if len(items) > limit else "")


class Writer:
    """Collects a memo's parts in order; ``t`` gives the report's words in its language."""

    def __init__(self, report: dict, lang: str) -> None:
        self.r = report
        self.lang = lang
        self.out: list[str] = []

    def t(self, key: str, **values) -> str:
        return text(key, self.lang, **values)

    def yes_no(self, value) -> str:
        return self.t("yes") if value else self.t("no")

    def add(self, *parts: str) -> None:
        self.out.extend(parts)

    def headers(self, columns: tuple[str, ...]) -> list[str]:
        return [self.t(c) for c in columns]


def shown(sections: tuple, domain_level: bool, traffic: tuple) -> list:
    """The memo's sections in order, less the ``traffic`` ones for a report without traffic to count (an App
    Privacy Report alone: analysis.report.apps.domain_level)."""
    return [s for s in sections if s not in traffic] if domain_level else list(sections)


def app_parts(report: dict) -> tuple[list, list, str]:
    """The apps section's parts: the verdict per mail app, then the other apps' connections (with --app) or
    every app's, and the word key of that part's heading."""
    lines = (report.get("verdict") or {}).get("per_app") or []
    groups, title = report.get("other_apps"), "apps.others"
    if groups is None:
        groups, title = report.get("apps") or [], "apps.all"
    return lines, groups, title


def footer(t: Words, report: dict) -> str:
    """The last line: which tool, version and report schema."""
    tool = report.get("tool") or {}
    return t("footer", tool=tool.get("name", "maildetour"), version=tool.get("version", ""),
             schema=report.get("schema", ""))


# ---- facts -----------------------------------------------------------------------------------------------


def verdict_facts(
    t: Words, verdict: dict, esc: Callable[[str], str] = str, flows: list | None = None
) -> list[tuple[str, str]]:
    """The summary's facts: mail host contacted, receive, send, vendors (values passed through ``esc``).
    ``flows`` (the report's) give the bytes each vendor exchanged. A domain-level verdict (App Privacy Report
    alone) has its own facts: analysis.report.apps.summary_facts chooses."""
    rows = [(t("mail_host_contacted"), t("yes") if verdict.get("mail_host_contacted") else t("no"))]
    for channel in ("receive", "send"):
        c = verdict.get(channel) or {}
        status = t("status." + str(c.get("status", "not-observed")))
        ids = c.get("flows") or []
        rows.append((t(channel), esc(status + (f" ({t('flows')} {short_list(ids, 20)})" if ids else ""))))
    vendors = known_vendors(verdict, flows or [])
    shown = "; ".join(
        f"{esc(v['owner'])} ({esc(', '.join(v['categories']))}; {esc(t('n_flows', n=v['flows']))}, "
        f"{esc(t('vendor_bytes', bytes=v['bytes']))})"
        for v in vendors[:MAX_VENDORS]
    )
    if len(vendors) > MAX_VENDORS:
        shown += " " + esc(t("more", n=len(vendors) - MAX_VENDORS))
    rows.append((t("vendors"), shown or esc(t("none"))))
    return rows


def known_vendors(verdict: dict, flows: list) -> list[dict]:
    """The verdict's vendors that are known parties, most bytes first: {owner, categories, flows, bytes}.

    A vendor counts when some of its flows have a category (from the catalog, or a relay found by its
    evidence); an owner that is only a name or an address seen in the capture (``unknown``) does not.
    """
    by_id = {f.get("id"): f for f in flows}
    out = []
    for v in verdict.get("vendors") or []:
        categories = [str(c) for c in v.get("categories") or []]
        if set(categories) - {"unknown"}:
            ids = v.get("flows") or []
            size = sum(int(by_id[i].get("bytes") or 0) for i in ids if i in by_id)
            out.append({"owner": str(v.get("owner", "")), "categories": categories, "flows": len(ids),
                        "bytes": size})
    out.sort(key=lambda v: (-v["bytes"], -v["flows"], v["owner"]))
    return out


def evidence(t: Words, finding: dict) -> list[tuple[str, object]]:
    """A finding's flows, frames and Wireshark filter, those it has, as (label, value); the filter as Code."""
    out: list[tuple[str, object]] = []
    if finding.get("flows"):
        out.append((t("flows_h"), short_list(finding["flows"])))
    if finding.get("frames"):
        out.append((t("frames"), short_list(finding["frames"])))
    if finding.get("wireshark_filter"):
        out.append((t("wireshark_filter"), Code(finding["wireshark_filter"])))
    return out


def run_facts(t: Words, report: dict, lang: str) -> list[tuple[str, object]]:
    """Tool, catalog, language and log offset of the run."""
    tool = report.get("tool") or {}
    catalog = report.get("catalog") or {}
    settings = report.get("settings") or {}
    files = "; ".join(
        f"{f.get('path')} (SHA-256 {f.get('sha256')}, {f.get('entries')})" for f in catalog.get("files") or []
    )
    facts: list[tuple[str, object]] = [
        (t("tool"), f"{tool.get('name', '')} {tool.get('version', '')}"),
        (t("catalog"), " ".join(x for x in (str(catalog.get("version") or ""), files) if x) or t("none")),
        (t("language"), settings.get("lang", lang)),
    ]
    if settings.get("log_offset") is not None:
        facts.append((t("log_offset"), settings["log_offset"]))
    return facts


def case_facts(t: Words, case: dict) -> list[tuple[str, str]]:
    """The case as the memo lists it: account, canary (set or not, never the value), hosts, devices, times."""
    account = case.get("account") or {}
    canary = case.get("canary") or {}
    timeline = case.get("timeline") or {}
    mail = case.get("mail") or {}
    return [
        (t("account"), account.get("address") or "–"),
        (t("username"), account.get("username") or "–"),
        (t("canary"), t("canary.set", env=canary.get("env") or "") if canary.get("set") else t("canary.unset")),
        (t("mail_hosts"), ", ".join(map(str, mail.get("hosts") or [])) or "–"),
        (t("mail_addresses"), ", ".join(map(str, mail.get("addresses") or [])) or "–"),
        (t("devices"), ", ".join(map(str, (case.get("device") or {}).get("addresses") or [])) or t("all_clients")),
        (t("account_added"), human_time(timeline.get("account_added")) or "–"),
        (t("app_removed"), human_time(timeline.get("app_removed")) or "–"),
    ]


def observed_counts(t: Words, lang: str, stats: dict) -> str:
    """One sentence: how many flows and bytes, how many to a mail relay and to the mail host."""
    total = stats.get("total") or {}
    by_cat = {row.get("category"): row for row in stats.get("by_category") or []}
    return t(
        "observed.counts",
        connections=t("n_connections", n=int(total.get("flows", 0) or 0)),
        bytes=number(total.get("bytes", 0), lang),
        relay=number((by_cat.get("mail-relay") or {}).get("flows", 0), lang),
        mailhost=number((by_cat.get("mail-host") or {}).get("flows", 0), lang),
    )


# ---- tables: column keys and rows of plain values ---------------------------------------------------------

INPUT_COLUMNS = ("path", "format", "packets", "sha256", "complete", "warnings")
LOG_COLUMNS = ("path", "sha256", "lines", "parsed", "unmatched", "software")
DESTINATION_COLUMNS = ("server", "port_protocol", "names", "owner", "flows_h", "bytes", "sent", "period",
                       "wireshark_filter")
ORIGIN_COLUMNS = ("address", "owner", "category", "first", "last", "count", "failures", "is_device",
                  "after_removal")
CONNECTION_COLUMNS = ("file", "local", "remote", "owner", "port", "state")
OWNER_COLUMNS = ("address", "owner", "category", "rule", "matched", "source", "catalog_source", "names_seen",
                 "port", "flows_h")
DNS_COLUMNS = ("query", "types", "answers", "first_frame", "client")
AS_COLUMNS = ("address", "role", "catalog_owner", "asn", "as_org", "as_range", "as_source")


def input_rows(t: Words, inputs: list[dict], sep: str) -> list[list]:
    """The inputs: read to the end or where the damage is, the first warnings joined by ``sep``."""
    def done(info: dict) -> str:
        where = info.get("error_offset")
        text = t("yes") if info.get("complete", True) else t("no")
        return text if where is None else f"{text}; {t('incomplete_at', offset=where)}"

    return [
        [i.get("path"), i.get("format"), Num(i.get("packets", 0)), Hash(i.get("sha256")), done(i),
         short_list(i.get("warnings"), 5, sep)]
        for i in inputs
    ]


def log_rows(logs: list[dict]) -> list[list]:
    return [
        [lg.get("path"), Hash(lg.get("sha256")), Num(lg.get("lines", 0)), Num(lg.get("parsed", 0)),
         Num(lg.get("unmatched", 0)), short_list(lg.get("software"), 5)]
        for lg in logs
    ]


def period(first, last) -> str:
    """Two ISO 8601 times as one span for a table whose heading says UTC: 2026-11-28 23:05:14 – 23:05:16
    (the date once when both fall on it)."""
    a, b = when(first), when(last)
    if not b or b == a:
        return a
    if not a:
        return b
    return f"{a} – {b[11:] if a[:11] == b[:11] and len(b) == 19 else b}"


def destination_rows(servers: list[dict]) -> list[list]:
    def port(s: dict) -> str:
        protocols = ", ".join(map(str, s.get("protocols") or []))
        return f"{s.get('port')}/{s.get('transport')}" + (f" ({protocols})" if protocols else "")

    return [
        [
            s.get("address"),
            port(s),
            short_list(s.get("names"), MAX_NAMES),
            s.get("owner"),
            Num(s.get("flows", 0)),
            Num(s.get("bytes", 0)),
            Num(s.get("c2s_bytes", 0)),
            period(s.get("first_seen"), s.get("last_seen")),
            Code(s.get("wireshark_filter")),
        ]
        for s in servers[:MAX_ROWS]
    ]


def origin_accounts(origins: list[dict]) -> list:
    """The accounts of the mail server's login origins, in first-seen order."""
    accounts: list = []
    for o in origins:
        if o.get("account") not in accounts:
            accounts.append(o.get("account"))
    return accounts


def origin_rows(origins: list[dict], account) -> list[list]:
    return [
        [
            o.get("address"),
            o.get("owner"),
            o.get("category"),
            when(o.get("first")),
            when(o.get("last")),
            Num(o.get("count", 0)),
            Num(o.get("failures", 0)),
            Flag(o.get("is_device")),
            Num(o["after_removal_count"]) if "after_removal_count" in o else Flag(o.get("after_removal")),
        ]
        for o in origins
        if o.get("account") == account
    ]


def connection_rows(conns: list[dict]) -> list[list]:
    return [
        [c.get("file"), c.get("local"), c.get("remote"), c.get("remote_owner"), c.get("port"), c.get("state")]
        for c in conns[:MAX_ROWS]
    ]


def owner_rows(owners: list[dict]) -> list[list]:
    return [
        [
            o.get("address"),
            o.get("owner"),
            ", ".join(map(str, o.get("categories") or [o.get("category")])),
            o.get("rule"),
            o.get("matched"),
            o.get("source"),
            o.get("catalog_source"),
            short_list(o.get("names"), 32),
            short_list(o.get("ports"), 20),
            Num(len(o.get("flows") or [])),
        ]
        for o in owners[:MAX_ROWS]
    ]


def as_rows(t: Words, owners: list[dict]) -> list[list]:
    """Per address of the owner appendix: role (server, login origin), catalog owner, ASN, AS organisation,
    the range matched and the AS data it came from."""
    return [
        [
            o.get("address"),
            ", ".join(t(f"role.{r}") for r in o.get("roles") or ["server"]),
            o.get("owner") if str(o.get("rule") or "").startswith("catalog:") or o.get("rule") is None else "",
            f"AS{o['asn']}" if o.get("asn") is not None else "–",
            o.get("as_org") or "",
            o.get("as_range") or "",
            o.get("as_source") or "",
        ]
        for o in owners[:MAX_ROWS]
    ]


def as_sources(report: dict) -> list[str]:
    """One line per AS data source of the run (name, licence, attribution), for the method section."""
    out = []
    for src in (report.get("settings") or {}).get("asn_data") or []:
        parts = [str(x) for x in (src.get("licence"), src.get("attribution")) if x]
        out.append(str(src.get("name", "")) + (": " + "; ".join(parts) if parts else ""))
    return out


def dns_rows(dns: list[dict]) -> list[list]:
    return [
        [
            x.get("query"),
            ", ".join(map(str, x.get("types") or [])),
            short_list(x.get("answers"), 16),
            x.get("first_frame"),
            x.get("client"),
        ]
        for x in dns[:MAX_ROWS]
    ]
