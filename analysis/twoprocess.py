"""Two processes make the pieces of one output: this one the even-numbered pieces, a forked child the odd
ones, which it sends back through a pipe; they are given out in order, so the output is the one a single
process makes. The child shares this process's memory as it was at the fork (copy on write): what the
pieces are made from (a capture's conversation table, say) is neither copied nor sent."""

from __future__ import annotations

import fcntl
import gc
import os
import signal
import traceback
import warnings
from collections.abc import Callable, Iterator
from struct import Struct

LENGTH = Struct("<I")
FAILED = 0xFFFFFFFF  # a length that announces the child's error message instead of a piece
PIPE_SIZE = 1 << 20  # a full pipe stops the child: it runs at most this far ahead
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class SecondProcessError(RuntimeError):
    """The child failed, or died before it sent every piece."""


def two_cores() -> bool:
    """True where a forked child can run beside this process."""
    if not hasattr(os, "fork"):
        return False
    try:
        return len(os.sched_getaffinity(0)) > 1
    except AttributeError:  # not Linux
        return (os.cpu_count() or 1) > 1


def interleaved(count: int, make: Callable[[int, int], Iterator[str]]) -> Iterator[str]:
    """The ``count`` pieces that ``make(0, 1)`` would yield, made by two processes.

    ``make(k, n)`` yields the pieces numbered k, k + n, k + 2n... (one for each, maybe empty), in order and
    without making the others; this process runs ``make(0, 2)`` to its end, the child ``make(1, 2)``.
    """
    read_fd, write_fd = os.pipe()
    try:
        fcntl.fcntl(write_fd, F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:  # over /proc/sys/fs/pipe-max-size: the default size works, in smaller steps
        pass
    with warnings.catch_warnings():
        # numpy's OpenBLAS keeps an idle thread pool; the child calls no BLAS routine, so the fork is safe
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(write_fd, make)
    os.close(write_fd)
    pipe = os.fdopen(read_fd, "rb")
    try:
        mine = make(0, 2)
        for number in range(count):
            piece = next(mine, None) if number % 2 == 0 else _piece(pipe)
            if piece is None:
                raise SecondProcessError(f"{count} pieces announced, {number} made")
            yield piece
        for _extra in mine:  # runs the maker's closing code; it has no piece left
            raise SecondProcessError(f"more than the {count} pieces announced")
        _done(pid)
        pid = 0
    finally:
        pipe.close()
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _child(write_fd: int, make: Callable[[int, int], Iterator[str]]) -> None:
    """Send every piece of ``make(1, 2)``, or the error that stopped it; never returns."""
    code = 0
    try:
        gc.freeze()  # a collection would write to every object it visits: shared pages would be copied
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends this process
        with os.fdopen(write_fd, "wb") as out:
            try:
                for piece in make(1, 2):
                    data = piece.encode()
                    out.write(LENGTH.pack(len(data)))
                    out.write(data)
            except Exception as exc:
                if os.environ.get("MAILDETOUR_DEBUG"):
                    traceback.print_exc()
                why = f"{type(exc).__name__}: {exc}".encode(errors="replace")
                out.write(LENGTH.pack(FAILED) + LENGTH.pack(len(why)) + why)
                code = 1
    except BaseException:  # the parent is gone (broken pipe) or this process is being ended
        code = 1
    finally:
        os._exit(code)  # at once: nothing the parent had buffered is written twice


def _piece(pipe) -> str:
    (size,) = LENGTH.unpack(_exact(pipe, 4))
    if size == FAILED:
        (size,) = LENGTH.unpack(_exact(pipe, 4))
        raise SecondProcessError(f"second process: {_exact(pipe, size).decode(errors='replace')}")
    return _exact(pipe, size).decode()


def _exact(pipe, size: int) -> bytes:
    data = pipe.read(size)
    if len(data) != size:
        raise SecondProcessError("second process ended before it sent every piece")
    return data


def _done(pid: int) -> None:
    _pid, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SecondProcessError(f"second process failed (exit status {os.waitstatus_to_exitcode(status)})")
