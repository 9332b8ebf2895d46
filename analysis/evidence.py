"""``maildetour analyze --evidence DIR``: for each finding, a pcapng file of exactly the frames behind it.

A finding that cites flows or frames of a pcap/pcapng input gets ``NN-KIND.pcapng`` (NN: its place among the
report's findings; ``-inputN`` added when its flows come from several inputs) holding every frame of its flows
and the frames it cites, as the source holds them: bytes, timestamps, interfaces with their link type, time
resolution and options, the packets' own comments (PCAPdroid's app marks). The section header's comments
name the tool, the source file and its SHA-256, the finding and the case's account (no secret); each cited
frame has a packet comment naming the finding and its number in the source (a finding that cites flows only:
the first frame of each). With the case's canary set, every form of the password in clear text is overwritten
with 'X' (same length, so the checksums no longer match) and the frame's comment says so, never the value.
``index.json`` maps findings to files and each file's frames to the source's numbers; ``SHA256SUMS``
(sha256sum's format) covers every file written. Each file is written atomically, after the report.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from analysis import __version__
from analysis.capture import pcapngwrite as png
from analysis.capture.frameselect import FlowSpan, Kept, Selection, select_frames
from analysis.case import Case
from analysis.errors import InputError
from analysis.inputkind import sniff
from analysis.output import OutputError, write_output
from analysis.sharedpath import shared_path

SCHEMA = "maildetour.evidence/1"
INDEX, SUMS = "index.json", "SHA256SUMS"
MESSAGE_CHARS = 300  # of a finding's message in a packet comment
SCRUBBED = ("maildetour: the test password was overwritten with 'X' in this frame (same length; its IP, TCP or "
            "UDP checksum no longer matches)")


Note = tuple[str, str]  # (input path as given, what could not be written)


@dataclass
class _Part:
    """One evidence file: a finding's flows and cited frames within one input."""

    finding: int  # its place in the report's findings, from 1
    kind: str
    severity: str
    message: str
    input: int
    flows: list[int] = field(default_factory=list)
    cited: list[int] = field(default_factory=list)
    name: str = ""


