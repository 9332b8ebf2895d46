"""The canary in a capture: what the phone sent in clear to anyone but the mail host is a credential leak."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

from tests.scenarios import DEVICE, MAIL_HOST, MAIL_IP, RELAY_IP, Capture, Tcp, dns_lookup

CANARY = "Teschtle0816"
SPLIT_IP = "198.51.100.7"


def write_leaky(path) -> None:
    cap = Capture()
    dns_lookup(cap, DEVICE, "sync.vendor.example", [("A", RELAY_IP)], qid=1)
    # the account handed to a vendor in a clear-text HTTP form
    body = f"user=lft2&password={CANARY}".encode()
    head = (f"POST /accounts HTTP/1.1\r\nHost: sync.vendor.example\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    Tcp(cap, DEVICE, 50001, RELAY_IP, 80).open().c(head + body).s(b"HTTP/1.1 204 No Content\r\n\r\n").close()
    # base64 of "lft2:<canary>" cut in the middle, over two TCP segments, to another host
    blob = b"auth=" + base64.b64encode(f"lft2:{CANARY}".encode())
    conn = Tcp(cap, DEVICE, 50002, SPLIT_IP, 8080).open()
    conn.c(blob[:11]).c(blob[11:] + b"\n").close()
    # the password where it belongs: an IMAP LOGIN to the configured mail host is no leak
    imap = Tcp(cap, DEVICE, 50003, MAIL_IP, 143).open()
    imap.s(b"* OK IMAP4rev1 ready\r\n").c(f"a1 LOGIN lft2 {CANARY}\r\n".encode()).s(b"a1 OK\r\n").close()
    cap.write(path)


def analyze(path, tmp_path, env_canary: str | None) -> tuple[subprocess.CompletedProcess, dict, str]:
    case = tmp_path / "case.toml"
    case.write_text(f'[account]\nusername = "lft2"\ncanary_env = "MD_TEST_CANARY"\n\n[mail]\nhosts = ["{MAIL_HOST}"]\n'
                    f'addresses = ["{MAIL_IP}"]\n')
    out = tmp_path / "report.json"
    env = {"PATH": "/usr/bin:/bin"}
    if env_canary:
        env["MD_TEST_CANARY"] = env_canary
    proc = subprocess.run([sys.executable, "-m", "analysis.cli", "analyze", str(path), "--case", str(case),
                           "-o", str(out)], capture_output=True, text=True, env=env, timeout=120)
    text = out.read_text()
    return proc, json.loads(text), text


def test_canary_sent_in_clear_is_found_with_its_frame(tmp_path):
    path = tmp_path / "leaky.pcap"
    write_leaky(path)
    proc, report, text = analyze(path, tmp_path, CANARY)
    assert proc.returncode == 0, proc.stderr
    leaks = [f for f in report["findings"] if f["kind"] == "credential-leak"]
    by_server = {f["details"]["server"]: f for f in leaks if f["details"]["secret"] == "password"}
    assert set(by_server) == {f"{RELAY_IP}:80", f"{SPLIT_IP}:8080"}
    assert by_server[f"{RELAY_IP}:80"]["details"]["form"] == "plain"
    assert by_server[f"{SPLIT_IP}:8080"]["details"]["form"].startswith("base64")
    flows = {f["id"]: f for f in report["flows"]}
    for finding in by_server.values():
        (flow_id,) = finding["flows"]
        flow = flows[flow_id]
        assert finding["frames"] and flow["first_frame"] <= finding["frames"][0] <= flow["last_frame"]
    assert not any(f["details"]["server"].startswith(MAIL_IP) for f in leaks)  # the mail host may see it
    assert CANARY.lower() not in text.lower() and CANARY not in proc.stderr


def test_no_canary_set_means_no_search(tmp_path):
    path = tmp_path / "leaky.pcap"
    write_leaky(path)
    proc, report, _ = analyze(path, tmp_path, None)
    assert proc.returncode == 0, proc.stderr
    assert not [f for f in report["findings"] if f["kind"] == "credential-leak"]
