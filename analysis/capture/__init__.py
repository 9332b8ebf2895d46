"""Capture files (pcap, pcapng, gzip) -> Capture: the flow table, DNS entries, raw canary hits and the input's
description. Nothing here classifies: the pipeline does, afterwards."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from analysis.capture.canaryhits import PayloadHits
from analysis.capture.conversations import ConversationTable
from analysis.capture.linklayer import SUPPORTED_LINKTYPES, linktype_name
from analysis.capture.parallel import RemoteInspection, worth_a_worker
from analysis.capture.reader import CaptureReader
from analysis.case import Case
from analysis.dnsmap import DnsNames
from analysis.errors import InputError
from analysis.model import CanaryHit, Capture, Flow

BULK_MIN_BYTES = 16 << 20  # smaller captures are read faster without importing numpy
RECORDS_PART = 512  # flow records made, classified and written at a time by a caller that streams them


def worth_bulk(path: str) -> bool:
    """True for a capture big enough to gain from counting settled conversations in bulk."""
    try:
        return os.path.getsize(path) >= BULK_MIN_BYTES
    except OSError:
        return False


def load_capture(path: str, input_index: int = 0, progress: Callable[[int], None] | None = None,
                 case: Case | None = None, parallel: bool | None = None, bulk: bool | None = None,
                 digest: bool = True) -> Capture:
    """Read one capture file in a single streaming pass: ``count_capture``, then every flow record at once."""
    return count_capture(path, input_index, progress, case, parallel, bulk, digest).capture()


def count_capture(path: str, input_index: int = 0, progress: Callable[[int], None] | None = None,
                  case: Case | None = None, parallel: bool | None = None, bulk: bool | None = None,
                  digest: bool = True) -> CountedCapture:
    """Read one capture file in a single streaming pass, up to its flow records (``CountedCapture``).

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
        table.end()
        return CountedCapture(path, input_index, reader, table, canary)
    finally:
        if remote is not None:
            remote.close()


class CountedCapture:
    """A capture read to its end: its description (``info``) and DNS entries (``dns``) at once, its flow
    records as they are taken from ``records`` (once), with their app and DNS names; the canary hits and
    PCAPdroid's warnings once every record is made."""

    def __init__(self, path: str, input_index: int, reader: CaptureReader, table: ConversationTable,
                 canary: PayloadHits | None) -> None:
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
        self.info, self.dns = info, table.dns.entries()
        self.inputs = [info]
        self.hits: list[CanaryHit] = []  # the raw canary hits, once every record is made
        self.input_index = input_index
        self.flow_count = len(table.convs)
        self._apps, self._table, self._canary = reader.apps, table, canary

    @property
    def part_count(self) -> int:
        """How many parts ``records`` yields when every part is made here."""
        return -(-self.flow_count // RECORDS_PART)

    @property
    def shareable(self) -> bool:
        """Its parts can be made by two processes: no canary search (its hits name every flow) and no
        PCAPdroid records (their warnings count every flow)."""
        return self._canary is None and not self._apps.has_frames()

    def records(self, mine: Callable[[int], bool] | None = None) -> Iterator[list[Flow]]:
        """The flow records in parts of up to ``RECORDS_PART`` flows, in id order; with ``mine``, only the
        parts whose number (from 0) it accepts (see ``shareable``)."""
        dns_names = DnsNames(self.dns)
        for flows in self._table.records(self.input_index, RECORDS_PART, mine):
            self._apps.attach(flows)  # PCAPdroid's app of each flow
            dns_names.attach(flows)
            yield flows
        self.info.warnings.extend(self._apps.warnings())
        if self._canary is not None:
            self.hits = self._canary.hits(self._table.flow_of)

    def capture(self) -> Capture:
        """Every record at once, with the hits."""
        flows = [flow for part in self.records() for flow in part]
        return Capture(inputs=self.inputs, flows=flows, dns=self.dns, hits=self.hits)
