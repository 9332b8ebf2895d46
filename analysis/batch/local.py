"""Runs in this process (``--jobs 1``) or in a pool of local processes, results as they complete."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed

from analysis.batch.execute import RunResult, failed, run_one, warm
from analysis.batch.runs import RunSpec


def _quiet_worker() -> None:
    """Pool workers share the terminal: no progress bars of their own (the batch prints one line per run)."""
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the worker's whole life


def run_local(specs: list[RunSpec], jobs: int) -> Iterator[RunResult]:
    """Each run's result, in run order with one job, else as the ``jobs`` processes finish them."""
    if jobs <= 1 or len(specs) <= 1:
        for spec in specs:
            yield run_one(spec)
        return
    warm()  # on Linux the workers are forked: they start with these modules loaded
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(specs)), initializer=_quiet_worker)
    try:
        futures = {pool.submit(run_one, spec): spec for spec in specs}
        for future in as_completed(futures):
            spec = futures.pop(future)
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - the worker process died (killed, out of memory)
                yield failed(spec, f"worker process lost: {type(exc).__name__}: {exc}")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
