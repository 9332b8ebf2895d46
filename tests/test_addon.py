"""The mitmproxy addon, end to end: a real mitmdump (SOCKS5 and DNS mode on 127.0.0.1) with the addon,
real Dovecot (IMAP), aiosmtpd (SMTP) and HTTPS servers on loopback addresses, and real clients.

One run observes (tags, JSONL, saved flows, canary, report); a second run blocks telemetry and QUIC.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from mitmproxy.io import FlowReader

from analysis.communityid import community_id
from tests.conftest import require_tool
from tests.mitmlab import MITMDUMP, HttpsServer, Mitmdump, SocksIMAP4, SocksSMTP, free_port, read_jsonl

CANARY = "Kan4rienvogel!2026"
CANARY_ENV = "MAILDETOUR_ADDON_TEST_CANARY"
# addresses of their own, so that other tests running at the same time do not collide on fixed ports
MAIL_IP = "127.0.77.5"
SYNC_IP, TELEMETRY_IP, CLIENT_FIRST_IP, QUIC_IP = "127.0.77.7", "127.0.77.8", "127.0.77.9", "127.0.77.10"
REPORT_FLOW_KEYS = ("id", "transport", "client", "server", "packets", "bytes", "first_frame", "first_seen",
                    "last_seen", "names", "app_protocol", "starttls", "category", "owner", "asn", "as_org",
                    "wireshark_filter")
QUIC_PROBE = b"\xc3\x00\x00\x00\x01\x08" + b"\x11" * 1200
CATALOG = """\
[[entry]]
id = "lab-vendor-sync"
owner = "vendor.test"
category = "mail-relay"
source = "maildetour test lab"
names = ["sync.vendor.test"]

[[entry]]
id = "lab-vendor-telemetry"
owner = "vendor.test"
category = "telemetry"
source = "maildetour test lab"
names = ["telemetry.vendor.test"]
"""
CASE = f"""\
[account]
address = "lft2@example.test"
username = "lft2"
canary_env = "{CANARY_ENV}"

[mail]
hosts = ["{MAIL_IP}"]
"""


class _Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK queued"


@dataclass
class Lab:
    root: Path
    observe: Path
    block: Path
    results: dict
    sync_requests: list
    telemetry_requests: list
    blocked_requests_before: int


def _client_first_server(address: str, port: int, stop: threading.Event) -> socket.socket:
    """A server that waits for the client's first line and echoes it after "250 got " (client-first)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, port))
    srv.listen(4)
    srv.settimeout(0.2)

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(5)
                try:
                    line = conn.recv(1024)
                    conn.sendall(b"250 got " + line)
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    return srv


