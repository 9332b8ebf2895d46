"""Seeded mutation fuzzing of the command line over the shipped inputs, plus the hostile inputs it grew from.

Each input class (the shipped pcapng, a pcap and a gzip form of it, a mitmproxy flow file, the Dovecot and
Exim logs, the case file and a JSON report made from them) gets a fixed number of mutants (CASES,
CAPTURE_CASES) from its own fixed seed: bit flips, truncations, byte insertions and deletions, repeated
slices, corrupted length fields (pcap, pcapng, gzip, tnetstring) and, for text, lines and values of the wrong
kind. Each mutant runs ``analysis.cli.main`` in-process (analyze, flows, logs or report) and must end as bad
input ends: exit 0-3, and when not 0 one stderr line naming the file, never "internal error" or a traceback.
A failure lists every bad mutant with its seed and case number; its file stays in the test's temp folder.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import random
import re
import signal
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis.cli import main
from tests import pcapbuild as pb

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "captures" / "direct"
CASES = 300  # mutants per text input class
CAPTURE_CASES = 150  # mutants per capture class (each run classifies, ~35 ms of CPU)
SEED = 13  # each class seeds random.Random(f"{SEED}:{class}")
WATCHDOG = 60  # seconds one command may take before the case counts as hung
EXITS = {0, 1, 2, 3}
INTERESTING_32 = (0, 1, 3, 4, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


# ---- running the command ---------------------------------------------------------------------------------


class Hung(Exception):
    pass


@contextlib.contextmanager
def watchdog(seconds: int):
    """Raise Hung in the main thread when the body runs longer than ``seconds`` (a hang is a finding too)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(_signum, _frame):
        raise Hung(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``maildetour ARGV`` in this process: (exit code, stderr). Output goes to /dev/null; ``analyze`` runs
    with --quiet (no verdict line on stderr: what is left there is errors and damage)."""
    quiet = ["--quiet"] if argv[0] == "analyze" else []
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), watchdog(WATCHDOG):
        code = main([*argv, *quiet, "-o", os.devnull])
    return code, err.getvalue()


def problem(code: int, stderr: str, path: str) -> str | None:
    """What is wrong with how a command ended on bad input ``path`` (None: nothing). Warnings about the
    settings (``maildetour: warning: ...``) may come before the one line."""
    if code not in EXITS:
        return f"exit {code}"
    if "internal error" in stderr or "Traceback" in stderr:
        return "internal error"
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("maildetour: warning:")]
    if code and (len(lines) != 1 or Path(path).name not in lines[0]):  # reports may name inputs by base name
        return f"exit {code} without one stderr line naming the file"
    return None


# ---- mutations -------------------------------------------------------------------------------------------

Field = tuple[int, int, str]  # (offset, size in bytes, struct byte order)


def flip_bits(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def insert_bytes(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    junk = rng.choice(
        [
            bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))),
            b"\x00" * rng.randint(1, 300),
            b"\xff" * rng.randint(1, 16),
            b"\n",
            b"\xc3\x28\xa0\xa1",  # not UTF-8
        ]
    )
    return data[:i] + junk + data[i:]


def delete_bytes(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, 64) :]


def repeat_slice(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data))
    piece = data[i : i + rng.randint(1, 512)]
    return data[:i] + piece * rng.randint(2, 20) + data[i:]


def corrupt_field(rng: random.Random, data: bytes, fields: list[Field]) -> bytes:
    """One length (or other structural) field set to a boundary or random value."""
    if not fields:
        return flip_bits(rng, data)
    offset, size, order = rng.choice(fields)
    if offset + size > len(data):
        return truncate(rng, data)
    fmt = order + {1: "B", 2: "H", 4: "I", 8: "Q"}[size]
    (old,) = struct.unpack_from(fmt, data, offset)
    limit = (1 << (8 * size)) - 1
    value = rng.choice([*INTERESTING_32, old - 1, old + 1, old * 2, old // 2, rng.randrange(limit + 1)]) & limit
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def mutate_bytes(rng: random.Random, data: bytes, fields: list[Field]) -> bytes:
    """One to three mutations of ``data``; half of the time one of them hits a structural field."""
    for _ in range(rng.randint(1, 3)):
        if not data:
            break
        if fields and rng.random() < 0.5:
            data = corrupt_field(rng, data, fields)
        else:
            data = rng.choice([flip_bits, truncate, insert_bytes, delete_bytes, repeat_slice])(rng, data)
    return data


# ---- structure of the shipped formats --------------------------------------------------------------------


def pcapng_packets(data: bytes) -> list[tuple[float, bytes]]:
    """(time, frame) of every Enhanced Packet Block of a little-endian, microsecond pcapng."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        btype, length = struct.unpack_from("<II", data, pos)
        if btype == 6:
            high, low, caplen = struct.unpack_from("<III", data, pos + 12)
            out.append((((high << 32) | low) / 1e6, data[pos + 28 : pos + 28 + caplen]))
        pos += length
    return out


def _option_fields(data: bytes, pos: int, end: int) -> list[Field]:
    """Each option's length, and the value byte of if_tsresol (code 9), between ``pos`` and ``end``."""
    fields: list[Field] = []
    while pos + 4 <= end:
        code, length = struct.unpack_from("<HH", data, pos)
        fields.append((pos + 2, 2, "<"))
        if code == 9:
            fields.append((pos + 4, 1, "<"))
        if code == 0:
            break
        pos += 4 + length + (-length % 4)
    return fields


def pcapng_fields(data: bytes) -> list[Field]:
    """Block lengths, packet lengths and times, and (weighted up: there are few) section and interface fields."""
    fields: list[Field] = []
    pos = 0
    while pos + 12 <= len(data):
        btype, length = struct.unpack_from("<II", data, pos)
        end = pos + length - 4
        fields += [(pos + 4, 4, "<"), (end, 4, "<")]  # block total length, front and back
        if btype == 0x0A0D0D0A:  # byte-order magic, section length
            fields += 20 * [(pos + 8, 4, "<"), (pos + 16, 8, "<"), *_option_fields(data, pos + 24, end)]
        elif btype == 1:  # link type, snap length
            fields += 20 * [(pos + 8, 2, "<"), (pos + 12, 4, "<"), *_option_fields(data, pos + 16, end)]
        elif btype == 6:  # interface, time high and low, captured and original length
            fields += [(pos + 8, 4, "<"), (pos + 12, 4, "<"), (pos + 16, 4, "<"), (pos + 20, 4, "<"),
                       (pos + 24, 4, "<")]
            caplen = struct.unpack_from("<I", data, pos + 20)[0]
            fields += _option_fields(data, pos + 28 + caplen + (-caplen % 4), end)
        pos += length
    return fields


def pcap_fields(data: bytes) -> list[Field]:
    fields: list[Field] = [(0, 4, "<"), (16, 4, "<"), (20, 4, "<")]  # magic, snap length, link type
    pos = 24
    while pos + 16 <= len(data):
        fields += [(pos, 4, "<"), (pos + 8, 4, "<"), (pos + 12, 4, "<")]  # seconds, included, original length
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return fields


def gzip_fields(data: bytes) -> list[Field]:
    n = len(data)
    return [(2, 1, "<"), (3, 1, "<"), (4, 4, "<"), (n - 8, 4, "<"), (n - 4, 4, "<")]  # CM, FLG, MTIME, CRC, ISIZE


def mutate_gzip(rng: random.Random, inner: bytes, inner_fields: list[Field]) -> bytes:
    """Half the time the compressed stream is damaged, half the time the pcap inside it."""
    if rng.random() < 0.5:
        packed = gzip.compress(inner, mtime=0)
        return mutate_bytes(rng, packed, gzip_fields(packed))
    return gzip.compress(mutate_bytes(rng, inner, inner_fields), mtime=0)


_TNET_LENGTH = re.compile(rb"(?:^|[,;#^!~\]}:])(\d{1,9}):")  # a length prefix: at the start, after a type or ':'


def mutate_tnetstring(rng: random.Random, data: bytes) -> bytes:
    """Two in five times one length prefix of mitmproxy's tnetstrings made 0, 1, huge or one off."""
    if rng.random() < 0.4:
        starts = [m.start(1) for m in _TNET_LENGTH.finditer(data)]
        if starts:
            i = rng.choice(starts)
            j = data.index(b":", i)
            number = rng.choice([b"0", b"1", b"999999999", str(int(data[i:j]) + rng.choice((-1, 1))).encode()])
            return data[:i] + number + data[j:]
    return mutate_bytes(rng, data, [])


# ---- text: logs, case file, report -----------------------------------------------------------------------

LOG_VALUES = (
    b"+99:99", b"-2400", b"+23:59", b"-23:59", b"+2400", b"0001", b"9999", b"\x00", b"\xff\xfe",
    b"rip=", b"user=<", b"[", b"]:99999", b"A=", b"H=", b" <= ", b"Login: ", b"x" * 70000,
)
LOG_TIMES = (
    b"0001-01-01T00:00:00+23:59", b"9999-12-31T23:59:59-23:59", b"0001-01-01T23:59:00+23:59",
    b"9999-12-31T00:00:00-23:59", b"2026-11-28T23:05:08+99:99", b"2026-11-28 23:05:08 -2400",
    b"2026-02-30T00:00:00+0000", b"Feb 29 23:59:59", b"Dec 31 23:59:59", b"Jan  1 00:00:00",
)


_LEADING_TIME = re.compile(rb"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?: ?[+-]\d\d:?\d\d)? ")


def mutate_log(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        choice = rng.random()
        if choice < 0.3:  # another timestamp at the start of the line
            lines[i] = rng.choice(LOG_TIMES) + b" " + _LEADING_TIME.sub(b"", lines[i])
        elif choice < 0.55:  # a token of the wrong kind somewhere in the line
            j = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:j] + rng.choice(LOG_VALUES) + lines[i][j:]
        elif choice < 0.7:
            lines.insert(i, lines[rng.randrange(len(lines))])
        else:
            return mutate_bytes(rng, b"\n".join(lines), [])
    return b"\n".join(lines)


CASE_VALUES = (
    "5", "true", "1.5", "[1]", '["x", 2]', "{a = 1}", '""', '"not-an-ip"', '"::1"', '["10.0.0.300"]',
    "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", '"9999-12-31T23:59:59-23:59"', "2020-01-01",
    "10:00:00", "2020-01-01T10:00:00", '"2020-01-01T00:00:00+99:99"', '["mail.example.test:0"]',
    '["[::1"]', '["a.b:\u00b2"]', "[" * 400 + "]" * 400, '"' + "x" * 5000 + '"',
)


def mutate_case(rng: random.Random, data: bytes) -> bytes:
    if rng.random() < 0.6:
        lines = data.decode().split("\n")
        keyed = [i for i, line in enumerate(lines) if "=" in line and not line.startswith("#")]
        i = rng.choice(keyed)
        key = lines[i].split("=", 1)[0]
        lines[i] = f"{key}= {rng.choice(CASE_VALUES)}"
        return "\n".join(lines).encode()
    return mutate_bytes(rng, data, [])


JSON_VALUES = (None, True, -1, 0, 1e308, -1e308, "", "x" * 3000, [], {}, [None], {"": None},
               "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "not a time", "<script>", 2**70)


def _json_paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _json_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:20]):
            yield from _json_paths(v, (*path, i))


