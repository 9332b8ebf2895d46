"""Charts as inline SVG from the report dict: connections per category over time, bytes per category.

matplotlib with the Agg backend, a fixed ``svg.hashsalt`` and no date metadata, so the same report
gives byte-identical SVG. Only category words and numbers are drawn, never names from the network.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import matplotlib

matplotlib.use("Agg")

from matplotlib import rc_context  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from analysis.text import number, short, text  # noqa: E402

COLORS = {
    "mail-host": "#1b7837",
    "mail-relay": "#c51b7d",
    "other-mail": "#e08214",
    "auth": "#542788",
    "telemetry": "#d6604d",
    "crash-report": "#b2182b",
    "diagnostics": "#f4a582",
    "push": "#4393c3",
    "cdn": "#92c5de",
    "ads-analytics": "#8c510a",
    "platform": "#7f7f7f",
    "name-resolution": "#bababa",
    "unknown": "#404040",
}
RC = {"svg.hashsalt": "maildetour", "svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": 9}


def color(category: str) -> str:
    return COLORS.get(category, "#404040")


def _svg(fig: Figure, prefix: str) -> str:
    """The figure as an inline ``<svg>`` element; ids get ``prefix`` so two charts on one page never clash."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    svg = buf.getvalue()
    svg = svg[svg.find("<svg") :]  # drop the XML declaration and DOCTYPE for inline use
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'id="([^"]+)"', rf'id="{prefix}-\1"', svg)
    svg = re.sub(r'(href="|url\()#([^")]+)', rf"\1#{prefix}-\2", svg)
    return svg.strip() + "\n"


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


SHORT = 120.0  # captures shorter than this get an axis in seconds from the first packet


def _time_axis(ax, start: datetime, duration: float, lang: str) -> None:
    """Clock times (UTC) on the x axis; seconds after the first packet for short captures."""
    if duration < SHORT:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: short(x, lang)))  # 0.15 s, 0,15 s
        ax.set_xlabel(text("chart.seconds_after", lang, start=start.strftime("%Y-%m-%d %H:%M:%S")))
        return
    fmt = "%H:%M:%S" if duration < 86400 else "%m-%d %H:%M"
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: _clock(start, x, fmt)))
    ax.set_xlabel(text("chart.time", lang) + " " + start.strftime("%Y-%m-%d"))


def _clock(start: datetime, seconds: float, fmt: str) -> str:
    """The tick label ``seconds`` after ``start``; none past the years 1-9999 (the axis may reach there)."""
    try:
        return (start + timedelta(seconds=seconds)).strftime(fmt)
    except (OverflowError, ValueError):
        return ""


def merge_spans(spans: list, width_min: float) -> list[tuple[float, float]]:
    """(start, width) bars: each span at least ``width_min`` wide, overlapping or touching ones merged.

    Bounds the drawing to about 1/width_min bars per lane however many connections there are.
    """
    out: list[list[float]] = []
    for s in sorted((float(s[1]), float(s[2])) for s in spans):
        start, end = s[0], max(s[1], s[0] + width_min)
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b - a) for a, b in out]


def timeline_svg(report: dict, lang: str) -> str:
    """Each connection as a bar from its first to its last packet, one lane per category."""
    tl = report.get("timeline") or {}
    lanes = [lane for lane in tl.get("lanes") or [] if lane.get("spans")]
    start = _parse_time(tl.get("start"))
    duration = float(tl.get("duration") or 0.0)
    with rc_context(RC):
        fig = Figure(figsize=(9, 0.45 * max(len(lanes), 1) + 1.4))
        ax = fig.add_subplot()
        if not lanes or start is None:
            ax.text(0.5, 0.5, text("chart.empty", lang), ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return _svg(fig, "timeline")
        width_min = max(duration, 1.0) / 400
        for row, lane in enumerate(reversed(lanes)):
            bars = merge_spans(lane["spans"], width_min)
            ax.broken_barh(bars, (row - 0.35, 0.7), facecolors=color(lane["category"]), alpha=0.8)
        ax.set_yticks(range(len(lanes)), [lane["category"] for lane in reversed(lanes)])
        ax.set_ylim(-0.6, len(lanes) - 0.4)
        pad = max(duration, 1.0) * 0.03
        lo, hi = -pad, max(duration, 1.0) + pad
        ax.set_xlim(lo, hi)
        for mark in tl.get("marks") or []:
            off = mark.get("offset")
            if isinstance(off, (int, float)) and lo <= off <= hi:
                ax.axvline(off, color="#000000", linestyle="--", linewidth=1)
                ax.text(
                    off,
                    0.99,
                    " " + text("chart." + str(mark.get("kind")), lang),
                    fontsize=8,
                    va="top",
                    transform=ax.get_xaxis_transform(),
                )
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8))
        _time_axis(ax, start, duration, lang)
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_title(text("chart.timeline", lang))
        return _svg(fig, "timeline")


def bytes_svg(report: dict, lang: str) -> str:
    """Bytes per category, split into sent and received by the device."""
    rows = [r for r in (report.get("stats") or {}).get("by_category") or [] if r.get("bytes")]
    with rc_context(RC):
        fig = Figure(figsize=(9, 0.45 * max(len(rows), 1) + 1.4))
        ax = fig.add_subplot()
        if not rows:
            ax.text(0.5, 0.5, text("chart.empty", lang), ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return _svg(fig, "bytes")
        rows = list(reversed(rows))
        y = range(len(rows))
        sent = [int(r.get("c2s_bytes") or 0) for r in rows]
        total = [int(r.get("bytes") or 0) for r in rows]
        rest = [max(t - s, 0) for t, s in zip(total, sent, strict=True)]
        ax.barh(y, sent, color=[color(r["category"]) for r in rows], label=text("chart.sent", lang))
        ax.barh(
            y,
            rest,
            left=sent,
            color=[color(r["category"]) for r in rows],
            alpha=0.35,
            label=text("chart.received", lang),
        )
        for i, t in enumerate(total):
            ax.text(t, i, " " + number(t, lang), va="center", fontsize=8)
        ax.set_yticks(list(y), [r["category"] for r in rows])
        ax.set_xlim(0, max(total) * 1.18)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: number(int(x), lang)))  # whole bytes
        ax.set_xlabel(text("chart.bytes_axis", lang))
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title(text("chart.bytes", lang))
        return _svg(fig, "bytes")
