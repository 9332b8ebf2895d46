"""Capture benchmark: maildetour's reader against tshark, dpkt and scapy, timed in the same run.

    python -m bench.capture [--packets 1000000] [--real 1000000] [--flow-heavy 300000] [--big 5000000]
                            [--skip-real] [--skip-flow-heavy] [--skip-big] [--rounds 3] [--regen]

Builds (or reuses) deterministic captures in bench-data/: the synthetic mix of bench.gen; a real-traffic
file (bench.realmix: every Ethernet frame of ../shared/captures, then remapped copies; skipped with a
message when that folder is absent); a flow-heavy file (bench.gen's flow-heavy mix: about 40,000 flows in
300,000 packets); and a big file for memory. Runs each tool in its own
process (started from ``bench/launch.py``), and measures wall time and peak RSS (``os.wait4`` rusage of that
process and its children).
maildetour and the tshark conversation pass are timed in alternating rounds; the speed target is judged
on the median of the rounds' ratios. Prints a table with the ratios against the tshark conversation pass,
checks the targets, and cross-checks maildetour's flow table against tshark's conversation totals.
Results are also written to bench-data/capture-results.json.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.gen import FLOW_HEAVY, GenStats, generate
from bench.realmix import build as build_real
from bench.realmix import capture_paths

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench-data"
GEN_VERSION = 4  # bump when bench/gen.py's output changes, so cached captures are rebuilt
REAL_VERSION = 1  # bump when bench/realmix.py's output changes
SHARED_CAPTURES = ROOT.parent / "shared" / "captures"
# wall time / tshark conv (median of the alternating rounds) and peak RSS, per kind of file
TARGETS = {"synthetic": (0.4, 150.0), "real traffic": (0.5, 200.0), "flow-heavy": (1.0, 200.0),
           "big": (None, 150.0)}
SPEED_TOOLS = {"maildetour flows", "tshark conv", "tshark fields", "dpkt conv", "scapy RawPcapReader"}
BIG_TOOLS = {"maildetour flows", "tshark conv", "scapy RawPcapReader"}  # --big-all: all of SPEED_TOOLS
_CONV_LINE = re.compile(r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\S+\s+(\d+)\s")


@dataclass
class Run:
    """One timed process."""

    tool: str
    packets: int
    wall: float = 0.0
    cpu: float = 0.0  # user + system seconds of the process (robust when other jobs share the machine)
    rss_mb: float = 0.0
    exit_code: int = 0
    error: str = ""
    stdout: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def rate(self) -> float:
        return self.packets / self.wall if self.wall else 0.0


LAUNCH = str(Path(__file__).with_name("launch.py"))


def timed(tool: str, argv: list[str], packets: int, timeout: float, keep_stdout: bool = False) -> Run:
    """Run ``argv`` alone, started by ``bench/launch.py`` (a small process, so that the peak RSS is the
    tool's own, see there): wall time, CPU time and peak RSS (ru_maxrss) of the tool and its children."""
    run = Run(tool, packets)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(suffix=".json") as result:
        subprocess.run([sys.executable, "-S", LAUNCH, result.name, str(timeout), *argv],
                       stdout=out if keep_stdout else subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                       check=True)
        report = json.loads(Path(result.name).read_text(encoding="utf-8"))
        run.exit_code = report["exit_code"]
        if "error" in report:
            run.error = report["error"]
            return run
        run.wall, run.cpu, run.rss_mb = report["wall"], report["cpu"], report["rss_kib"] / 1024
        if keep_stdout:
            out.seek(0)
            run.stdout = out.read().decode("utf-8", "replace")
        if run.exit_code != 0:
            err.seek(0)
            lines = [ln for ln in err.read().decode("utf-8", "replace").splitlines() if ln.strip()]
            run.error = (
                "killed after timeout" if run.exit_code == -9 else (lines[-1] if lines else "failed")
            )[:200]
    return run


def tshark_conversations(text: str, per_flow: dict | None = None) -> dict[str, dict]:
    """Per-section totals of ``tshark -q -z conv,tcp -z conv,udp`` output: flows and frames.

    ``per_flow`` (when given) receives (transport, frozenset of the two "ip:port" ends) -> frames.
    """
    result: dict[str, dict] = {}
    section = None
    for line in text.splitlines():
        if line.endswith("Conversations"):
            section = line.split()[0].lower()
            result[section] = {"flows": 0, "packets": 0}
            continue
        m = _CONV_LINE.match(line)
        if m and section:
            result[section]["flows"] += 1
            result[section]["packets"] += int(m.group(5))
            if per_flow is not None:
                per_flow[(section, frozenset((m.group(1), m.group(2))))] = int(m.group(5))
    return result


def ensure_capture(packets: int, seed: int, regen: bool, sessions: int | None = None,
                   flow_heavy: bool = False) -> GenStats:
    """The generated capture for this size, reused when its stats file matches."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"{'flowheavy' if flow_heavy else 'mixed'}-{packets}.pcap"
    meta = path.with_suffix(".json")
    want = {"version": GEN_VERSION, "seed": seed, "packets": packets, "sessions": sessions}
    if flow_heavy:
        want["mix"] = FLOW_HEAVY
    if not regen and path.exists() and meta.exists():
        saved = json.loads(meta.read_text())
        if saved.get("want") == want:
            stats = GenStats(**saved["stats"])
            print(
                f"reusing {path.name}: {stats.packets:,} packets, {stats.flows:,} flows "
                f"(generated in {stats.seconds:.1f} s; --regen to rebuild)"
            )
            return stats
    print(f"generating {path.name} ...", flush=True)
    stats = generate(str(path), packets, seed=seed, sessions=sessions, mix=FLOW_HEAVY if flow_heavy else None)
    meta.write_text(json.dumps({"want": want, "stats": asdict(stats)}, indent=1))
    size_mb = path.stat().st_size / 1e6
    print(
        f"  {stats.packets:,} packets, {stats.tcp_flows:,} TCP + {stats.udp_flows:,} UDP flows, "
        f"{size_mb:,.0f} MB in {stats.seconds:.1f} s ({stats.packets / stats.seconds:,.0f} packets/s; "
        f"{stats.cpu_seconds:.1f} s CPU)"
    )
    return stats


def ensure_real(packets: int, regen: bool, folder: Path = SHARED_CAPTURES) -> GenStats | None:
    """The real-traffic capture (bench.realmix) for this size, reused when its stats file matches; None
    (with a message) when ``folder`` is absent or has no Ethernet capture."""
    if not folder.is_dir():
        print(f"skipping the real-traffic file: {folder} is absent")
        return None
    DATA.mkdir(exist_ok=True)
    path = DATA / f"real-{packets}.pcap"
    meta = path.with_suffix(".json")
    want = {"version": REAL_VERSION, "packets": packets, "folder": str(folder)}
    if not regen and path.exists() and meta.exists():
        saved = json.loads(meta.read_text())
        if saved.get("want") == want:
            print(f"reusing {path.name}: {saved['packets']:,} packets, {saved['copies']} copies of "
                  f"{saved['source_frames']:,} frames (--regen to rebuild)")
            return GenStats(path=str(path), packets=saved["packets"], bytes=path.stat().st_size)
    print(f"building {path.name} from {folder} ...", flush=True)
    began = time.perf_counter()
    mix = build_real(str(path), capture_paths(folder), packets)
    if not mix.packets:
        print(f"skipping the real-traffic file: no Ethernet frame under {folder}")
        return None
    seconds = round(time.perf_counter() - began, 2)
    meta.write_text(json.dumps({"want": want, "packets": mix.packets, "copies": mix.copies,
                                "source_frames": mix.source_frames, "sources": mix.sources}, indent=1))
    print(f"  {mix.packets:,} packets: {mix.copies} copies of {mix.source_frames:,} Ethernet frames from "
          f"{len(mix.sources)} captures, in {seconds:.1f} s")
    return GenStats(path=str(path), packets=mix.packets, bytes=path.stat().st_size, seconds=seconds)


def compile_bytecode() -> None:
    """Write the bytecode of maildetour's own modules, as its first run would: without it (an editable
    install run with PYTHONDONTWRITEBYTECODE set) every timed run compiles them anew, about 0.1 s a process."""
    import analysis

    compileall.compile_dir(str(Path(analysis.__file__).parent), quiet=1)


def maildetour_command() -> str:
    local = Path(sys.executable).with_name("maildetour")
    return str(local) if local.exists() else (shutil.which("maildetour") or "maildetour")


def bench_file(stats: GenStats, timeout: float, tools: set[str], rounds: int = 1) -> tuple[list[Run], list[float]]:
    """Time each tool once, except maildetour and tshark conv: ``rounds`` times, alternating, so that a
    slow spell of the machine hits both alike. Returns one run per tool (the median of its rounds) and the
    wall-time ratio maildetour / tshark conv of every round."""
    path, n = stats.path, stats.packets
    py = sys.executable
    tshark = shutil.which("tshark") or "tshark"
    plan = [
        (
            "maildetour flows",
            [maildetour_command(), "flows", path, "--format", "jsonl", "-o", "/dev/null"],
            False,
        ),
        ("tshark conv", [tshark, "-r", path, "-q", "-z", "conv,tcp", "-z", "conv,udp"], True),
        ("tshark fields", [tshark, "-r", path, "-T", "fields", "-e", "frame.number"], False),
        ("dpkt conv", [py, "-m", "bench.baselines", "dpkt", path], True),
        ("scapy RawPcapReader", [py, "-m", "bench.baselines", "scapy", path], True),
    ]
    warm_page_cache(path)  # every tool then reads the file from memory: the first one is not penalised
    paired = [step for step in plan[:2] if step[0] in tools]
    order = paired * rounds + [step for step in plan[2:] if step[0] in tools]
    done: dict[str, list[Run]] = {}
    for tool, argv, keep in order:
        print(f"  {tool} ...", end=" ", flush=True)
        run = timed(tool, argv, n, timeout, keep_stdout=keep)
        print(f"{run.wall:.1f} s" + ("" if run.ok else f" (exit {run.exit_code}: {run.error})"), flush=True)
        done.setdefault(tool, []).append(run)
    ratios = [m.wall / t.wall for m, t in zip(done.get("maildetour flows", []), done.get("tshark conv", []),
                                                 strict=False) if m.ok and t.ok and t.wall]
    runs = [sorted(got, key=lambda r: r.wall)[len(got) // 2] for got in done.values()]
    return runs, ratios


def warm_page_cache(path: str) -> None:
    """Read the file once, untimed, so that no tool pays for the disk and each is timed on the same footing
    (a file larger than the free memory still will not fit: say so in the numbers)."""
    with open(path, "rb") as fh:
        while fh.read(16 << 20):
            pass


def cross_check(stats: GenStats, runs: list[Run], timeout: float) -> list[str]:
    """Flow and packet totals: generator, tshark conv, dpkt and maildetour (a second, untimed run)."""
    by = {r.tool: r for r in runs}
    lines = []
    if "tshark conv" not in by or not by["tshark conv"].ok:
        return ["tshark conv failed: nothing to compare against"]
    tshark_flows: dict = {}
    conv = tshark_conversations(by["tshark conv"].stdout, tshark_flows)
    t_tcp, t_udp = conv.get("tcp", {}), conv.get("udp", {})
    truth = (
        t_tcp.get("flows"),
        t_udp.get("flows"),
        (t_tcp.get("packets") or 0) + (t_udp.get("packets") or 0),
    )
    lines.append(f"tshark conv:  {truth[0]} TCP + {truth[1]} UDP flows, {truth[2]} packets in flows")
    if stats.flows:  # a generated file: the generator knows its flows
        gen = (stats.tcp_flows, stats.udp_flows, stats.packets)
        lines.append(
            f"generator:    {gen[0]} TCP + {gen[1]} UDP flows, {gen[2]} packets"
            + ("  [matches tshark]" if gen == truth else "  [DIFFERS from tshark]")
        )
    if "dpkt conv" in by and by["dpkt conv"].ok:
        d = json.loads(by["dpkt conv"].stdout)
        got = (d["tcp_flows"], d["udp_flows"], d["flow_packets"])
        lines.append(
            f"dpkt:         {got[0]} TCP + {got[1]} UDP flows, {got[2]} packets, {d['bytes']} bytes"
            + ("  [matches tshark]" if got == truth else "  [DIFFERS from tshark]")
        )
    if not by["maildetour flows"].ok:
        lines.append("maildetour:   not checked (the timed run failed)")
        return lines
    with tempfile.NamedTemporaryFile(suffix=".jsonl", dir=DATA) as out:
        check = timed(
            "maildetour check",
            [maildetour_command(), "flows", stats.path, "--format", "jsonl", "-o", out.name],
            stats.packets,
            timeout,
        )
        if not check.ok:
            lines.append(f"maildetour:   check run failed: {check.error}")
            return lines
        tcp = udp = packets = total = differ = 0
        with open(out.name, encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                if "transport" not in rec:
                    continue
                tcp += rec["transport"] == "tcp"
                udp += rec["transport"] == "udp"
                packets += rec.get("packets", 0)
                total += rec.get("bytes", 0)
                ends = frozenset(f"{e['ip']}:{e['port']}" for e in (rec["client"], rec["server"]))
                differ += tshark_flows.get((rec["transport"], ends)) != rec.get("packets")
    got = (tcp, udp, packets)
    lines.append(
        f"maildetour:   {tcp} TCP + {udp} UDP flows, {packets} packets, {total} bytes"
        + ("  [matches tshark]" if got == truth else "  [DIFFERS from tshark]")
    )
    lines.append(f"per flow:     {differ} of {tcp + udp} maildetour flows differ from tshark's packet count")
    return lines


def table(runs: list[Run]) -> list[str]:
    base = next((r for r in runs if r.tool == "tshark conv" and r.ok), None)

    def ratio(value: float, of: float | None) -> str:
        return f"{value / of:.2f}x" if of else "-"

    out = [
        f"{'tool':<21}{'wall s':>8}{'packets/s':>11}{'CPU s':>8}{'peak RSS MB':>12}"
        f"{'wall/tshark':>12}{'CPU/tshark':>11}{'RSS/tshark':>11}  status"
    ]
    for r in runs:
        status = "ok" if r.ok else f"exit {r.exit_code}"
        out.append(
            f"{r.tool:<21}{r.wall:>8.1f}{r.rate:>11,.0f}{r.cpu:>8.1f}{r.rss_mb:>12.0f}"
            f"{ratio(r.wall, base and base.wall):>12}{ratio(r.cpu, base and base.cpu):>11}"
            f"{ratio(r.rss_mb, base and base.rss_mb):>11}  {status}"
        )
    return out


def targets(runs: list[Run], ratios: list[float], kind: str = "synthetic") -> list[str]:
    wall_target, rss_target = TARGETS[kind]
    md = next(r for r in runs if r.tool == "maildetour flows")
    base = next((r for r in runs if r.tool == "tshark conv" and r.ok), None)
    out = []
    if not md.ok:
        return [f"maildetour failed ({md.error}): targets not measured"]
    if base and ratios and wall_target is not None:
        ratio = sorted(ratios)[len(ratios) // 2]
        each = ", ".join(f"{r:.2f}x" for r in ratios)
        out.append(
            f"wall <= {wall_target}x tshark conv: {ratio:.2f}x, the median of {len(ratios)} alternating "
            f"round(s) ({each}; CPU time: {md.cpu / base.cpu:.2f}x) -> "
            + ("MET" if ratio <= wall_target else "NOT MET")
        )
    out.append(
        f"peak RSS <= {rss_target:.0f} MB: {md.rss_mb:.0f} MB -> "
        + ("MET" if md.rss_mb <= rss_target else "NOT MET")
    )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.capture", description=__doc__.splitlines()[0])
    p.add_argument(
        "--packets", type=int, default=1_000_000, help="packets in the speed run (default 1,000,000)"
    )
    p.add_argument("--real", type=int, default=1_000_000,
                   help="packets in the real-traffic file (default 1,000,000)")
    p.add_argument("--flow-heavy", type=int, default=300_000,
                   help="packets in the flow-heavy file (default 300,000)")
    p.add_argument("--big", type=int, default=5_000_000, help="packets in the memory run (default 5,000,000)")
    p.add_argument("--skip-real", action="store_true", help="skip the real-traffic file")
    p.add_argument("--skip-flow-heavy", action="store_true", help="skip the flow-heavy file")
    p.add_argument("--skip-big", action="store_true", help="skip the memory run")
    p.add_argument("--big-all", action="store_true", help="run tshark fields and dpkt in the memory run too")
    p.add_argument("--rounds", type=int, default=3,
                   help="alternating maildetour / tshark conv rounds in the speed run (default 3; median)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--regen", action="store_true", help="regenerate the captures even when cached")
    p.add_argument(
        "--timeout", type=float, default=1800, help="seconds before a tool is killed (default 1800)"
    )
    args = p.parse_args(argv)
    if min(args.packets, args.real, args.flow_heavy, args.big, args.rounds) < 1:
        p.error("--packets, --real, --flow-heavy, --big and --rounds must be positive")
    if not shutil.which("tshark"):
        print("bench: tshark is required (apt-get install tshark)", file=sys.stderr)
        return 2
    print(f"machine: {platform_line()}")
    compile_bytecode()
    results: dict = {"machine": platform_line(), "runs": []}
    small = ensure_capture(args.packets, args.seed, args.regen)
    plans = [("synthetic", small, SPEED_TOOLS, args.rounds)]
    if not args.skip_real and (real := ensure_real(args.real, args.regen)) is not None:
        plans.append(("real traffic", real, SPEED_TOOLS, args.rounds))
    if not args.skip_flow_heavy:
        heavy = ensure_capture(args.flow_heavy, args.seed, args.regen, flow_heavy=True)
        plans.append(("flow-heavy", heavy, SPEED_TOOLS, args.rounds))
    if not args.skip_big:
        # the speed run's sessions, then only long transfers: memory against packets, not flows
        big = ensure_capture(args.big, args.seed, args.regen, sessions=sum(small.sessions.values()))
        plans.append(("big", big, SPEED_TOOLS if args.big_all else BIG_TOOLS, 1))
    report: list[str] = []
    for kind, stats, tools, rounds in plans:
        print(f"\n{kind}: {Path(stats.path).name}: {stats.packets:,} packets", flush=True)
        runs, ratios = bench_file(stats, args.timeout, tools, rounds)
        checks = cross_check(stats, runs, args.timeout)
        flows = (f"{stats.tcp_flows:,} TCP + {stats.udp_flows:,} UDP flows" if stats.flows
                 else f"{stats.bytes / 1e6:,.0f} MB")
        report += [
            f"== {kind}: {Path(stats.path).name}, {stats.packets:,} packets, {flows} "
            f"(built in {stats.seconds:.1f} s"
            + (f", {stats.cpu_seconds:.1f} s CPU)" if stats.cpu_seconds else ")"),
            *table(runs),
            "targets (maildetour):",
            *(f"  {t}" for t in targets(runs, ratios, kind)),
            "cross-check:",
            *(f"  {c}" for c in checks),
            "",
        ]
        results["runs"].append(
            {
                "kind": kind,
                "capture": asdict(stats),
                "runs": [{k: v for k, v in asdict(r).items() if k != "stdout"} for r in runs],
                "wall_ratios": ratios,
                "checks": checks,
            }
        )
    print("\n" + "\n".join(report))
    (DATA / "capture-results.json").write_text(json.dumps(results, indent=1))
    return 0


def platform_line() -> str:
    import platform

    cpu = ""
    try:
        cpu = next(
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPUs ({cpu or platform.processor()}), {mem:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


if __name__ == "__main__":
    sys.exit(main())
