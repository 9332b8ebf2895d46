"""The proxy variant: a real mitmdump in SOCKS5 mode with the maildetour addon, on 127.0.0.1."""

from __future__ import annotations

import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from analysis.lab.plan import free_port
from analysis.lab.procs import LabError, Proc, ProcessGroup

ADDON = Path(__file__).resolve().parents[2] / "addons" / "maildetour.py"
PROXY_ADDRESS = "127.0.0.1"


@dataclass
class ProxyRun:
    proc: Proc
    port: int
    confdir: Path
    flows: Path  # mitmproxy flow file (-w)
    jsonl: Path  # the addon's live log
    report: Path  # the addon's report, written on shutdown

    @property
    def ca_cert(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"


def find_mitmdump() -> str:
    here = Path(sys.executable).with_name("mitmdump")
    path = str(here) if here.exists() else shutil.which("mitmdump")
    if not path:
        raise LabError("mitmdump not found (pip install mitmproxy, or pip install -e '.[proxy]')")
    return path


def start_proxy(group: ProcessGroup, folder: Path, case_path: Path, lab_ca: Path, device: str,
                catalogs: list[str], env: dict) -> ProxyRun:
    """Start mitmdump with the addon; returns once it listens and its CA certificate exists."""
    if not ADDON.exists():
        raise LabError(f"the mitmproxy addon {ADDON} is missing")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port(PROXY_ADDRESS)
    run = ProxyRun(None, port, folder / "confdir", folder / "flows.mitm", folder / "live.jsonl",  # type: ignore[arg-type]
                   folder / "addon-report.json")
    argv = [find_mitmdump(), "--mode", f"socks5@{PROXY_ADDRESS}:{port}", "-s", str(ADDON),
            "--set", f"confdir={run.confdir}", "--set", f"ssl_verify_upstream_trusted_ca={lab_ca}",
            "--set", f"maildetour_case={case_path}", "--set", f"maildetour_device={device}",
            "--set", f"maildetour_jsonl={run.jsonl}", "--set", f"maildetour_report={run.report}",
            "--set", "flow_detail=0", "-w", str(run.flows)]
    if catalogs and _addon_has_catalog_option():
        argv += ["--set", f"maildetour_catalog={','.join(catalogs)}"]
    run.proc = group.start("mitmdump", argv, ready="listening at", ready_stream="stdout", timeout=30, env=env,
                           log_path=str(folder / "mitmdump.log"))
    deadline = time.monotonic() + 10
    while not run.ca_cert.exists():
        if time.monotonic() > deadline:
            raise LabError(f"mitmdump did not create {run.ca_cert}")
        time.sleep(0.05)
    return run


def _addon_has_catalog_option() -> bool:
    try:
        return "maildetour_catalog" in ADDON.read_text(errors="replace")
    except OSError:
        return False


def stop_proxy(run: ProxyRun) -> None:
    """SIGINT, so mitmdump shuts down cleanly: the addon writes its report and the flow file is closed."""
    run.proc.stop(signal.SIGINT, timeout=20)


__all__ = ["ProxyRun", "find_mitmdump", "start_proxy", "stop_proxy"]
