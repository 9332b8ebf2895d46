"""Streaming pcap / pcapng record reader (optionally gzip-compressed).

``CaptureReader(path).records()`` yields one tuple per frame, in file order:
``(linktype, buf, offset, caplen, origlen, ts)`` where ``buf[offset:offset + caplen]`` is the frame
(no copy is made; ``buf`` may be a read-only ``mmap``) and ``ts`` is epoch seconds. A plain file is
memory-mapped (its pages are given back as the parse moves on); gzip input and pipes are read in large
chunks. The file is never held whole.

Damage is reported, not raised, once at least the file header was read: ``info.complete`` becomes False,
``info.error_offset`` holds the byte offset (of the decompressed stream for gzip input) and one warning
says what was wrong. A file that cannot be read at all raises ``InputError``.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import queue
import stat
import threading
import zlib
from collections.abc import Callable, Iterator
from itertools import chain
from struct import Struct
from struct import error as struct_error

from analysis.capture.linklayer import SUPPORTED_LINKTYPES, linktype_name
from analysis.capture.pcapdroid import CUSTOM_BLOCKS, ETH_ZERO, NONE, TRAILER, AppMarks
from analysis.capture.pcapngoptions import options
from analysis.errors import InputError
from analysis.model import TS_MAX, TS_MIN, InputInfo, clamp_time

CHUNK = 1 << 20  # 1 MiB reads
PREFETCH = 4  # chunks read ahead
MAX_RECORD = 1 << 24  # a frame or block larger than 16 MiB is damage, not data
MAX_SNAPLEN = 0x7FFFFFFF
HASH_CHUNK = 16 << 20  # bytes read and hashed per step when the file is mapped
DONTNEED = getattr(mmap, "MADV_DONTNEED", None)
DROP_STEP = 4 << 20  # mapped pages are dropped (and progress reported) every 4 MiB
NO_MARK = 1 << 62
MAX_IDB_KEPT = 1 << 16  # bytes of an interface description block kept for evidence files
GZ_STEP = 1 << 16  # compressed bytes handed to zlib at a time

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
BOM_LE = b"\x4d\x3c\x2b\x1a"
BOM_BE = b"\x1a\x2b\x3c\x4d"
BLOCK_FRAME = 101  # the link type of a pcapng custom block's frame: raw IP of no bytes, which nothing reads

Record = tuple[int, "bytes | mmap.mmap", int, int, int, float]


class _HashingFile:
    """The raw file, read ahead by a helper thread that also hashes every byte (sha256 of the file as
    stored). File reads and hashing release the GIL, so both overlap with parsing; memory is bounded by
    ``PREFETCH`` chunks. ``read`` counts bytes handed out for the progress bar."""

    def __init__(self, path: str, progress: Callable[[int], None] | None, fh=None, digest: bool = True) -> None:
        self.fh = fh if fh is not None else open(path, "rb")  # noqa: SIM115 - closed by finish()
        self.sha = hashlib.sha256() if digest else None
        self.done = 0
        self.progress = progress
        self._queue: queue.Queue = queue.Queue(maxsize=PREFETCH)
        self._rest = b""
        self._eof = False
        self._ended = False  # the helper's closing None was consumed
        self._stop = False
        self._digest: str | None = None
        self._thread = threading.Thread(target=self._work, name="maildetour-read", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            while not self._stop:
                data = self.fh.read(CHUNK)
                if not data:
                    break
                if self.sha is not None:
                    self.sha.update(data)
                self._queue.put(data)
        except (OSError, ValueError) as exc:
            self._queue.put(OSError(getattr(exc, "errno", None), f"read error: {exc}"))
        finally:
            self._queue.put(None)

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (fewer at a chunk's end; b"" at the end of the file)."""
        if self._rest:
            data, self._rest = self._rest, b""
        else:
            if self._eof:
                return b""
            item = self._queue.get()
            if item is None or isinstance(item, Exception):
                self._eof = True
                if item is None:
                    self._ended = True
                    return b""
                raise item
            data = item
        if 0 <= n < len(data):
            data, self._rest = data[:n], data[n:]
        self.done += len(data)
        if self.progress is not None:
            self.progress(self.done)
        return data

    def unread(self, data: bytes) -> None:
        """Put bytes back in front (after peeking at the magic number)."""
        self._rest = data + self._rest
        self.done -= len(data)

    def readable(self) -> bool:
        return True

    def finish(self, hash_rest: bool = True) -> str:
        """Let the helper hash the rest of the file (or stop it), wait for it, close the file."""
        if self._digest is None:
            self._stop = not hash_rest
            while not self._ended and self._queue.get() is not None:
                pass
            self._ended = True
            self._thread.join()
            self.fh.close()
            self._digest = self.sha.hexdigest() if self.sha is not None else ""
        return self._digest


