"""--rdap: the relevant addresses looked up over RDAP at a real HTTP server on loopback, cached on disk.

The server answers like a registry: a hand-written RFC 9083 ip network object for Microsoft's 52.125.0.0/16
(modelled on ARIN's answers), an RFC 9083 error object (404) for other addresses. ``--rdap-server`` sends
every query there; nothing leaves 127.0.0.1. The capture is the memo's relaying app (tests/scenarios.py),
the log has the account's logins from the relay and from other addresses.
"""

from __future__ import annotations

import html
import ipaddress
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from analysis.cli import main
from analysis.rdap import MAX_ANSWER_BYTES, Rdap
from tests.scenarios import MAIL_IP, RELAY2_IP, RELAY_IP, write_relayed

MICROSOFT = ipaddress.ip_network("52.125.0.0/16")
LOGIN_DOC = "192.0.2.7"  # documentation range: never looked up
LOGIN_UNKNOWN = "185.220.101.5"  # the registry has no record (404)

CASE = f"""
[account]
address = "lft2@example.org"
username = "lft2"

[mail]
hosts = ["mail.example.org:993"]
addresses = ["{MAIL_IP}"]

[device]
addresses = ["10.23.42.50"]
"""

LOG = f"""\
2020-08-28T09:07:30Z mx dovecot: imap-login: Login: user=<lft2@example.org>, method=PLAIN, rip={RELAY_IP}, \
lip={MAIL_IP}, mpid=4711, TLS, session=<Pf9Q7F1hWJJ/AAAB>
2020-08-28T09:08:05Z mx dovecot: imap-login: Disconnected: Aborted login (auth failed, 1 attempts in 2 secs): \
user=<lft2@example.org>, method=PLAIN, rip={LOGIN_DOC}, lip={MAIL_IP}, TLS, session=<Qa0R8G2iXKK/AAAC>
2020-08-28T09:09:12Z mx dovecot: imap-login: Disconnected: Aborted login (auth failed, 1 attempts in 2 secs): \
user=<lft2@example.org>, method=PLAIN, rip={LOGIN_UNKNOWN}, lip={MAIL_IP}, TLS, session=<Rb1S9H3jYLL/AAAD>
"""


def vcard(*props: list) -> list:
    return ["vcard", [["version", {}, "text", "4.0"], *props]]


def network_object(base: str) -> dict:
    """Microsoft's 52.125.0.0/16 as ARIN's RDAP service describes such a network (RFC 9083, 5.4)."""
    return {
        "rdapConformance": ["nro_rdap_profile_0", "rdap_level_0", "cidr0", "arin_originas0"],
        "notices": [{"title": "Terms of Service", "description": ["By using the ARIN RDAP/Whois service, you "
                     "are agreeing to the RDAP/Whois Terms of Use"],
                     "links": [{"value": f"{base}ip/52.125.140.74", "rel": "terms-of-service",
                                "type": "text/html", "href": "https://www.arin.net/resources/registry/whois/tou/"}]}],
        "objectClassName": "ip network",
        "handle": "NET-52-125-0-0-1",
        "startAddress": "52.125.0.0",
        "endAddress": "52.125.255.255",
        "ipVersion": "v4",
        "name": "MSFT",
        "type": "DIRECT ASSIGNMENT",
        "parentHandle": "NET-52-0-0-0-0",
        "country": "US",
        "status": ["active"],
        "cidr0_cidrs": [{"v4prefix": "52.125.0.0", "length": 16}],
        "port43": "whois.arin.net",
        "events": [
            {"eventAction": "registration", "eventDate": "2015-11-24T13:09:51-05:00"},
            {"eventAction": "last changed", "eventDate": "2021-12-14T20:28:10-05:00"},
        ],
        "links": [
            {"value": f"{base}ip/52.125.140.74", "rel": "self", "type": "application/rdap+json",
             "href": "https://rdap.arin.net/registry/ip/52.125.0.0"},
            {"value": f"{base}ip/52.125.140.74", "rel": "alternate", "type": "application/xml",
             "href": "https://whois.arin.net/rest/net/NET-52-125-0-0-1"},
        ],
        "entities": [
            {
                "objectClassName": "entity",
                "handle": "MSFT",
                "roles": ["registrant"],
                "vcardArray": vcard(
                    ["fn", {}, "text", "Microsoft Corporation"],
                    ["adr", {"label": "One Microsoft Way\nRedmond\nWA\n98052\nUnited States"}, "text",
                     ["", "", "", "", "", "", ""]],
                    ["kind", {}, "text", "org"],
                ),
                "events": [{"eventAction": "last changed", "eventDate": "2023-05-05T09:59:25-04:00"}],
                "port43": "whois.arin.net",
                "entities": [
                    {
                        "objectClassName": "entity",
                        "handle": "MAC74-ARIN",
                        "roles": ["abuse"],
                        "vcardArray": vcard(
                            ["fn", {}, "text", "Microsoft Abuse Contact"],
                            ["kind", {}, "text", "group"],
                            ["email", {}, "text", "abuse@microsoft.com"],
                        ),
                    }
                ],
            }
        ],
    }


