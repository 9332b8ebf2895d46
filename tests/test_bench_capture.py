"""bench.capture's timing: each tool's peak RSS is its own, not the benchmark's."""

import sys

from bench.capture import timed


def test_peak_rss_is_the_tools_own_not_the_callers():
    held = bytearray(256 << 20)  # the benchmark holds parsed tables by the time it starts a tool
    held[::4096] = b"\1" * len(range(0, len(held), 4096))
    run = timed("python", [sys.executable, "-c", "x = bytearray(64 << 20); x[::4096] = b'1' * 16384"], 1, 60)
    assert run.ok, run.error
    assert 64 <= run.rss_mb < 200, run.rss_mb  # its 64 MiB buffer and an interpreter, not the caller's 256 MiB
    assert run.wall > 0 and run.cpu > 0


def test_a_failing_tool_reports_its_exit_code_and_last_error_line():
    run = timed("python", [sys.executable, "-c", "import sys; sys.exit('no such capture')"], 1, 60)
    assert run.exit_code == 1 and run.error == "no such capture"


def test_a_missing_tool_cannot_start():
    run = timed("nothing", ["/nonexistent/tool"], 1, 60)
    assert run.exit_code == 127 and run.error.startswith("cannot start")
