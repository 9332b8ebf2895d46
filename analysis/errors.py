"""Errors that end a command with one clear line on stderr (never a traceback)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_DAMAGED = 1
EXIT_USAGE = 2
EXIT_UNREADABLE = 3
EXIT_INTERNAL = 70  # a bug in maildetour (EX_SOFTWARE)


class MaildetourError(Exception):
    """A problem the user can fix; ``str()`` is the one line printed on stderr."""

    exit_code = EXIT_USAGE


class UsageError(MaildetourError):
    exit_code = EXIT_USAGE


class InputError(MaildetourError):
    """An input that cannot be read at all (nothing analysed)."""

    exit_code = EXIT_UNREADABLE

    def __init__(self, path: str, message: str, offset: int | None = None):
        self.path = path
        self.offset = offset
        self.message = message
        where = f"{path}: offset {offset}" if offset is not None else path
        super().__init__(f"{where}: {message}")


class CaseError(MaildetourError):
    exit_code = EXIT_USAGE