def mutate_report(rng: random.Random, data: bytes) -> bytes:
    if rng.random() < 0.8:
        doc = json.loads(data)
        for _ in range(rng.randint(1, 4)):
            paths = [p for p in _json_paths(doc) if p and p != ("schema",)]
            path = rng.choice(paths)
            parent = doc
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]] = rng.choice(JSON_VALUES)
        return json.dumps(doc).encode()
    return mutate_bytes(rng, data, [])


# ---- input classes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputClass:
    name: str
    suffix: str
    original: Callable[[Path], bytes]
    mutate: Callable[[random.Random, bytes], bytes]
    commands: Callable[[int, str, Path], list[str]]  # (case number, mutant path, shipped folder) -> argv
    cases: int = CASES


def _pcapng(_tmp: Path) -> bytes:
    return (SHIPPED / "phone.pcapng").read_bytes()


def _pcap(tmp: Path) -> bytes:
    return pb.pcap_bytes(pcapng_packets(_pcapng(tmp)))


def capture_commands(n: int, path: str, shipped: Path) -> list[str]:
    """Two in three mutants through ``flows`` (the readers), one through ``analyze`` (all of it)."""
    case = ["--case", str(shipped / "case.toml")]
    if n % 3 < 2:
        return ["flows", path, "--format", ("table", "jsonl", "csv")[n // 3 % 3]]
    return [
        ["analyze", path, *case],
        ["analyze", path, *case, "--logs", str(shipped / "dovecot.log"), str(shipped / "submission.log")],
        ["analyze", path, *case, "--format", "html" if n % 60 == 11 else ("md", "csv")[n // 12 % 2]],
    ][n // 3 % 3]


def log_commands(n: int, path: str, shipped: Path) -> list[str]:
    case = ["--case", str(shipped / "case.toml")]
    return [
        ["logs", path, *case],
        ["logs", path, "--format", "md", "--lang", "de"],
        ["logs", path, str(shipped / "submission.log"), *case, "--format", "md"],
        ["logs", path, "--year", "9999"],
        ["logs", path, *case, "--account", "lab"],
        ["analyze", str(shipped / "phone.pcapng"), *case, "--logs", path],
    ][n % 6]


def case_commands(n: int, path: str, shipped: Path) -> list[str]:
    return [
        ["logs", str(shipped / "dovecot.log"), "--case", path],
        ["logs", str(shipped / "submission.log"), "--case", path, "--format", "md"],
        ["analyze", str(shipped / "phone.pcapng"), "--case", path, "--logs", str(shipped / "dovecot.log")],
    ][n % 3]


def report_commands(n: int, path: str, _shipped: Path) -> list[str]:
    fmt = "html" if n % 20 == 19 else ("md", "csv", "json")[n % 3]
    return ["report", path, "--format", fmt, "--lang", ("en", "de")[n // 3 % 2]]


_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _mitm(tmp: Path) -> bytes:
    """mitmproxy's own flow file of test_mitm_source's flows, its random ids replaced by counted ones (same
    length) so that every run mutates the same bytes."""
    from tests.test_mitm_source import all_flows, write_flows

    path = tmp / "flows.mitm"
    write_flows(path, all_flows())
    ids: dict[bytes, bytes] = {}
    return _UUID.sub(lambda m: ids.setdefault(m[0], b"%08x-0000-4000-8000-%012x" % (len(ids), len(ids))),
                     path.read_bytes())


def _report(tmp: Path) -> bytes:
    path = tmp / "report.json"
    case = SHIPPED / "case.toml"
    logs = [str(SHIPPED / "dovecot.log"), str(SHIPPED / "submission.log")]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["analyze", str(SHIPPED / "phone.pcapng"), "--case", str(case), "--logs", *logs, "--quiet",
                     "-o", str(path)])
    assert code == 0, err.getvalue()
    return path.read_bytes()


def _shipped(name: str) -> Callable[[Path], bytes]:
    return lambda _tmp: (SHIPPED / name).read_bytes()


def _mutate_pcapng(rng: random.Random, data: bytes) -> bytes:
    return mutate_bytes(rng, data, pcapng_fields(data))


def _mutate_pcap(rng: random.Random, data: bytes) -> bytes:
    return mutate_bytes(rng, data, pcap_fields(data))


def _mutate_gzip(rng: random.Random, data: bytes) -> bytes:
    return mutate_gzip(rng, data, pcap_fields(data))


CLASSES = [
    InputClass("pcapng", ".pcapng", _pcapng, _mutate_pcapng, capture_commands, CAPTURE_CASES),
    InputClass("pcap", ".pcap", _pcap, _mutate_pcap, capture_commands, CAPTURE_CASES),
    InputClass("gzip", ".pcap.gz", _pcap, _mutate_gzip, capture_commands, CAPTURE_CASES),
    InputClass("mitm", ".mitm", _mitm, mutate_tnetstring, capture_commands, CAPTURE_CASES),
    InputClass("dovecot.log", ".log", _shipped("dovecot.log"), mutate_log, log_commands),
    InputClass("submission.log", ".log", _shipped("submission.log"), mutate_log, log_commands),
    InputClass("case.toml", ".toml", _shipped("case.toml"), mutate_case, case_commands),
    InputClass("report.json", ".json", _report, mutate_report, report_commands),
]


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("MAILDETOUR_DEBUG", raising=False)


@pytest.mark.skipif(not SHIPPED.is_dir(), reason=f"{SHIPPED} is absent (the shipped lab captures)")
@pytest.mark.parametrize("kind", CLASSES, ids=lambda c: c.name)
def test_mutants_end_as_bad_input_ends(kind: InputClass, tmp_path):
    original = kind.original(tmp_path)
    code, stderr = run_cli(kind.commands(0, _write(tmp_path / f"original{kind.suffix}", original), SHIPPED))
    assert code == 0 and problem(code, stderr, "") is None, stderr  # the unmutated input is fine
    rng = random.Random(f"{SEED}:{kind.name}")
    bad, exits = [], set()
    for n in range(kind.cases):
        mutant = kind.mutate(rng, original)
        path = _write(tmp_path / f"case-{n}{kind.suffix}", mutant)
        argv = kind.commands(n, path, SHIPPED)
        try:
            code, stderr = run_cli(argv)
        except Hung as exc:
            code, stderr = -1, str(exc)
        exits.add(code)
        why = problem(code, stderr, path)
        if why:
            bad.append(f"case {n} ({why}): maildetour {' '.join(argv)}\n    {stderr.strip()[:300]}")
        else:
            os.unlink(path)
    assert not bad, f"{len(bad)} of {kind.cases} {kind.name} mutants (seed {SEED}:{kind.name}):\n" + "\n".join(bad)
    assert exits - {0}, f"no {kind.name} mutant was refused or reported damaged: the mutations miss"


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


# ---- hostile inputs found by hand ------------------------------------------------------------------------


def nested_tnetstring(depth: int) -> bytes:
    """A tnetstring list nested ``depth`` deep: mitmproxy's reader recurses once per level (and more)."""
    inner = b"0:~"
    for _ in range(depth):
        inner = b"%d:%s]" % (len(inner), inner)
    return inner


def test_a_deeply_nested_mitm_file_is_refused(tmp_path):
    path = _write(tmp_path / "deep.mitm", nested_tnetstring(5000))
    code, stderr = run_cli(["analyze", path])
    assert code == 3 and problem(code, stderr, path) is None, stderr
    assert "offset 0" in stderr and "nested too deeply" in stderr


def test_a_deeply_nested_record_after_flows_keeps_the_flows(tmp_path):
    from tests.test_mitm_source import all_flows, write_flows

    path = tmp_path / "cut.mitm"
    ends = write_flows(path, all_flows())
    with open(path, "ab") as fh:
        fh.write(nested_tnetstring(5000))
    out = tmp_path / "flows.jsonl"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["flows", str(path), "--format", "jsonl", "-o", str(out)])
    assert code == 1 and problem(code, err.getvalue(), str(path)) is None, err.getvalue()
    assert f"offset {ends[-1]}" in err.getvalue() and "nested too deeply" in err.getvalue()
    assert len(out.read_text().splitlines()) == 4  # every connection read before the damage
