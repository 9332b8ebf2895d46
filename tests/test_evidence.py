"""``maildetour analyze --evidence DIR``: per-finding pcapng files, checked with real tshark, capinfos and
sha256sum against the source captures (frames chosen by tshark's own numbering and display filters)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.all import IP

from analysis.canary import CanaryMatcher
from tests import pcapbuild as pb
from tests import pcapdroid_files as pd
from tests import scenarios as sc
from tests.conftest import ROOT, require_tool

CANARY = "Teschtle0816"
RELAYED = ROOT / "captures" / "relayed"
SPLIT_IP = "198.51.100.7"
OVERWRITTEN = "the test password was overwritten with 'X'"


def analyze(*args: str, canary: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MAILDETOUR_DEBUG", "MD_TEST_CANARY")}
    if canary:
        env["MD_TEST_CANARY"] = canary
    return subprocess.run([sys.executable, "-m", "analysis.cli", "analyze", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=180)


def tshark(path: Path, *args: str) -> str:
    proc = subprocess.run([require_tool("tshark"), "-r", str(path), *args], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def frame_filter(numbers: list[int]) -> str:
    return "frame.number in {" + ",".join(map(str, numbers)) + "}"


FIELDS = ("-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len", "-e",
          "frame.interface_name", "-e", "frame.encap_type")


def assert_same_frames(source: Path, evidence: Path, numbers: list[int]) -> None:
    """The evidence file's frames are the source's frames ``numbers`` (tshark's numbering): same bytes, same
    times to the nanosecond, same lengths, interface names and link types."""
    want = frame_filter(numbers)
    assert tshark(evidence, "-x") == tshark(source, "-Y", want, "-x")
    unnamed = "\tunknown\t"  # how tshark names a pcapng interface without a name (a pcap's has none)
    assert tshark(evidence, *FIELDS).replace(unnamed, "\t\t") == \
        tshark(source, "-Y", want, *FIELDS).replace(unnamed, "\t\t")


def comments(path: Path) -> dict[int, str]:
    """Evidence frame number -> its packet comments, as tshark shows them."""
    out = {}
    for line in tshark(path, "-Y", "frame.comment", "-T", "fields", "-e", "frame.number", "-e",
                       "frame.comment").splitlines():
        number, text = line.split("\t", 1)
        out[int(number)] = text
    return out


def read_index(folder: Path) -> dict:
    return json.loads((folder / "index.json").read_text())


def test_relayed_lab_capture(tmp_path):
    """Every finding of the shipped relayed run that cites flows gets a file with exactly its flows' frames (as
    tshark selects them with the flows' own display filters), byte for byte; comments and sums check out."""
    if not RELAYED.is_dir():
        pytest.skip(f"{RELAYED} is absent")
    require_tool("capinfos")
    source = RELAYED / "phone.pcapng"
    out, report_path = tmp_path / "evidence", tmp_path / "report.json"
    proc = analyze(str(source), "--case", str(RELAYED / "case.toml"), "--catalog", "analysis/data/lab-catalog.toml",
                   "--logs", *map(str, sorted(RELAYED.glob("*.log"))), "-o", str(report_path), "--evidence", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(report_path.read_text())
    index = read_index(out)
    flows = {f["id"]: f for f in report["flows"]}
    files = {e["finding"]: e for e in index["files"]}
    citing = [n for n, f in enumerate(report["findings"], 1) if f["flows"]]
    assert citing and sorted(files) == citing
    assert index["inputs"][0]["sha256"] == report["inputs"][0]["sha256"]
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert sums.returncode == 0 and sums.stdout.count(": OK") == len(files) + 1, sums.stdout
    for n in citing:
        finding, entry = report["findings"][n - 1], files[n]
        path = out / entry["file"]
        ranges = " || ".join(f"({flows[i]['wireshark_filter']} && frame.number >= {flows[i]['first_frame']} && "
                             f"frame.number <= {flows[i]['last_frame']})" for i in finding["flows"])
        expected = [int(x) for x in tshark(source, "-Y", ranges, "-T", "fields", "-e", "frame.number").split()]
        assert entry["frames"] == expected and entry["packets"] == sum(flows[i]["packets"] for i in finding["flows"])
        assert_same_frames(source, path, expected)
        info = subprocess.run([require_tool("capinfos"), str(path)], capture_output=True, text=True, timeout=60)
        assert info.returncode == 0, info.stderr
        assert f"Number of packets:   {len(expected)}" in info.stdout
        assert f"phone.pcapng sha256 {report['inputs'][0]['sha256']}" in info.stdout
        assert f"{finding['kind']} ({finding['severity']})" in info.stdout and "lab@mail.example.test" in info.stdout
        noted = comments(path)
        cited = finding["frames"] or [flows[i]["first_frame"] for i in finding["flows"]]
        assert sorted(entry["frames"][k - 1] for k in noted) == sorted(cited)
        for k, text in noted.items():
            assert text.startswith(f"maildetour finding {n}: {finding['kind']}")
            assert f"[source frame {entry['frames'][k - 1]}]" in text


def write_leaky(path: Path) -> None:
    """The password in a clear HTTP form, and the password split over two TCP segments to another host."""
    cap = sc.Capture()
    sc.dns_lookup(cap, sc.DEVICE, "sync.vendor.example", [("A", sc.RELAY_IP)], qid=1)
    body = f"user=lft2&password={CANARY}".encode()
    head = f"POST /accounts HTTP/1.1\r\nHost: sync.vendor.example\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    sc.Tcp(cap, sc.DEVICE, 50001, sc.RELAY_IP, 80).open().c(head + body).s(b"HTTP/1.1 204 No Content\r\n\r\n").close()
    line = f"PASS {CANARY}\n".encode()
    sc.Tcp(cap, sc.DEVICE, 50002, SPLIT_IP, 8080).open().c(line[:9]).c(line[9:]).close()
    cap.write(path)


def _case(tmp_path: Path) -> Path:
    case = tmp_path / "case.toml"
    case.write_text(f'[account]\naddress = "lft2@{sc.MAIL_HOST}"\nusername = "lft2"\ncanary_env = "MD_TEST_CANARY"\n'
                    f'\n[mail]\nhosts = ["{sc.MAIL_HOST}"]\naddresses = ["{sc.MAIL_IP}"]\n')
    return case


def test_canary_in_clear_is_overwritten(tmp_path):
    """Frames holding the password (whole, or split over two segments) are written with 'X' in its place and a
    comment saying so; every other byte is the source's; no file of the folder holds any form of it."""
    source = tmp_path / "leaky.pcap"
    write_leaky(source)
    out = tmp_path / "evidence"
    proc = analyze(str(source), "--case", str(_case(tmp_path)), "-o", str(tmp_path / "r.json"), "--evidence", str(out),
                   canary=CANARY)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    leaks = [n for n, f in enumerate(report["findings"], 1)
             if f["kind"] == "credential-leak" and f["details"]["secret"] == "password"]
    assert len(leaks) == 2
    matcher = CanaryMatcher(CANARY)
    for item in out.iterdir():
        data = item.read_bytes()
        assert not matcher.spans(data) and CANARY.encode() not in data, item.name
    assert CANARY not in proc.stderr
    files = {e["finding"]: e for e in read_index(out)["files"]}
    changes: dict[int, int] = {}  # source frame -> bytes changed
    for n in leaks:
        entry = files[n]
        path = out / entry["file"]
        assert entry["overwritten_frames"]
        noted = comments(path)
        ours, theirs = frame_bytes(path), frame_bytes(source, entry["frames"])
        for k, (number, mine, orig) in enumerate(zip(entry["frames"], ours, theirs, strict=True), 1):
            assert len(mine) == len(orig)
            changed = [i for i in range(len(mine)) if mine[i] != orig[i]]
            changes[number] = len(changed)
            if number in entry["overwritten_frames"]:
                assert changed and all(mine[i] == ord("X") for i in changed)
                assert OVERWRITTEN in noted[k]
            else:
                assert not changed and OVERWRITTEN not in noted.get(k, "")
    split = next(files[n] for n in leaks if report["findings"][n - 1]["details"]["server"].startswith(SPLIT_IP))
    assert len(split["overwritten_frames"]) == 2  # both segments: the part in the first one too
    assert sum(changes[n] for n in split["overwritten_frames"]) == len(CANARY)


def frame_bytes(path: Path, numbers: list[int] | None = None) -> list[bytes]:
    """The captured bytes of every frame (or of frames ``numbers``), from tshark's hex dump (its first data
    source: a frame's dump may go on with reassembled data, under a title line)."""
    text = tshark(path, *(("-Y", frame_filter(numbers)) if numbers else ()), "-x")
    frames, current, done = [], b"", False
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            if current:
                frames.append(current)
            current, done = b"", False
            continue
        head, _, rest = line.partition("  ")
        if len(head) == 4 and not done:
            current += bytes.fromhex(rest[:48].strip())
        elif current:
            done = True
    return frames


def test_pcapdroid_pcapng_keeps_interfaces_and_app_comments(tmp_path):
    """PCAPdroid (root mode): custom blocks count as frames (tshark's numbering), several interfaces with names,
    per-packet direction flags and ``u-<uid>`` comments: kept as the source has them."""
    from tests.test_pcapdroid import APPS, phone

    packets = phone()
    for p in packets:  # the IMAP connection on a second capture interface (wlan2)
        if sc.MAIL_IP in (IP(p.ip).src, IP(p.ip).dst):
            p.ifidx = 2
    source = pb.write(tmp_path / "phone.pcapng", pd.pcapng_bytes(packets, APPS, root=True))
    out = tmp_path / "evidence"
    proc = analyze(str(source), "--mail-host", sc.MAIL_HOST, "-o", str(tmp_path / "r.json"), "--evidence", str(out))
    assert proc.returncode == 0, proc.stderr
    index = read_index(out)
    assert index["files"]
    seen_ifaces = set()
    for entry in index["files"]:
        path = out / entry["file"]
        assert_same_frames(source, path, entry["frames"])
        marks = tshark(path, "-T", "fields", "-e", "frame.comment").splitlines()
        assert len(marks) == len(entry["frames"]) and all(m.startswith("u-") for m in marks)
        seen_ifaces |= set(tshark(path, "-T", "fields", "-e", "frame.interface_name").split())
    assert seen_ifaces == {"unknown", "wlan2"}  # interface 0 has no name


def test_pcapdroid_pcap_trailers_and_nanosecond_big_endian_pcapng(tmp_path):
    """A PCAPdroid pcap's frames keep their trailer (every captured byte); a big-endian pcapng with a
    nanosecond interface and a microsecond one keeps each frame's interface and time to the nanosecond."""
    from tests.test_pcapdroid import names, phone

    packets = phone()
    trailer = pb.write(tmp_path / "phone.pcap", pd.pcap_bytes(packets, names()))
    big = tmp_path / "big.pcapng"
    frames = [(p.ts + i * 1.000000001e-3, p.ip) for i, p in enumerate(packets)]
    blocks = [pb.shb(">"), pb.idb(101, ">", tsresol=9), pb.idb(101, ">")]
    for i, (ts, ip) in enumerate(frames):
        blocks.append(pb.epb(i % 2, ts, ip, ">", 10**9 if i % 2 == 0 else 10**6))
        if i == 5:
            blocks.append(pb.unknown_block(">"))  # a custom block: a frame to Wireshark, none in the evidence
    pb.write(big, b"".join(blocks))
    for source in (trailer, big):
        out = tmp_path / f"evidence-{source.suffix[1:]}"
        proc = analyze(str(source), "--mail-host", sc.MAIL_HOST, "-o", str(tmp_path / "r.json"), "--evidence",
                       str(out))
        assert proc.returncode == 0, proc.stderr
        entries = read_index(out)["files"]
        assert entries
        for entry in entries:
            assert_same_frames(source, out / entry["file"], entry["frames"])
        if source == big:
            assert any(len(set(tshark(out / e["file"], "-T", "fields", "-e", "frame.interface_id").split())) == 2
                       for e in entries)


def test_mitm_input_is_noted_and_bad_folder_fails_first(tmp_path):
    """A mitmproxy flow file has no packets: one note, the capture's files still come. A folder that cannot
    be made ends the command before the analysis: exit 3, one line naming it."""
    from tests.test_mitm_source import imap_flow, write_flows

    flows = tmp_path / "proxy.mitm"
    write_flows(flows, [imap_flow()])
    source = tmp_path / "leaky.pcap"
    write_leaky(source)
    out = tmp_path / "evidence"
    proc = analyze(str(source), str(flows), "--case", str(_case(tmp_path)), "-o", str(tmp_path / "r.json"),
                   "--evidence", str(out), canary=CANARY)
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if "proxy.mitm" in line]
    assert len(notes) == 1 and "no packets" in notes[0]
    assert read_index(out)["files"] and any("proxy.mitm" in n for n in read_index(out)["notes"])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = analyze(str(source), "-o", str(tmp_path / "r2.json"), "--evidence", str(blocker / "sub"))
    assert proc.returncode == 3 and len(proc.stderr.strip().splitlines()) == 1 and str(blocker) in proc.stderr
    assert not (tmp_path / "r2.json").exists()


def test_pcapng_writer_blocks_parse_back(tmp_path):
    """The writer's blocks alone: tshark reads an SHB with a comment, an IDB with a nanosecond resolution and
    an EPB with two comments."""
    from analysis.capture import pcapngwrite as png

    ip = bytes(IP(src="192.0.2.1", dst="192.0.2.2") / b"hello")
    data = (png.section_header([png.comment("section note"), png.text(png.SHB_USERAPPL, "maildetour test")])
            + png.interface(101, 0, [(9, bytes([9]))])
            + png.packet(0, 1_700_000_000_123_456_789, ip, len(ip), [png.comment("one"), png.comment("two")]))
    path = tmp_path / "w.pcapng"
    path.write_bytes(data)
    shb_length = struct.unpack_from("<I", data, 4)[0]
    assert struct.unpack_from("<I", data, shb_length - 4)[0] == shb_length
    assert tshark(path, "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.comment").split() == \
        ["1700000000.123456789", "one,two"]
