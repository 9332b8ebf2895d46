"""Capturing the phone's traffic with tcpdump on the loopback interface."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from analysis.lab.pcapng import pcap_to_pcapng
from analysis.lab.procs import LabError, Proc, ProcessGroup


def find_tcpdump() -> str:
    path = shutil.which("tcpdump") or next(
        (p for p in ("/usr/sbin/tcpdump", "/usr/bin/tcpdump") if os.access(p, os.X_OK)), None)
    if not path:
        raise LabError("tcpdump not found (Debian/Ubuntu: apt-get install tcpdump)")
    return path


def start_capture(group: ProcessGroup, pcap_path: Path, phone: str, log_path: Path) -> Proc:
    """tcpdump on ``lo`` for packets to or from ``phone``; returns once tcpdump says it is listening."""
    if os.geteuid() != 0:
        raise LabError("the lab captures with tcpdump on the loopback interface and needs root")
    argv = [find_tcpdump(), "-i", "lo", "-n", "-s", "0", "-U", "--immediate-mode", "-Z", "root",
            "-w", str(pcap_path), f"host {phone}"]
    return group.start("tcpdump", argv, ready="listening on", ready_stream="stderr", timeout=15,
                       log_path=str(log_path))


def stop_capture(proc: Proc, pcap_path: Path, settle: float = 0.3, limit: float = 5.0) -> None:
    """Wait until the file stops growing (tcpdump -U writes each packet), then stop tcpdump with SIGINT."""
    deadline = time.monotonic() + limit
    last = -1
    while time.monotonic() < deadline:
        size = pcap_path.stat().st_size if pcap_path.exists() else 0
        if size == last:
            break
        last = size
        time.sleep(settle)
    proc.stop(signal.SIGINT)


def convert(pcap_path: Path, pcapng_path: Path, comment: str) -> int:
    """Write the capture as pcapng; returns its size. The pcap is removed."""
    data = pcap_to_pcapng(pcap_path.read_bytes(), comment)
    pcapng_path.write_bytes(data)
    pcap_path.unlink()
    return len(data)
