"""Writing results: stdout for '-', else a temp file in the target folder renamed into place.

Missing parent folders of the target are created. A target that cannot be written (a directory, a parent that
is a file, a read-only file system, a full disk such as /dev/full) ends the command with one line naming it and
exit code 3; no temp file is left behind and an older file at the target stays as it was.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from analysis.errors import EXIT_UNREADABLE, MaildetourError


class OutputError(MaildetourError):
    """The output cannot be written (``str()``: the target and why)."""

    exit_code = EXIT_UNREADABLE

    def __init__(self, target: str, why: str) -> None:
        super().__init__(f"{target}: cannot write the output: {why}")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _chunks(data: str | bytes | Iterable[str | bytes]) -> Iterator[str | bytes]:
    if isinstance(data, (str, bytes)):
        yield data
    else:
        yield from data


def _write_all(fh: BinaryIO, data: str | bytes | Iterable[str | bytes], target: str, fsync: bool) -> None:
    """Every piece into ``fh``, then close it. Only the file's own errors become OutputError (a piece's maker
    may fail for its own reasons, which stay as they are); ``fh`` is closed whatever happens."""
    try:
        for chunk in _chunks(data):
            try:
                fh.write(chunk.encode() if isinstance(chunk, str) else chunk)
            except OSError as exc:
                raise OutputError(target, _why(exc)) from None
        try:
            fh.flush()
            if fsync:
                os.fchmod(fh.fileno(), _new_file_mode(target))
                os.fsync(fh.fileno())
        except OSError as exc:
            raise OutputError(target, _why(exc)) from None
    except BaseException:
        try:
            fh.close()  # what is still buffered fails again here: the first error is the one to tell
        except OSError:
            pass
        raise
    try:
        fh.close()
    except OSError as exc:
        raise OutputError(target, _why(exc)) from None


def _to_stdout(data: str | bytes | Iterable[str | bytes]) -> None:
    for chunk in _chunks(data):
        try:
            if isinstance(chunk, bytes):
                sys.stdout.flush()
                sys.stdout.buffer.write(chunk)
            else:
                sys.stdout.write(chunk)
        except OSError as exc:
            _stdout_failed(exc)
    try:
        sys.stdout.flush()
    except OSError as exc:
        _stdout_failed(exc)


def _stdout_failed(exc: OSError) -> None:
    """Stdout is gone (``| head``: BrokenPipeError, re-raised) or full (OutputError). What is still buffered
    would fail again when Python exits and print a second message, so stdout becomes /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    if isinstance(exc, BrokenPipeError):
        raise exc
    raise OutputError("standard output", _why(exc)) from None


def _not_a_folder(folder: str) -> str | None:
    """The nearest existing ancestor of ``folder`` (itself included) when it is not a directory."""
    while not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent
    return None if os.path.isdir(folder) else folder


def _new_file_mode(target: str) -> int:
    """The mode the target keeps (when it exists) or a new file would get under the umask."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        mask = os.umask(0o022)
        os.umask(mask)
        return 0o666 & ~mask


def write_output(target: str | None, data: str | bytes | Iterable[str | bytes]) -> None:
    """Write ``data`` (text, bytes, or an iterable of pieces written as they come) to ``target``
    atomically (temp file + rename); ``None`` or '-' is stdout. Raises OutputError when it cannot."""
    if target in (None, "-"):
        _to_stdout(data)
        return
    if not target:
        raise OutputError("''", "no file name")
    if os.path.isdir(target) or target.endswith(os.sep):
        raise OutputError(target, "it names a directory, not a file")
    if os.path.exists(target) and not os.path.isfile(target):  # /dev/null, a FIFO: never replace it
        try:
            fh = open(target, "wb")
        except OSError as exc:
            raise OutputError(target, _why(exc)) from None
        _write_all(fh, data, target, fsync=False)
        return
    folder = os.path.dirname(os.path.abspath(target))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".maildetour-", dir=folder)
    except (FileExistsError, NotADirectoryError) as exc:  # a file where a folder should be
        raise OutputError(target, f"{_not_a_folder(folder) or exc.filename} is not a directory") from None
    except OSError as exc:
        raise OutputError(target, _why(exc)) from None
    try:
        _write_all(os.fdopen(fd, "wb"), data, target, fsync=True)
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(target, _why(exc)) from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
