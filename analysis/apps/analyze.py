"""``maildetour analyze`` on a phone of many apps: ``--app ID`` (or the case's ``[app] id``) and ``--app-report``.

Built on the pipeline's public parts: the inputs are read as ``pipeline.analyze`` reads them, flows without an
app get one from the App Privacy Report, then ``analyze_capture`` decides. With ``--app`` the app's flows alone
go through it (verdict, relays, findings, statistics, destinations) while every other app's flows are
classified and listed in ``flows`` (each with its app) and under ``other_apps`` with bytes per category and
their credential leaks: none is dropped. Without ``--app``, when the capture names apps (PCAPdroid, the App
Privacy Report), each app's flows are also analysed alone for ``verdict.per_app``, a line per mail app, and
``apps`` lists every app's flows; a capture that names none gives the pipeline's report unchanged. With an App Privacy
Report and no capture: the domain-level verdict on the app (``analysis.apps.domainverdict``).
"""

from __future__ import annotations

import dataclasses

from analysis.apps.attribute import Attribution, attribute
from analysis.apps.domainverdict import domain_verdict
from analysis.apps.privacyreport import PrivacyReport, read_privacy_report
from analysis.apps.scope import Scope, app_groups, per_app_line, split
from analysis.apps.table import app_table
from analysis.case import Case
from analysis.catalog import Catalog
from analysis.classify import classify
from analysis.errors import UsageError
from analysis.leaks import leak_findings
from analysis.model import Capture, Flow
from analysis.owners import AsnDatabase, annotate
from analysis.pipeline import Settings, analyze_capture, read
from analysis.report.build import build_report, plain, redact
from analysis.sharedpath import shared_path
from analysis.text import explain, message

MAX_NAMED = 10  # apps named in a warning


def analyze_apps(paths: list[str], settings: Settings, app_report: str | None = None) -> dict:
    """The report of ``maildetour analyze CAPTURE... [--app ID] [--app-report FILE]`` (``settings.case.app.id``
    is the app); ``paths`` may be empty when ``app_report`` is given."""
    wanted = settings.case.app.id or None
    privacy = read_privacy_report(app_report) if app_report else None
    if not paths:
        if privacy is None:
            raise UsageError("analyze: no CAPTURE given")
        return _domain_report(privacy, settings, wanted)
    capture, asn_db = read(paths, settings)
    attribution = attribute(capture.flows, capture.dns, privacy) if privacy is not None else None
    warnings = _attribution_warnings(attribution, privacy, wanted)
    if wanted is None:
        lines = _per_app(capture, settings, asn_db)  # first: the whole capture's analysis gives the flows' last word
        report = analyze_capture(capture, settings, asn_db)
        if lines is not None:
            report["verdict"]["per_app"] = lines
            report["verdict"]["explanation"] = settings.case.redactor().text(explain(report["verdict"], settings.lang))
    else:
        scope = split(capture.flows, wanted, settings.case.app)
        report = analyze_capture(_part(capture, scope.mine), settings, asn_db)
        _add_others(report, scope, capture, settings, asn_db)
        warnings += _scope_warnings(report, scope)
    if any(f.get("app") for f in report["flows"]):
        report["apps"] = app_groups(report["flows"])
    if privacy is not None:
        table = app_table(privacy, settings.case, Catalog.load(settings.catalog_paths), attribution, first=wanted)
        report["app_report"] = redact(table, settings.case.redactor())
        report["inputs"].append(privacy.info.to_json())
    if wanted or app_report:
        report.setdefault("settings", {})["apps"] = {"app": wanted, "app_report": shared_path(app_report),
                                                     "warnings": warnings}
    return report


def _part(capture: Capture, flows: list[Flow]) -> Capture:
    """The capture restricted to ``flows`` (their canary hits; every input, DNS entry and source finding)."""
    ids = {f.id for f in flows}
    return dataclasses.replace(capture, flows=flows, hits=[h for h in capture.hits if h.flow_id in ids])


def _add_others(report: dict, scope: Scope, capture: Capture, settings: Settings, asn_db: AsnDatabase) -> None:
    """The other apps' flows classified into ``flows`` and grouped under ``other_apps`` with their leaks;
    ``verdict.app`` names the app the verdict concerns."""
    others = _part(capture, scope.others)
    classify(others, settings.case, Catalog.load(settings.catalog_paths))
    annotate(others.flows, asn_db)
    leaks = [plain(f) for f in leak_findings(others.hits, others.flows, settings.case)]
    groups = app_groups([f.to_json() for f in others.flows])
    for group in groups:
        ids = set(group["flows"])
        group["findings"] = [f for f in leaks if ids & set(f.get("flows") or [])]
    part = redact({"flows": [f.to_json() for f in others.flows], "other_apps": groups}, settings.case.redactor())
    report["flows"] = sorted(report["flows"] + part["flows"], key=lambda f: f["id"])
    report["other_apps"] = part["other_apps"]
    apps = scope.apps()
    report["verdict"]["app"] = {
        "id": scope.wanted,
        "name": settings.case.app.name or next((a.name for a in apps if a.name), None),
        "matched": [a.to_json() for a in apps],
        "sources": sorted({a.source for a in apps}),
        "flows": len(scope.mine),
    }
    lang = (report.get("settings") or {}).get("lang", settings.lang)
    report["verdict"]["explanation"] = settings.case.redactor().text(explain(report["verdict"], lang))


