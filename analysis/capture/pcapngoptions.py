"""The options of a pcapng block, as the reader, the PCAPdroid UID lookup and the evidence copier walk them."""

from __future__ import annotations

from collections.abc import Iterator
from struct import Struct


def options(buf, start: int, end: int, order: str) -> Iterator[tuple[int, int, int]]:
    """(code, value offset, value length) of each option in ``buf[start:end]``, in the block's byte order
    ``order`` ("<" or ">"), up to opt_endofopt or the first option that would run past ``end``."""
    head = Struct(order + "HH").unpack_from
    while start + 4 <= end:
        code, length = head(buf, start)
        value = start + 4
        if code == 0 or value + length > end:
            return
        yield code, value, length
        start = value + ((length + 3) & ~3)
