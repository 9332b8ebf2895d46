"""``maildetour flows``: the flow table alone as JSON lines, CSV (the report's layout), Zeek's conn.log (JSON
lines, ``analysis.report.zeeklog``) or an aligned text table."""

from __future__ import annotations

from collections.abc import Iterator

from analysis.model import Capture, Flow, FlowStream
from analysis.report.csvout import flows_csv
from analysis.report.zeeklog import conn_lines
from analysis.sharedpath import shared_path
from analysis.twoprocess import interleaved, two_cores

NAME_WIDTH = 48
BATCH = 512  # flows per piece written
FORMATS = ("jsonl", "csv", "table", "zeek")
TWO_PROCESSES = 16  # a stream of at least this many parts is made and written by two processes


def render_flows(flows: Capture | FlowStream, fmt: str) -> str:
    """The flows as ``jsonl``, ``csv``, ``zeek`` or ``table`` text."""
    return "".join(iter_flows(flows, fmt))


def iter_flows(flows: Capture | FlowStream, fmt: str) -> Iterator[str]:
    """``render_flows`` in pieces of up to ``BATCH`` flows, written as a stream's parts are made (the aligned
    table waits for every flow: its columns' widths). A long stream that can be shared is made by two
    processes (``analysis.twoprocess``), each making every other part: the same text, in the same order."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown flow table format {fmt!r}")
    stream = flows if isinstance(flows, FlowStream) else FlowStream.of(flows)
    if fmt == "table":
        yield _table(stream.capture())
        return
    if stream.share is not None and stream.part_count >= TWO_PROCESSES and two_cores():
        share = stream.share
        yield from interleaved(stream.part_count, lambda k, n: _shared_pieces(share(k, n), fmt, k == 0))
        return
    first = True
    for part in stream.parts:
        for start in range(0, len(part), BATCH):
            yield _piece(part[start:start + BATCH], fmt, first)
            first = False
    if first:  # no flow: what the format writes for none (CSV: its header)
        yield _piece([], fmt, True)


def _shared_pieces(parts: Iterator[list[Flow]], fmt: str, first: bool) -> Iterator[str]:
    """One piece per part, even an empty one (the CSV header goes with part 0: ``first``)."""
    for part in parts:
        yield "".join(_piece(part[start:start + BATCH], fmt, first and not start)
                      for start in range(0, max(len(part), 1), BATCH))
        first = False


def _piece(flows: list[Flow], fmt: str, first: bool) -> str:
    if fmt == "jsonl":
        lines = [f.json_line() for f in flows]
        lines.append("")  # the last line's newline
        return "\n".join(lines)
    if fmt == "zeek":
        return conn_lines(flows)
    return flows_csv((f.to_json() for f in flows), header=first)


def _printable(text: str) -> str:
    """Control characters from the network shown as escapes, never sent to the terminal."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _table(capture: Capture) -> str:
    header = ("id", "proto", "client", "server", "packets", "bytes", "app", "frame", "seconds", "category", "names")
    rows = [header]
    for f in capture.flows:
        names = [n for _src, n in f.names.all()]
        unique = list(dict.fromkeys(names))
        rows.append((
            str(f.id), f.transport, _endpoint(f.client.ip, f.client.port),
            _endpoint(f.server.ip, f.server.port), str(f.packets), str(f.bytes),
            f.app_protocol + ("+starttls" if f.starttls else ""), str(f.first_frame),
            f"{f.duration:.3f}", f.category, _shorten(_printable(", ".join(unique)), NAME_WIDTH),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    right = {0, 4, 5, 7, 8}
    lines = []
    for r in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    for info in capture.inputs:
        state = "complete" if info.complete else f"INCOMPLETE at offset {info.error_offset}"
        lines.append(f"# {_printable(shared_path(info.path) or '')}: {info.format}, {info.packets} frames, {state}")
        lines.extend(f"#   {_printable(w)}" for w in info.warnings)
    lines.append(f"# {len(capture.flows)} flows, {len(capture.dns)} DNS names")
    return "\n".join(lines) + "\n"
