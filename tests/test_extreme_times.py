"""Times Python's datetime cannot show (before year 1, after 9999) from captures, case files and logs: the
packet times are clamped with one warning on the input, every output format still renders, nothing crashes.

The captures are pcapng files whose interface options (if_tsresol, if_tsoffset) or packet timestamps are at
the extremes the format allows; ``analysis.cli.main`` runs in this process."""

from __future__ import annotations

import json
import math
import struct
from datetime import UTC, datetime

import pytest
from scapy.all import IP, TCP, Ether, raw

from analysis.capture import load_capture
from analysis.model import TS_MAX, TS_MIN, iso_utc
from tests import pcapbuild as pb
from tests.conftest import md

FIRST, LAST = "0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z"
U64 = (1 << 64) - 1
SYN = raw(Ether() / IP(src="10.0.0.2", dst="192.0.2.1") / TCP(sport=40000, dport=993, flags="S"))
SYNACK = raw(Ether() / IP(src="192.0.2.1", dst="10.0.0.2") / TCP(sport=993, dport=40000, flags="SA"))



def idb(tsresol: int | None = None, tsoffset: int | None = None) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += pb._option("<", 9, bytes([tsresol]))
    if tsoffset is not None:
        opts += pb._option("<", 14, struct.pack("<q", tsoffset))
    return pb._block("<", 1, struct.pack("<HHI", 1, 0, 0) + opts + pb._option("<", 0, b""))


def epb(ticks: int, frame: bytes) -> bytes:
    return pb._block("<", 6, struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
                     + frame)


def pcapng(iface: bytes, *ticks: int) -> bytes:
    return pb.shb() + iface + b"".join(epb(t, f) for t, f in zip(ticks, (SYN, SYNACK), strict=True))


NOW_US = 1_600_000_000 * 10**6
# name -> (file bytes, first_seen, last_seen, times clamped)
CASES = {
    "tsoffset+2^63": (pcapng(idb(tsoffset=(1 << 63) - 1), NOW_US, NOW_US), LAST, LAST, True),
    "tsoffset-2^63": (pcapng(idb(tsoffset=-(1 << 63)), NOW_US, NOW_US), FIRST, FIRST, True),
    "tsresol-2^0-ticks-max": (pcapng(idb(tsresol=0x80), U64, U64), LAST, LAST, True),
    "ticks-2^64-1": (pcapng(idb(), NOW_US, U64), "2020-09-13T12:26:40.000000Z", LAST, True),
    "tsresol-0x7f": (pcapng(idb(tsresol=0x7F), U64, U64), "1970-01-01T00:00:00.000000Z",
                     "1970-01-01T00:00:00.000000Z", False),
    "tsresol-0xff": (pcapng(idb(tsresol=0xFF), U64, U64), "1970-01-01T00:00:00.000000Z",
                     "1970-01-01T00:00:00.000000Z", False),
    # an hour apart at each end: the HTML chart's clock axis runs past the last (first) representable second
    "near-9999": (pcapng(idb(), (253402297200 * 10**6), U64), "9999-12-31T23:00:00.000000Z", LAST, True),
    "near-year-1": (pcapng(idb(tsoffset=-62135596800), 0, 3600 * 10**6), FIRST, "0001-01-01T01:00:00.000000Z",
                    False),
    # pcap's 32-bit seconds end in 2106: nothing to clamp
    "pcap-max-seconds": (pb.pcap_bytes([(0.0, SYN), (0.0, SYNACK)]), None, None, False),
}


def _pcap_at_the_end() -> bytes:
    data = bytearray(CASES["pcap-max-seconds"][0])
    for rec in (24, 24 + 16 + len(SYN)):
        struct.pack_into("<II", data, rec, 0xFFFFFFFF, 999_999)
    return bytes(data)


CASES["pcap-max-seconds"] = (_pcap_at_the_end(), "2106-02-07T06:28:15.999999Z", "2106-02-07T06:28:15.999999Z",
                             False)


@pytest.mark.parametrize("name", sorted(CASES))
def test_extreme_packet_times_are_clamped_with_one_warning(tmp_path, capsys, name):
    data, first, last, clamped = CASES[name]
    path = tmp_path / (f"{name}.pcap" if name.startswith("pcap-") else f"{name}.pcapng")
    path.write_bytes(data)

    info = load_capture(str(path)).inputs[0]
    assert info.complete and info.packets == 2
    time_warnings = [w for w in info.warnings if "outside the years 1-9999" in w]
    assert len(time_warnings) == (1 if clamped else 0), info.warnings
    if clamped:
        assert time_warnings[0].startswith("2 packets have" if first in (FIRST, LAST) else "1 packet has")

    for fmt in ("jsonl", "csv", "table"):
        code, out, err = md(capsys, "flows", path, "--format", fmt)
        assert (code, err) == (0, "")
        if fmt == "jsonl":
            row = json.loads(out.splitlines()[0])
            assert (row["first_seen"], row["last_seen"]) == (first, last)
        elif fmt == "csv":
            assert first[:10] in out and last[:10] in out
        else:  # the terminal table shows seconds, not dates, and the input's warnings
            assert ("outside the years 1-9999" in out) == clamped

    for fmt in ("json", "md", "html", "csv"):
        out_path = tmp_path / f"report.{fmt}"
        code, _out, err = md(capsys, "analyze", path, "--format", fmt, "-o", out_path, "-q")
        assert code == 0 and "internal error" not in err and "Traceback" not in err, err
        text = out_path.read_text()
        if fmt == "json":
            report = json.loads(text)
            assert report["inputs"][0]["warnings"] == info.warnings
            assert (report["flows"][0]["first_seen"], report["flows"][0]["last_seen"]) == (first, last)
            assert (report["timeline"]["start"], report["timeline"]["end"]) == (first, last)
        elif fmt == "html":
            assert "<svg" in text
        elif fmt == "csv":
            assert first[:10] in text and last[:10] in text
        else:
            assert "Verdict" in text