class Registry:
    """An RDAP server on 127.0.0.1 (http.server in a thread) that counts the requests it gets."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.mode = "ok"  # ok | 500 | bad-json | huge
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                registry.paths.append(self.path)
                status, body = registry.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/rdap+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str) -> tuple[int, bytes]:
        if self.mode == "500":
            return 500, b'{"errorCode": 500, "title": "Internal Server Error"}'
        if self.mode == "bad-json":
            return 200, b"<html><body>maintenance</body></html>"
        if self.mode == "huge":
            return 200, b'{"name": "' + b"x" * (MAX_ANSWER_BYTES + 10) + b'"}'
        address = path.rsplit("/", 1)[-1]
        if path.startswith("/ip/") and ipaddress.ip_address(address) in MICROSOFT:
            return 200, json.dumps(network_object(self.url)).encode()
        error = {"rdapConformance": ["rdap_level_0"], "errorCode": 404, "title": "Not Found",
                 "description": [f"No network contains {address}"]}
        return 404, json.dumps(error).encode()


@pytest.fixture
def registry():
    server = Registry()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join(timeout=10)


@pytest.fixture
def case_files(tmp_path, monkeypatch):
    """The capture, the case, the log; the RDAP cache in tmp_path (never the user's)."""
    monkeypatch.setenv("MAILDETOUR_RDAP_CACHE", str(tmp_path / "rdap-cache"))
    monkeypatch.delenv("MAILDETOUR_RDAP_SERVER", raising=False)
    capture = write_relayed(tmp_path / "phone.pcapng")
    case = tmp_path / "case.toml"
    case.write_text(CASE)
    log = tmp_path / "dovecot.log"
    log.write_text(LOG)
    return capture, case, log


def analyze(tmp_path: Path, files, *extra: str, name: str = "report.json", code: int = 0) -> Path:
    capture, case, log = files
    out = tmp_path / name
    assert main(["analyze", str(capture), "--case", str(case), "--logs", str(log), *extra, "-o", str(out)]) == code
    return out


def records(report: dict) -> dict[str, dict]:
    return {r["address"]: r for r in report["whois"]}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- analyze --rdap ----------------------------------------------------------------------------------------


def test_served_lookup_fills_the_appendix(tmp_path, case_files, registry, capsys):
    out = analyze(tmp_path, case_files, "--rdap", "--rdap-server", registry.url)
    report = json.loads(out.read_text())
    (relay,) = report["verdict"]["relays"]
    assert RELAY_IP in relay["login_addresses"] and RELAY2_IP in relay["device_addresses"]
    found = records(report)
    assert list(found)[:2] == [RELAY_IP, RELAY2_IP]  # the relay's addresses first
    ms = found[RELAY_IP]
    assert ms["status"] == "live"
    assert ms["range"] == {"start": "52.125.0.0", "end": "52.125.255.255", "cidr": ["52.125.0.0/16"]}
    assert (ms["name"], ms["handle"], ms["organisation"], ms["country"]) == (
        "MSFT", "NET-52-125-0-0-1", "Microsoft Corporation", "US")
    assert (ms["registry"], ms["port43"]) == ("ARIN", "whois.arin.net")
    assert (ms["registered"], ms["last_changed"]) == ("2015-11-24T13:09:51-05:00", "2021-12-14T20:28:10-05:00")
    assert ms["retrieved"].endswith("Z") and ms["url"] == f"{registry.url}ip/{RELAY_IP}"
    assert found[RELAY2_IP]["organisation"] == "Microsoft Corporation"
    assert found[LOGIN_DOC]["status"] == "not-public" and found[LOGIN_DOC]["reason"] == "documentation"
    assert found[LOGIN_UNKNOWN]["status"] == "not-found" and found[LOGIN_UNKNOWN]["organisation"] == ""
    # one request per public address, none for the documentation address
    assert sorted(registry.paths) == sorted(f"/ip/{a}" for a in (RELAY_IP, RELAY2_IP, LOGIN_UNKNOWN))
    note = report["settings"]["rdap"]
    assert (note["source"], note["live"], note["cache"], note["not-found"], note["not-public"]) == (
        registry.url, 2, 0, 1, 1)
    assert note["warnings"] == [] and "warning" not in capsys.readouterr().err
    # the raw answer is on disk with its retrieval time
    entry = json.loads((tmp_path / "rdap-cache" / f"{RELAY_IP}.json").read_text())
    assert entry["answer"]["handle"] == "NET-52-125-0-0-1" and entry["retrieved_utc"] == ms["retrieved"]
    assert not list((tmp_path / "rdap-cache").glob(".tmp-*"))

    page = tmp_path / "report.html"
    assert main(["report", str(out), "-o", str(page)]) == 0
    text = page.read_text()
    appendix = text[text.index('<section id="appendix-whois">'):]
    appendix = appendix[: appendix.index("</section>")]
    assert "Appendix: who holds the addresses (RDAP)" in appendix
    assert "52.125.0.0 – 52.125.255.255 (52.125.0.0/16)" in appendix
    assert "MSFT (NET-52-125-0-0-1)" in appendix and "Microsoft Corporation" in appendix
    assert "not looked up: a documentation address" in appendix and "no record at the registry" in appendix
    note_html = html.escape(registry.url)
    assert f"answers from {note_html}: 2 live, 0 from the cache" in text  # the method section's note
    de = tmp_path / "bericht.md"
    assert main(["report", str(out), "--lang", "de", "-o", str(de)]) == 0
    md = de.read_text()
    assert "## Anhang: Inhaber der Adressen (RDAP)" in md and "nicht abgefragt: eine Dokumentationsadresse" in md
    assert "| Adresse | Bereich | Netz | Organisation | Land | Registrierungsstelle |" in md


def test_second_run_uses_the_cache(tmp_path, case_files, registry):
    first = json.loads(analyze(tmp_path, case_files, "--rdap-server", registry.url, name="a.json").read_text())
    asked = len(registry.paths)
    assert asked == 3
    second = json.loads(analyze(tmp_path, case_files, "--rdap-server", registry.url, name="b.json").read_text())
    assert len(registry.paths) == asked + 1  # only the address without a record is asked again
    before, after = records(first), records(second)
    assert after[RELAY_IP]["status"] == after[RELAY2_IP]["status"] == "cache"
    assert after[RELAY_IP]["retrieved"] == before[RELAY_IP]["retrieved"]  # the time the registry answered
    assert {k: v for k, v in after[RELAY_IP].items() if k != "status"} == {
        k: v for k, v in before[RELAY_IP].items() if k != "status"}
    assert second["settings"]["rdap"]["cache"] == 2


def test_refused_connection_is_one_warning_and_the_report_is_written(tmp_path, case_files, capsys):
    url = f"http://127.0.0.1:{closed_port()}/"
    out = analyze(tmp_path, case_files, "--rdap", "--rdap-server", url, "--format", "html", name="r.html")
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "rdap" in line]
    assert warnings == [f"maildetour: warning: rdap: {url}: connection refused; no further RDAP look-ups in this run"]
    assert "Traceback" not in err and "relayed" in err.lower()  # the verdict line follows
    page = out.read_text()
    assert "not looked up: RDAP unavailable" in page and "connection refused" in page
    assert not (tmp_path / "rdap-cache" / f"{RELAY_IP}.json").exists()


