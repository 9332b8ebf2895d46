"""The test password overwritten in frames copied out of a capture (evidence files), never kept in them.

Every form of the password ``CanaryMatcher.spans`` knows is overwritten with ``X`` bytes of the same length,
so frame and header lengths stay as they were (the IP, TCP and UDP checksums no longer match). A form is
found inside one frame, and across the TCP segments of one direction of a connection: a window of the last
``max_len - 1`` payload bytes remembers which earlier frames they came from, and ``patch`` overwrites the
part that lies in one of those (already written) frames.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from analysis.canary import CanaryMatcher

MASK = 0x58  # "X"


class _Window:
    """The last bytes of one direction's TCP payload and the frames they came from."""

    __slots__ = ("tail", "pieces")

    def __init__(self) -> None:
        self.tail = b""
        self.pieces: list[tuple[object, int, int]] = []  # (frame, offset in that frame, length), covering ``tail``


class Scrubber:
    """``frame`` overwrites the password in one frame's bytes; ``patch(name, offset, length)`` is called for
    parts of a form that lie in an earlier frame of the same TCP direction (``name``: what ``frame`` was
    given for that frame)."""

    def __init__(self, matcher: CanaryMatcher, patch: Callable[[object, int, int], None]) -> None:
        self.matcher = matcher
        self.patch = patch
        self.keep = max(matcher.max_len - 1, 0)
        self._windows: dict[Hashable, _Window] = {}

    def frame(self, name: object, data: bytearray, stream: Hashable | None = None, start: int = 0,
              end: int = 0) -> bool:
        """Overwrite the password in ``data`` (a frame's captured bytes); ``data[start:end]`` is its TCP payload
        in direction ``stream`` (None: no stream, e.g. UDP). True when a byte of this frame was overwritten."""
        original = bytes(data)
        spans = self.matcher.spans(original)
        for s, e in spans:
            data[s:e] = bytes([MASK]) * (e - s)
        hit = bool(spans)
        if stream is not None and start < end and self.keep:
            hit = self._across(name, data, original[start:end], stream, start) or hit
        return hit

    def _across(self, name: object, data: bytearray, payload: bytes, stream: Hashable, start: int) -> bool:
        """Forms that begin in earlier segments of ``stream`` and end in this one."""
        window = self._windows.get(stream)
        if window is None:
            window = self._windows[stream] = _Window()
        held = len(window.tail)
        hit = False
        if held:
            for s, e in self.matcher.spans(window.tail + payload):
                if s < held < e:
                    data[start:start + e - held] = bytes([MASK]) * (e - held)
                    self._patch_window(window, s, held)
                    hit = True
        self._slide(window, name, payload, start)
        return hit

    def _patch_window(self, window: _Window, lo: int, hi: int) -> None:
        """Overwrite ``tail[lo:hi]`` in the frames it came from."""
        at = 0
        for name, offset, length in window.pieces:
            s, e = max(lo, at), min(hi, at + length)
            if s < e:
                self.patch(name, offset + s - at, e - s)
            at += length

    def _slide(self, window: _Window, name: object, payload: bytes, start: int) -> None:
        """Add this frame's payload to the window and keep its last ``keep`` bytes."""
        window.pieces.append((name, start, len(payload)))
        tail = window.tail + payload
        drop = max(len(tail) - self.keep, 0)
        window.tail = tail[drop:]
        while drop:
            first, offset, length = window.pieces[0]
            if length <= drop:
                window.pieces.pop(0)
                drop -= length
            else:
                window.pieces[0] = (first, offset + drop, length - drop)
                drop = 0
