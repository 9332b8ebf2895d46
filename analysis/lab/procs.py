"""Starting the lab's processes and stopping each one by its process id, even when a run fails."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field


class LabError(RuntimeError):
    """A lab process did not start or misbehaved; the message is one line for the user."""


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: str | None = None
    drain: threading.Thread | None = None  # reads the ready pipe after start

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Signal this process (by pid), wait for it, and kill it if it does not exit in time."""
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        if self.drain is not None:
            self.drain.join(2)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()
        return self.popen.returncode


def _drain(stream, log_path: str | None, head: bytes) -> None:
    """Keep reading a pipe after the ready line (so the process never blocks on it), into the log."""
    log = open(log_path, "ab") if log_path else None  # noqa: SIM115
    try:
        if log:
            log.write(head)
        while True:
            try:
                chunk = os.read(stream.fileno(), 65536)
            except (OSError, ValueError):
                break
            if not chunk:
                break
            if log:
                log.write(chunk)
                log.flush()
    finally:
        if log:
            log.close()


def wait_for_line(proc: subprocess.Popen, marker: str, timeout: float, name: str, stream) -> bytes:
    """Read ``stream`` (the process's stdout or stderr) until ``marker`` appears; fail if the process
    exits or takes too long."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = stream.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf = (buf + chunk)[-65536:]
            if marker.encode() in buf:
                return buf
        elif proc.poll() is not None:
            break
    tail = buf.decode(errors="replace")[-300:].strip().replace("\n", " | ")
    raise LabError(f"{name} did not start in {timeout:.0f}s (exit status {proc.poll()}): {tail}")


@dataclass
class ProcessGroup:
    """Processes of one lab run, stopped in reverse order of starting."""

    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, argv: list[str], *, ready: str | None = None, ready_stream: str = "stdout",
              timeout: float = 20.0, env: dict | None = None, log_path: str | None = None,
              cwd: str | None = None) -> Proc:
        """Start ``argv``; with ``ready``, wait until that text appears on ``ready_stream`` (a pipe); the
        other stream goes to ``log_path`` (or nowhere)."""
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 (closed below)
        pipe_out = ready is not None and ready_stream == "stdout"
        pipe_err = ready is not None and ready_stream == "stderr"
        try:
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE if pipe_out else log,
                                     stderr=subprocess.PIPE if pipe_err else log, env=env, cwd=cwd)
        finally:
            if log_path:
                log.close()
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        if ready is not None:
            stream = popen.stdout if pipe_out else popen.stderr
            head = wait_for_line(popen, ready, timeout, name, stream)
            proc.drain = threading.Thread(target=_drain, args=(stream, log_path, head), daemon=True)
            proc.drain.start()
        return proc

    def stop_all(self) -> list[str]:
        """Stop every process, newest first; returns problems (non-zero exits) as text."""
        problems = []
        while self.procs:
            proc = self.procs.pop()
            code = proc.stop()
            if code not in (0, -signal.SIGTERM, None):
                problems.append(f"{proc.name} (pid {proc.pid}) exited with status {code}")
        return problems


def wait_for_port(address: str, port: int, timeout: float, name: str, proc: Proc | None = None) -> None:
    """Wait until a TCP connection to ``address:port`` succeeds."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise LabError(f"{name} exited with status {proc.popen.returncode} before listening")
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise LabError(f"{name} is not listening on {address}:{port} after {timeout:.0f}s")
