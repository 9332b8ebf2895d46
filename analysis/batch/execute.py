"""One run analysed, in whichever process runs it (this one, a pool worker, a Dask worker).

``run_one`` never raises: a run that fails is a row with its one-line error. The report is rendered here
(JSON and HTML), so the process that gathers the results only writes files; paths inside the report are
written as the batch command's working folder sees them, wherever the run is analysed.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass

import analysis
from analysis.batch.rows import failed_row, report_row
from analysis.batch.runs import RunSpec, relative_error
from analysis.errors import MaildetourError
from analysis.redact import Redactor

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
RENDERING = threading.Lock()  # matplotlib's settings are global: one chart at a time in a Dask worker's threads


@dataclass
class RunResult:
    name: str
    row: dict
    report_json: str | None = None  # the rendered report, None when the run failed
    report_html: str | None = None


def report_paths(name: str) -> tuple[str, str]:
    """Where a run's JSON and HTML reports go, relative to OUT_DIR (``/`` separators: they are links too)."""
    return f"runs/{name}/{REPORT_JSON}", f"runs/{name}/{REPORT_HTML}"


def failed(spec: RunSpec, error: str) -> RunResult:
    """The result of a run that could not be analysed; its error without the run folder's path."""
    line = relative_error(error, spec.folder)
    redactor = spec.case.redactor() if spec.case is not None else Redactor()
    return RunResult(spec.name, failed_row(spec.name, spec.app, redactor.text(line)))


def warm() -> None:
    """Import what a run needs (the pipeline, the renderers, matplotlib): forked pool workers start with it."""
    import analysis.pipeline  # noqa: F401
    import analysis.report.charts  # noqa: F401
    import analysis.report.html  # noqa: F401


def run_one(spec: RunSpec) -> RunResult:
    """Analyse the run and render its report; any failure is the result's error, never an exception."""
    if spec.error:
        return failed(spec, spec.error)
    if spec.version != analysis.__version__:
        return failed(spec, f"this worker runs maildetour {analysis.__version__}, the batch {spec.version}")
    try:
        return _analyse(spec)
    except MaildetourError as exc:
        return failed(spec, str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug met by one run ends that run, not the batch
        return failed(spec, f"internal error: {type(exc).__name__}: {exc}")


def _analyse(spec: RunSpec) -> RunResult:
    from analysis.apps.analyze import analyze_apps
    from analysis.pipeline import Settings
    from analysis.report.build import redact
    from analysis.report.render import render
    from analysis.sharedpath import shared_base

    case = copy.deepcopy(spec.case)  # in-process runs share the spec: the pipeline gets its own case
    settings = Settings(case=case, catalog_paths=list(spec.catalogs), logs=list(spec.logs),
                        lang=spec.lang, asn_db=list(spec.asn_db))
    with shared_base(spec.base):
        report = analyze_apps(list(spec.captures), settings)  # the case's [app] id scopes the verdict
        json_text = render(report, "json", spec.lang)
        with RENDERING:
            html_text = render(report, "html", spec.lang)
    json_path, html_path = report_paths(spec.name)
    row = redact(report_row(spec.name, spec.app, report, json_path, html_path), case.redactor())
    return RunResult(spec.name, row, json_text, html_text)
