"""Capture files (pcap, pcapng, gzip) -> Capture: the flow table, DNS entries, raw canary hits and the input's
description. Nothing here classifies: the pipeline does, afterwards."""

from __future__ import annotations

import os
from collections.abc import Callable

from analysis.capture.canaryhits import PayloadHits
from analysis.capture.conversations import ConversationTable
from analysis.capture.linklayer import SUPPORTED_LINKTYPES, linktype_name
from analysis.capture.parallel import RemoteInspection, worth_a_worker
from analysis.capture.reader import CaptureReader
from analysis.case import Case
from analysis.dnsmap import attach_dns_names
from analysis.errors import InputError
from analysis.model import Capture

BULK_MIN_BYTES = 16 << 20  # smaller captures are read faster without importing numpy


def worth_bulk(path: str) -> bool:
    """True for a capture big enough to gain from counting settled conversations in bulk."""
    try:
        return os.path.getsize(path) >= BULK_MIN_BYTES
    except OSError:
        return False


def load_capture(path: str, input_index: int = 0, progress: Callable[[int], None] | None = None,
                 case: Case | None = None, parallel: bool | None = None, bulk: bool | None = None,
                 digest: bool = True) -> Capture:
    """Read one capture file in a single streaming pass.

    Raises InputError when nothing can be read; a file damaged later gives everything read up to the
    damage, with ``complete=False``, the byte offset and a warning in its InputInfo. With a ``case`` whose
    canary is set, what the clients sent in clear is searched for it and the account's names (``hits``, each
    with its frame; ``analysis.leaks`` judges them once the flows are classified). The payloads are
    inspected in a second process when ``parallel`` is True, or when it is None and the file is big enough;
    frames of settled conversations are counted in bulk (``analysis.capture.bulk``) when ``bulk`` is True,
    or when it is None and the file is big, mapped and has no canary to search for. ``digest`` False skips the
    file's SHA-256 (for output that does not show it: a flow table).
    """
    reader = CaptureReader(path, input_index, progress, digest)
    canary = PayloadHits(case.matcher()) if case is not None and case.canary else None
    remote = None
    if parallel or (parallel is None and worth_a_worker(path)):
        try:
            remote = RemoteInspection(*reader.file_map())
        except OSError:  # no second process to be had: inspect here
            remote = None
    try:
        table = ConversationTable(canary, remote)
        mapped = reader.file_map()[0] is not None
        if canary is None and mapped and (bulk or (bulk is None and worth_bulk(path))):
            from analysis.capture.bulk import run_bulk  # numpy: imported only for big captures

            run_bulk(table, reader)
        else:
            table.run(reader.records())
        return _finish(path, input_index, reader, table, canary)
    finally:
        if remote is not None:
            remote.close()


def _finish(path: str, input_index: int, reader: CaptureReader, table: ConversationTable,
            canary: PayloadHits | None) -> Capture:
    """The table's flows, DNS entries and canary hits; warnings for what could not be read."""
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
    info.warnings.extend(reader.apps.attach(flows))  # PCAPdroid's app of each flow
    dns = table.dns.entries()
    attach_dns_names(flows, dns)
    hits = canary.hits(table.flow_of) if canary is not None else []
    return Capture(inputs=[info], flows=flows, dns=dns, hits=hits)

