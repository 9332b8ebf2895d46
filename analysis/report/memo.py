"""What the HTML and the Markdown memo both say, before either escapes it: the shared words, fact lists and
table rows. A renderer only decides how a cell looks (:class:`Num`, :class:`Code`, :class:`Flag` or text).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from analysis.report.i18n import number, text

MAX_ROWS = 500  # rows per table; the JSON keeps everything
MAX_LIST = 50  # frames, flows or log lines listed per finding
MAX_NAMES = 8  # names per destination row

Words = Callable[..., str]  # the memo's ``t``: key (and values) -> text in the report's language


@dataclass(frozen=True, slots=True)
class Num:
    """A count, written in the report language's number format."""

    value: object


@dataclass(frozen=True, slots=True)
class Code:
    """A value shown verbatim (a Wireshark display filter)."""

    value: object


@dataclass(frozen=True, slots=True)
class Flag:
    """A yes or no."""

    value: object


def when(value) -> str:
    """ISO 8601 UTC shortened for tables: 2020-08-28 09:07:56."""
    s = "" if value is None else str(value)
    return s[:19].replace("T", " ") if len(s) >= 19 and s[10:11] == "T" else s


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
        return text(self.lang, key, **values)

    def yes_no(self, value) -> str:
        return self.t("yes") if value else self.t("no")

    def add(self, *parts: str) -> None:
        self.out.extend(parts)

    def headers(self, columns: tuple[str, ...]) -> list[str]:
        return [self.t(c) for c in columns]


# ---- facts -----------------------------------------------------------------------------------------------


def verdict_facts(t: Words, verdict: dict, esc: Callable[[str], str] = str) -> list[tuple[str, str]]:
    """The summary's facts: mail host contacted, receive, send, vendors (values passed through ``esc``)."""
    rows = [(t("mail_host_contacted"), t("yes") if verdict.get("mail_host_contacted") else t("no"))]
    for channel in ("receive", "send"):
        c = verdict.get(channel) or {}
        status = t("status." + str(c.get("status", "not-observed")))
        flows = c.get("flows") or []
        rows.append((t(channel), esc(status + (f" ({t('flows')} {short_list(flows, 20)})" if flows else ""))))
    vendors = "; ".join(
        f"{esc(x.get('owner', ''))} ({esc(', '.join(map(str, x.get('categories') or [])))}; "
        f"{len(x.get('flows') or [])} {esc(t('flows'))})"
        for x in verdict.get("vendors") or []
    )
    rows.append((t("vendors"), vendors or esc(t("none"))))
    return rows


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
        (t("account_added"), timeline.get("account_added") or "–"),
        (t("app_removed"), timeline.get("app_removed") or "–"),
    ]


def observed_counts(t: Words, lang: str, stats: dict) -> str:
    """One sentence: how many flows and bytes, how many to a mail relay and to the mail host."""
    total = stats.get("total") or {}
    by_cat = {row.get("category"): row for row in stats.get("by_category") or []}
    return t(
        "observed.counts",
        flows=number(lang, total.get("flows", 0)),
        bytes=number(lang, total.get("bytes", 0)),
        relay=number(lang, (by_cat.get("mail-relay") or {}).get("flows", 0)),
        mailhost=number(lang, (by_cat.get("mail-host") or {}).get("flows", 0)),
    )


# ---- tables: column keys and rows of plain values ---------------------------------------------------------

DESTINATION_COLUMNS = ("server", "port", "names", "owner", "protocol", "flows_h", "bytes", "sent", "first_seen",
                       "last_seen", "wireshark_filter")
ORIGIN_COLUMNS = ("address", "owner", "category", "first", "last", "count", "failures", "is_device",
                  "after_removal")
CONNECTION_COLUMNS = ("file", "local", "remote", "owner", "port", "state")
OWNER_COLUMNS = ("address", "owner", "category", "rule", "matched", "source", "catalog_source", "names_seen",
                 "port", "flows_h")
DNS_COLUMNS = ("query", "types", "answers", "first_frame", "client")


def destination_rows(servers: list[dict]) -> list[list]:
    return [
        [
            s.get("address"),
            f"{s.get('port')}/{s.get('transport')}",
            short_list(s.get("names"), MAX_NAMES),
            s.get("owner"),
            ", ".join(map(str, s.get("protocols") or [])),
            Num(s.get("flows", 0)),
            Num(s.get("bytes", 0)),
            Num(s.get("c2s_bytes", 0)),
            when(s.get("first_seen")),
            when(s.get("last_seen")),
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
            Flag(o.get("after_removal")),
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
