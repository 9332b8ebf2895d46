"""Run one command and write its wall time, CPU time, peak RSS and exit code as JSON (for bench.capture).

Linux carries a process's resident high-water mark over fork and exec: a tool started straight from the
benchmark, which holds parsed tshark tables by then, reports the benchmark's own size as its peak. Started
from this small process, each tool's peak is its own (and its children's, as ``wait4`` counts them).

usage: python launch.py RESULT.json TIMEOUT_SECONDS ARGV...
"""

import json
import os
import subprocess
import sys
import threading
import time


def main(argv: list[str]) -> int:
    result, timeout, cmd = argv[0], float(argv[1]), argv[2:]
    began = time.perf_counter()
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    except OSError as exc:
        report = {"exit_code": 127, "error": f"cannot start: {exc.strerror}"}
    else:
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        report = {"exit_code": proc.returncode, "wall": time.perf_counter() - began,
                  "cpu": usage.ru_utime + usage.ru_stime, "rss_kib": usage.ru_maxrss}
    with open(result, "w", encoding="utf-8") as fh:
        json.dump(report, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
