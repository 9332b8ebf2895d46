"""A run folder's inputs: its captures, case file, server logs and ownership file, found by name and content.

A run folder holds pcap/pcapng files (also gzip) and mitmproxy flow files, all read as one capture;
``case.toml`` (required); mail server logs ``*.log`` or ``*.log.gz`` at the top or under ``logs/``; and
optionally ``owners.csv`` (``--asn-db`` CSV for this run, over the batch's). The layout ``maildetour lab run``
writes is one. A folder that cannot be a run becomes a spec with its ``error``: a row, never the batch's end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from analysis import __version__
from analysis.case import AppInfo, Case, load_case
from analysis.errors import MaildetourError, UsageError
from analysis.inputkind import is_capture

CASE_FILE = "case.toml"
OWNERS_FILE = "owners.csv"
LOGS_FOLDER = "logs"
LOG_SUFFIXES = (".log", ".log.gz")


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to analyse one run; picklable (it travels to a pool or a cluster)."""

    name: str  # the folder's name: the run's row and its folder under OUT_DIR/runs/
    folder: str  # absolute
    given: str = ""  # the folder as the command line gave it (for error lines)
    captures: tuple[str, ...] = ()
    case: Case | None = None  # with its canary (read here, from this environment) for the redaction
    logs: tuple[str, ...] = ()
    asn_db: tuple[str, ...] = ()
    catalogs: tuple[str, ...] = ()
    lang: str = "en"
    base: str = ""  # the folder report paths are relative to: the batch command's working folder
    version: str = __version__  # the maildetour that planned the run; a worker with another one refuses
    error: str | None = None  # why the folder is no run (then nothing is analysed)

    @property
    def app(self) -> AppInfo:
        return self.case.app if self.case is not None else AppInfo()


@dataclass(frozen=True)
class BatchOptions:
    catalogs: tuple[str, ...] = ()
    asn_db: tuple[str, ...] = ()
    lang: str = "en"
    base: str = field(default_factory=os.getcwd)


def run_name(path: str) -> str:
    return os.path.basename(os.path.normpath(os.path.abspath(path)))


def _files(folder: str) -> list[str]:
    """The regular files directly in ``folder`` (sorted names); none when it is unreadable or missing."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.is_file()]
    except OSError:
        return []
    return sorted(names)


def _logs(folder: str) -> list[str]:
    found = [os.path.join(folder, n) for n in _files(folder) if n.endswith(LOG_SUFFIXES)]
    sub = os.path.join(folder, LOGS_FOLDER)
    found += [os.path.join(sub, n) for n in _files(sub) if n.endswith(LOG_SUFFIXES)]
    return [p for p in found if not is_capture(p)]


def relative_error(message: str, folder: str) -> str:
    """An error as one line without the run folder's absolute path (the row names the run)."""
    return " ".join(message.replace(folder + os.sep, "").replace(folder, ".").split())


def plan_run(path: str, options: BatchOptions) -> RunSpec:
    """The spec of the run folder ``path``; a spec with ``error`` when it cannot be analysed."""
    folder = os.path.normpath(os.path.abspath(path))
    spec = RunSpec(name=run_name(path), folder=folder, given=path, catalogs=options.catalogs, lang=options.lang,
                   base=options.base)
    if not os.path.isdir(folder):
        why = "not a folder" if os.path.exists(folder) else "no such folder"
        return replace(spec, error=f"{why}: a run is a folder with a capture and {CASE_FILE}")
    names = _files(folder)
    if not os.access(folder, os.R_OK | os.X_OK):
        return replace(spec, error="cannot read the folder")
    case_path = os.path.join(folder, CASE_FILE)
    case = None
    if CASE_FILE in names:
        try:
            case = load_case(case_path)
        except MaildetourError as exc:
            return replace(spec, error=relative_error(str(exc), folder))
    spec = replace(spec, case=case)
    captures = tuple(os.path.join(folder, n) for n in names
                     if not n.endswith(LOG_SUFFIXES) and is_capture(os.path.join(folder, n)))
    if not captures:
        return replace(spec, error="no capture in the folder (a pcap or pcapng file, also gzip, or a mitmproxy "
                                 ".mitm flow file)")
    if case is None:
        return replace(spec, error=f"no {CASE_FILE} in the folder (the run's case file: account, mail hosts)")
    owners = (os.path.join(folder, OWNERS_FILE),) if OWNERS_FILE in names else ()
    return replace(spec, captures=captures, logs=tuple(_logs(folder)), asn_db=options.asn_db + owners)


def plan_runs(paths: list[str], options: BatchOptions) -> list[RunSpec]:
    """Every run's spec in run-name order; two runs with the same folder name are a usage error (their
    outputs would share a folder)."""
    specs = sorted((plan_run(p, options) for p in paths), key=lambda s: s.name)
    for first, second in zip(specs, specs[1:], strict=False):
        if first.name == second.name:
            raise UsageError(f"batch: two runs are named {first.name!r} ({first.folder}, {second.folder}): "
                             "give run folders distinct names")
    return specs