def _client_first(proxy, ip: str, port: int) -> bytes:
    from analysis.lab.socks import socks_connect

    with socks_connect(proxy, ip, port, None, 10.0) as s:
        s.sendall(b"EHLO phone.lab.test\r\n")
        return s.recv(1024)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    require_tool("dovecot")
    if not MITMDUMP.exists():
        pytest.fail(f"mitmdump is missing next to {MITMDUMP.parent} (pip install mitmproxy)")
    from aiosmtpd.controller import Controller

    from analysis.lab.ca import LabCA
    from analysis.lab.dovecot import start_dovecot

    root = tmp_path_factory.mktemp("addon")
    (root / "catalog.toml").write_text(CATALOG)
    (root / "case.toml").write_text(CASE)
    ca = LabCA.create(root / "ca")
    sync_cert = ca.issue(root / "ca", "sync.vendor.test", [SYNC_IP])
    tele_cert = ca.issue(root / "ca", "telemetry.vendor.test", [TELEMETRY_IP])
    results: dict = {}
    env = {CANARY_ENV: CANARY}
    common = {"maildetour_case": str(root / "case.toml"), "maildetour_catalog": str(root / "catalog.toml")}
    observe, block = root / "observe", root / "block"
    observe.mkdir()
    block.mkdir()
    stop = threading.Event()
    client_first = None
    try:
        client_first = _client_first_server(CLIENT_FIRST_IP, 587, stop)
    except OSError:
        pass  # port 587 needs root (or is taken); the client-first test skips
    echo = _udp_echo(stop)  # UDP/443 needs root too; the QUIC test skips without it
    sync = HttpsServer(SYNC_IP, str(sync_cert.cert_path), str(sync_cert.key_path))
    tele = HttpsServer(TELEMETRY_IP, str(tele_cert.cert_path), str(tele_cert.key_path))
    with start_dovecot(root / "dovecot", MAIL_IP, users={"lft2": CANARY}) as dovecot, sync, tele:
        smtp_port = free_port(MAIL_IP)
        smtpd = Controller(_Sink(), hostname=MAIL_IP, port=smtp_port)
        smtpd.start()
        try:
            run = Mitmdump(observe, options={**common, "maildetour_jsonl": str(observe / "live.jsonl"),
                                             "maildetour_report": str(observe / "report.json")},
                           dns=True, env=env, extra=["-w", str(observe / "flows.mitm"), *_udp_mode(),
                                                     "--set", r"ignore_hosts=^passthrough\.vendor\.test:"])
            with run:
                imap = SocksIMAP4(run.proxy, MAIL_IP, dovecot.imap_port)
                results["imap_login"] = imap.login("lft2", CANARY)[0]
                imap.select("INBOX")
                imap.logout()
                smtp = SocksSMTP(run.proxy, MAIL_IP, smtp_port)
                results["smtp"] = smtp.sendmail("lft2@example.test", ["friend@example.test"],
                                                "Subject: hello\r\n\r\nhello\r\n")
                smtp.quit()
                body = json.dumps({"account": "lft2@example.test", "password": CANARY}).encode()
                results["sync"] = run.https("sync.vendor.test", SYNC_IP, sync.port, "POST", "/v1/accounts",
                                            body)
                token = base64.b64encode(b"\x01\x02" + CANARY.encode() + b"\x03").decode()
                results["telemetry"] = run.https("telemetry.vendor.test", TELEMETRY_IP, tele.port, "GET",
                                                 "/v2/events", headers={"X-Session": token})
                results["dns"] = _dns_query(run.dns_port, "localhost")
                if client_first is not None:
                    results["client_first"] = _client_first(run.proxy, CLIENT_FIRST_IP, 587)
                if echo is not None:
                    results["quic_observed"] = _udp_probe(run)
                results["pinned"] = _tls_handshake(run, "pinned.vendor.test", sync.port, ca_file=None)
                results["passthrough"] = _tls_handshake(run, "passthrough.vendor.test", sync.port,
                                                        ca_file=str(ca.cert_path))
            results["observe_log"] = run.output
            before = len(tele.requests)

            blocker = Mitmdump(block, options={**common, "maildetour_jsonl": str(block / "live.jsonl"),
                                               "maildetour_report": str(block / "report.json"),
                                               "maildetour_block": "telemetry,quic"},
                               env=env, extra=_udp_mode())
            with blocker:
                try:
                    results["blocked_telemetry"] = blocker.https("telemetry.vendor.test", TELEMETRY_IP,
                                                                 tele.port, "GET", "/v2/events")
                except (OSError, ssl.SSLError) as exc:
                    results["blocked_telemetry"] = exc
                results["allowed_sync"] = blocker.https("sync.vendor.test", SYNC_IP, sync.port, "GET",
                                                        "/v1/ok")
                if echo is not None:
                    results["quic_blocked"] = _udp_probe(blocker)
            results["block_log"] = blocker.output
        finally:
            smtpd.stop()
            stop.set()
            if client_first is not None:
                client_first.close()
            if echo is not None:
                results["quic_echo"] = echo[1][0]
                echo[0].close()
        results["quic_probe"] = QUIC_PROBE
    return Lab(root, observe, block, results, list(sync.requests), list(tele.requests), before)


def _tls_handshake(run: Mitmdump, name: str, port: int, ca_file: str | None) -> str:
    """A TLS handshake to SYNC_IP through the proxy: "ok" or the error's class name.

    ``ca_file=None`` trusts only the system CAs (not mitmproxy's): an app with certificate pinning."""
    from analysis.lab.socks import socks_connect

    ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    ctx.check_hostname = False  # the lab server's certificate is for sync.vendor.test
    raw = socks_connect(run.proxy, SYNC_IP, port, None, 10.0)
    try:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            s.recv(100)
        return "ok"
    except (OSError, ssl.SSLError) as exc:
        return type(exc).__name__
    finally:
        raw.close()


def _udp_mode() -> list[str]:
    """A reverse UDP mode in front of 127.0.0.1:443, the port QUIC uses."""
    return ["--mode", f"reverse:udp://{QUIC_IP}:443@127.0.0.1:{free_port(kind=socket.SOCK_DGRAM)}"]


def _udp_echo(stop: threading.Event):
    """A UDP echo server on QUIC_IP:443 counting datagrams; None when the port cannot be bound."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((QUIC_IP, 443))
    except OSError:
        sock.close()
        return None
    sock.settimeout(0.2)
    count = [0]

    def serve():
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            count[0] += 1
            sock.sendto(data, peer)

    threading.Thread(target=serve, daemon=True).start()
    return sock, count


def _udp_probe(run: Mitmdump) -> bytes | None:
    """Send a QUIC-looking datagram through the proxy's reverse UDP mode; the echo, or None."""
    mode = next(arg for arg in run.extra if arg.startswith("reverse:udp://"))
    port = int(mode.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2.0)
        s.sendto(QUIC_PROBE, ("127.0.0.1", port))
        try:
            return s.recvfrom(4096)[0]
        except TimeoutError:
            return None