def _per_app(capture: Capture, settings: Settings, asn_db: AsnDatabase) -> list[dict] | None:
    """Each app's flows (and the unattributed ones) analysed alone, as ``--app`` would: the verdict lines of
    the mail apps; None when the capture names no app. Classification and relay evidence are redone on the
    whole capture afterwards (they only set categories, owners and evidence)."""
    if not any(f.app is not None for f in capture.flows):
        return None
    groups: dict = {}
    for f in capture.flows:
        groups.setdefault(f.app, []).append(f)
    quiet = dataclasses.replace(settings, rdap=False)  # RDAP look-ups once, for the whole report
    lines = []
    for app, flows in groups.items():
        line = per_app_line(app.to_json() if app is not None else None,
                            analyze_capture(_part(capture, flows), quiet, asn_db))
        if line is not None:
            lines.append(line)
    return lines


def _named(items: list[str]) -> str:
    return ", ".join(items[:MAX_NAMED]) + (f" and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else "")


def _label(app: dict | None) -> str:
    if not app:
        return "(unattributed)"
    return str(app.get("id") or app.get("name") or f"UID {app.get('uid')}")


def _scope_warnings(report: dict, scope: Scope) -> list[str]:
    """No flow of the app: a warning naming the apps seen, and the verdict says the app was not seen."""
    if scope.mine:
        return []
    verdict = report["verdict"]
    verdict["missing"] = ["app-not-seen"] + [m for m in verdict.get("missing") or []
                                             if m not in ("no-traffic", "device-not-seen")]
    lang = (report.get("settings") or {}).get("lang", "en")
    verdict["explanation"] = explain(verdict, lang)
    for finding in report.get("findings") or []:
        if finding.get("kind") == "inconclusive":
            finding["details"] = {"missing": list(verdict["missing"])}
            finding["message"] = message("inconclusive", lang, missing=verdict["missing"])
    seen = list(dict.fromkeys(_label(g["app"]) for g in report.get("other_apps") or []))
    return [f"--app {scope.wanted}: no flow of this app in the capture (apps seen: {_named(seen) or 'none'})"]


def _attribution_warnings(attribution: Attribution | None, privacy: PrivacyReport | None,
                          wanted: str | None) -> list[str]:
    out = []
    if privacy is not None and wanted and privacy.app_id(wanted) is None:
        out.append(f"{privacy.info.path}: the App Privacy Report names no app {wanted} "
                   f"(it names: {_named(privacy.apps())})")
    if attribution is not None and attribution.ambiguous:
        n = attribution.ambiguous
        out.append(f"{n} flow{'s' if n != 1 else ''} matched domains several apps reported in the same period: "
                   "left unattributed")
    return out


def _domain_report(privacy: PrivacyReport, settings: Settings, wanted: str | None) -> dict:
    """The report of an App Privacy Report alone: the domain-level verdict on ``wanted``."""
    if not wanted:
        raise UsageError(f"analyze: an App Privacy Report without a capture needs --app BUNDLE, the app to judge "
                         f"(the report names: {_named(privacy.apps())})")
    case = settings.case
    catalog = Catalog.load(settings.catalog_paths)
    app = privacy.app_id(wanted)
    table = app_table(privacy, case, catalog, first=app or wanted)
    entry = next((e for e in table["apps"] if e["app"] == app), None)
    verdict, findings = domain_verdict(entry, app or wanted, case, settings.lang)
    report = build_report(Capture(inputs=[privacy.info]), case, verdict, findings, catalog, lang=settings.lang)
    report["app_report"] = redact(table, case.redactor())
    warnings = _attribution_warnings(None, privacy, wanted)
    if settings.logs:
        warnings.append("--logs: the mail server's logs need a capture to tie logins to the app's connections; "
                        "not read")
    report["settings"]["apps"] = {"app": app or wanted, "app_report": shared_path(privacy.info.path),
                                  "warnings": warnings}
    return report


def scope_flow_table(capture: Capture, case: Case, app: str | None = None, app_report: str | None = None) -> list[str]:
    """``maildetour flows [--app ID] [--app-report FILE]``: the table's flows attributed from the report and
    kept to the app's; the report joins ``capture.inputs``. The warnings, one line each."""
    warnings: list[str] = []
    privacy = read_privacy_report(app_report) if app_report else None
    if privacy is not None:
        attribution = attribute(capture.flows, capture.dns, privacy)
        capture.inputs.append(privacy.info)
        warnings += _attribution_warnings(attribution, privacy, app)
    if app:
        scope = split(capture.flows, app, case.app)
        if not scope.mine:
            seen = list(dict.fromkeys(_label(f.app.to_json() if f.app else None) for f in scope.others))
            warnings.append(f"--app {app}: no flow of this app in the capture (apps seen: {_named(seen) or 'none'})")
        capture.flows = scope.mine
    return warnings
