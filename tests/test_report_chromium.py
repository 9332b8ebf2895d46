"""The HTML memo in a real headless Chromium, end to end from a scapy capture through ``maildetour analyze``.

The capture holds the memo's relay traffic, a connection whose SNI is an HTML tag and one whose SNI carries
the canary password. Chromium must render the page with the verdict visible, show the tag as text without
creating an element, and no output format may contain the canary.
"""

from __future__ import annotations

import html
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests import scenarios as sc
from tests.conftest import require_tool

CANARY = "Teschtle0816"
CANARY_SNI = f"{CANARY.lower()}.leak.example"
CLI = [sys.executable, "-m", "analysis.cli"]


def write_capture(path: Path) -> Path:
    cap = sc.Capture()
    sc.dns_lookup(cap, sc.DEVICE, sc.RELAY_NAME, [("A", sc.RELAY_IP)], 10)
    sc.https(cap, sc.DEVICE, 50001, sc.RELAY_IP, sc.RELAY_NAME, 3100, 48000, "relay")
    sc.https(cap, sc.DEVICE, 50002, sc.TELEMETRY_IP, sc.TELEMETRY_NAME, 9000, 600, "telemetry")
    sc.https(cap, sc.DEVICE, 50003, "198.51.100.66", sc.HOSTILE_SNI, 300, 300, "hostile")
    sc.dns_lookup(cap, sc.DEVICE, CANARY_SNI, [("A", "198.51.100.67")], 11)
    sc.https(cap, sc.DEVICE, 50004, "198.51.100.67", CANARY_SNI, 300, 300, "canary")
    return cap.write(path, pcapng=True)


def write_case(path: Path) -> Path:
    path.write_text(
        '[account]\naddress = "lft2@example.org"\nusername = "lft2"\ncanary_env = "MAILDETOUR_CANARY"\n'
        f'[mail]\nhosts = ["{sc.MAIL_HOST}:993", "{sc.MAIL_HOST}:587"]\n'
        f'[device]\naddresses = ["{sc.DEVICE}"]\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    """The report in every format and both languages, written by ``maildetour analyze`` and ``report``."""
    tmp = tmp_path_factory.mktemp("chromium")
    capture = write_capture(tmp / "phone.pcapng")
    case = write_case(tmp / "case.toml")
    env = {**os.environ, "MAILDETOUR_CANARY": CANARY}
    out: dict[str, Path] = {}
    for fmt in ("json", "md", "html", "csv"):
        for lang in ("en", "de"):
            target = tmp / f"report-{lang}.{fmt}"
            proc = subprocess.run(
                [
                    *CLI,
                    "analyze",
                    str(capture),
                    "--case",
                    str(case),
                    "--format",
                    fmt,
                    "--lang",
                    lang,
                    "-o",
                    str(target),
                ],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            assert proc.returncode == 0, proc.stderr
            out[f"{lang}.{fmt}"] = target
    target = tmp / "rerendered-de.html"
    proc = subprocess.run(
        [*CLI, "report", str(out["en.json"]), "--format", "html", "--lang", "de", "-o", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out["rerendered-de.html"] = target
    return out


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    exe = require_tool("chromium")
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp)


def test_canary_never_appears_in_any_format(outputs):
    assert len(outputs) == 9
    for path in outputs.values():
        text = path.read_bytes().decode("utf-8")
        assert CANARY.lower() not in text.lower(), path.name
    assert "[REDACTED].leak.example" in outputs["en.json"].read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["en.html", "rerendered-de.html"])
def test_chromium_renders_the_verdict_and_keeps_hostile_text_inert(outputs, tmp_path, name):
    page = outputs[name]
    proc = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    verdict = re.search(r'<div class="verdict v-relayed" id="verdict">(.*?)</div>', dom, re.S)
    assert verdict and '<strong class="word">relayed</strong>' in verdict[1]
    report = json.loads(outputs["en.json"].read_text(encoding="utf-8"))
    hostile = next(n for f in report["flows"] for n in f["names"]["sni"] if "onerror" in n)
    assert hostile.startswith("<img")  # the TLS parser keeps the tag (it only escapes spaces as \\x20)
    assert html.escape(hostile, quote=False) in dom  # shown as text
    assert not re.search(r"<img\b", dom, re.I)  # and no element was created from it
    assert "<script" not in dom.lower()
    assert dom.count("<svg") == 2
    if name.startswith("rerendered-de"):
        assert "Zusammenfassung" in dom and "Befunde" in dom
        assert '<html lang="de">' in dom


def test_chromium_screenshot(outputs, tmp_path):
    shot = tmp_path / "report.png"
    proc = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", outputs["de.html"].as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 1600)
    assert len(data) > 20000  # a rendered page, not a blank canvas