def _dns_query(port: int, name: str) -> list[str]:
    from analysis.lab.dnswire import build_query
    from analysis.protocols.dns import parse_message

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(10)
        s.sendto(build_query(4242, name), ("127.0.0.1", port))
        msg = parse_message(s.recvfrom(4096)[0])
    return [a.value for a in msg.answers if a.rtype == "A"]


def by_server(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(r["server"]["ip"], []).append(r)
    return out


# ---- observing ----------------------------------------------------------------------------------------

def test_clients_worked_through_the_proxy(lab):
    r = lab.results
    assert r["imap_login"] == "OK"
    assert r["smtp"] == {}
    assert r["sync"][0] == 200 and r["telemetry"][0] == 200
    assert r["dns"] == ["127.0.0.1"]
    assert [req[:3] for req in lab.sync_requests if req[1] == "sync.vendor.test"] == [
        ("POST", "sync.vendor.test", "/v1/accounts"), ("GET", "sync.vendor.test", "/v1/ok")]


def test_jsonl_has_one_tagged_record_per_flow(lab):
    records = read_jsonl(lab.observe / "live.jsonl")
    servers = by_server(records)
    mail = servers[MAIL_IP]
    assert sorted(r["app_protocol"] for r in mail) == ["imap", "smtp"]
    assert {r["category"] for r in mail} == {"mail-host"}
    imap = [r for r in mail if r["app_protocol"] == "imap"][0]
    assert imap["cleartext_credentials"] is True and imap["bytes"] > 0 and imap["packets"] > 2
    sync = servers[SYNC_IP][0]
    assert (sync["category"], sync["owner"]) == ("mail-relay", "vendor.test")
    assert sync["names"]["sni"] == ["sync.vendor.test"] and sync["app_protocol"] == "tls"
    assert sync["evidence"]["entry"] == "lab-vendor-sync"
    assert servers[TELEMETRY_IP][0]["category"] == "telemetry"
    dns = [r for r in records if r["app_protocol"] == "dns"]
    assert dns and dns[0]["category"] == "name-resolution" and dns[0]["transport"] == "udp"
    for r in records:
        assert r["source"] == "live"
        for key in REPORT_FLOW_KEYS:
            assert key in r
        assert r["first_seen"] <= r["last_seen"]
        client, server = r["client"], r["server"]  # the Community ID, as for a capture's flows
        assert r["community_id"] == community_id(r["transport"], client["ip"], client["port"], server["ip"],
                                                 server["port"]) is not None
    assert len({r["id"] for r in records}) == len(records)


def test_a_client_first_protocol_on_a_mail_port_stays_raw_tcp(lab):
    if "client_first" not in lab.results:
        pytest.skip("binding port 587 needs root")
    assert lab.results["client_first"] == b"250 got EHLO phone.lab.test\r\n"
    rec = by_server(read_jsonl(lab.observe / "live.jsonl"))[CLIENT_FIRST_IP][0]
    assert rec["category"] == "other-mail" and rec["server"]["port"] == 587


def test_saved_flows_carry_comment_and_marker(lab):
    with open(lab.observe / "flows.mitm", "rb") as fh:
        flows = list(FlowReader(fh).stream())
    tagged = {(f.type, f.comment, f.marked) for f in flows}
    assert ("http", "mail-relay vendor.test", ":incoming_envelope:") in tagged
    assert ("http", "telemetry vendor.test", ":bar_chart:") in tagged
    assert ("dns", "name-resolution 127.0.0.1", ":compass:") in tagged
    tcp_comments = {f.comment.split(" ")[0] for f in flows
                    if f.type == "tcp" and f.server_conn.peername[0] == MAIL_IP}
    assert tcp_comments == {"mail-host"}


def test_canary_found_in_a_post_body_and_in_base64_in_a_header(lab):
    report = json.loads((lab.observe / "report.json").read_text())
    leaks = [f for f in report["findings"] if f["kind"] == "credential-leak"]
    flows = {f["id"]: f for f in report["flows"]}
    password = [(flows[f["flows"][0]]["server"]["ip"], f["details"]["form"], f["details"]["where"],
                 f["severity"]) for f in leaks if f["details"]["secret"] == "password"]
    assert (SYNC_IP, "plain", "request body", "high") in password
    assert any(ip == TELEMETRY_IP and form.startswith("base64/") and where == "header X-Session"
               for ip, form, where, _ in password), password
    assert all(ip != MAIL_IP for ip, *_ in password)  # the mail host is where the password belongs
    names = [f for f in leaks if f["details"]["secret"] == "address"]
    assert names and all(f["severity"] == "low" for f in names)
    assert all(f["wireshark_filter"] for f in leaks)


def test_final_report_verdict(lab):
    report = json.loads((lab.observe / "report.json").read_text())
    assert report["schema"] == "maildetour.report/1"
    v = report["verdict"]
    assert v["summary"] == "mixed"
    assert v["mail_host_contacted"] is True
    assert v["receive"]["status"] == "direct" and v["send"]["status"] == "direct"
    assert any(x["owner"] == "vendor.test" for x in v["vendors"])
    assert report["inputs"][0]["format"] == "live"
    assert "verdict so far: mixed" in lab.results["observe_log"]


def test_saved_flow_file_gives_the_same_categories_through_the_cli(lab, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "offline.json"
    proc = subprocess.run([sys.executable, "-m", "analysis.cli", "analyze", str(lab.observe / "flows.mitm"),
                           "--case", str(lab.root / "case.toml"), "--catalog", str(lab.root / "catalog.toml"),
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    offline = json.loads(out.read_text())
    live = read_jsonl(lab.observe / "live.jsonl")
    key = lambda r: (r["server"]["ip"], r["server"]["port"], r["category"])  # noqa: E731
    unsaved = {"pinned.vendor.test", "passthrough.vendor.test"}  # mitmproxy saves no flow for these
    expected = {key(r) for r in live if not unsaved & set(r["names"]["sni"])}
    assert {key(r) for r in offline["flows"]} == expected
    assert offline["verdict"]["summary"] == "mixed"


def test_canary_never_appears_in_any_output(lab):
    raw = CANARY.encode()
    needles = [raw, quote(CANARY, safe="").encode(), hashlib.sha256(raw).hexdigest().encode(),
               base64.b64encode(b"\x01\x02" + raw + b"\x03")]
    files = [p for p in lab.root.rglob("*")
             if p.is_file() and "dovecot" not in p.parts and "ca" not in p.parts]
    assert any(p.name == "flows.mitm" for p in files) and any(p.suffix == ".jsonl" for p in files)
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, path
    for log in (lab.results["observe_log"], lab.results["block_log"]):
        assert CANARY not in log


def test_tls_that_is_not_intercepted_is_still_recorded_with_its_sni(lab):
    """Pinned apps (the client refuses mitmproxy's certificate) and ignore_hosts passthrough: mitmproxy
    keeps no flow for them (its issues #6861, #7577), the addon does."""
    assert lab.results["pinned"] != "ok" and lab.results["passthrough"] == "ok"
    records = {r["names"]["sni"][0]: r for r in read_jsonl(lab.observe / "live.jsonl") if r["names"]["sni"]}
    pinned = records["pinned.vendor.test"]
    assert pinned["server"]["ip"] == SYNC_IP and pinned["app_protocol"] == "tls"
    assert any("refused the proxy's certificate" in n for n in pinned["notes"])
    passthrough = records["passthrough.vendor.test"]
    assert passthrough["server"]["ip"] == SYNC_IP and passthrough["app_protocol"] == "tls"
    assert passthrough["owner"].endswith("vendor.test")
    with open(lab.observe / "flows.mitm", "rb") as fh:  # mitmproxy itself saved neither
        saved = {f.client_conn.sni for f in FlowReader(fh).stream() if f.type == "http"}
    assert "pinned.vendor.test" not in saved and "passthrough.vendor.test" not in saved


# ---- blocking -----------------------------------------------------------------------------------------

def test_blocked_category_is_really_blocked(lab):
    assert isinstance(lab.results["blocked_telemetry"], (OSError, ssl.SSLError))
    assert len(lab.telemetry_requests) == lab.blocked_requests_before  # the server never saw it
    assert lab.results["allowed_sync"][0] == 200
    records = by_server(read_jsonl(lab.block / "live.jsonl"))
    tele = records[TELEMETRY_IP][0]
    assert tele["category"] == "telemetry"
    assert "blocked by maildetour_block (telemetry)" in tele["notes"]
    assert "blocked telemetry flow" in lab.results["block_log"]
    assert records[SYNC_IP][0]["category"] == "mail-relay" and not records[SYNC_IP][0]["notes"]


def test_quic_is_dropped(lab):
    if lab.results.get("quic_echo") is None:
        pytest.skip("binding UDP port 443 needs root")
    assert lab.results["quic_observed"] == lab.results["quic_probe"]  # without the block it passes ...
    assert lab.results["quic_blocked"] is None  # ... with it, nothing comes back
    assert lab.results["quic_echo"] == 1  # and the server saw only the unblocked datagram
    quic = [r for r in read_jsonl(lab.block / "live.jsonl")
            if r["transport"] == "udp" and r["server"]["port"] == 443]
    assert quic and "blocked by maildetour_block (quic)" in quic[0]["notes"]
    assert "blocked quic flow" in lab.results["block_log"]


# ---- in-process: options, commands, safety (mitmproxy's own addon test harness) ------------------------

def _addon():
    from addons.maildetour import MailDetour

    return MailDetour()


def _imap_tcp_flow(port: int = 143):
    from mitmproxy import tcp
    from mitmproxy.test import tflow

    f = tflow.ttcpflow(messages=False)
    f.client_conn.peername = ("127.0.0.2", 40000 + port)
    f.client_conn.sni = f.server_conn.sni = None
    f.client_conn.tls = False
    f.client_conn.timestamp_tls_setup = None
    f.server_conn.address = f.server_conn.peername = (MAIL_IP, port)
    f.messages = [tcp.TCPMessage(False, b"* OK ready\r\n"), tcp.TCPMessage(True, b"a LOGIN lft2 x\r\n")]
    return f


def _drive_tcp(addon, f) -> None:
    msgs, f.messages = f.messages, []
    addon.tcp_start(f)
    for m in msgs:
        f.messages.append(m)
        addon.tcp_message(f)
    addon.tcp_end(f)


@pytest.mark.parametrize(("options", "needle"), [
    ({"maildetour_block": "telemetry,bogus"}, "unknown bogus"),
    ({"maildetour_case": "/nonexistent/case.toml"}, "cannot read case file"),
    ({"maildetour_mail_host": "imap.example.org:99999"}, "port must be 1-65535"),
    ({"maildetour_device": "not-an-ip"}, "not an IP address"),
    ({"maildetour_jsonl": "/nonexistent/dir/live.jsonl"}, "does not exist"),
    ({"maildetour_report": "/tmp/report.pdf"}, "must end in"),
])
def test_bad_options_are_one_clear_error(options, needle):
    from mitmproxy import exceptions
    from mitmproxy.test import taddons

    addon = _addon()
    with taddons.context(addon) as tctx:
        with pytest.raises(exceptions.OptionsError) as err:
            tctx.configure(addon, **options)
    assert needle in str(err.value) and str(err.value).startswith("maildetour:")


def test_bad_option_stops_mitmdump_with_the_message(tmp_path):
    import subprocess

    if not MITMDUMP.exists():
        pytest.fail("mitmdump missing")
    proc = subprocess.run([str(MITMDUMP), "-s", str(Path(__file__).parents[1] / "addons" / "maildetour.py"),
                           "--mode", f"socks5@127.0.0.1:{free_port()}", "--set", f"confdir={tmp_path}",
                           "--set", "maildetour_block=telemetry,nonsense"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "maildetour_block: unknown nonsense" in proc.stdout + proc.stderr


def test_commands_write_the_report_and_log_the_summary(tmp_path, caplog):
    from mitmproxy.test import taddons

    addon = _addon()
    report = tmp_path / "now.md"
    with taddons.context(addon) as tctx:
        tctx.configure(addon, maildetour_mail_host=MAIL_IP, maildetour_report=str(report),
                       maildetour_jsonl=str(tmp_path / "live.jsonl"))
        _drive_tcp(addon, _imap_tcp_flow())
        with caplog.at_level("INFO"):
            tctx.master.commands.call("maildetour.summary")
            tctx.master.commands.call("maildetour.report")
        assert "verdict so far: direct" in caplog.text
        assert "DIRECT" in report.read_text()  # the Markdown memo, by the file name's suffix
        records = read_jsonl(tmp_path / "live.jsonl")
        assert [(r["category"], r["app_protocol"]) for r in records] == [("mail-host", "imap")]
        addon.done()
    assert (tmp_path / "live.jsonl").read_text().count("\n") == 1  # one record per flow, not one per event


def test_an_exception_inside_a_hook_is_logged_not_raised(tmp_path, caplog):
    from mitmproxy.test import taddons

    addon = _addon()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, maildetour_mail_host=MAIL_IP)
        with caplog.at_level("ERROR"):
            assert addon.tcp_message(object()) is None  # not a flow at all
            assert addon.request(None) is None
        assert "maildetour: tcp_message failed" in caplog.text
        f = _imap_tcp_flow()
        _drive_tcp(addon, f)  # and the addon keeps working afterwards
        assert f.comment == f"mail-host {MAIL_IP}" and f.marked == ":mailbox:"


def test_an_analysts_own_comment_is_kept(tmp_path):
    from mitmproxy.test import taddons

    addon = _addon()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, maildetour_mail_host=MAIL_IP)
        f = _imap_tcp_flow()
        f.comment = "interesting: check this one"
        _drive_tcp(addon, f)
        assert f.comment == "interesting: check this one"


def test_device_filter_leaves_other_clients_alone(tmp_path, caplog):
    """Only another client talked: nothing is analysed, the log says why once, and the verdict blames the
    device address, not a lack of traffic."""
    from mitmproxy.test import taddons

    addon = _addon()
    with taddons.context(addon) as tctx, caplog.at_level("WARNING"):
        tctx.configure(addon, maildetour_mail_host=MAIL_IP, maildetour_device="10.23.42.50",
                       maildetour_jsonl=str(tmp_path / "live.jsonl"), maildetour_report=str(tmp_path / "r.json"))
        f, again = _imap_tcp_flow(), _imap_tcp_flow(993)
        _drive_tcp(addon, f)
        _drive_tcp(addon, again)
        addon.done()
    assert f.comment == "" and read_jsonl(tmp_path / "live.jsonl") == []
    assert caplog.text.count("client 127.0.0.2 is proxied but not analysed: it is not the case's device "
                             "(10.23.42.50)") == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["flows"] == [] and report["inputs"][0]["packets"] == 4  # messages of any client
    assert report["verdict"]["missing"] == ["device-not-seen"]
    (other,) = [x for x in report["findings"] if x["kind"] == "proxy-other-clients"]
    assert other["details"] == {"count": 1, "clients": ["127.0.0.2"], "devices": ["10.23.42.50"]}


def test_a_password_split_over_tcp_messages_is_scrubbed(tmp_path, monkeypatch):
    """The saved copy of each message is scrubbed at the flow's end, also where the password is cut in two
    (what went out is not touched: the hooks run before mitmproxy saves the flow)."""
    from mitmproxy import tcp
    from mitmproxy.test import taddons

    monkeypatch.setenv(CANARY_ENV, CANARY)
    (tmp_path / "case.toml").write_text(CASE)
    addon = _addon()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, maildetour_case=str(tmp_path / "case.toml"))
        f = _imap_tcp_flow()
        half = len(CANARY) // 2
        f.messages = [tcp.TCPMessage(False, b"* OK ready\r\n"),
                      tcp.TCPMessage(True, b"a LOGIN lft2 " + CANARY[:half].encode()),
                      tcp.TCPMessage(True, CANARY[half:].encode() + b"\r\n"),
                      tcp.TCPMessage(False, b"a OK " + CANARY.encode() + b"\r\n")]
        _drive_tcp(addon, f)
        addon.done()
    assert [m.content for m in f.messages] == [b"* OK ready\r\n", b"a LOGIN lft2 [REDACTED]", b"\r\n",
                                               b"a OK [REDACTED]\r\n"]


def test_an_http_request_to_a_blocked_category_is_killed(tmp_path):
    """When only the Host header tells the category (plain HTTP, no SNI), the request itself is killed."""
    from mitmproxy.test import taddons, tflow

    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG)
    addon = _addon()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, maildetour_mail_host=MAIL_IP, maildetour_block="telemetry",
                       maildetour_catalog=str(catalog), maildetour_jsonl=str(tmp_path / "live.jsonl"))
        allowed, blocked = tflow.tflow(), tflow.tflow()
        for f, host in ((allowed, "sync.vendor.test"), (blocked, "telemetry.vendor.test")):
            f.client_conn.sni = f.server_conn.sni = None
            f.server_conn.address = f.server_conn.peername = (TELEMETRY_IP, 80)
            f.request.headers["Host"] = host
        blocked.client_conn = tflow.tflow().client_conn  # its own connection
        addon.request(allowed)
        addon.request(blocked)
        assert allowed.error is None and allowed.comment == "mail-relay vendor.test"
        assert blocked.error is not None and blocked.error.msg == "Connection killed."
        assert blocked.comment == "telemetry vendor.test [blocked]" and blocked.marked == ":no_entry:"
        addon.done()
    notes = {r["names"]["http_host"][0]: r["notes"] for r in read_jsonl(tmp_path / "live.jsonl")}
    assert notes == {"sync.vendor.test": [],
                     "telemetry.vendor.test": ["blocked by maildetour_block (telemetry)"]}


def test_websocket_messages_are_counted_scanned_and_scrubbed(tmp_path, monkeypatch):
    from mitmproxy import websocket
    from mitmproxy.test import taddons, tflow

    monkeypatch.setenv(CANARY_ENV, CANARY)
    (tmp_path / "case.toml").write_text(CASE)
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG)
    addon = _addon()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, maildetour_case=str(tmp_path / "case.toml"), maildetour_catalog=str(catalog),
                       maildetour_report=str(tmp_path / "report.json"))
        f = tflow.twebsocketflow()
        f.server_conn.address = f.server_conn.peername = (SYNC_IP, 443)
        f.request.headers["Host"] = "sync.vendor.test"
        f.websocket.messages = []
        addon.request(f)
        login = b'{"op":"login","pw":"' + CANARY.encode() + b'"}'
        for from_client, content in ((True, login), (False, b"ok")):
            f.websocket.messages.append(websocket.WebSocketMessage(2, from_client, content))
            addon.websocket_message(f)
        addon.websocket_end(f)
        assert CANARY.encode() not in f.websocket.messages[0].content  # what -w would save
        addon.done()
    report = json.loads((tmp_path / "report.json").read_text())
    leak = [x for x in report["findings"] if x["kind"] == "credential-leak"]
    assert [(x["details"]["where"], x["details"]["form"]) for x in leak] == [("WebSocket message", "plain")]
    (flow,) = report["flows"]
    assert flow["c2s"]["packets"] == 2 and flow["s2c"]["packets"] == 1  # the request, then a message each way


