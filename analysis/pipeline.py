"""The one pipeline: inputs -> Flow records -> classify -> verdict -> report dict.

The command line and the mitmproxy addon both end here, so there is one copy of each stage.
"""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass, field

from analysis.case import Case
from analysis.errors import InputError
from analysis.model import Capture
from analysis.progress import progress_bar

MITM_SUFFIXES = (".mitm", ".flows", ".mitmdump")


@dataclass
class Settings:
    case: Case = field(default_factory=Case)
    catalog_paths: list[str] = field(default_factory=list)
    keylog: str | None = None
    logs: list[str] = field(default_factory=list)
    log_offset: float = 0.0  # seconds added to log times to match the capture clock
    year: int | None = None  # for year-less syslog timestamps
    lang: str = "en"


def sniff_format(path: str) -> str:
    """'pcap', 'pcapng', 'gzip' or 'mitm' from the first bytes (and the name for mitmproxy files)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            tnet = head + fh.read(12)  # a mitmproxy flow file starts with a tnetstring: "2689:9:websocket"
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror}") from None
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as fh:
            try:
                inner = fh.read(4)
            except (OSError, EOFError) as exc:
                raise InputError(path, f"broken gzip stream: {exc}", 0) from None
        return "gzip-pcapng" if inner == b"\x0a\x0d\x0d\x0a" else "gzip"
    if head == b"\x0a\x0d\x0d\x0a":
        return "pcapng"
    if head in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
        return "pcap"
    if path.endswith(MITM_SUFFIXES) or re.match(rb"[1-9][0-9]{0,11}:[0-9]", tnet):  # tnetstring dict
        return "mitm"
    if not head:
        raise InputError(path, "empty file, not a capture", 0)
    raise InputError(path, "not a pcap, pcapng or mitmproxy flow file (unknown magic number)", 0)


def load_inputs(paths: list[str], case: Case | None = None, catalog_paths: list[str] | None = None) -> Capture:
    """Read every input into one Capture; flow ids are renumbered to be unique across inputs. With a case,
    every input is also searched for its canary (``catalog_paths``: the extra catalogs)."""
    kinds = [sniff_format(path) for path in paths]  # fail fast, before any work, on an unreadable input
    merged = Capture()
    for index, (path, kind) in enumerate(zip(paths, kinds, strict=True)):
        if kind == "mitm":
            from analysis.sources.mitm import load_mitm

            part = load_mitm(path, input_index=index, case=case, catalog_paths=catalog_paths or ())
        else:
            from analysis.capture import load_capture

            with progress_bar(os.path.basename(path), os.path.getsize(path)) as advance:
                part = load_capture(path, input_index=index, progress=advance, case=case,
                                    catalog_paths=catalog_paths or ())
        offset = len(merged.flows)
        for flow in part.flows:
            flow.id += offset
            flow.input_index = index
        for finding in part.findings:
            finding.flows = [i + offset for i in finding.flows]
        for info in part.inputs:
            merged.inputs.append(info)
        merged.flows.extend(part.flows)
        merged.dns.extend(part.dns)
        merged.findings.extend(part.findings)
    if case is not None and case.devices:
        keep = set(case.devices)
        merged.flows = [f for f in merged.flows if f.client.ip in keep]
        merged.dns = [d for d in merged.dns if d.client in keep]
        kept = {f.id for f in merged.flows}
        merged.findings = [x for x in merged.findings if not x.flows or any(i in kept for i in x.flows)]
    return merged


def analyze_capture(capture: Capture, settings: Settings) -> dict:
    """Classify, decide and build the report dict for flows that are already loaded."""
    from analysis.catalog import Catalog
    from analysis.classify import classify
    from analysis.report.build import build_report
    from analysis.verdict import decide

    catalog = Catalog.load(settings.catalog_paths)
    classify(capture, settings.case, catalog)
    verdict, findings = decide(capture, settings.case, lang=settings.lang)
    findings = list(capture.findings) + findings
    logs_view = None
    if settings.logs:
        from analysis.logs.correlate import correlate

        logs_view, log_findings = correlate(
            settings.logs, settings.case, capture, catalog,
            offset=settings.log_offset, year=settings.year, lang=settings.lang,
        )
        findings += log_findings
    return build_report(
        capture, settings.case, verdict, findings, catalog, logs_view=logs_view, lang=settings.lang
    )


def analyze(paths: list[str], settings: Settings) -> dict:
    if settings.keylog and not os.access(settings.keylog, os.R_OK):  # fail before the long read, not after
        raise InputError(settings.keylog, "cannot read the TLS key log")
    capture = load_inputs(paths, settings.case, settings.catalog_paths)
    if settings.keylog:
        from analysis.capture.decrypt import apply_keylog

        apply_keylog(capture, paths, settings.keylog)
    return analyze_capture(capture, settings)
