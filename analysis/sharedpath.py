"""File paths as an output meant to be shared shows them: nothing of the analyst's own folders.

A path inside the working folder is written relative to it (``captures/relayed/phone.pcapng``); any other
path as its file name alone (``/home/alice/cases/x/phone.pcapng`` -> ``phone.pcapng``). The SHA-256 next to
it in a report identifies the file. Error messages on stderr keep the path as it was typed.
"""

from __future__ import annotations

import os


def shared_path(path: str | None) -> str | None:
    """``path`` relative to the working folder when it lies inside it, else its last component."""
    if not path:
        return path
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute, os.getcwd())
    except (OSError, ValueError):  # the working folder is gone, or on another drive
        relative = os.pardir
    if relative != os.pardir and not relative.startswith(os.pardir + os.sep):
        return relative
    return os.path.basename(absolute) or absolute