class _Gunzip:
    """Concatenated gzip members (zero padding between them allowed), decompressed as they are read.

    ``read(n)`` gives up to ``n`` bytes, b"" at the end. At damage everything before the bad byte is handed
    out first, then the error is raised on the next call: ``zlib.error`` (bad data, header or check sum) or
    ``EOFError`` (the stream ends inside a member). zlib checks each member's CRC-32 and length itself."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._raw = read
        self._src = memoryview(b"")  # compressed bytes not yet given to zlib
        self._end = False  # the raw input is exhausted
        self._z: zlib._Decompress | None = zlib.decompressobj(31)  # None between members
        self._error: Exception | None = None

    def read(self, n: int = CHUNK) -> bytes:
        n = n if n > 0 else CHUNK
        while True:
            if self._error is not None:
                raise self._error
            if not self._src and not self._end:
                self._src = memoryview(self._raw(CHUNK))
                self._end = not self._src
            if self._z is None:  # between members: padding, another member or the end
                src = self._src
                while src and src[0] == 0:  # strip zeros a page at a time: linear however many members
                    head = src[:4096].tobytes()
                    src = src[len(head) - len(head.lstrip(b"\0")):]
                self._src = src
                if not src:
                    if self._end:
                        return b""
                    continue
                self._z = zlib.decompressobj(31)
            if not self._src:
                raise EOFError("the stream ends inside a gzip member")
            out = self._feed(self._src[:GZ_STEP], n)
            if out:
                return out

    def _feed(self, src: memoryview, n: int) -> bytes:
        """Up to ``n`` bytes decompressed from ``src`` (the front of ``_src``); at bad data, those before it."""
        z = self._z
        assert z is not None
        before = z.copy()
        try:
            out = z.decompress(src, n)
        except zlib.error as exc:
            good, bad = 0, len(src)  # the longest prefix of src that decompresses: found by halving
            while bad - good > 1:
                mid = (good + bad) // 2
                try:
                    before.copy().decompress(src[:mid], n)
                    good = mid
                except zlib.error:
                    bad = mid
            self._error, self._src, self._end = exc, memoryview(b""), True
            return before.decompress(src[:good], n) if good else b""
        if z.eof:
            self._z = None
            left = len(z.unused_data)
        else:
            left = len(z.unconsumed_tail)
        self._src = self._src[len(src) - left:]
        return out


def gunzip_head(path: str, n: int = 4) -> bytes:
    """The first ``n`` decompressed bytes of a gzip file (fewer if it is shorter); InputError when even
    those cannot be decompressed."""
    got = b""
    try:
        with open(path, "rb") as fh:
            unzip = _Gunzip(fh.read)
            while len(got) < n:
                data = unzip.read(n - len(got))
                if not data:
                    break
                got += data
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    except (EOFError, zlib.error) as exc:
        raise InputError(path, f"compressed stream broken: {exc}", len(got)) from None
    return got


class _MappedFile:
    """An uncompressed regular file mapped read-only: the parser indexes it in place (no copies, no
    read-ahead queue). A helper thread hashes the file through its own descriptor in ``HASH_CHUNK`` reads
    into one reused buffer: reads and hashing release the GIL, and few, large steps keep the two threads
    from handing the GIL back and forth (a 1 MiB step made the parser wait for the hash). Mapped pages the
    parser has passed are dropped, so resident memory stays bounded whatever the file's size."""

    def __init__(self, fh, progress: Callable[[int], None] | None, digest: bool = True) -> None:
        self.fh = fh
        self.map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.size = len(self.map)
        self.progress = progress
        self.sha = hashlib.sha256()
        self._stop = False
        self._dropped = 0  # mapped pages before this offset were dropped
        self._digest: str | None = None if digest else ""
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._work, name="maildetour-hash", daemon=True)
        if digest:
            self._thread.start()

    def _work(self) -> None:
        try:
            with open(self.fh.fileno(), "rb", buffering=0, closefd=False) as raw:
                chunk = bytearray(min(HASH_CHUNK, max(self.size, 1)))
                view = memoryview(chunk)
                while not self._stop:
                    n = raw.readinto(chunk)
                    if not n:
                        break
                    self.sha.update(view[:n])
                view.release()
        except OSError as exc:
            self.error = exc

    def passed(self, pos: int) -> int:
        """The parser is at ``pos``: drop the pages behind it, report progress; the next offset to call at."""
        end = pos - pos % mmap.PAGESIZE
        if DONTNEED is not None and end > self._dropped:
            self.map.madvise(DONTNEED, self._dropped, end - self._dropped)
            self._dropped = end
        if self.progress is not None:
            self.progress(pos)
        return pos + DROP_STEP

    def finish(self, hash_rest: bool = True) -> str:
        """Wait for the hash (or stop it), unmap and close the file."""
        if not self.fh.closed:
            if self._digest is None:  # hashing (else not asked for)
                self._stop = not hash_rest
                self._thread.join()
                self._digest = self.sha.hexdigest() if self.error is None else ""
            if self.progress is not None:
                self.progress(self.size)
            try:
                self.map.close()
            except BufferError:  # a caller still holds a view: the map goes with it
                pass
            self.fh.close()
        return self._digest


