"""mitmproxy flow files (``mitmdump -w``) -> Flow records: the converter, damaged files, the command line.

Flow files are written by mitmproxy's own FlowWriter from real mitmproxy flow objects (built with
mitmproxy's test factories, then given loopback addresses, names and payloads of our own).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from mitmproxy import dns, tcp, udp
from mitmproxy.io import FlowWriter
from mitmproxy.test import tflow

from analysis.errors import InputError
from analysis.inputkind import sniff
from analysis.sources.mitm import load_mitm
from analysis.sources.mitmflows import mail_protocol, request_size, response_size

T0 = 1_700_000_000.0


def https_pair():
    """Two requests on one TLS connection to sync.vendor.test (127.0.0.7:443)."""
    first = tflow.tflow(resp=True)
    first.client_conn.peername = ("127.0.0.2", 50001)
    first.client_conn.sni = "sync.vendor.test"
    first.server_conn.address = ("127.0.0.7", 443)
    first.server_conn.peername = ("127.0.0.7", 443)
    first.server_conn.sni = "sync.vendor.test"
    first.server_conn.timestamp_start = T0
    first.request.host = "127.0.0.7"
    first.request.headers["Host"] = "sync.vendor.test"
    first.request.content = b'{"hello": 1}'
    first.request.timestamp_start = T0 + 1
    first.response.timestamp_end = T0 + 2
    second = tflow.tflow(resp=True)
    second.client_conn = first.client_conn
    second.server_conn = first.server_conn
    second.request.headers["Host"] = "sync.vendor.test"
    second.request.timestamp_start = T0 + 3
    second.response.timestamp_end = T0 + 4
    return first, second


def imap_flow():
    f = tflow.ttcpflow()
    f.client_conn.peername = ("127.0.0.2", 50002)
    f.client_conn.timestamp_tls_setup = None
    f.client_conn.tls = False
    f.client_conn.sni = None
    f.server_conn.address = ("127.0.0.5", 143)
    f.server_conn.peername = ("127.0.0.5", 143)
    f.server_conn.sni = None
    f.messages = [
        tcp.TCPMessage(False, b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n", T0 + 5),
        tcp.TCPMessage(True, b"a1 LOGIN lft2 secret\r\n", T0 + 6),
        tcp.TCPMessage(False, b"a1 OK Logged in\r\n", T0 + 7),
    ]
    return f


def dns_flow():
    f = tflow.tdnsflow(resp=True)
    f.client_conn.peername = ("127.0.0.2", 50003)
    f.client_conn.transport_protocol = f.server_conn.transport_protocol = "udp"
    f.client_conn.sni = f.server_conn.sni = None
    f.server_conn.address = ("127.0.0.53", 53)
    f.server_conn.peername = ("127.0.0.53", 53)
    f.request.questions = [dns.Question("sync.vendor.test", dns.types.A, dns.classes.IN)]
    f.response.questions = f.request.questions
    f.response.answers = [dns.ResourceRecord("sync.vendor.test", dns.types.A, dns.classes.IN, 60,
                                             bytes([127, 0, 0, 7]))]
    return f


def quic_flow():
    f = tflow.tudpflow()
    f.client_conn.peername = ("127.0.0.2", 50004)
    f.client_conn.transport_protocol = f.server_conn.transport_protocol = "udp"
    f.client_conn.sni = f.server_conn.sni = None
    f.server_conn.address = ("127.0.0.7", 443)
    f.server_conn.peername = ("127.0.0.7", 443)
    f.messages = [udp.UDPMessage(True, b"\xc3\x00\x00\x00\x01" + b"\0" * 40, T0 + 8),
                  udp.UDPMessage(False, b"\xc3" + b"\1" * 20, T0 + 9)]
    return f


def write_flows(path: Path, flows) -> list[int]:
    """Write the flows; return the byte offset after each one."""
    ends = []
    with open(path, "wb") as fh:
        writer = FlowWriter(fh)
        for f in flows:
            writer.add(f)
            ends.append(fh.tell())
    return ends


def all_flows():
    return [*https_pair(), imap_flow(), dns_flow(), quic_flow()]


def test_one_record_per_connection_with_names_protocols_and_payload_bytes(tmp_path):
    path = tmp_path / "lab.mitm"
    first, second = https_pair()
    write_flows(path, [first, second, imap_flow(), dns_flow(), quic_flow()])
    cap = load_mitm(str(path))
    info = cap.inputs[0]
    assert (info.format, info.packets, info.complete) == ("mitm", 5, True)
    assert len(info.sha256) == 64
    by_server = {(f.server.ip, f.server.port): f for f in cap.flows}
    assert len(cap.flows) == 4

    https = [f for f in cap.flows if f.transport == "tcp" and f.server.port == 443][0]
    assert https.app_protocol == "tls"
    assert https.names.sni == ["sync.vendor.test"] and https.names.http_host == ["sync.vendor.test"]
    assert https.packets == 4 and https.c2s_packets == 2
    expected = sum(request_size(f.request) + response_size(f.response) for f in (first, second))
    assert https.bytes == expected
    assert https.source == "mitm" and https.client.ip == "127.0.0.2"

    imap = by_server[("127.0.0.5", 143)]
    assert imap.app_protocol == "imap"
    assert imap.cleartext_credentials and not imap.starttls
    assert imap.bytes == sum(len(m.content) for m in imap_flow().messages)
    assert imap.first_seen <= T0 + 5 and imap.last_seen == T0 + 7

    dns_rec = by_server[("127.0.0.53", 53)]
    assert (dns_rec.transport, dns_rec.app_protocol) == ("udp", "dns")
    assert [(d.query, d.types, d.answers) for d in cap.dns] == [("sync.vendor.test", ["A"], ["127.0.0.7"])]

    quic = [f for f in cap.flows if f.transport == "udp" and f.server.port == 443][0]
    assert quic.app_protocol == "quic" and quic.packets == 2
    assert [f.id for f in cap.flows] == list(range(1, len(cap.flows) + 1))


def test_truncated_file_keeps_what_was_read(tmp_path):
    path = tmp_path / "cut.mitm"
    ends = write_flows(path, all_flows())
    data = path.read_bytes()
    path.write_bytes(data[: ends[2] + (ends[3] - ends[2]) // 2])  # the 4th record is cut in half
    cap = load_mitm(str(path))
    info = cap.inputs[0]
    assert not info.complete
    assert info.error_offset == ends[2]
    assert info.packets == 3
    assert info.warnings and str(ends[2]) in info.warnings[0]
    assert {f.server.port for f in cap.flows} == {443, 143}


def test_a_lying_length_prefix_is_damage_not_a_huge_read(tmp_path):
    path = tmp_path / "lies.mitm"
    ends = write_flows(path, all_flows()[:2])
    with open(path, "ab") as fh:
        fh.write(b"999999999999:" + b"x" * 100)
    cap = load_mitm(str(path))
    assert not cap.inputs[0].complete
    assert cap.inputs[0].error_offset == ends[-1]
    assert len(cap.flows) == 1  # both requests belong to one connection


@pytest.mark.parametrize("content", [b"", b"hello, this is not a flow file\n", b"12:not-a-dict!"])
def test_unreadable_input_is_an_input_error(tmp_path, content):
    path = tmp_path / "bad.mitm"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        load_mitm(str(path))
    assert str(path) in str(err.value) and "offset 0" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError):
        load_mitm(str(tmp_path / "nope.mitm"))


def test_flow_files_are_recognised_by_content(tmp_path):
    path = tmp_path / "capture.bin"  # no .mitm suffix
    write_flows(path, [imap_flow()])
    assert sniff(str(path)) == "mitm"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_analyze_reads_a_flow_file_and_reports_damage(tmp_path):
    path = tmp_path / "cut.mitm"
    ends = write_flows(path, all_flows())
    path.write_bytes(path.read_bytes()[: ends[3] + 10])
    catalog = tmp_path / "catalog.toml"
    catalog.write_text('[[entry]]\nid = "lab-sync"\nowner = "vendor.test"\ncategory = "mail-relay"\n'
                       'source = "test"\nnames = ["sync.vendor.test"]\n')
    out = tmp_path / "report.json"
    proc = run_cli("analyze", str(path), "--mail-host", "127.0.0.5", "--catalog", str(catalog),
                   "-o", str(out), "-q")
    assert proc.returncode == 1, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and path.name in proc.stderr  # as the report names it
    report = json.loads(out.read_text())
    cats = {(f["server"]["ip"], f["server"]["port"]): f["category"] for f in report["flows"]}
    assert cats[("127.0.0.7", 443)] == "mail-relay"
    assert cats[("127.0.0.5", 143)] == "mail-host"
    assert report["verdict"]["summary"] == "mixed"
    assert report["inputs"][0]["complete"] is False and report["inputs"][0]["format"] == "mitm"


def test_cli_flows_on_garbage_named_mitm_is_unreadable(tmp_path):
    path = tmp_path / "x.mitm"
    path.write_bytes(b"\x00\x01garbage")
    proc = run_cli("flows", str(path))
    assert proc.returncode == 3
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


# ---- the pure parsers ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("port", "head", "tls", "expected"), [
    (143, b"* OK Dovecot ready.\r\n", False, "imap"),
    (10143, b"* PREAUTH hi\r\n", False, "imap"),
    (993, b"* OK ready\r\n", True, "imaps"),
    (110, b"+OK POP3 ready\r\n", False, "pop3"),
    (995, b"+OK\r\n", True, "pop3s"),
    (25, b"220 mx.example.org ESMTP\r\n", False, "smtp"),
    (587, b"220-mail.example.org ESMTP\r\n", False, "submission"),
    (465, b"220 ready\r\n", True, "smtps"),
    (993, b"", True, "imaps"),  # TLS passthrough: port and TLS decide
    (993, b"", False, None),
    (143, b"", False, "imap"),
    (443, b"", True, None),
    (143, b"HTTP/1.1 200 OK\r\n", False, None),
    # changed with the one mail follower (analysis.protocols.mail.recognise, the capture path's rule): a bare
    # 220 off the SMTP ports is FTP as often as SMTP, so it needs "SMTP" in it or an SMTP client line
    (8080, b"220 ftp ready\r\n", False, None),
    (8080, b"220 mx.example.org ESMTP ready\r\n", False, "smtp"),
    (2525, b"", False, "smtp"),  # changed: 2525, the alternative submission port, is a mail port (analysis.vocab)
    (2525, b"", True, None),
])
def test_mail_protocol(port, head, tls, expected):
    assert mail_protocol(port, head, tls) == expected


def test_bare_220_off_the_smtp_ports_needs_an_smtp_client():
    assert mail_protocol(8080, b"220 hi\r\n", False, b"EHLO phone\r\n") == "smtp"
    assert mail_protocol(8080, b"220 hi\r\n", False, b"USER anonymous\r\n") is None


def _tcp(port: int, *messages: tuple[bool, bytes], tls: bool = False):
    f = imap_flow()
    f.server_conn.address = f.server_conn.peername = ("127.0.0.5", port)
    if tls:
        f.client_conn.tls = True
    f.messages = [tcp.TCPMessage(c, m, T0 + i) for i, (c, m) in enumerate(messages)]
    return f


@pytest.mark.parametrize(("flow", "expected"), [
    (_tcp(143, (False, b"* OK hi\r\n"), (True, b"a STARTTLS\r\n"), (False, b"a OK go\r\n"),
          (True, b"\x16\x03\x01\x00\x05hello")), ("imap", True, [], False)),
    (_tcp(587, (False, b"220 mx ESMTP\r\n"), (True, b"EHLO x\r\nAUTH PLAIN AGxmdDIAcHc=\r\n"),
          (False, b"235 ok\r\n")), ("submission", False, ["PLAIN"], True)),
    (_tcp(110, (False, b"+OK\r\n"), (True, b"USER lft2\r\n"), (False, b"+OK\r\n"), (True, b"PASS pw\r\n")),
     ("pop3", False, ["USER"], True)),  # USER/PASS counts as a mechanism, as in the capture path
    (_tcp(993, (False, b"* OK\r\n"), (True, b"a LOGIN lft2 pw\r\n"), tls=True), ("imaps", False, [], False)),
    (_tcp(587, (True, b"EHLO phone\r\n"), (False, b"250 hi\r\n")), ("submission", False, [], False)),
    (_tcp(143, (False, b"* OK\r\n"), (True, b"a APPEND INBOX {20}\r\n"), (True, b"a LOGIN x y\r\nmore\r\n"),
          (True, b"b CAPABILITY\r\n")), ("imap", False, [], False)),  # a literal is not a command
    # changed with the one mail follower: literals are passed over by exact byte count. The old per-line rule
    # lost count on a literal line longer than its line limit and missed the LOGIN after it ...
    (_tcp(143, (False, b"* OK\r\n"), (True, b"a APPEND INBOX {5000}\r\n" + b"x" * 4500),
          (True, b"x" * 500 + b"\r\nb LOGIN lft2 pw\r\n")), ("imap", False, ["LOGIN"], True)),
    # ... and swallowed the rest of a command after a literal, so a second literal's content (a message quoting
    # a LOGIN, MULTIAPPEND) was read as a command
    (_tcp(143, (False, b"* OK\r\n"), (True, b"a APPEND INBOX {5}\r\nhello {20}\r\nc LOGIN bob secret\r\n\r\n")),
     ("imap", False, [], False)),
])
def test_mail_sessions_in_flow_files(tmp_path, flow, expected):
    path = tmp_path / "mail.mitm"
    write_flows(path, [flow])
    (rec,) = load_mitm(str(path)).flows
    assert (rec.app_protocol, rec.starttls, rec.auth_mechanisms, rec.cleartext_credentials) == expected


def test_every_connection_is_its_own_record(tmp_path):
    path = tmp_path / "many.mitm"
    flows = []
    for i in range(300):
        f = imap_flow()
        f.client_conn.peername = ("127.0.0.2", 20000 + i)
        flows.append(f)
    write_flows(path, flows)
    cap = load_mitm(str(path))
    assert len(cap.flows) == 300 and cap.inputs[0].complete
    assert sorted(f.client.port for f in cap.flows) == list(range(20000, 20300))


def test_open_records_are_bounded():
    from analysis.sources.mitmflows import ProxyConnections

    table = ProxyConnections(source="mitm", max_active=2)
    closed = []
    live = ProxyConnections(source="live", max_active=2, on_evict=closed.append)
    for i in range(3):
        f = imap_flow()
        f.client_conn.peername = ("127.0.0.2", 30000 + i)
        table.add_flow(f)
        live.add_flow(f)
    assert len(table) == 2 and len(live) == 2
    assert [f.client.port for f in closed] == [30000]
    assert "closed early: too many open connections" in closed[0].notes
    assert sorted(f.client.port for f in table.pop_all()) == [30000, 30001, 30002]


def test_endpoints_from_mitmproxy_addresses():
    from analysis.sources.mitmflows import endpoint

    assert endpoint(("::ffff:10.0.0.1", 51000, 0, 0)).ip == "10.0.0.1"  # a dual-stack listener's view
    assert endpoint(("2001:DB8::1", 443, 0, 0)).ip == "2001:db8::1"
    assert endpoint(("127.0.0.1", 8080)).port == 8080
    assert endpoint(("imap.example.org", 993)) is None and endpoint(None) is None


# ---- the canary in saved flows ---------------------------------------------------------------------------

CANARY = "Offline-Canary-4711!"


def canary_post():
    """A POST to sync.vendor.test whose form body carries the canary (URL-encoded, as a form sends it)."""
    f, _ = https_pair()
    f.request.method = "POST"
    f.request.path = "/v1/accounts"
    f.request.headers["Content-Type"] = "application/x-www-form-urlencoded"
    f.request.content = b"user=lft2&host=imap.example.test&password=" + quote_plus(CANARY).encode()
    return f


def canary_login():
    """The canary in an IMAP LOGIN to the configured mail host: where it belongs, never a finding."""
    f = imap_flow()
    f.messages[1] = tcp.TCPMessage(True, b"a1 LOGIN lft2 " + CANARY.encode() + b"\r\n", T0 + 6)
    return f


def canary_case(tmp_path: Path) -> Path:
    case = tmp_path / "case.toml"
    case.write_text('[account]\naddress = "lft2@example.test"\nusername = "lft2"\ncanary_env = "MD_CANARY"\n'
                    '[mail]\nhosts = ["127.0.0.5:143"]\n')
    return case


def test_offline_canary_search_finds_the_leak_and_spares_the_mail_host(tmp_path):
    from analysis.case import load_case
    from analysis.pipeline import Settings, analyze

    path = tmp_path / "leak.mitm"
    write_flows(path, [canary_login(), canary_post(), dns_flow()])
    case = load_case(str(canary_case(tmp_path)), environ={"MD_CANARY": CANARY})
    cap = load_mitm(str(path), case=case)
    (login,) = [f for f in cap.flows if f.server.port == 143]
    (post,) = [f for f in cap.flows if f.server.port == 443]
    # the loader only finds: the password in the LOGIN to the mail host is a hit like the one in the POST
    assert {h.flow_id for h in cap.hits if h.secret == "password"} == {login.id, post.id}
    assert CANARY not in repr(cap.hits) and quote_plus(CANARY) not in repr(cap.hits)
    # the pipeline judges, once the flows are classified
    report = analyze([str(path)], Settings(case=case))
    leaks = [x for x in report["findings"] if x["kind"] == "credential-leak"]
    severity = {(x["details"]["secret"], x["details"]["form"]): x["severity"] for x in leaks}
    assert severity[("password", "url")] == "high" and severity[("username", "plain")] == "low"
    assert {tuple(x["flows"]) for x in leaks} == {(post.id,)}  # nothing for the LOGIN to the mail host
    assert {x["details"]["where"] for x in leaks} == {"request body"}
    assert all("sync.vendor.test" in x["message"] and CANARY not in x["message"] for x in leaks)
    assert load_mitm(str(path)).hits == []  # no case: no search
    no_canary = load_case(str(canary_case(tmp_path)), environ={})
    names_only = load_mitm(str(path), case=no_canary).hits  # the account's names are still searched
    assert {(h.secret, h.flow_id) for h in names_only} == {("username", login.id), ("username", post.id)}


def test_offline_canary_findings_point_at_the_merged_flow_ids(tmp_path):
    from analysis.case import load_case
    from analysis.pipeline import Settings, analyze, load

    first, second = tmp_path / "a.mitm", tmp_path / "b.mitm"
    write_flows(first, [canary_login(), dns_flow()])
    write_flows(second, [canary_post()])
    case = load_case(str(canary_case(tmp_path)), environ={"MD_CANARY": CANARY})
    paths = [str(first), str(second)]
    cap = load(paths, case)
    by_id = {f.id: f for f in cap.flows}
    assert {(by_id[h.flow_id].input_index, by_id[h.flow_id].server.port) for h in cap.hits
            if h.secret == "password"} == {(0, 143), (1, 443)}  # the hits follow their flows' new ids
    report = analyze(paths, Settings(case=case))
    flows = {f["id"]: f for f in report["flows"]}
    leaks = [x for x in report["findings"] if x["kind"] == "credential-leak"]
    assert leaks and all(flows[x["flows"][0]]["server"]["port"] == 443 and flows[x["flows"][0]]["input"] == 1
                         for x in leaks)
    case.devices = ["127.0.0.99"]  # another device: its flows and their hits are left out
    assert load(paths, case).hits == []


def test_cli_analyze_flow_file_reports_the_leak_without_the_canary(tmp_path):
    path = tmp_path / "leak.mitm"
    write_flows(path, [canary_login(), canary_post(), dns_flow()])
    case = canary_case(tmp_path)
    outputs = {}
    for fmt in ("json", "md", "html"):
        out = tmp_path / f"report.{fmt}"
        proc = subprocess.run(
            [sys.executable, "-m", "analysis.cli", "analyze", str(path), "--case", str(case), "--format", fmt,
             "-o", str(out)],
            capture_output=True, text=True, timeout=120, env={**os.environ, "MD_CANARY": CANARY})
        assert proc.returncode == 0, proc.stderr
        assert CANARY not in proc.stdout + proc.stderr
        outputs[fmt] = out.read_text()
        assert CANARY not in outputs[fmt] and quote_plus(CANARY) not in outputs[fmt]
    report = json.loads(outputs["json"])
    leaks = [x for x in report["findings"] if x["kind"] == "credential-leak"]
    servers = {f["id"]: (f["server"]["ip"], f["server"]["port"]) for f in report["flows"]}
    assert leaks and {servers[x["flows"][0]] for x in leaks} == {("127.0.0.7", 443)}
    password = [x for x in leaks if x["details"]["secret"] == "password"]
    assert password and "password (canary) was sent to sync.vendor.test" in outputs["md"]


def test_offline_canary_in_raw_streams_split_across_messages(tmp_path):
    from analysis.case import load_case

    token = base64.b64encode(b"user=lft2;pass=" + CANARY.encode() + b";v=1")
    raw = imap_flow()
    raw.server_conn.address = raw.server_conn.peername = ("127.0.0.8", 5222)
    raw.messages = [tcp.TCPMessage(True, b"AUTH " + token[:26], T0 + 5),  # the base64 form is cut in two
                    tcp.TCPMessage(False, b"+ go on\r\n", T0 + 6),
                    tcp.TCPMessage(True, token[26:] + b"\r\n", T0 + 7)]
    datagram = quic_flow()
    datagram.server_conn.address = datagram.server_conn.peername = ("127.0.0.9", 9999)
    datagram.messages = [udp.UDPMessage(True, b'{"pw":"' + CANARY.encode() + b'"}', T0 + 8)]
    path = tmp_path / "raw.mitm"
    write_flows(path, [raw, datagram])
    case = load_case(str(canary_case(tmp_path)), environ={"MD_CANARY": CANARY})
    cap = load_mitm(str(path), case=case)
    servers = {f.id: f.server.port for f in cap.flows}
    seen = {(servers[h.flow_id], h.where, h.form.split("/")[0]) for h in cap.hits if h.secret == "password"}
    assert (5222, "TCP stream", "base64") in seen and (9999, "UDP datagram", "plain") in seen
