"""One entry point for every format: ``render(report, fmt, lang)`` -> text.

A report analysed in one language and rendered in another gets its verdict explanation and finding
messages re-localised by ``analysis.text``; when that fails the stored text stays.
"""

from __future__ import annotations

import os

from analysis.errors import EXIT_UNREADABLE, MaildetourError, UsageError
from analysis.text import explain, message

FORMATS = ("json", "md", "html", "csv")


class ReportError(MaildetourError):
    """A report dict (usually a JSON file given to ``maildetour report``) that cannot be rendered."""

    exit_code = EXIT_UNREADABLE


def localise(report: dict, lang: str) -> dict:
    """A copy of ``report`` whose words are in ``lang``; the same dict when it already is."""
    settings = report.get("settings") or {}
    if settings.get("lang") == lang:
        return report
    out = dict(report)  # only the texts below change: copy those, share the rest
    out["settings"] = {**settings, "lang": lang}
    if "verdict" in out:
        verdict = out["verdict"] = dict(out["verdict"])
        try:
            verdict["explanation"] = str(explain(verdict, lang))
        except Exception:  # noqa: BLE001 - keep the stored text, as documented
            pass
    if "findings" in out:
        out["findings"] = [dict(f) for f in out["findings"]]
    for finding in out.get("findings") or []:
        details = finding.get("details")
        if not details:  # no template parameters were stored: the stored text is all there is
            continue
        try:
            text = str(message(finding.get("kind", ""), lang, **details))
        except Exception:  # noqa: BLE001
            continue
        if text and text != finding.get("kind"):  # an unknown kind comes back as itself: keep the stored text
            finding["message"] = text
    return out


def render(report: dict, fmt: str, lang: str) -> str:
    """The report as json, md, html or csv text in ``lang`` ("en" or "de")."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
    if not isinstance(report, dict):
        raise ReportError("report: expected a JSON object at the top level")
    try:
        report = localise(report, lang)
        if fmt == "json":
            from analysis.report.jsonout import render_json

            return render_json(report)
        if fmt == "csv":
            from analysis.report.csvout import render_csv

            return render_csv(report)
        if fmt == "md":
            from analysis.report.markdown import render_markdown

            return render_markdown(report, lang)
        from analysis.report.html import render_html

        return render_html(report, lang)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        if os.environ.get("MAILDETOUR_DEBUG"):
            raise
        raise ReportError(
            f"report: malformed report, cannot render {fmt}: {type(exc).__name__}: {exc}"
        ) from None