@pytest.mark.parametrize("mode, why", [("500", "HTTP 500"), ("bad-json", "the answer is not JSON"),
                                       ("huge", f"answer larger than {MAX_ANSWER_BYTES} bytes")])
def test_server_failure_is_one_warning(tmp_path, case_files, registry, capsys, mode, why):
    registry.mode = mode
    report = json.loads(analyze(tmp_path, case_files, "--rdap-server", registry.url).read_text())
    assert len(registry.paths) == 1  # the first failure ends the look-ups of the run
    lines = [x for x in capsys.readouterr().err.splitlines() if "rdap" in x]
    assert lines == [f"maildetour: warning: rdap: {registry.url}: {why}; no further RDAP look-ups in this run"]
    assert report["settings"]["rdap"]["warnings"] == [lines[0].removeprefix("maildetour: warning: ")]
    statuses = {r["address"]: r["status"] for r in report["whois"]}
    assert statuses[RELAY_IP] == statuses[RELAY2_IP] == "unavailable"
    assert report["verdict"]["summary"] == "relayed"  # the analysis itself is whole


def test_without_rdap_no_request_is_made(tmp_path, case_files, registry, monkeypatch):
    monkeypatch.setenv("MAILDETOUR_RDAP_SERVER", registry.url)  # set, but --rdap not given
    report = json.loads(analyze(tmp_path, case_files).read_text())
    assert registry.paths == []
    assert "whois" not in report and "rdap" not in report["settings"]
    assert not (tmp_path / "rdap-cache").exists()


