"""A progress bar on stderr for long inputs, silent when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import contextmanager

Progress = Callable[[int], None]  # called with the number of bytes read so far


@contextmanager
def progress_bar(label: str, total: int | None):
    """Yield a callback ``advance_to(bytes_read)``; a no-op unless stderr is a TTY."""
    if not sys.stderr.isatty() or not total:
        yield lambda _done: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        transient=True, console=Console(stderr=True),  # stdout may carry the report itself
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)
