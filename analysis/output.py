"""Writing results: stdout for '-', else a temp file in the target folder renamed into place."""

from __future__ import annotations

import os
import sys
import tempfile


def write_output(target: str | None, data: str | bytes) -> None:
    """Write ``data`` to ``target`` atomically (temp file + rename); ``None`` or '-' is stdout."""
    if target in (None, "-"):
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        sys.stdout.flush()
        return
    raw = data.encode() if isinstance(data, str) else data
    folder = os.path.dirname(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".maildetour-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