# ---- other clients, and the password out of the saved flow file (-w) -----------------------------------

DEVICE_IP, OTHER_IP = "127.0.77.20", "127.0.77.21"
D_MAIL_IP, D_SYNC_IP, D_UDP_IP = "127.0.77.22", "127.0.77.23", "127.0.77.24"
DEVICE_CASE = f"""\
[account]
address = "lft2@example.test"
username = "lft2"
canary_env = "{CANARY_ENV}"

[mail]
hosts = ["{D_MAIL_IP}"]

[device]
addresses = ["{DEVICE_IP}"]
"""
SMTP_PLAIN = base64.b64encode(b"\0lft2\0" + CANARY.encode())  # what smtplib sends for AUTH PLAIN
TOKEN = base64.b64encode(b"\x01\x02" + CANARY.encode() + b"\x03")


class _AuthSink(_Sink):
    def __init__(self) -> None:
        self.logins: list[bytes] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        self.logins.append(auth_data.password)
        return AuthResult(success=auth_data.password == CANARY.encode())


@dataclass
class DeviceLab:
    root: Path
    results: dict
    log: str
    smtp_logins: list


def _udp_echo_on(address: str, stop: threading.Event) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    sock.settimeout(0.2)

    def serve():
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
                sock.sendto(data, peer)
            except (TimeoutError, OSError):
                continue

    threading.Thread(target=serve, daemon=True).start()
    return sock