def prepare(folder: str) -> None:
    """Create ``folder`` before the analysis, so that an unwritable one fails fast (OutputError)."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputError(folder, exc.strerror or str(exc)) from None
    if not os.path.isdir(folder):
        raise OutputError(folder, "not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(folder, "the folder is not writable")


def write_evidence(report: dict, paths: list[str], case: Case, folder: str) -> tuple[int, list[str]]:
    """Write the evidence files of ``report`` (analysed from ``paths``) into ``folder``: how many pcapng files,
    and notes on what could not be written."""
    prepare(folder)
    notes: list[Note] = []
    parts = _parts(report, paths, notes)
    matcher = case.matcher() if case.canary else None
    redact = case.redactor().text
    entries: list[dict] = []
    sums: dict[str, str] = {}
    inputs: list[dict] = []
    try:
        with tempfile.TemporaryFile(prefix=".maildetour-spool-", dir=folder) as spool:
            for index in sorted({p.input for p in parts}):
                mine = [p for p in parts if p.input == index]
                selection = _select(report, paths, index, mine, spool.fileno(), matcher, notes)
                if selection is None:
                    continue
                info = selection.info
                inputs.append({"input": index, "path": shared_path(paths[index]), "sha256": info.sha256,
                               "complete": info.complete})
                for part in mine:
                    frames = _frames(selection, part)
                    if not frames:
                        notes.append((paths[index], f"no frame of the flows of finding {part.finding} ({part.kind})"))
                        continue
                    digest = _write(folder, part, paths[index], selection, frames, case, redact,
                                    len(report["findings"]))
                    sums[part.name] = digest
                    entries.append(_entry(part, frames, digest, redact))
    except OSError as exc:  # the spool: a full disk
        raise OutputError(folder, exc.strerror or str(exc)) from None
    index_text = _index({"schema": SCHEMA, "tool": {"name": "maildetour", "version": __version__},
                         "account": case.account_address or None, "inputs": inputs,
                         "notes": [redact(f"{shared_path(path)}: {text}") for path, text in notes]}, entries)
    _remove_stale(folder, set(sums))
    write_output(os.path.join(folder, INDEX), index_text)
    sums[INDEX] = hashlib.sha256(index_text.encode()).hexdigest()
    write_output(os.path.join(folder, SUMS), "".join(f"{h}  {n}\n" for n, h in sorted(sums.items())))
    return len(entries), [f"{path}: {text}" for path, text in notes]


def _parts(report: dict, paths: list[str], notes: list[Note]) -> list[_Part]:
    """The evidence files to write: per finding that cites flows or frames, one per input they come from."""
    flows = {f.get("id"): f for f in report.get("flows") or []}
    readable = _readable_inputs(paths, notes)
    findings = report.get("findings") or []
    width = max(2, len(str(len(findings))))
    parts: list[_Part] = []
    for n, finding in enumerate(findings, 1):
        by_input: dict[int, _Part] = {}

        def part(index: int, n=n, finding=finding, by_input=by_input) -> _Part:
            if index not in by_input:
                by_input[index] = _Part(n, str(finding.get("kind") or "finding"), str(finding.get("severity") or ""),
                                        str(finding.get("message") or ""), index)
            return by_input[index]

        for flow_id in finding.get("flows") or []:
            flow = flows.get(flow_id)
            index = flow.get("input", 0) if flow else None
            if index in readable and flow.get("source", "pcap") == "pcap":
                part(index).flows.append(flow_id)
        cited = [f for f in finding.get("frames") or [] if isinstance(f, int) and f > 0]
        if cited:
            homes = list(by_input) or (list(readable) if len(readable) == 1 and len(paths) == 1 else [])
            for index in homes:
                part(index).cited.extend(cited)
        slug = re.sub(r"[^a-z0-9]+", "-", str(finding.get("kind") or "finding").lower()).strip("-") or "finding"
        for index, p in by_input.items():
            suffix = f"-input{index + 1}" if len(by_input) > 1 else ""
            p.name = f"{n:0{width}d}-{slug}{suffix}.pcapng"
            parts.append(p)
    return parts


def _readable_inputs(paths: list[str], notes: list[Note]) -> set[int]:
    """The inputs a second pass can read: pcap or pcapng files (not mitmproxy flows, not pipes)."""
    out = set()
    for index, path in enumerate(paths):
        try:
            kind = sniff(path)
        except InputError as exc:
            notes.append(_unreadable(exc))
            continue
        if kind == "mitm":
            notes.append((path, "a mitmproxy flow file holds no packets: no evidence files for its flows"))
        elif kind == "stream":
            notes.append((path, "read from a pipe, which cannot be read twice: no evidence files for its flows"))
        else:
            out.add(index)
    return out


def _select(report: dict, paths: list[str], index: int, parts: list[_Part], spool: int, matcher,
            notes: list[Note]) -> Selection | None:
    """The second pass over input ``index`` for ``parts``; None (and a note) when it cannot be trusted."""
    flows = {f["id"]: f for f in report.get("flows") or [] if "id" in f}
    spans = [_span(flows[i]) for i in sorted({i for p in parts for i in p.flows})]
    numbers = {n for p in parts for n in p.cited}
    path = paths[index]
    try:
        selection = select_frames(path, spans, numbers, spool, matcher)
    except InputError as exc:
        notes.append(_unreadable(exc))
        return None
    reported = (report.get("inputs") or [])[index:index + 1]
    if reported and reported[0].get("path") == shared_path(path) and reported[0].get("sha256") and \
            selection.info.sha256 and reported[0]["sha256"] != selection.info.sha256:
        notes.append((path, "changed since it was analysed (its SHA-256 differs): no evidence files for it"))
        return None
    return selection


def _unreadable(exc: InputError) -> Note:
    where = f"offset {exc.offset}: " if exc.offset is not None else ""
    return exc.path, f"{where}{exc.message}: no evidence files for it"


def _span(flow: dict) -> FlowSpan:
    client, server = flow["client"], flow["server"]
    return FlowSpan(flow["id"], flow["transport"], (client["ip"], client["port"]), (server["ip"], server["port"]),
                    int(flow.get("first_frame") or 0), int(flow.get("last_frame") or 0))


def _frames(selection: Selection, part: _Part) -> list[Kept]:
    wanted, cited = set(part.flows), set(part.cited)
    return [k for k in selection.frames if k.number in cited or wanted.intersection(k.flows)]


def _comments(part: _Part, frames: list[Kept]) -> dict[int, str]:
    """Source frame number -> the comment naming the finding (its cited frames, else each flow's first)."""
    head = f"maildetour finding {part.finding}: {part.kind} ({part.severity})"
    message = part.message if len(part.message) <= MESSAGE_CHARS else part.message[:MESSAGE_CHARS - 3] + "..."
    numbers = {k.number for k in frames}
    out = {n: f"{head}: {message} [source frame {n}]" for n in part.cited if n in numbers}
    if not out:
        firsts: dict[int, int] = {}
        for k in frames:
            for flow in k.flows:
                if flow in part.flows:
                    firsts.setdefault(flow, k.number)
        for flow, n in firsts.items():
            out[n] = f"{head}, first frame of flow {flow}: {message} [source frame {n}]"
    return out


def _blocks(part: _Part, path: str, selection: Selection, frames: list[Kept], case: Case, redact,
            total: int) -> Iterator[bytes]:
    """The file's blocks: section header, the interfaces its frames use, one packet block per frame."""
    info = selection.info
    scrubbed = sum(k.scrubbed for k in frames)
    lines = [
        f"maildetour {__version__}: evidence for finding {part.finding} of {total}: {part.kind} ({part.severity})",
        f"finding: {part.message}",
        f"source capture: {os.path.basename(path)} sha256 {info.sha256}",
        f"case: account {case.account_address or '(none given)'}"
        + (f", case file {os.path.basename(case.path)}" if case.path else ""),
        f"flows {', '.join(map(str, part.flows)) or '(none)'}; {len(frames)} frames of the source, in its order "
        f"(their source numbers: {INDEX}); frames the finding cites carry a comment",
    ]
    if scrubbed:
        lines.append(f"the test password is overwritten with 'X' (same length) in {scrubbed} frame"
                     f"{'s' if scrubbed != 1 else ''}: their IP, TCP or UDP checksums no longer match")
    if not info.complete:
        lines.append(f"the source capture is damaged at offset {info.error_offset}: only frames before it were read")
    yield png.section_header([png.comment(redact(line)) for line in lines]
                             + [png.text(png.SHB_USERAPPL, f"maildetour {__version__}")])
    ifaces: dict[int, int] = {}
    for k in frames:
        if k.iface not in ifaces:
            ifaces[k.iface] = len(ifaces)
            iface = selection.interfaces[k.iface]
            yield png.interface(iface.linktype, iface.snaplen, iface.options)
    notes = _comments(part, frames)
    for k in frames:
        options = list(k.options)
        if k.number in notes:
            options.append(png.comment(redact(notes[k.number])))
        if k.scrubbed:
            options.append(png.comment(SCRUBBED))
        yield png.packet(ifaces[k.iface], k.ticks, selection.data(k), k.origlen, options)


def _write(folder: str, part: _Part, path: str, selection: Selection, frames: list[Kept], case: Case, redact,
           total: int) -> str:
    """Write one evidence file atomically; its SHA-256."""
    sha = hashlib.sha256()
    write_output(os.path.join(folder, part.name),
                 _hashed(_blocks(part, path, selection, frames, case, redact, total), sha))
    return sha.hexdigest()


def _hashed(blocks: Iterable[bytes], sha) -> Iterator[bytes]:
    for block in blocks:
        sha.update(block)
        yield block


def _entry(part: _Part, frames: list[Kept], digest: str, redact) -> dict:
    return {"file": part.name, "sha256": digest, "finding": part.finding, "kind": part.kind,
            "severity": part.severity, "message": redact(part.message), "input": part.input,
            "flows": part.flows, "cited_frames": part.cited, "packets": len(frames),
            "frames": [k.number for k in frames], "overwritten_frames": [k.number for k in frames if k.scrubbed]}


def _index(head: dict, entries: list[dict]) -> str:
    """index.json: ``head``'s keys, then ``files`` with one line per file (its frame list can be long)."""
    text = json.dumps(head, indent=1, ensure_ascii=False)
    files = ",\n".join("  " + json.dumps(e, ensure_ascii=False) for e in entries)
    return f'{text[:-2]},\n "files": [\n{files}\n ]\n}}\n' if entries else f'{text[:-2]},\n "files": []\n}}\n'


def _remove_stale(folder: str, keep: set[str]) -> None:
    """Files an earlier run listed in the folder's index.json and this run does not write."""
    try:
        with open(os.path.join(folder, INDEX), encoding="utf-8") as fh:
            old = json.load(fh)
    except (OSError, ValueError):
        return
    if not isinstance(old, dict) or old.get("schema") != SCHEMA:
        return
    for entry in old.get("files") or []:
        name = entry.get("file") if isinstance(entry, dict) else None
        if isinstance(name, str) and name not in keep and re.fullmatch(r"[0-9]+-[a-z0-9-]+\.pcapng", name):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass
