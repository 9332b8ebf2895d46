"""Writing results: stdout for '-', else a temp file in the target folder renamed into place."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Iterator


def _chunks(data: str | bytes | Iterable[str | bytes]) -> Iterator[str | bytes]:
    if isinstance(data, (str, bytes)):
        yield data
    else:
        yield from data


def write_output(target: str | None, data: str | bytes | Iterable[str | bytes]) -> None:
    """Write ``data`` (text, bytes, or an iterable of pieces written as they come) to ``target``
    atomically (temp file + rename); ``None`` or '-' is stdout."""
    if target in (None, "-"):
        for chunk in _chunks(data):
            if isinstance(chunk, bytes):
                sys.stdout.flush()
                sys.stdout.buffer.write(chunk)
            else:
                sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    if os.path.exists(target) and not os.path.isfile(target):  # /dev/null, a FIFO: never replace it
        with open(target, "wb") as fh:
            for chunk in _chunks(data):
                fh.write(chunk.encode() if isinstance(chunk, str) else chunk)
        return
    folder = os.path.dirname(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".maildetour-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in _chunks(data):
                fh.write(chunk.encode() if isinstance(chunk, str) else chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
