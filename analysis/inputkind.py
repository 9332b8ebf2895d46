"""Tell a capture from a log file by its first bytes, so ``analyze --logs a.log phone.pcapng`` still works."""

from __future__ import annotations

import gzip
import re
import zlib

PCAP_MAGICS = (b"\x0a\x0d\x0d\x0a", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
MITM_SUFFIXES = (".mitm", ".flows", ".mitmdump")
_TNETSTRING = re.compile(rb"([1-9][0-9]{0,11}):")  # a mitmproxy flow file: a tnetstring dict, "2689:...}"


def _is_flow_file(fh, head: bytes) -> bool:
    """The file starts with a tnetstring whose declared length ends exactly on its dict marker '}'."""
    match = _TNETSTRING.match(head)
    if not match:
        return False
    fh.seek(match.end() + int(match.group(1)))
    return fh.read(1) == b"}"


def is_capture(path: str) -> bool:
    """A pcap or pcapng file (also gzip-compressed) or a mitmproxy flow file; False when unreadable."""
    if path.lower().endswith(MITM_SUFFIXES):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            if head[:4] in PCAP_MAGICS:
                return True
            if head[:2] == b"\x1f\x8b":
                fh.seek(0)
                with gzip.open(fh, "rb") as inner:
                    return inner.read(4) in PCAP_MAGICS
            return _is_flow_file(fh, head)
    except (OSError, EOFError, ValueError, zlib.error):  # unreadable or broken gzip: leave it where it was given
        return False
