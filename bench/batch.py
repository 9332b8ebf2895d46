"""How fast is ``maildetour batch``? Generated run folders analysed with --jobs 1, --jobs 2 and a local Dask
cluster, in the same run.

    python -m bench.batch [--runs 200] [--workers 2]

The runs are copies of the shipped ``captures/*/`` folders (capture, case file, server logs), named
``run-0001-direct`` and so on. The Dask cluster (``distributed.LocalCluster`` on 127.0.0.1, one thread per
worker process, no dashboard) is started before its clock starts, as an existing cluster would be. Prints
runs per second of each and checks that the three comparisons are byte-identical.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
import time
from pathlib import Path

from analysis.batch.driver import run_batch
from analysis.batch.runs import BatchOptions

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def make_runs(folder: Path, count: int) -> list[str]:
    """``count`` run folders, copies of the shipped capture folders in turn."""
    sources = sorted(p for p in CAPTURES.iterdir() if (p / "case.toml").is_file())
    if not sources:
        sys.exit(f"bench.batch: no capture folders with a case.toml in {CAPTURES}")
    runs = []
    for i in range(count):
        source = sources[i % len(sources)]
        target = folder / f"run-{i + 1:04d}-{source.name}"
        shutil.copytree(source, target)
        runs.append(str(target))
    return runs


def timed(label: str, runs: list[str], out: Path, **how) -> float:
    start = time.perf_counter()
    result = run_batch(runs, str(out), BatchOptions(), **how)
    seconds = time.perf_counter() - start
    failed = result.failed
    print(f"{label:<28} {len(runs) / seconds:8.1f} runs/s   ({seconds:.1f} s, {failed} failed)", flush=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="generated run folders (default: 200)")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (default: 2)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="maildetour-bench-batch-") as tmp:
        root = Path(tmp)
        runs = make_runs(root / "runs", args.runs)
        print(f"maildetour batch: {len(runs)} runs (copies of {CAPTURES.name}/*/)", flush=True)
        timed("--jobs 1", runs, root / "out-1", jobs=1)
        timed("--jobs 2", runs, root / "out-2", jobs=2)
        from distributed import LocalCluster

        start = time.perf_counter()
        with LocalCluster(host="127.0.0.1", n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            print(f"(Dask cluster of {args.workers} workers up in {time.perf_counter() - start:.1f} s)", flush=True)
            timed(f"--scheduler ({args.workers} workers)", runs, root / "out-dask", scheduler=cluster.scheduler_address)
        names = ["comparison.json", "comparison.csv", "comparison.html"]
        for other in ("out-2", "out-dask"):
            _, differ, missing = filecmp.cmpfiles(root / "out-1", root / other, names, shallow=False)
            if differ or missing:
                print(f"bench.batch: {other} differs from --jobs 1: {differ + missing}", file=sys.stderr)
                return 1
        print("comparisons byte-identical across the three")
    return 0


if __name__ == "__main__":
    sys.exit(main())
