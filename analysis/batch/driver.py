"""``maildetour batch``: plan the runs, run them (here, in local processes or on a cluster), write each run's
report as it arrives and the comparison at the end.

OUT_DIR/runs/<run>/report.json and report.html, OUT_DIR/comparison.json, comparison.csv and comparison.html.
A run that failed leaves no report of an earlier batch behind. The outputs depend only on the inputs (and the
working folder the report paths are relative to), not on how or in which order the runs were executed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from analysis.batch.execute import REPORT_HTML, REPORT_JSON, RunResult
from analysis.batch.rows import comparison
from analysis.batch.runs import BatchOptions, RunSpec, plan_runs
from analysis.errors import EXIT_DAMAGED, EXIT_OK
from analysis.output import OutputError, write_output

COMPARISON_FILES = ("comparison.json", "comparison.csv", "comparison.html")


@dataclass
class BatchResult:
    comparison: dict
    failed: int
    damaged: int

    @property
    def exit_code(self) -> int:
        """1 when a run failed or one of its inputs was damaged (the comparison covers the rest), else 0."""
        return EXIT_DAMAGED if self.failed or self.damaged else EXIT_OK


def check_options(options: BatchOptions) -> None:
    """The batch's own --asn-db and --catalog files must load (one error line, before any run)."""
    from analysis.catalog import Catalog
    from analysis.owners import AsnDatabase

    AsnDatabase.load(list(options.asn_db))
    Catalog.load(list(options.catalogs))


def _prepare(out_dir: str) -> None:
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise OutputError(out_dir, "not a folder")
    try:
        os.makedirs(os.path.join(out_dir, "runs"), exist_ok=True)
    except OSError as exc:
        raise OutputError(out_dir, exc.strerror or str(exc)) from None


def _write_run(out_dir: str, result: RunResult) -> None:
    folder = os.path.join(out_dir, "runs", result.name)
    targets = (os.path.join(folder, REPORT_JSON), os.path.join(folder, REPORT_HTML))
    if result.report_json is None or result.report_html is None:
        for target in targets:  # an earlier batch's report would pass for this run's
            if os.path.isfile(target):
                os.unlink(target)
        return
    write_output(targets[0], result.report_json)
    write_output(targets[1], result.report_html)


def execute(specs: list[RunSpec], jobs: int, scheduler: str | None) -> Iterator[RunResult]:
    if scheduler:
        from analysis.batch.cluster import run_on_cluster

        return run_on_cluster(specs, scheduler)
    from analysis.batch.local import run_local

    return run_local(specs, jobs)


def run_batch(paths: list[str], out_dir: str, options: BatchOptions, jobs: int = 1, scheduler: str | None = None,
              progress: Callable[[RunSpec, RunResult, int, int], None] | None = None) -> BatchResult:
    """Analyse every run folder in ``paths`` and write the outputs under ``out_dir``."""
    from analysis.report.comparison import comparison_csv, comparison_html, comparison_json

    specs = plan_runs(paths, options)
    check_options(options)
    _prepare(out_dir)
    by_name = {spec.name: spec for spec in specs}
    rows = []
    for result in execute(specs, jobs, scheduler):
        _write_run(out_dir, result)
        rows.append(result.row)
        if progress is not None:
            progress(by_name[result.name], result, len(rows), len(specs))
    table = comparison(rows, options.lang)
    texts = (comparison_json(table), comparison_csv(table), comparison_html(table, options.lang))
    for name, text in zip(COMPARISON_FILES, texts, strict=True):
        write_output(os.path.join(out_dir, name), text)
    failed = sum(1 for row in rows if row["error"])
    damaged = sum(1 for row in rows if row.get("damaged"))
    return BatchResult(table, failed, damaged)