@pytest.fixture(scope="module")
def device_lab(tmp_path_factory) -> DeviceLab:
    """One mitmdump run with a case whose device is DEVICE_IP and a canary; the device logs in to the mail host
    (IMAP closed, IMAP still open when mitmdump stops, SMTP AUTH PLAIN); another client (OTHER_IP) sends the
    password to a vendor over HTTPS (echoed back in the response) and logs in to the mail host; 127.0.0.1 sends
    it in a UDP datagram (echoed back). Everything is saved with -w."""
    require_tool("dovecot")
    if not MITMDUMP.exists():
        pytest.fail(f"mitmdump is missing next to {MITMDUMP.parent} (pip install mitmproxy)")
    from aiosmtpd.controller import Controller

    from analysis.lab.ca import LabCA
    from analysis.lab.dovecot import start_dovecot

    root = tmp_path_factory.mktemp("device")
    (root / "case.toml").write_text(DEVICE_CASE)
    (root / "catalog.toml").write_text(CATALOG)
    ca = LabCA.create(root / "ca")
    sync_cert = ca.issue(root / "ca", "sync.vendor.test", [D_SYNC_IP])
    stop = threading.Event()
    echo = _udp_echo_on(D_UDP_IP, stop)
    udp_port = free_port(kind=socket.SOCK_DGRAM)
    results: dict = {}
    auth = _AuthSink()
    sync = HttpsServer(D_SYNC_IP, str(sync_cert.cert_path), str(sync_cert.key_path))
    with start_dovecot(root / "dovecot", D_MAIL_IP, users={"lft2": CANARY}) as dovecot, sync:
        smtpd = Controller(_Sink(), hostname=D_MAIL_IP, port=free_port(D_MAIL_IP), authenticator=auth,
                           auth_require_tls=False)
        smtpd.start()
        left_open = None
        try:
            out = root / "out"
            out.mkdir()
            run = Mitmdump(out, env={CANARY_ENV: CANARY},
                           options={"maildetour_case": str(root / "case.toml"),
                                    "maildetour_catalog": str(root / "catalog.toml"),
                                    "maildetour_jsonl": str(out / "live.jsonl"),
                                    "maildetour_report": str(out / "report.json")},
                           extra=["-w", str(out / "flows.mitm"),
                                  "--mode", f"reverse:udp://{D_UDP_IP}:{echo.getsockname()[1]}@127.0.0.1:{udp_port}"])
            with run:
                imap = SocksIMAP4(run.proxy, D_MAIL_IP, dovecot.imap_port, source=DEVICE_IP)
                results["device_imap"] = imap.login("lft2", CANARY)[0]
                imap.logout()
                smtp = SocksSMTP(run.proxy, D_MAIL_IP, smtpd.port, source=DEVICE_IP)
                results["device_smtp_auth"] = smtp.login("lft2", CANARY)[0]
                smtp.sendmail("lft2@example.test", ["friend@example.test"], "Subject: hi\r\n\r\nhi\r\n")
                smtp.quit()
                left_open = SocksIMAP4(run.proxy, D_MAIL_IP, dovecot.imap_port, source=DEVICE_IP)
                results["device_imap_open"] = left_open.login("lft2", CANARY)[0]
                left_open.select("INBOX")  # and it stays connected, as a mail app in IDLE does
                other = SocksIMAP4(run.proxy, D_MAIL_IP, dovecot.imap_port, source=OTHER_IP)
                results["other_imap"] = other.login("lft2", CANARY)[0]
                other.logout()
                body = json.dumps({"account": "lft2@example.test", "password": CANARY}).encode()
                results["other_echo"] = run.https("sync.vendor.test", D_SYNC_IP, sync.port, "POST", "/echo/v1",
                                                  body, headers={"X-Session": TOKEN.decode()}, source=OTHER_IP)
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.settimeout(5)
                    s.sendto(b"hello " + CANARY.encode(), ("127.0.0.1", udp_port))
                    results["udp_echo"] = s.recvfrom(4096)[0]
        finally:
            if left_open is not None:
                try:
                    left_open.shutdown()
                except OSError:
                    pass
            smtpd.stop()
            stop.set()
            echo.close()
    return DeviceLab(out, results, run.output, auth.logins)


