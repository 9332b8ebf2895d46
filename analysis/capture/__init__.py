"""Capture files (pcap, pcapng, gzip) -> Capture: the flow table, DNS entries and the input's description."""

from __future__ import annotations

import os
from collections.abc import Callable

from analysis.capture.flowtable import FlowTable
from analysis.capture.linklayer import SUPPORTED_LINKTYPES, linktype_name
from analysis.capture.parallel import RemoteInspection, worth_a_worker
from analysis.capture.reader import CaptureReader
from analysis.case import Case
from analysis.dnsmap import attach_dns_names
from analysis.errors import InputError
from analysis.model import Capture
from analysis.sources.leaks import PayloadLeaks, classified_findings

BULK_MIN_BYTES = 16 << 20  # smaller captures are read faster without importing numpy


def worth_bulk(path: str) -> bool:
    """True for a capture big enough to gain from counting settled conversations in bulk."""
    try:
        return os.path.getsize(path) >= BULK_MIN_BYTES
    except OSError:
        return False


def load_capture(path: str, input_index: int = 0, progress: Callable[[int], None] | None = None,
                 case: Case | None = None, catalog_paths: list[str] | tuple[str, ...] = (),
                 parallel: bool | None = None, bulk: bool | None = None) -> Capture:
    """Read one capture file in a single streaming pass.

    Raises InputError when nothing can be read; a file damaged later gives everything read up to the
    damage, with ``complete=False``, the byte offset and a warning in its InputInfo. With a ``case`` whose
    canary is set, what the clients sent in clear is searched for it (``credential-leak`` findings; the
    flows' categories for them come from the bundled catalog and ``catalog_paths``). The payloads are
    inspected in a second process when ``parallel`` is True, or when it is None and the file is big enough;
    frames of settled conversations are counted in bulk (``analysis.capture.bulk``) when ``bulk`` is True,
    or when it is None and the file is big, mapped and has no canary to search for.
    """
    reader = CaptureReader(path, input_index, progress)
    leaks = PayloadLeaks(case) if case is not None and case.canary else None
    remote = None
    if parallel or (parallel is None and worth_a_worker(path)):
        try:
            remote = RemoteInspection(*reader.file_map())
        except OSError:  # no second process to be had: inspect here
            remote = None
    try:
        table = FlowTable(leaks, remote)
        mapped = reader.file_map()[0] is not None
        if leaks is None and mapped and (bulk or (bulk is None and worth_bulk(path))):
            from analysis.capture.bulk import run_bulk  # numpy: imported only for big captures

            run_bulk(table, reader)
        else:
            table.run(reader.records())
        return _finish(path, input_index, reader, table, case, leaks, catalog_paths)
    finally:
        if remote is not None:
            remote.close()


def _finish(path: str, input_index: int, reader: CaptureReader, table: FlowTable, case: Case | None,
            leaks: PayloadLeaks | None, catalog_paths: list[str] | tuple[str, ...]) -> Capture:
    """The table's flows, DNS entries and canary findings; warnings for what could not be read."""
    info = reader.info
    info.packets = table.frames
    if reader.interfaces and not any(lt in SUPPORTED_LINKTYPES for lt in reader.interfaces):
        names = ", ".join(sorted({linktype_name(lt) for lt in reader.interfaces}))
        raise InputError(path, f"unsupported link type on every interface: {names}")
    for lt, count in sorted(table.unknown_linktypes.items()):
        info.warnings.append(f"{count} frames with unsupported link type {linktype_name(lt)} skipped")
    lost = table.unassembled_datagrams()
    if lost:
        info.warnings.append(f"{lost} fragmented IP datagrams could not be reassembled (fragments missing)")
    flows = table.flows(input_index)
    dns = table.dns.entries()
    attach_dns_names(flows, dns)
    findings = []
    if leaks is not None:
        hits = leaks.resolved(table.flow_of)
        if hits:
            findings = classified_findings(case, leaks.scanner, hits, dns, catalog_paths)
    return Capture(inputs=[info], flows=flows, dns=dns, findings=findings)

