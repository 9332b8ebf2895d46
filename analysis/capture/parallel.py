"""Payload inspection in a second process, for big captures: the flow table counts frames on one core
while the flows' ``FlowInspector``s run on the other.

The parent sends batches of events down a pipe (length-prefixed pickled lists):
``(idx, transport, client_port, server_port, querier)`` when a conversation starts and
``(idx, from_client, start, end, frame, ts, seq, flags)`` for each payload: its place in the capture file,
which the child slices from its own read-only mapping of the descriptor the parent hands over (pages behind
the payloads are dropped as it goes, as the parent's reader drops them), or, for payload that is not in the file as
stored (gzip input, reassembled fragments), ``(idx, from_client, payload, frame, ts, seq, flags)``. A payload
costs the parent a small tuple, no copy. The child feeds them to one
FlowInspector per conversation in the order they were sent, the order of the inline path, and writes the
index of each inspector that turns done to a second pipe. The parent stops sending that conversation's
payloads once it has read the index; payloads sent meanwhile are ignored by the done inspector, so the
result does not depend on timing. At the end the child returns one ``Inspection`` per conversation (a
plain tuple; equal results as one object) and the DNS entries.

No deadlock: the child writes at most one notice per batch, 4 bytes per finished conversation, and the
parent reads them after every batch it sends, so the notice pipe never holds more than the batches in the
event pipe can finish (both pipes are asked to be 1 MiB; at the default 64 KiB this still holds).

Started by ``RemoteInspection`` only: ``main()`` with the pipe and file descriptors as arguments.
"""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import subprocess
import sys
from array import array
from pathlib import Path
from struct import Struct

from analysis.capture.inspect import FlowInspector
from analysis.capture.reader import DONTNEED, DROP_STEP
from analysis.dnsmap import DnsEntries
from analysis.errors import EXIT_INTERNAL
from analysis.protocols.dns import MessageCache

try:
    import fcntl
except ImportError:  # not POSIX: no second process (pipes with inherited descriptors)
    fcntl = None  # type: ignore[assignment]

BATCH_EVENTS = 128  # events per message
BATCH_BYTES = 1 << 20  # or this much payload, whichever comes first
PIPE_SIZE = 1 << 20  # asked of the kernel for both pipes (Linux; a smaller pipe only costs waits)
LENGTH = Struct("<I")
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ on Linux
MIN_BYTES = 32 << 20  # captures smaller than this are inspected in-process (a second process costs ~0.2 s)


class WorkerError(RuntimeError):
    """The inspection process died or answered nonsense."""


def worth_a_worker(path: str) -> bool:
    """True for a capture big enough to gain from a second process, on a machine with a second core."""
    if fcntl is None or not sys.executable or getattr(sys, "frozen", False):
        return False  # not POSIX, or no Python interpreter to start (embedded, frozen)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        return cores > 1 and os.path.getsize(path) >= MIN_BYTES
    except OSError:
        return False


class InspectorProxy:
    """Stands in for a conversation's FlowInspector in the flow table: ``feed`` queues the payload."""

    __slots__ = ("done", "dns", "idx", "remote")

    def __init__(self, idx: int, remote: RemoteInspection) -> None:
        self.done = False
        self.dns = ()  # DNS messages are taken in the child
        self.idx = idx
        self.remote = remote

    def feed_at(self, from_client: bool, buf, start: int, end: int, frame: int, ts: float, seq: int | None,
                tcp_flags: int) -> None:
        remote = self.remote
        if buf is remote.filemap:
            remote.batch.append((self.idx, from_client, start, end, frame, ts, seq, tcp_flags))
        else:
            remote.batch.append((self.idx, from_client, bytes(buf[start:end]), frame, ts, seq, tcp_flags))
            remote.batch_bytes += end - start
        if len(remote.batch) >= BATCH_EVENTS or remote.batch_bytes >= BATCH_BYTES:
            remote.flush()