def _saved(lab: DeviceLab) -> list:
    with open(lab.root / "flows.mitm", "rb") as fh:
        return list(FlowReader(fh).stream())


def test_everyone_got_through_the_proxy_unchanged(device_lab):
    r = device_lab.results
    assert (r["device_imap"], r["device_imap_open"], r["other_imap"]) == ("OK", "OK", "OK")
    assert r["device_smtp_auth"] == 235 and device_lab.smtp_logins == [CANARY.encode()]
    status, echoed = r["other_echo"]  # the response with the password reached the client as it was
    assert status == 200 and json.loads(echoed)["password"] == CANARY
    assert r["udp_echo"] == b"hello " + CANARY.encode()


def test_the_saved_flow_file_never_holds_the_password(device_lab):
    """Whoever the client: the mail host's logins (one still open at shutdown), the other client's request,
    the response echoing it, its IMAP login and a UDP datagram. Checked in the file's raw bytes."""
    raw = (device_lab.root / "flows.mitm").read_bytes()
    needles = {"plain": CANARY.encode(), "url": quote(CANARY, safe="").encode(),
               "base64 (SMTP AUTH PLAIN)": SMTP_PLAIN, "base64 (header)": TOKEN,
               "base64 (alone)": base64.b64encode(CANARY.encode())}
    for form, needle in needles.items():
        assert needle not in raw, form
    assert raw.count(b"[REDACTED]") >= 7


