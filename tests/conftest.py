"""Shared test helpers: where ../shared is, and tools that must exist under CI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MAILDETOUR_SHARED") or ROOT.parent / "shared")  # override: MAILDETOUR_SHARED=DIR
SHARED_CAPTURES = SHARED / "captures"
SHARED_ABSENT = f"{SHARED_CAPTURES} is absent (the shared folder beside the repository, or $MAILDETOUR_SHARED)"


def require_tool(name: str) -> str:
    """The tool's path; skip when missing on a user's machine, fail under CI (MAILDETOUR_REQUIRE_TOOLS=1)."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None
    )
    if path:
        return path
    if os.environ.get("MAILDETOUR_REQUIRE_TOOLS"):
        pytest.fail(f"{name} is required under CI (MAILDETOUR_REQUIRE_TOOLS=1) but is not installed")
    pytest.skip(f"{name} not installed")


@pytest.fixture
def shared_captures() -> Path:
    if not SHARED_CAPTURES.is_dir():
        pytest.skip(SHARED_ABSENT)
    return SHARED_CAPTURES


def all_shared_captures() -> list[Path]:
    """Every capture with a truth file in ../shared/captures (empty when absent)."""
    if not SHARED_CAPTURES.is_dir():
        return []
    return sorted(Path(str(p)[: -len(".truth.json")])
                  for p in SHARED_CAPTURES.rglob("*.truth.json"))


def shared_params(paths: list[Path], name=lambda p: str(p.relative_to(SHARED_CAPTURES))) -> list:
    """``paths`` as pytest parameters named by ``name``; when there are none, one skipped parameter that says
    why (pytest's own skip for an empty list only says "got empty parameter set")."""
    if not paths:
        return [pytest.param(None, id="shared-absent", marks=pytest.mark.skip(reason=SHARED_ABSENT))]
    return [pytest.param(p, id=name(p)) for p in paths]


# Modules that run real servers, real mitmdump or Chromium, the lab, the fuzzer, or every shared capture through
# several paths: `make test-fast` (pytest -m "not slow") leaves them out; `make test` runs everything.
SLOW_MODULES = frozenset({
    "test_fuzz", "test_lab", "test_addon", "test_report_chromium", "test_rdap", "test_dovecot",
    "test_logs_dovecot", "test_bulk", "test_parallel", "test_flows_command", "test_scenarios", "test_bench_gen",
    "test_connstate", "test_evidence", "test_apps", "test_communityid", "test_batch", "test_cli",
    "test_keylog_canary", "test_bad_input", "test_pcapdroid",
})


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    """A bug shows as the one-line "internal error" the tests look for, not as a traceback."""
    monkeypatch.delenv("MAILDETOUR_DEBUG", raising=False)


def md(capsys, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``maildetour ARGV`` run in this process."""
    from analysis import cli

    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