class RemoteInspection:
    """The parent's side: start the child, hand out proxies, collect the results."""

    def __init__(self, filemap: mmap.mmap | None = None, fileno: int = -1) -> None:
        """``filemap``: the capture as the reader maps it, from descriptor ``fileno`` (else -1)."""
        self.filemap = filemap if fileno >= 0 else None
        notify_r, notify_w = os.pipe()
        _grow(notify_w)
        root = str(Path(__file__).resolve().parents[2])  # the folder holding the ``analysis`` package
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "import sys; from analysis.capture.parallel import main; sys.exit(main())",
                 str(notify_w), str(fileno if self.filemap is not None else -1)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                pass_fds=(notify_w, fileno) if self.filemap is not None else (notify_w,), env=env,
            )
        finally:
            os.close(notify_w)
        self._notify = notify_r
        os.set_blocking(notify_r, False)
        _grow(self.proc.stdin.fileno())
        self.proxies: list[InspectorProxy] = []
        self.batch: list[tuple] = []
        self.batch_bytes = 0
        self._partial = b""

    def new(self, transport: str, client_port: int, server_port: int, querier: str | None) -> InspectorProxy:
        proxy = InspectorProxy(len(self.proxies), self)
        self.proxies.append(proxy)
        self.batch.append((proxy.idx, transport, client_port, server_port, querier))
        return proxy

    def flush(self) -> None:
        """Send the queued events, then mark the conversations the child has finished with."""
        self._send(pickle.dumps(self.batch, pickle.HIGHEST_PROTOCOL))
        self.batch = []
        self.batch_bytes = 0
        self._read_done()

    def _send(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(LENGTH.pack(len(data)))
            self.proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            raise WorkerError(self._failure()) from None

    def _read_done(self) -> None:
        try:
            data = os.read(self._notify, PIPE_SIZE)
        except BlockingIOError:
            return
        if not data:
            return
        data = self._partial + data
        whole = len(data) - len(data) % 4
        self._partial = data[whole:]
        proxies = self.proxies
        for idx in array("I", data[:whole]):
            proxies[idx].done = True

    def end(self) -> None:
        """Send what is queued and the end mark: the child finishes while this process goes on."""
        if self.batch:
            self.flush()
        self._send(b"")
        try:
            self.proc.stdin.close()
        except OSError:
            raise WorkerError(self._failure()) from None

    def finish(self) -> tuple[list[tuple], DnsEntries]:
        """The child's ``Inspection`` per conversation (as a plain tuple) and DNS entries (after ``end``)."""
        try:
            results, dns = pickle.load(self.proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError):
            raise WorkerError(self._failure()) from None
        finally:
            self.close()
        if len(results) != len(self.proxies):
            raise WorkerError(f"inspection process returned {len(results)} results for {len(self.proxies)} flows")
        return results, dns

    def _failure(self) -> str:
        code = self.proc.wait()
        return f"inspection process failed (exit code {code})"

    def close(self) -> None:
        """End the child (at once, if it is still running) and release the pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.proc.wait()
        if self._notify >= 0:
            os.close(self._notify)
            self._notify = -1


def _grow(fd: int) -> None:
    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:  # over /proc/sys/fs/pipe-max-size, or not Linux: the default size works, slower
        pass


def _read_exact(fd: int, n: int) -> bytes:
    parts = []
    while n:
        data = os.read(fd, min(n, PIPE_SIZE))
        if not data:
            raise EOFError("the parent closed the pipe early")
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


class _MappedCapture:
    """The capture file as the child reads payloads from it: mapped read-only; payloads come in file order,
    so the pages behind them are dropped every ``DROP_STEP`` bytes (a page read again is read from the file
    again: only resident memory depends on the order)."""

    def __init__(self, fd: int) -> None:
        self.map = mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if fd >= 0 else None
        self._dropped = 0
        self._next = DROP_STEP

    def take(self, start: int, end: int) -> bytes:
        if start >= self._next:
            keep = start - start % mmap.PAGESIZE
            if DONTNEED is not None:
                self.map.madvise(DONTNEED, self._dropped, keep - self._dropped)
            self._dropped, self._next = keep, start + DROP_STEP
        return self.map[start:end]


class _Finished:
    """Stands in for an inspector whose result is taken: every later payload of its flow is ignored."""

    done = True


FINISHED = _Finished()


def serve(events_fd: int, notify_fd: int, capture_fd: int, results_out) -> None:
    """The child's loop: inspect every event until the end mark, then write the results."""
    cache = MessageCache()
    dns = DnsEntries()
    capture = _MappedCapture(capture_fd)
    inspectors: list[FlowInspector | _Finished] = []  # a finished one is replaced by its result at once
    results: list[tuple | None] = []
    plain = _plain_result({})
    queriers: list[str | None] = []
    notify = os.fdopen(notify_fd, "wb", buffering=0)
    while True:
        (size,) = LENGTH.unpack(_read_exact(events_fd, 4))
        if not size:
            break
        finished = array("I")
        for event in pickle.loads(_read_exact(events_fd, size)):
            if len(event) == 5:
                idx, transport, client_port, server_port, querier = event
                inspectors.append(FlowInspector(transport, client_port, server_port, cache))
                results.append(None)
                queriers.append(querier)
                continue
            idx = event[0]
            insp = inspectors[idx]
            if insp.done:
                continue
            if len(event) == 8:
                _idx, from_client, start, end, frame, ts, seq, flags = event
                payload = capture.take(start, end) if end > start else b""
                insp.feed(from_client, payload, frame, ts, seq, flags)
            else:
                insp.feed(*event[1:])
            if insp.dns:
                dns.take(queriers[idx], insp.dns)
            if insp.done:
                finished.append(idx)
                results[idx] = plain(insp.result())
                inspectors[idx] = FINISHED
        if finished:
            notify.write(finished.tobytes())
    notify.close()
    for idx, insp in enumerate(inspectors):
        if results[idx] is None:
            if insp.dns:
                dns.take(queriers[idx], insp.dns)
            results[idx] = plain(insp.result())
    pickle.dump((results, dns), results_out, pickle.HIGHEST_PROTOCOL)
    results_out.flush()


def _plain_result(seen: dict[tuple, tuple]):
    """``Inspection`` -> a plain tuple of tuples, the same object for equal results (pickle then writes it
    once and the parent loads it once: most flows share a handful of results)."""

    def plain(result: tuple) -> tuple:
        flat = tuple(tuple(v) if type(v) is list else v for v in result)
        return seen.setdefault(flat, flat)

    return plain


def main() -> int:
    """The child: ``argv[1]`` the notice pipe, ``argv[2]`` the capture's descriptor (-1: none)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends this process
    try:
        serve(sys.stdin.fileno(), int(sys.argv[1]), int(sys.argv[2]), sys.stdout.buffer)
    except Exception as exc:  # one line, as the command prints its own errors; the parent reports the exit
        if os.environ.get("MAILDETOUR_DEBUG"):
            raise
        print(f"maildetour: inspection process: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    return 0