def test_the_saved_flows_are_all_there_with_the_password_masked(device_lab):
    flows = _saved(device_lab)
    tcp = {}
    for f in flows:
        if f.type == "tcp":
            sent = b"".join(m.content for m in f.messages if m.from_client)
            tcp.setdefault(f.client_conn.peername[0], []).append(sent)
    device_logins = [s for s in tcp[DEVICE_IP] if b"LOGIN" in s]
    assert len(device_logins) == 2  # the closed session and the one still open when mitmdump stopped
    assert all(b"[REDACTED]" in s for s in device_logins)
    assert any(b"AUTH PLAIN " in s and b"[REDACTED]" in s for s in tcp[DEVICE_IP])
    (other_login,) = tcp[OTHER_IP]
    assert b'LOGIN lft2 "[REDACTED]"\r\n' in other_login
    (echo,) = [f for f in flows if f.type == "http"]
    assert echo.client_conn.peername[0] == OTHER_IP
    assert json.loads(echo.request.content)["password"] == "[REDACTED]"
    assert json.loads(echo.response.content)["password"] == "[REDACTED]"  # scrubbed after the client got it
    assert b"[REDACTED]" in echo.request.headers["X-Session"].encode()
    (udp,) = [f for f in flows if f.type == "udp"]
    assert [m.content for m in udp.messages] == [b"hello [REDACTED]"] * 2


def test_other_clients_are_logged_once_counted_and_left_out(device_lab):
    log = device_lab.log
    line = f"client {OTHER_IP} is proxied but not analysed: it is not the case's device ({DEVICE_IP})"
    assert log.count(line) == 1  # two connections, one line
    assert log.count("client 127.0.0.1 is proxied but not analysed") == 1  # the UDP client
    assert f"client {DEVICE_IP} is proxied but not analysed" not in log
    report = json.loads((device_lab.root / "report.json").read_text())
    (other,) = [f for f in report["findings"] if f["kind"] == "proxy-other-clients"]
    assert other["details"]["count"] == 2 and sorted(other["details"]["clients"]) == sorted([OTHER_IP, "127.0.0.1"])
    assert OTHER_IP in other["message"]
    assert {f["client"]["ip"] for f in report["flows"]} == {DEVICE_IP}
    assert {f["client"]["ip"] for f in read_jsonl(device_lab.root / "live.jsonl")} == {DEVICE_IP}
    assert report["verdict"]["summary"] == "direct" and report["verdict"]["missing"] == []
    assert not [f for f in report["findings"] if f["kind"] == "credential-leak"]  # the vendor call was not the device's