def test_rdap_server_must_be_a_url(tmp_path, case_files, registry, capsys):
    analyze(tmp_path, case_files, "--rdap-server", "ftp://example.org/", code=2)
    assert "--rdap-server: not an http(s) URL" in capsys.readouterr().err
    assert registry.paths == []


# ---- logs --rdap -------------------------------------------------------------------------------------------


def test_logs_command_looks_up_the_login_origins(tmp_path, case_files, registry, capsys):
    _, case, log = case_files
    out = tmp_path / "logins.json"
    assert main(["logs", str(log), "--case", str(case), "--rdap-server", registry.url, "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    found = records(doc)
    assert list(found) == [o["address"] for o in doc["origins"]]
    assert found[RELAY_IP]["organisation"] == "Microsoft Corporation" and found[RELAY_IP]["status"] == "live"
    assert doc["rdap"]["live"] == 1 and doc["rdap"]["not-found"] == 1
    md = tmp_path / "logins.md"
    assert main(["logs", str(log), "--case", str(case), "--rdap", "--rdap-server", registry.url,
                 "--lang", "de", "-o", str(md)]) == 0
    text = md.read_text()
    assert "## Anhang: Inhaber der Adressen (RDAP)" in text and "aus dem Cache" in text
    assert "Netzregistrierung (RDAP, siehe Anhang): 3 Adressen" in text
    assert registry.paths.count(f"/ip/{RELAY_IP}") == 1


# ---- the module ----------------------------------------------------------------------------------------------


def test_cache_is_bounded_and_skips_non_public_addresses(tmp_path, registry, monkeypatch):
    import analysis.rdap as rdap

    monkeypatch.setattr(rdap, "MAX_CACHE_FILES", 3)  # a public constant, to fill the cache quickly
    client = Rdap(server=registry.url, cache_dir=tmp_path / "c")
    addresses = [f"52.125.0.{i}" for i in range(1, 6)] + ["127.0.0.1", "10.1.2.3", "fe80::1", "::ffff:52.125.0.1"]
    got = client.lookup_all(addresses)
    assert [r.status for r in got] == ["live"] * 5 + ["not-public"] * 3  # the mapped address is 52.125.0.1
    assert [r.reason for r in got[5:]] == ["loopback", "private", "link-local"]
    assert len(registry.paths) == 5
    kept = sorted(p.name for p in (tmp_path / "c").glob("*.json"))
    assert len(kept) == 3 and "52.125.0.5.json" in kept
    assert client.lookup_all([f"52.125.1.{i}" for i in range(40)], limit=32) and client.over_limit == 8


def test_without_a_server_the_cached_iana_bootstrap_names_the_registry(tmp_path):
    """No --rdap-server: the registry comes from IANA's bootstrap files, here a fresh copy in the cache
    (whoisit's saved form) naming an https server on loopback whose port is closed; nothing is downloaded."""
    import time

    url = f"https://127.0.0.1:{closed_port()}/registry/"

    def services(selector: str, urls: list[str]) -> dict:
        return {"version": "1.0", "publication": "2024-01-01T00:00:00Z", "services": [[[selector], urls]]}

    cache = tmp_path / "c"
    cache.mkdir()
    (cache / "bootstrap.json").write_text(json.dumps({
        "timestamp": int(time.time()), "asn": services("1-399259", [url]), "dns": services("org", [url]),
        "ipv4": services("52.0.0.0/8", [url]), "ipv6": services("2600::/12", [url]),
        "object": services("ARIN", [url])}))
    client = Rdap(cache_dir=cache)
    (rec,) = client.lookup_all([RELAY_IP])
    assert rec.status == "unavailable"
    assert client.warnings == ["rdap: IANA bootstrap: connection refused; no further RDAP look-ups in this run"]
    assert Rdap(cache_dir=cache).lookup("9.9.9.9").status == "not-found"  # no registry named: never guessed
