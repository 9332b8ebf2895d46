"""What kind of input a path is, from its first bytes: the one format sniffer of every loader.

``sniff`` names the loader a CAPTURE argument goes to; ``is_capture`` tells a capture from a log file among
the ``--logs`` arguments (``analyze --logs a.log phone.pcapng``). A pipe or other non-regular file is never
read here: its bytes can be read once only, by the loader itself.
"""

from __future__ import annotations

import os
import re
import stat

from analysis.capture.reader import PCAP_MAGICS, PCAPNG_MAGIC, gunzip_head
from analysis.errors import InputError

MITM_SUFFIXES = (".mitm", ".flows", ".mitmdump")
GZIP_MAGIC = b"\x1f\x8b"
_TNETSTRING = re.compile(rb"([1-9][0-9]{0,11}):")  # a mitmproxy flow file: a tnetstring dict, "2689:...}"


def _mitm_name(path: str) -> bool:
    return path.lower().endswith(MITM_SUFFIXES)


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror}") from None


def sniff(path: str) -> str:
    """'pcap', 'pcapng', 'gzip', 'gzip-pcapng', 'mitm', or 'stream' (a pipe: the capture reader finds out)."""
    if os.path.isdir(path):
        raise InputError(path, "a folder, not a capture")
    if not _regular(path):
        return "mitm" if _mitm_name(path) else "stream"
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror}") from None
    if head[:2] == GZIP_MAGIC:
        return "gzip-pcapng" if gunzip_head(path) == PCAPNG_MAGIC else "gzip"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if _mitm_name(path) or re.match(rb"[1-9][0-9]{0,11}:[0-9]", head):  # a tnetstring: "2689:9:websocket"
        return "mitm"
    if not head:
        raise InputError(path, "empty file, not a capture", 0)
    raise InputError(path, "not a pcap, pcapng or mitmproxy flow file (unknown magic number)", 0)


def _is_flow_file(path: str) -> bool:
    """The file starts with a tnetstring whose declared length ends exactly on its dict marker '}'."""
    with open(path, "rb") as fh:
        match = _TNETSTRING.match(fh.read(16))
        if not match:
            return False
        fh.seek(match.end() + int(match.group(1)))
        return fh.read(1) == b"}"


def is_capture(path: str) -> bool:
    """A pcap or pcapng file (also gzip-compressed) or a mitmproxy flow file; False when unreadable or not a
    regular file (a pipe stays where it was given: reading it here would consume it)."""
    if _mitm_name(path):
        return True
    try:
        if not _regular(path):
            return False
        kind = sniff(path)
        if kind == "gzip":  # sniff leaves a gzip pcap's magic to the reader; a gzip log has none
            return gunzip_head(path)[:4] in PCAP_MAGICS
        return kind != "mitm" or _is_flow_file(path)
    except (InputError, OSError):
        return False
