"""File paths as an output meant to be shared shows them: nothing of the analyst's own folders.

A path inside the working folder is written relative to it (``captures/relayed/phone.pcapng``); any other
path as its file name alone (``/home/alice/cases/x/phone.pcapng`` -> ``phone.pcapng``). The SHA-256 next to
it in a report identifies the file. Error messages on stderr keep the path as it was typed. ``shared_base``
names another folder to be relative to (a batch worker writes paths as the batch command's folder sees them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_BASE: ContextVar[str | None] = ContextVar("maildetour_shared_base", default=None)


@contextmanager
def shared_base(folder: str) -> Iterator[None]:
    """Within the block (this thread or task only), paths are shared relative to ``folder``, not the working
    folder."""
    token = _BASE.set(os.path.abspath(folder))
    try:
        yield
    finally:
        _BASE.reset(token)


def shared_path(path: str | None) -> str | None:
    """``path`` relative to the working folder (or ``shared_base``) when it lies inside it, else its last
    component."""
    if not path:
        return path
    base = _BASE.get()
    absolute = os.path.normpath(os.path.join(base, path)) if base else os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute, base or os.getcwd())
    except (OSError, ValueError):  # the working folder is gone, or on another drive
        relative = os.pardir
    if relative != os.pardir and not relative.startswith(os.pardir + os.sep):
        return relative
    return os.path.basename(absolute) or absolute
