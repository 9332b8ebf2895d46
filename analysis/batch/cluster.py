"""Runs on an existing Dask distributed cluster: one task per run, results gathered as they complete.

Every worker must run the same maildetour as this command (checked on each worker before any task, and by
each task again for workers that join later). The workers read the run folders at the paths given here, so
they must see the same files (one machine, or a shared file system); the reports come back as text and are
written here. The case's test password travels inside the task so the workers can redact it: across
machines, use a scheduler address with TLS (``tls://``).
"""

from __future__ import annotations

from collections.abc import Iterator

import analysis
from analysis.batch.execute import RunResult, failed, run_one
from analysis.batch.runs import RunSpec
from analysis.errors import MaildetourError

CONNECT_TIMEOUT = 10  # seconds to reach the scheduler
WORKER_WAIT = 30  # seconds to wait for a first worker


class ClusterError(MaildetourError):
    """The cluster cannot run the batch (no client library, unreachable, no workers, other versions)."""


def worker_version() -> str:
    """Run on every worker: the maildetour version it imports."""
    import analysis as worker_analysis

    return worker_analysis.__version__


def _client(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError("batch --scheduler: the Dask client is not installed "
                           "(pip install 'maildetour[dask]')") from None
    try:
        from distributed.comm import get_address_host_port

        get_address_host_port(address)  # a bad address fails here, before a client exists that must be closed
    except Exception as exc:  # noqa: BLE001 - ValueError: unknown scheme, no port
        raise ClusterError(f"batch --scheduler {address}: not a scheduler address (tcp://HOST:PORT, "
                           f"tls://HOST:PORT): {_line(exc)}") from None
    try:
        return Client(address, timeout=f"{CONNECT_TIMEOUT}s", set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError for a bad address
        raise ClusterError(f"batch --scheduler {address}: cannot connect: {_line(exc)}") from None


def _line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def check_workers(client, address: str) -> None:
    """Refuse (one line) unless there is a worker and every worker runs this maildetour version."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT)
    except Exception:  # noqa: BLE001 - TimeoutError
        raise ClusterError(f"batch --scheduler {address}: no worker joined within {WORKER_WAIT} s") from None
    try:
        versions = client.run(worker_version)
    except Exception as exc:  # noqa: BLE001 - a worker without maildetour cannot even load the function
        raise ClusterError(f"batch --scheduler {address}: a worker cannot run maildetour (installed there?): "
                           f"{_line(exc)}") from None
    wrong = sorted((worker, version) for worker, version in versions.items() if version != analysis.__version__)
    if wrong:
        worker, version = wrong[0]
        raise ClusterError(f"batch --scheduler {address}: worker {worker} runs maildetour {version}, this is "
                           f"{analysis.__version__} ({len(wrong)} of {len(versions)} workers differ): install the "
                           "same version on every worker")


def run_on_cluster(specs: list[RunSpec], address: str) -> Iterator[RunResult]:
    """Each run's result as the cluster finishes it."""
    client = _client(address)
    try:
        check_workers(client, address)
        from distributed import as_completed

        futures = {client.submit(run_one, spec, pure=False): spec for spec in specs}
        for future in as_completed(list(futures), loop=client.loop):
            spec = futures.pop(future)
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - the task was lost (worker died, KilledWorker)
                result = failed(spec, f"cluster task lost: {_line(exc)}")
            future.release()
            yield result
    finally:
        client.close()
