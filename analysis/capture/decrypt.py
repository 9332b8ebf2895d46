"""``maildetour analyze --keylog FILE``: look inside TLS with the client's key log (SSLKEYLOGFILE format).

tshark decrypts the capture with ``-o tls.keylog_file:FILE``; for every decrypted TCP stream we take the
HTTP hosts (``http.host``, HTTP/2 ``:authority``) and the mail commands (IMAP, POP3, SMTP) and add them to
the flow with the same 5-tuple. Command arguments are parsed in memory for the SASL mechanism and never kept.
With the case's canary set, ``analysis.capture.tlscanary`` searches the decrypted bytes for it too.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from analysis.capture.tlscanary import endpoint, tls_hits
from analysis.case import Case
from analysis.errors import InputError
from analysis.model import Capture, Flow
from analysis.protocols.mail import parse_command
from analysis.vocab import TLS_FORM

MAX_ROWS = 200_000
MAX_NOTE_COMMANDS = 20
TSHARK_TIMEOUT = 600
FILTER = "tls && (http.request || http2.headers.authority || imap.request || smtp.req || pop.request)"
FIELDS = ("ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport", "tcp.dstport", "http.host",
          "http2.headers.authority", "imap.request", "smtp.command_line", "pop.request")


def _last(value: str) -> str:
    return value.split("|")[-1] if value else ""


def tshark_rows(tshark: str, capture_path: str, keylog_path: str) -> list[dict[str, str]]:
    """Decrypted HTTP and mail requests as tshark field rows (one per frame)."""
    cmd = [tshark, "-n", "-r", capture_path, "-o", f"tls.keylog_file:{keylog_path}",
           "-o", "tcp.desegment_tcp_streams:TRUE", "-o", "tls.desegment_ssl_records:TRUE",
           "-Y", FILTER, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for name in FIELDS:
        cmd += ["-e", name]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=TSHARK_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(capture_path, f"tshark could not decrypt with the key log: {exc}") from None
    if done.returncode != 0 and not done.stdout:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(capture_path, f"tshark failed: {err[-1] if err else done.returncode}")
    rows = []
    for line in done.stdout.decode("utf-8", "replace").splitlines()[:MAX_ROWS]:
        values = line.split("\t")
        rows.append(dict(zip(FIELDS, values + [""] * (len(FIELDS) - len(values)), strict=True)))
    return rows


def _mail(row: dict[str, str]) -> list[tuple[str, bytes]]:
    """(protocol, request line) pairs of a row; the lines live only while they are parsed."""
    out = []
    for protocol, name in (("imap", "imap.request"), ("smtp", "smtp.command_line"), ("pop3", "pop.request")):
        for line in filter(None, row[name].split("|")):
            out.append((protocol, line.replace("\\r", "").replace("\\n", "").encode("utf-8", "replace")))
    return out


def _apply_row(flow: Flow, row: dict[str, str], seen: dict[int, list[str]]) -> None:
    for host in row["http.host"].split("|") + row["http2.headers.authority"].split("|"):
        if host:
            flow.names.add("http_host", host[:255])
    for protocol, line in _mail(row):
        cmd = parse_command(protocol, line)
        if cmd is None:
            continue
        if flow.app_protocol in ("tls", "other"):
            flow.app_protocol = TLS_FORM[protocol]
        if cmd.mechanism and cmd.mechanism not in flow.auth_mechanisms:
            flow.auth_mechanisms.append(cmd.mechanism)
        verbs = seen.setdefault(flow.id, [])
        verb = cmd.verb.split(" ", 1)[0]
        if (not verbs or verbs[-1] != verb) and len(verbs) < MAX_NOTE_COMMANDS:
            verbs.append(verb)


def apply_keylog(capture: Capture, paths: list[str], keylog_path: str, case: Case | None = None) -> None:
    """Add what tshark decrypts with ``keylog_path`` to the flows of ``capture`` (read from ``paths``); with a
    ``case`` whose canary is set, the hits of the canary and the account's names in what the clients sent
    inside TLS to ``capture.hits`` (``analysis.capture.tlscanary``: a second tshark pass)."""
    if not os.path.isfile(keylog_path) or not os.access(keylog_path, os.R_OK):
        raise InputError(keylog_path, "cannot read the TLS key log file")
    tshark = shutil.which("tshark")
    if tshark is None:
        raise InputError(keylog_path, "--keylog needs tshark (Wireshark's command-line tool), not found")
    for index, path in enumerate(paths):
        flows: dict[frozenset, Flow] = {}
        for flow in capture.flows:  # mitmproxy's flows (source "mitm") are decrypted already
            if flow.input_index == index and flow.transport == "tcp" and flow.source == "pcap":
                flows[frozenset((endpoint(flow.client.ip, flow.client.port),
                                 endpoint(flow.server.ip, flow.server.port)))] = flow
        if not flows:
            continue  # no TCP connection read from a capture file: nothing for tshark to decrypt
        seen: dict[int, list[str]] = {}
        for row in tshark_rows(tshark, path, keylog_path):
            src = _last(row["ip.src"]) or _last(row["ipv6.src"])
            dst = _last(row["ip.dst"]) or _last(row["ipv6.dst"])
            sport, dport = _last(row["tcp.srcport"]), _last(row["tcp.dstport"])
            if not (sport.isdigit() and dport.isdigit()):
                continue
            flow = flows.get(frozenset((endpoint(src, int(sport)), endpoint(dst, int(dport)))))
            if flow is not None:
                _apply_row(flow, row, seen)
        for flow_id, verbs in seen.items():
            flow = next(f for f in flows.values() if f.id == flow_id)
            note = f"decrypted with the key log: {flow.app_protocol} commands {' '.join(verbs)}"
            if note not in flow.notes:
                flow.notes.append(note)
        if case is not None and case.canary and flows:
            capture.hits.extend(tls_hits(tshark, path, keylog_path, flows, case.matcher(), TSHARK_TIMEOUT))
