"""The HTML memo in a real headless Chromium, end to end from a scapy capture through ``maildetour analyze``.

The capture holds the memo's relay traffic, a connection whose SNI is an HTML tag and one whose SNI carries
the canary password. Chromium must render the page with the verdict visible, show the tag as text without
creating an element, and no output format may contain the canary. At 1100 px the page must not scroll
sideways and no Wireshark filter may wrap inside a term: measured in the DOM by a script added to a copy of
the page (the report itself forbids scripts).
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
ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "captures" / "relayed"

# Added to a copy of the page: the page's width against the viewport's, each table box's, and every token of
# every filter (a run of characters without spaces) with the line boxes (tops) its characters sit on.
MEASURE = """
(function () {
  const out = {viewport: document.documentElement.clientWidth, page: document.documentElement.scrollWidth,
               boxes: [], filters: []};
  for (const box of document.querySelectorAll('.scroll')) {
    const section = box.closest('section');
    out.boxes.push({section: section ? section.id : '', client: box.clientWidth, scroll: box.scrollWidth});
  }
  for (const code of document.querySelectorAll('code.filter')) {
    const chars = [];
    const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.length; i++) {
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rect = range.getClientRects()[0];
        chars.push([node.data[i], rect ? Math.round(rect.top) : null]);
      }
    }
    const tokens = [];
    let token = null;
    for (const [c, top] of chars) {
      if (/\\s/.test(c)) { token = null; continue; }
      if (!token) { token = {text: '', tops: []}; tokens.push(token); }
      token.text += c;
      if (!token.tops.includes(top)) token.tops.push(top);
    }
    out.filters.push(tokens);
  }
  const pre = document.createElement('pre');
  pre.id = 'measure';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
"""


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
    word = "über Dritte" if name.startswith("rerendered-de") else "relayed"
    assert verdict and f'<strong class="word">{word}</strong>' in verdict[1]
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


@pytest.fixture(scope="module")
def shipped_de(tmp_path_factory) -> Path:
    """The lab's relayed capture with its server logs, as a German HTML memo (the widest tables we ship)."""
    if not (SHIPPED / "phone.pcapng").is_file():
        pytest.skip("captures/relayed is absent")
    target = tmp_path_factory.mktemp("shipped") / "relayed-de.html"
    proc = subprocess.run(
        [*CLI, "analyze", str(SHIPPED / "phone.pcapng"), "--case", str(SHIPPED / "case.toml"),
         "--catalog", str(ROOT / "analysis" / "data" / "lab-catalog.toml"),
         "--logs", str(SHIPPED / "dovecot.log"), str(SHIPPED / "submission.log"),
         "--format", "html", "--lang", "de", "-o", str(target)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return target


def measure(page: Path, tmp: Path, width: int) -> dict:
    """The page laid out by Chromium ``width`` pixels wide, measured by :data:`MEASURE`."""
    text = page.read_text(encoding="utf-8")
    text, n = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    assert n == 1
    copy = tmp / "measured.html"
    copy.write_text(text.replace("</body>", f"<script>{MEASURE}</script></body>"), encoding="utf-8")
    proc = chromium(tmp, f"--window-size={width},2000", "--dump-dom", copy.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="measure">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stdout[-2000:]
    return json.loads(html.unescape(found[1]))


@pytest.mark.parametrize("which", ["de.html", "shipped"])
def test_layout_at_1100px_fits_and_filters_wrap_only_between_terms(outputs, shipped_de, tmp_path, which):
    page = shipped_de if which == "shipped" else outputs[which]
    m = measure(page, tmp_path, 1100)
    assert 1000 < m["viewport"] <= 1100
    assert m["page"] <= m["viewport"], "the page scrolls sideways"
    assert m["boxes"] and all(b["client"] <= m["viewport"] for b in m["boxes"])
    destinations = [b for b in m["boxes"] if b["section"] == "destinations"]
    assert destinations and all(b["scroll"] <= b["client"] for b in destinations), destinations
    tokens = [t for f in m["filters"] for t in f]
    assert len(m["filters"]) >= 4 and any(t["text"] == "&&" or t["text"].endswith("==443") for t in tokens)
    split = [t["text"] for t in tokens if len(t["tops"]) != 1]
    assert not split, f"filter tokens broken across lines: {split}"
    # the check has teeth: some filter does wrap (between its terms) at this width
    assert any(len({top for t in f for top in t["tops"]}) > 1 for f in m["filters"])