def _map_file(path: str, progress: Callable[[int], None] | None, digest: bool):
    """``(mapped file, None)``, or ``(None, the open file)`` for gzip, pipes, tiny files or no mmap: then it is
    read in chunks from that same open file (a pipe opened twice would lose what its writer sent the first)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by finish()
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror}") from None
    try:
        info = os.fstat(fh.fileno())
        if stat.S_ISREG(info.st_mode) and info.st_size >= 4 and os.pread(fh.fileno(), 2, 0) != b"\x1f\x8b":
            return _MappedFile(fh, progress, digest), None
    except (OSError, ValueError):
        pass
    return None, fh


class Damage(Exception):
    """The stream is damaged at ``offset``; records before it are good."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


class CaptureReader:
    """One capture file; iterate ``records()`` once, then read ``info``."""

    def __init__(self, path: str, input_index: int = 0,
                 progress: Callable[[int], None] | None = None, digest: bool = True) -> None:
        """``digest``: compute the file's SHA-256 (``info.sha256``; else left empty)."""
        self.path = path
        self.info = InputInfo(path=path)
        self.input_index = input_index
        mapped, fh = _map_file(path, progress, digest)
        self._raw: _MappedFile | _HashingFile = (mapped if mapped is not None
                                                 else _HashingFile(path, progress, fh, digest))
        self._gzip = False
        self._buf: bytes | mmap.mmap = b"" if mapped is None else mapped.map
        self._eof = mapped is not None  # a mapped file is all in _buf
        self._read = self._raw.read if mapped is None else _no_read
        self._passed = mapped.passed if mapped is not None else _no_mark
        self._pos = 0
        self._base = 0  # stream offset of _buf[0]
        self.unknown_linktypes: dict[int, int] = {}  # linktype -> frames skipped
        self.interfaces: list[int] = []  # link types of every interface seen (all sections)
        self.clamped = 0  # pcapng packets whose time lies outside the years 1-9999
        # for analysis.capture.rawframes (evidence files): set idb_bodies to [] before records() to keep each
        # interface's IDB body (byte order, bytes from the link type to the options, at most MAX_IDB_KEPT)
        self.idb_bodies: list[tuple[str, bytes]] | None = None
        self.section_base = 0  # index in ``interfaces`` of the current pcapng section's interface 0
        self.snaplen = 0  # a pcap file's snap length
        self.apps = AppMarks()  # PCAPdroid's UID of each frame (see analysis.capture.pcapdroid)
        try:
            self._open()
        except BaseException:
            self._raw.finish(hash_rest=False)
            raise

    def block_end(self) -> int:
        """While a pcapng frame is being yielded: the offset in its ``buf`` just past its block."""
        return self._pos

    def file_map(self) -> tuple[mmap.mmap | None, int]:
        """The mapped file and its descriptor while records come straight from it, else (None, -1)."""
        if isinstance(self._raw, _MappedFile):
            return self._raw.map, self._raw.fh.fileno()
        return None, -1

    # -- buffered reading -------------------------------------------------------------------------
    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes available at ``_pos``; False when the stream ends first."""
        if len(self._buf) - self._pos >= need:
            return True
        parts = [self._buf[self._pos:]]
        have = len(parts[0])
        self._base += self._pos
        self._pos = 0
        while have < need and not self._eof:
            try:
                data = self._read(max(CHUNK, need - have))
            except (OSError, EOFError, zlib.error) as exc:  # broken gzip stream, I/O error
                self._eof = True
                self._buf = b"".join(parts)
                what = "compressed stream broken" if self._gzip else "read error"
                raise Damage(self._base + have, f"{what}: {exc}") from None
            if not data:
                self._eof = True
                break
            parts.append(data)
            have += len(data)
        self._buf = b"".join(parts) if len(parts) > 1 else parts[0]
        return have >= need

    def _open(self) -> None:
        if isinstance(self._raw, _HashingFile):
            try:
                head = self._raw.read(2)
            except OSError as exc:
                raise InputError(self.path, f"cannot read: {exc.strerror or exc}") from None
            if not head:
                raise InputError(self.path, "empty file, not a capture", 0)
            self._raw.unread(head)
        else:
            head = self._buf[:2]
        if head == b"\x1f\x8b":
            self._gzip = True
            self._read = _Gunzip(self._raw.read).read  # data before a broken spot is kept
        try:
            ok = self._fill(4)
        except Damage as exc:
            raise InputError(self.path, exc.message, exc.offset) from None
        if not ok:
            raise InputError(self.path, "empty capture (no file header)", 0)
        magic = self._buf[:4]
        if magic in PCAP_MAGICS:
            self._format = "pcap"
        elif magic == PCAPNG_MAGIC:
            self._format = "pcapng"
        else:
            raise InputError(self.path, "not a pcap or pcapng capture (unknown magic number)", 0)
        self.info.format = self._format + ("+gzip" if self._gzip else "")
        if self._format == "pcap":
            self._pcap_header()

    # -- records ------------------------------------------------------------------------------------
    def records(self) -> Iterator[Record]:
        """Every frame in file order; damage ends the iteration and is recorded in ``info``.

        Frames are numbered as Wireshark numbers them: a pcapng custom block is a frame too (given as
        ``BLOCK_FRAME`` with no bytes). PCAPdroid's UIDs are marked in ``apps``; a PCAPdroid trailer is cut
        off its frame's captured bytes (the original length, Wireshark's ``frame.len``, keeps it)."""
        if self._format == "pcapng":
            return self._pcapng()
        records = self._pcap()
        if self.pcap_layout[2] != 1:
            return records
        first = next(records, None)
        if first is None:
            return iter(())
        lt, buf, off, caplen, _origlen, _ts = first
        if caplen >= 12 and buf[off:off + 12] == ETH_ZERO:  # PCAPdroid's placeholder Ethernet header
            return self._trailers(chain((first,), records))
        return chain((first,), records)

    def _trailers(self, records: Iterator[Record]) -> Iterator[Record]:
        """PCAPdroid's pcap: each frame's UID from its trailer, which is cut off the captured bytes."""
        apps = self.apps
        trailer, mark = apps.trailer, apps.mark
        for frame, (lt, buf, off, caplen, origlen, ts) in enumerate(records, 1):
            uid = trailer(buf, off, caplen, frame)
            mark(frame, uid)
            yield lt, buf, off, caplen if uid == NONE else caplen - TRAILER, origlen, ts

    def _damaged(self, exc: Damage) -> None:
        self.info.complete = False
        self.info.error_offset = exc.offset
        self.info.warnings.append(f"damaged at offset {exc.offset}: {exc.message}")

    def close(self) -> None:
        if self.clamped:
            some = "1 packet has a time" if self.clamped == 1 else f"{self.clamped} packets have times"
            self.info.warnings.append(f"{some} outside the years 1-9999 (pcapng timestamp, its resolution or "
                                      "offset out of range); shown as the first or last moment there is")
            self.clamped = 0
        if not self.info.sha256:
            self.info.sha256 = self._raw.finish()
            error = getattr(self._raw, "error", None)
            if error is not None:
                self.info.warnings.append(f"sha256 not computed: read error: {error}")

    def _pcap_header(self) -> None:
        """Read and check the 24-byte pcap file header: byte order, time unit, link type."""
        order, scale = PCAP_MAGICS[self._buf[:4]]
        try:
            if not self._fill(24):
                raise InputError(self.path, "truncated pcap file header (needs 24 bytes)", 0)
        except Damage as exc:
            raise InputError(self.path, exc.message, exc.offset) from None
        snaplen, network = Struct(order + "12xII").unpack_from(self._buf, 4)
        linktype = network & 0xFFFF
        if snaplen > MAX_SNAPLEN:
            raise InputError(self.path, f"implausible snap length {snaplen} in the file header", 16)
        if linktype not in SUPPORTED_LINKTYPES:
            raise InputError(self.path, f"unsupported link type {linktype_name(linktype)}", 20)
        self.interfaces.append(linktype)
        self.pcap_layout = (order, scale, linktype)
        self.snaplen = snaplen
        self._pos = 24

    def record_starts(self, count: int) -> Iterator[list[int]]:
        """For a mapped pcap file: offsets of the record headers (16 bytes, then the frame), ``count`` at a
        time, as long as whole records follow each other in the file. Where it stops (the end, or damage),
        ``records()`` goes on and reports what is wrong. Nothing for other inputs."""
        if self._format != "pcap" or not isinstance(self._raw, _MappedFile):
            return
        caplen_at = Struct(self.pcap_layout[0] + "8xI").unpack_from  # a record header's captured length
        buf, pos = self._buf, self._pos
        if self.pcap_layout[2] == 1 and buf[pos + 16:pos + 28] == ETH_ZERO:
            return  # PCAPdroid's trailers: records() reads them
        size = len(buf)
        passed = self._passed
        while pos <= size - 16:
            passed(pos)  # the caller is done with the frames before this batch
            starts: list[int] = []
            add = starts.append
            try:
                for _ in range(count):
                    end = pos + 16 + caplen_at(buf, pos)[0]
                    if end > size:
                        break
                    add(pos)
                    pos = end
            except struct_error:  # fewer than 12 bytes left
                pass
            if not starts:
                break
            self._pos = pos
            yield starts
            if len(starts) < count:
                break

    def _pcap(self) -> Iterator[Record]:
        try:
            order, scale, linktype = self.pcap_layout
            rec = Struct(order + "IIII").unpack_from
            fill = self._fill
            passed = self._passed
            buf, pos = self._buf, self._pos
            size = len(buf)
            mark = passed(pos)
            while True:
                if pos >= mark:
                    mark = passed(pos)
                if pos + 16 > size:
                    self._pos = pos
                    if not fill(16):
                        if len(self._buf) - self._pos:
                            raise Damage(self._base + self._pos, "truncated record header")
                        return
                    buf, pos = self._buf, self._pos
                    size = len(buf)
                sec, frac, caplen, origlen = rec(buf, pos)
                start = pos + 16
                pos = start + caplen
                if pos > size:
                    self._pos = start - 16
                    if caplen > MAX_RECORD:
                        raise Damage(self._base + self._pos, f"record length {caplen} is implausible")
                    if not fill(16 + caplen):
                        got = len(self._buf) - self._pos - 16
                        raise Damage(self._base + self._pos,
                                     f"truncated record: {caplen} bytes announced, {max(got, 0)} present")
                    buf = self._buf
                    size = len(buf)
                    start = self._pos + 16
                    pos = start + caplen
                yield linktype, buf, start, caplen, origlen, sec + frac * scale
        except Damage as exc:
            self._damaged(exc)
        finally:
            self.close()

    def _pcapng(self) -> Iterator[Record]:
        first = True  # until the first section header is read: damage there leaves nothing to read
        try:
            order = "<"
            ifaces: list[tuple[int, float, float, int]] = []  # (linktype, s per tick, ts offset, snaplen)
            head = Struct("<II")
            epb = Struct("<IIIII").unpack_from
            tail = Struct("<I").unpack_from
            fast = Struct("<7I").unpack_from  # an EPB's head: type, length, interface, time, lengths
            passed = self._passed
            mark = passed(0)
            apps = self.apps
            frame = 0  # frames yielded (Wireshark's numbering)
            marking = False  # the last frame had a PCAPdroid UID: the next is marked whatever it has
            while True:
                buf, pos = self._buf, self._pos
                if pos >= mark:
                    mark = passed(pos)
                if pos + 28 <= len(buf):  # fast path: a whole, consistent EPB already in the buffer
                    btype, blen, iface, hi, lo, caplen, origlen = fast(buf, pos)
                    if (btype == 6 and 32 <= blen <= len(buf) - pos and not blen & 3 and caplen <= blen - 32
                            and iface < len(ifaces) and tail(buf, pos + blen - 4)[0] == blen):
                        self._pos = pos + blen
                        lt, tick, toff, _snap = ifaces[iface]
                        ts = ((hi << 32) | lo) * tick + toff
                        if not TS_MIN <= ts <= TS_MAX:
                            ts = self._clamp(ts)
                        frame += 1
                        if blen - caplen > 35 or marking:  # options follow the data, or a UID to end
                            uid = apps.comment_uid(buf, pos + 28 + ((caplen + 3) & ~3), pos + blen - 4, order)
                            apps.mark(frame, uid)
                            marking = uid != NONE
                        yield lt, buf, pos + 28, caplen, origlen, ts
                        continue
                if not self._fill(12):
                    rest = len(self._buf) - self._pos
                    if first:
                        raise InputError(self.path, "truncated pcapng section header", 0)
                    if rest:
                        raise Damage(self._base + self._pos, f"truncated block header ({rest} bytes at end)")
                    return
                buf, pos = self._buf, self._pos
                start = self._base + pos
                if buf[pos] == 0x0A and buf[pos + 1:pos + 4] == PCAPNG_MAGIC[1:]:  # section header
                    bom = buf[pos + 8:pos + 12]
                    if bom == BOM_LE:
                        order = "<"
                    elif bom == BOM_BE:
                        order = ">"
                    else:
                        if first:
                            raise InputError(self.path, "bad pcapng byte-order magic", 8)
                        raise Damage(start, "bad byte-order magic in a section header")
                    head = Struct(order + "II")
                    tail = Struct(order + "I").unpack_from
                    epb = Struct(order + "IIIII").unpack_from
                    fast = Struct(order + "7I").unpack_from
                    ifaces = []
                    self.section_base = len(self.interfaces)
                btype, blen = head.unpack_from(buf, pos)
                if blen < 12 or blen % 4 or blen > MAX_RECORD:
                    if first:
                        raise InputError(self.path, f"bad section header block length {blen}", 4)
                    raise Damage(start, f"block length {blen} is invalid")
                if not self._fill(blen):
                    if first:
                        raise InputError(self.path, "truncated pcapng section header", 0)
                    raise Damage(start, f"truncated block: length {blen} runs past the end of the file")
                buf, pos = self._buf, self._pos
                if tail(buf, pos + blen - 4)[0] != blen:
                    if first:
                        raise InputError(self.path, "section header block lengths disagree", 4)
                    raise Damage(start, "block length lies: the trailing copy differs")
                first = False
                self._pos = pos + blen
                if btype == 6 or btype == 2:  # enhanced or obsolete packet block: alike but for the interface
                    if blen < 32:
                        raise Damage(start, "packet block too short")
                    if btype == 6:
                        iface, hi, lo, caplen, origlen = epb(buf, pos + 8)
                    else:
                        iface, _drops, hi, lo, caplen, origlen = Struct(order + "HHIIII").unpack_from(buf, pos + 8)
                    if caplen > blen - 32:
                        raise Damage(start, f"captured length {caplen} exceeds its block")
                    if iface >= len(ifaces):
                        raise Damage(start, f"packet refers to undefined interface {iface}")
                    lt, tick, toff, _snap = ifaces[iface]
                    ts = ((hi << 32) | lo) * tick + toff
                    if not TS_MIN <= ts <= TS_MAX:
                        ts = self._clamp(ts)
                    frame += 1
                    if blen - caplen > 35 or marking:
                        uid = apps.comment_uid(buf, pos + 28 + ((caplen + 3) & ~3), pos + blen - 4, order)
                        apps.mark(frame, uid)
                        marking = uid != NONE
                    yield lt, buf, pos + 28, caplen, origlen, ts
                elif btype == 3:  # simple packet block: interface 0, no timestamp
                    if not ifaces:
                        raise Damage(start, "simple packet block before any interface")
                    (origlen,) = Struct(order + "I").unpack_from(buf, pos + 8)
                    lt, _tick, _toff, snap = ifaces[0]
                    caplen = min(origlen, blen - 16, snap or origlen)
                    frame += 1
                    if marking:
                        apps.mark(frame, NONE)
                        marking = False
                    yield lt, buf, pos + 12, caplen, origlen, 0.0
                elif btype in CUSTOM_BLOCKS:  # Wireshark numbers each as a frame; PCAPdroid's map UIDs to apps
                    if blen < 16:
                        raise Damage(start, f"custom block too short ({blen} bytes) for its enterprise number")
                    apps.custom_block(buf, pos + 8, pos + blen - 4, order, start)
                    frame += 1
                    if marking:
                        apps.mark(frame, NONE)
                        marking = False
                    yield BLOCK_FRAME, buf, pos, 0, 0, 0.0
                elif btype == 1:  # interface description
                    if blen < 20:
                        raise Damage(start, "interface description block too short")
                    lt, _res, snap = Struct(order + "HHI").unpack_from(buf, pos + 8)
                    tick, toff = _idb_options(buf, pos + 16, pos + blen - 4, order)
                    ifaces.append((lt, tick, toff, snap))
                    self.interfaces.append(lt)
                    if self.idb_bodies is not None:
                        self.idb_bodies.append((order, bytes(buf[pos + 8:pos + min(blen, MAX_IDB_KEPT) - 4])))
                # other blocks (name resolution, statistics, decryption secrets...) are no frames: skipped
        except Damage as exc:
            if first:
                raise InputError(self.path, exc.message, exc.offset) from None
            self._damaged(exc)
        finally:
            self.close()

    def _clamp(self, ts: float) -> float:
        """A packet time datetime cannot show (years 1-9999), moved to the nearest it can; counted."""
        self.clamped += 1
        return clamp_time(ts)


def _no_read(n: int = -1) -> bytes:
    return b""


def _no_mark(pos: int) -> int:
    return NO_MARK


def _idb_options(buf: bytes, off: int, end: int, order: str) -> tuple[float, float]:
    """(seconds per timestamp tick, timestamp offset in seconds) from an IDB's options."""
    tick, toff = 1e-6, 0.0
    for code, val, length in options(buf, off, end, order):
        if code == 9 and length >= 1:  # if_tsresol
            r = buf[val]
            tick = 2.0 ** -(r & 0x7F) if r & 0x80 else 10.0 ** -r
        elif code == 14 and length >= 8:  # if_tsoffset
            (toff,) = Struct(order + "q").unpack_from(buf, val)
            toff = float(toff)
    return tick, toff