def test_iso_utc_clamps_and_never_raises():
    assert iso_utc(None) is None and iso_utc(math.nan) is None
    for ts, want in ((math.inf, LAST), (-math.inf, FIRST), (1e300, LAST), (-1e300, FIRST), (TS_MAX, LAST),
                     (TS_MAX + 1e-5, LAST), (TS_MIN, FIRST), (TS_MIN - 1e-3, FIRST), (-2.0**63, FIRST)):
        assert iso_utc(ts) == want, ts
    for ts in (0.0, -0.5, 1_600_000_000.123456, TS_MIN + 0.25, TS_MAX - 0.75):  # as datetime shows them
        assert iso_utc(ts) == datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")[:26] + "Z"


LOG = "".join(
    f"{stamp} mx dovecot: imap-login: Login: user=<alice@example.org>, method=PLAIN, rip=203.0.113.{i}, "
    f"lip=192.0.2.1, mpid={i}, TLS, session=<s{i}>\n"
    for i, stamp in enumerate(("0001-01-01T00:00:00+23:59", "0001-01-01T00:00:00-23:59",
                               "9999-12-31T23:59:59+23:59", "9999-12-31T23:59:59-23:59",
                               "2020-09-13T12:26:41+00:00"), start=1)
)


@pytest.mark.parametrize("fmt", ["json", "md", "html", "csv"])
def test_log_lines_at_the_ends_of_time_render_in_every_format(tmp_path, capsys, fmt):
    """Log lines one zone away from year 0 and year 10000 next to an ordinary one: every format renders, the
    ordinary login is there, and every time the output shows is a real one."""
    capture = tmp_path / "c.pcapng"
    capture.write_bytes(pcapng(idb(), NOW_US, NOW_US + 10**6))
    log = tmp_path / "dovecot.log"
    log.write_text(LOG)
    out_path = tmp_path / f"report.{fmt}"
    case = tmp_path / "case.toml"
    case.write_text('[account]\naddress = "alice@example.org"\n[mail]\nhosts = ["192.0.2.1:993"]\n')
    code, _out, err = md(capsys, "analyze", capture, "--case", case, "--logs", log, "--format", fmt, "-o", out_path,
                         "-q")
    assert code in (0, 1) and "internal error" not in err and "Traceback" not in err, err
    text = out_path.read_text()
    assert "203.0.113.5" in text or fmt == "csv"  # the CSV report is the flow table alone
    if fmt == "json":
        report = json.loads(text)
        times = [e["time"] for e in report["mail_server"]["events"] if e.get("time")]
        assert "2020-09-13T12:26:41.000000Z" in times
        assert all(FIRST <= t <= LAST for t in times)
    log_fmt = "md" if fmt == "md" else "json"
    code, out, err = md(capsys, "logs", log, "--account", "alice@example.org", "--format", log_fmt)
    assert code in (0, 1) and "internal error" not in err and "Traceback" not in err, err
    assert "203.0.113.5" in out


def test_case_timeline_marks_at_the_ends_of_time():
    """A timeline one zone away from year 0 and year 10000 (the case file refuses such times; a Case made in
    code may still hold them): the report's marks show the first and last second there is."""
    from datetime import timedelta, timezone

    from analysis.case import Case
    from analysis.model import Endpoint, Flow
    from analysis.report.build import timeline

    east, west = timezone(timedelta(hours=23, minutes=59)), timezone(-timedelta(hours=23, minutes=59))
    case = Case(account_added=datetime(1, 1, 1, tzinfo=east), app_removed=datetime(9999, 12, 31, 23, 59, 59,
                                                                                     tzinfo=west))
    flow = Flow(1, "tcp", Endpoint("10.0.0.2", 40000), Endpoint("192.0.2.1", 993), first_seen=1.6e9,
                last_seen=1.6e9 + 1)
    marks = {m["kind"]: m for m in timeline([flow], case)["marks"]}
    assert (marks["account_added"]["time"], marks["app_removed"]["time"]) == (FIRST, LAST)
    assert marks["account_added"]["offset"] < 0 < marks["app_removed"]["offset"]
