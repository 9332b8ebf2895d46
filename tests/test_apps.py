"""Apps on one phone: ``--app`` scopes the verdict to one app's flows (PCAPdroid's attribution), the other apps'
flows stay in the report under ``other_apps``; without ``--app`` a verdict line per mail app; the iOS App Privacy
Report (NDJSON, written here as iOS writes it) attributes a capture's flows and, alone, gives a domain-level
verdict. Everything through the real command, on captures in PCAPdroid's exact layout (tests/pcapdroid_files.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scapy.all import IP

from analysis.apps.analyze import analyze_apps
from analysis.apps.privacyreport import read_privacy_report
from analysis.case import load_case
from analysis.errors import InputError
from analysis.pipeline import Settings
from analysis.pipeline import analyze as pipeline_analyze
from tests import pcapbuild as pb
from tests import pcapdroid_files as pd
from tests import scenarios as sc
from tests.test_bad_input import EXIT_DAMAGED, EXIT_OK, EXIT_UNREADABLE, one_line, run

MAIL, STOCK, NEWS = "com.example.mail", "com.android.email", "org.example.news"
MAIL_UID, STOCK_UID, NEWS_UID = 10123, 10150, 10200
APPS = {MAIL_UID: (MAIL, "Example Mail"), STOCK_UID: (STOCK, "Email"), NEWS_UID: (NEWS, "News Reader")}
VENDOR_API, VENDOR_API_IP, VENDOR_LOGIN_IP = "api.vendor.example", "198.51.100.10", "198.51.100.20"
NEWS_API, NEWS_IP = "api.news.example", "192.0.2.80"


def _packets(cap: sc.Capture, uid: int) -> list[pd.Packet]:
    return [pd.Packet(float(p.time), uid, bytes(p[IP]), outbound=p[IP].src == sc.DEVICE) for p in cap.packets]


CANARY = "Teschtle0816"


def phone(leak: bool = False) -> list[pd.Packet]:
    """The mail app under test syncs through its vendor's API (never the mail host); the phone's stock mail app
    speaks IMAP over TLS to the mail host itself; a news app talks to its own service (with ``leak``, it also
    posts the test password in clear). Interleaved in time."""
    mail = sc.Capture(clock=sc.START + 60)
    sc.dns_lookup(mail, sc.DEVICE, VENDOR_API, [("A", VENDOR_API_IP)], qid=11)
    for port in (50001, 50002, 50003):
        sc.https(mail, sc.DEVICE, port, VENDOR_API_IP, VENDOR_API, up=900, down=6000, seed=f"v{port}")
    stock = sc.Capture(clock=sc.START + 60.0011)
    sc.dns_lookup(stock, sc.DEVICE, sc.MAIL_HOST, [("A", sc.MAIL_IP)], qid=12)
    sc.imaps(stock, sc.DEVICE, 50101)
    news = sc.Capture(clock=sc.START + 60.0023)
    sc.dns_lookup(news, sc.DEVICE, NEWS_API, [("A", NEWS_IP)], qid=13)
    sc.https(news, sc.DEVICE, 50201, NEWS_IP, NEWS_API, up=700, down=25000, seed="news")
    if leak:
        body = f"login=lft2&pw={CANARY}".encode()
        head = f"POST /sync HTTP/1.1\r\nHost: {NEWS_API}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        sc.Tcp(news, sc.DEVICE, 50202, NEWS_IP, 80).open().c(head + body).s(b"HTTP/1.1 204 No Content\r\n\r\n").close()
    packets = _packets(mail, MAIL_UID) + _packets(stock, STOCK_UID) + _packets(news, NEWS_UID)
    return sorted(packets, key=lambda p: p.ts)


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """The PCAPdroid capture, the case, the mail server's log of the vendor's logins, the AS data."""
    pb.write(tmp_path / "phone.pcapng", pd.pcapng_bytes(phone(), APPS))
    (tmp_path / "case.toml").write_text(
        '[account]\naddress = "lft2@mail.example.org"\nusername = "lft2"\n\n'
        f'[mail]\nhosts = ["{sc.MAIL_HOST}:993"]\n\n[device]\naddresses = ["{sc.DEVICE}"]\n\n'
        '[timeline]\naccount_added = "2020-08-28T09:07:00+00:00"\n')
    (tmp_path / "dovecot.log").write_text("".join(
        f"2020-08-28T09:{minute}+0000 imap-login: Info: Login: user=<lft2>, method=PLAIN, rip={rip}, "
        f"lip={sc.MAIL_IP}, mpid={pid}, TLS, session=<s{pid}>\n"
        for minute, pid, rip in (("08:01", 1, sc.DEVICE), ("08:30", 2, VENDOR_LOGIN_IP),
                                 ("12:05", 3, VENDOR_LOGIN_IP))))
    (tmp_path / "owners.csv").write_text(
        "first_ip,last_ip,asn,organisation\n198.51.100.0,198.51.100.255,64500,Example Vendor GmbH\n"
        "192.0.2.0,192.0.2.255,64501,Example News AG\n203.0.113.0,203.0.113.255,64502,Example Mail Hosting\n")
    return tmp_path


def analyze(d: Path, *extra: str) -> tuple[dict, str]:
    out = d / "report.json"
    result = run("analyze", str(d / "phone.pcapng"), "--case", str(d / "case.toml"), "--asn-db",
                 str(d / "owners.csv"), "--logs", str(d / "dovecot.log"), *extra, "-o", str(out))
    assert result.returncode == EXIT_OK, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(out.read_text()), result.stderr


def ids_of(report: dict, package: str) -> set[int]:
    return {f["id"] for f in report["flows"] if (f["app"] or {}).get("id") == package}


def test_app_scopes_the_verdict_and_lists_the_other_apps(run_dir):
    report, stderr = analyze(run_dir, "--app", MAIL)
    v = report["verdict"]
    mine, stock, news = ids_of(report, MAIL), ids_of(report, STOCK), ids_of(report, NEWS)
    assert mine and stock and news and len(report["flows"]) == len(mine | stock | news)  # no flow dropped
    # the stock mail app's IMAP to the mail host is not the app's: relayed, not mixed
    assert v["summary"] == "relayed" and v["mail_host_contacted"] is False
    assert v["app"]["id"] == MAIL and v["app"]["sources"] == ["pcapdroid"] and v["app"]["flows"] == len(mine)
    (relay,) = v["relays"]
    assert relay["owner"] == "Example Vendor GmbH" and "server-login" in relay["basis"]
    assert relay["login_addresses"] == [VENDOR_LOGIN_IP] and set(relay["flows"]) <= mine
    assert {f["id"] for f in report["flows"] if f["server"]["ip"] == VENDOR_API_IP} == set(relay["flows"])
    for finding in report["findings"]:
        assert set(finding["flows"]) <= mine, finding
    assert report["stats"]["total"]["flows"] == len(mine)
    # every other app under other_apps, with its bytes per category
    others = {g["app"]["id"]: g for g in report["other_apps"]}
    assert set(others) == {STOCK, NEWS}
    assert set(others[STOCK]["flows"]) == stock and set(others[NEWS]["flows"]) == news
    by_id = {f["id"]: f for f in report["flows"]}
    assert others[STOCK]["categories"]["mail-host"] == sum(by_id[i]["bytes"] for i in stock
                                                           if by_id[i]["category"] == "mail-host") > 0
    assert set(others[NEWS]["categories"]) == {by_id[i]["category"] for i in news}
    assert sum(sum(g["categories"].values()) for g in others.values()) == sum(by_id[i]["bytes"] for i in stock | news)
    assert "the verdict concerns its" in stderr and "verdict: relayed" in stderr


def test_app_by_another_id_and_not_seen(run_dir):
    report, _ = analyze(run_dir, "--app", STOCK)
    assert report["verdict"]["summary"] == "direct" and report["verdict"]["relays"] == []
    assert {g["app"]["id"] for g in report["other_apps"]} == {MAIL, NEWS}
    report, stderr = analyze(run_dir, "--app", "org.example.absent")
    v = report["verdict"]
    assert v["summary"] == "inconclusive" and v["missing"][0] == "app-not-seen"
    assert "no flow of this app" in stderr and MAIL in stderr
    assert len(report["flows"]) == sum(len(g["flows"]) for g in report["other_apps"])


def test_case_file_names_the_app(run_dir):
    case = run_dir / "case.toml"
    case.write_text(case.read_text() + f'\n[app]\nid = "{MAIL}"\nname = "Example Mail"\nversion = "4.2"\n')
    report, _ = analyze(run_dir)
    assert report["verdict"]["summary"] == "relayed" and report["verdict"]["app"]["id"] == MAIL
    assert report["case"]["app"] == {"id": MAIL, "name": "Example Mail", "version": "4.2"}
    report, _ = analyze(run_dir, "--app", STOCK)  # the flag wins over the case file, its name included
    assert report["verdict"]["summary"] == "direct" and report["case"].get("app") == {
        "id": STOCK, "name": None, "version": None}
    assert report["verdict"]["app"]["flows"] == len(ids_of(report, STOCK))
    assert {g["app"]["id"] for g in report["other_apps"]} == {MAIL, NEWS}


def test_without_app_a_verdict_line_per_mail_app(run_dir):
    report, stderr = analyze(run_dir)
    v = report["verdict"]
    # the whole phone contacted the mail host, so the vendor's logins could be the phone's own behind NAT:
    # direct. Each app judged on its own flows tells the two mail apps apart.
    assert v["summary"] == "direct" and v["relays"] == []
    lines = {line["app"]["id"]: line for line in v["per_app"]}
    assert set(lines) == {MAIL, STOCK}  # the news app is no mail app
    assert lines[MAIL]["summary"] == "relayed" and lines[MAIL]["mail_host_contacted"] is False
    assert [r["owner"] for r in lines[MAIL]["relays"]] == ["Example Vendor GmbH"]
    assert lines[STOCK]["summary"] == "direct" and lines[STOCK]["receive"]["status"] == "direct"
    assert set(lines[STOCK]["receive"]["flows"]) <= ids_of(report, STOCK)
    assert {g["app"]["id"] for g in report["apps"]} == {MAIL, STOCK, NEWS} and "other_apps" not in report
    assert f"app {MAIL}: relayed" in stderr and f"app {STOCK}: direct" in stderr


def test_another_apps_credential_leak_is_listed_not_dropped(run_dir, monkeypatch):
    """The news app posts the test password in clear: with --app it is no finding of the mail app's but sits
    under the news app in other_apps; without --app the news app gets a verdict line for it. Never the value."""
    pb.write(run_dir / "phone.pcapng", pd.pcapng_bytes(phone(leak=True), APPS))
    case = run_dir / "case.toml"
    case.write_text(case.read_text().replace('username = "lft2"\n',
                                             'username = "lft2"\ncanary_env = "MD_APPS_CANARY"\n'))
    monkeypatch.setenv("MD_APPS_CANARY", CANARY)
    report, _ = analyze(run_dir, "--app", MAIL)
    assert not [f for f in report["findings"] if f["kind"] == "credential-leak"]
    news = next(g for g in report["other_apps"] if g["app"]["id"] == NEWS)
    (leak,) = [f for f in news["findings"] if f["details"]["secret"] == "password"]
    assert set(leak["flows"]) <= set(news["flows"]) and leak["details"]["form"] == "plain"
    assert CANARY not in (run_dir / "report.json").read_text()
    report, _ = analyze(run_dir)
    lines = {line["app"]["id"]: line for line in report["verdict"]["per_app"]}
    assert "credential-leak" in lines[NEWS]["reasons"] and lines[NEWS]["leaks"] >= 1
    assert lines[MAIL]["summary"] == "relayed" and CANARY not in (run_dir / "report.json").read_text()


def test_a_capture_naming_no_app_gives_the_pipelines_report(tmp_path):
    """No PCAPdroid records, no --app, no App Privacy Report: exactly the pipeline's report (the command reads
    the inputs as the pipeline does, and adds nothing)."""
    capture = sc.write_relayed(tmp_path / "relayed.pcapng")
    (tmp_path / "case.toml").write_text(f'[mail]\nhosts = ["{sc.MAIL_HOST}:993"]\n[device]\n'
                                        f'addresses = ["{sc.DEVICE}"]\n')

    def settings() -> Settings:
        return Settings(case=load_case(str(tmp_path / "case.toml")), lang="de")

    ours, theirs = analyze_apps([str(capture)], settings()), pipeline_analyze([str(capture)], settings())
    assert ours == theirs and ours["verdict"]["summary"] == "relayed"
    assert "apps" not in ours and "per_app" not in ours["verdict"]


@pytest.mark.parametrize("lang", ["en", "de"])
def test_memos_show_the_apps(run_dir, lang):
    report, _ = analyze(run_dir, "--app", MAIL, "--lang", lang)
    path = run_dir / "report.json"
    for fmt in ("md", "html"):
        result = run("report", str(path), "--format", fmt, "--lang", lang)
        assert result.returncode == EXIT_OK, result.stderr
        heading = {"en": "Other apps", "de": "Andere Apps"}[lang]
        assert heading in result.stdout and "News Reader" in result.stdout and STOCK in result.stdout
    scope = {"en": "The verdict concerns the app com.example.mail", "de": "Das Ergebnis betrifft die App"}[lang]
    assert scope in report["verdict"]["explanation"]
    plain, _ = analyze(run_dir, "--lang", lang)
    plain_path = run_dir / "plain.json"
    plain_path.write_text(json.dumps(plain))
    result = run("report", str(plain_path), "--format", "md", "--lang", lang)
    assert {"en": "Verdict per mail app", "de": "Ergebnis je Mail-App"}[lang] in result.stdout


# -- the iOS App Privacy Report ----------------------------------------------------------------------------

def network(bundle: str, domain: str, first: str, last: str, hits: int, owner: str = "",
            initiated: str = "AppInitiated", context: str = "", domain_type: int = 2) -> str:
    """One networkActivity line, keys in the order iOS writes them."""
    return json.dumps({"domain": domain, "firstTimeStamp": first, "context": context, "timeStamp": last,
                       "domainType": domain_type, "initiatedType": initiated, "hits": hits,
                       "type": "networkActivity", "domainOwner": owner, "bundleID": bundle},
                      separators=(",", ":"))


def access(bundle: str, category: str, at: str, kind: str, ident: str) -> str:
    return json.dumps({"accessor": {"identifier": bundle, "identifierType": "bundleID"}, "category": category,
                       "identifier": ident, "kind": kind, "timeStamp": at, "type": "access"},
                      separators=(",", ":"))


IOS_MAIL, APPLE_MAIL, SAFARI = "com.microsoft.Office.Outlook", "com.apple.mobilemail", "com.apple.mobilesafari"


def app_privacy_report(path: Path, extra: list[str] = ()) -> Path:
    """An App Privacy Report as "Save App Activity" writes it: access intervals first, then network activity
    (local times with offsets), for Outlook (relayed through Microsoft's service, telemetry, crash reports, a
    link the user opened in its in-app browser), Apple Mail (the mail host itself) and Safari."""
    lines = [
        access(IOS_MAIL, "contacts", "2020-08-28T11:07:41.512+02:00", "intervalBegin",
               "5C0B6C5E-0E4F-4E4B-9E3F-1F1A6D3A7B21"),
        access(IOS_MAIL, "contacts", "2020-08-28T11:07:41.790+02:00", "intervalEnd",
               "5C0B6C5E-0E4F-4E4B-9E3F-1F1A6D3A7B21"),
        access(APPLE_MAIL, "contacts", "2020-08-28T11:20:02.004+02:00", "intervalBegin",
               "0D7E0C4B-7A57-4B1E-8B59-5A0F2C9E4D10"),
        network(IOS_MAIL, sc.RELAY_NAME, "2020-08-28T09:07:12Z", "2020-08-28T09:41:55Z", 57),
        network(IOS_MAIL, sc.RELAY2_NAME, "2020-08-28T09:07:13Z", "2020-08-28T09:40:02Z", 12),
        network(IOS_MAIL, sc.TELEMETRY_NAME, "2020-08-28T09:07:20Z", "2020-08-28T09:39:58Z", 31),
        network(IOS_MAIL, sc.CRASH_NAME, "2020-08-28T09:08:01Z", "2020-08-28T09:08:01Z", 1),
        network(IOS_MAIL, "www.example.net", "2020-08-28T09:30:00Z", "2020-08-28T09:30:04Z", 6,
                initiated="NonAppInitiated", context="https://www.example.net/newsletter"),
        network(APPLE_MAIL, sc.MAIL_HOST, "2020-08-28T09:20:02Z", "2020-08-28T09:45:10Z", 9),
        network(SAFARI, "www.example.net", "2020-08-28T08:55:00Z", "2020-08-28T08:56:30Z", 14),
        network(SAFARI, "www.google-analytics.com", "2020-08-28T08:55:01Z", "2020-08-28T08:56:31Z", 3,
                owner="Google LLC", domain_type=1),
        *extra,
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def case_file(path: Path) -> Path:
    path.write_text(f'[account]\naddress = "lft2@mail.example.org"\n\n[mail]\nhosts = ["{sc.MAIL_HOST}:993"]\n')
    return path


def domain_run(tmp_path, app: str, *extra: str) -> tuple[dict, object]:
    report_path = app_privacy_report(tmp_path / "App_Privacy_Report_v4_2020-08-28T11_50_00.ndjson")
    out = tmp_path / f"{app}.json"
    result = run("analyze", "--app-report", str(report_path), "--app", app, "--case",
                 str(case_file(tmp_path / "case.toml")), *extra, "-o", str(out))
    return (json.loads(out.read_text()) if out.exists() else {}), result


def test_app_privacy_report_alone_gives_a_domain_level_verdict(tmp_path):
    report, result = domain_run(tmp_path, IOS_MAIL)
    assert result.returncode == EXIT_OK, result.stderr
    v = report["verdict"]
    assert (v["summary"], v["basis"], v["level"], v["mail_host_contacted"]) == (
        "relayed", "app-privacy-report", "domain", False)
    (relay,) = v["relays"]
    assert relay["owner"] == "Microsoft" and relay["basis"] == ["catalog"] and relay["flows"] == []
    assert set(relay["names"]) == {sc.RELAY_NAME, sc.RELAY2_NAME} and relay["hits"] == 69
    categories = {c for vendor in v["vendors"] for c in vendor["categories"]}
    assert {"mail-relay", "telemetry", "crash-report"} <= categories
    assert v["user_initiated"] == ["www.example.net"]  # a link the user opened: not the app's own contact
    assert all("www.example.net" not in vendor["domains"] for vendor in v["vendors"])
    assert "domain level" in v["explanation"] and "no bytes" in v["explanation"]
    assert "bytes" not in json.dumps(v).replace("no bytes", "")  # hit counts, never byte counts
    kinds = {(f["kind"], f["details"].get("category")) for f in report["findings"]}
    assert {("app-report-mail-host-not-contacted", None), ("app-report-domains", "mail-relay"),
            ("app-report-domains", "telemetry"), ("app-report-domains", "crash-report")} <= kinds
    assert report["flows"] == [] and report["inputs"][0]["format"] == "app-privacy-report"
    apps = {e["app"]: e for e in report["app_report"]["apps"]}
    assert report["app_report"]["apps"][0]["app"] == IOS_MAIL and set(apps) == {IOS_MAIL, APPLE_MAIL, SAFARI}
    assert apps[IOS_MAIL]["access"] == [{"category": "contacts", "count": 1, "first": "2020-08-28T09:07:41.512000Z",
                                        "last": "2020-08-28T09:07:41.790000Z"}]
    tracker = next(d for d in apps[SAFARI]["domains"] if d["domain"] == "www.google-analytics.com")
    assert tracker["tracker"] is True and tracker["domain_owner"] == "Google LLC"
    assert "domain level" in result.stderr and "verdict: relayed" in result.stderr


def test_app_privacy_report_direct_and_inconclusive(tmp_path):
    report, result = domain_run(tmp_path, APPLE_MAIL)
    assert result.returncode == EXIT_OK and report["verdict"]["summary"] == "direct"
    assert report["verdict"]["mail_host_domains"] == [sc.MAIL_HOST]
    report, result = domain_run(tmp_path, SAFARI)
    assert report["verdict"]["summary"] == "inconclusive" and report["verdict"]["missing"] == ["no-mail-domain"]
    report, result = domain_run(tmp_path, "com.example.absent")
    assert result.returncode == EXIT_OK and report["verdict"]["missing"][0] == "app-not-in-report"
    assert "names no app com.example.absent" in result.stderr


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_domain_level_memos_in_both_languages(tmp_path, fmt):
    report, result = domain_run(tmp_path, IOS_MAIL)
    path = tmp_path / f"{IOS_MAIL}.json"
    for lang, words in (("en", ("domain level", "App Privacy Report (iOS)", "Mail-relay domains")),
                        ("de", ("auf Domain-Ebene", "App-Datenschutzbericht (iOS)", "Mail-Relay-Domains"))):
        out = run("report", str(path), "--format", fmt, "--lang", lang)
        assert out.returncode == EXIT_OK, out.stderr
        page = out.stdout.replace("<wbr>", "")  # HTML names may wrap after their dots
        for word in words:
            assert word in page, (lang, word)
        assert sc.TELEMETRY_NAME in page and "www.google-analytics.com" in page


def test_app_report_needs_an_app_without_a_capture(tmp_path):
    report_path = app_privacy_report(tmp_path / "r.ndjson")
    result = run("analyze", "--app-report", str(report_path), "--mail-host", sc.MAIL_HOST)
    assert result.returncode == 2 and "--app BUNDLE" in one_line(result.stderr) and IOS_MAIL in result.stderr


def test_a_line_that_is_not_json(tmp_path):
    """One broken line: one warning naming it, every other record read, the input marked damaged (exit 1)."""
    good, _ = domain_run(tmp_path, IOS_MAIL)
    path = tmp_path / "App_Privacy_Report_v4_2020-08-28T11_50_00.ndjson"
    lines = path.read_text().splitlines()
    broken = lines[:4] + ['{"domain":"cut.example","firstTimeStamp":"2020-08-28T09:0'] + lines[4:]
    path.write_text("\n".join(broken) + "\n")
    offset = len("\n".join(lines[:4])) + 1
    out = tmp_path / "damaged.json"
    result = run("analyze", "--app-report", str(path), "--app", IOS_MAIL, "--case", str(tmp_path / "case.toml"),
                 "-o", str(out))
    assert result.returncode == EXIT_DAMAGED
    damage = [line for line in result.stderr.splitlines() if "damaged" in line]
    assert len(damage) == 1 and f"offset {offset}" in damage[0] and path.name in damage[0]
    report = json.loads(out.read_text())
    (info,) = report["inputs"]
    assert info["complete"] is False and info["error_offset"] == offset and len(info["warnings"]) == 1
    assert "line 5" in info["warnings"][0]
    assert report["verdict"]["relays"] == good["verdict"]["relays"]
    assert report["app_report"]["apps"] == good["app_report"]["apps"]


@pytest.mark.parametrize("content", [b"", b"\n\n", b"not json at all\n", b'{"type":"somethingElse"}\n',
                                     b'{"type":"networkActivity","domain":"x.example"}\n'],
                         ids=["empty", "blank", "text", "other-type", "no-bundle"])
def test_a_file_without_usable_records(tmp_path, content):
    path = tmp_path / "report.ndjson"
    path.write_bytes(content)
    result = run("analyze", "--app-report", str(path), "--app", IOS_MAIL, "--mail-host", sc.MAIL_HOST)
    assert result.returncode == EXIT_UNREADABLE
    line = one_line(result.stderr)
    assert str(path) in line and "App Privacy Report" in line
    with pytest.raises(InputError):
        read_privacy_report(str(path))


def test_odd_records_are_counted_not_fatal(tmp_path):
    path = app_privacy_report(tmp_path / "r.ndjson", extra=[
        '{"type":"networkActivity","domain":"","bundleID":"x"}', '{"type":"futureThing","x":1}', "[1, 2]",
        json.dumps({"domain": "legacy.example", "effectiveUserId": 501, "domainType": 2,
                    "timeStamp": "2021-06-11T05:18:04Z", "hasApp.bundleName": "com.example.beta", "context": "",
                    "hits": 2, "domainOwner": "", "initiatedType": "AppInitiated",
                    "firstTimeStamp": "2021-06-11T05:18:04Z"}),
        "x" * 10])
    rep = read_privacy_report(str(path))
    assert any(r.app == "com.example.beta" and r.domain == "legacy.example" for r in rep.domains)  # iOS 15 beta
    text = " | ".join(rep.info.warnings)
    assert "2 lines are not a JSON object" in text and "1 record without an app" in text
    assert "futureThing" in text and rep.info.complete is False


# -- the App Privacy Report attributes a capture's flows ---------------------------------------------------

def iphone_capture(path: Path) -> Path:
    """A capture of an iPhone on the lab's Wi-Fi (no app records): Outlook's relay and telemetry, Apple Mail's
    IMAP, Safari's page and a tracker both Safari and Outlook reported, one flow to a name no app reported."""
    cap = sc.Capture(clock=sc.START + 15)
    sc.dns_lookup(cap, sc.DEVICE, sc.RELAY_NAME, [("A", sc.RELAY_IP)], qid=21)
    sc.https(cap, sc.DEVICE, 51001, sc.RELAY_IP, sc.RELAY_NAME, up=4000, down=30000, seed="relay")
    sc.https(cap, sc.DEVICE, 51002, sc.TELEMETRY_IP, sc.TELEMETRY_NAME, up=2500, down=400, seed="aria")
    cap.wait(13 * 60)  # 09:20, Apple Mail's period
    sc.imaps(cap, sc.DEVICE, 51003)
    sc.https(cap, sc.DEVICE, 51004, "198.51.100.77", "unreported.example", up=100, down=100, seed="u")
    sc.https(cap, sc.DEVICE, 51005, "142.250.74.110", "www.google-analytics.com", up=300, down=100, seed="ga")
    return cap.write(path, pcapng=True)


def test_report_attributes_capture_flows(tmp_path):
    extra = [network(IOS_MAIL, "www.google-analytics.com", "2020-08-28T09:19:00Z", "2020-08-28T09:25:00Z", 2)]
    report_path = app_privacy_report(tmp_path / "r.ndjson", extra=extra)
    capture = iphone_capture(tmp_path / "iphone.pcapng")
    out = tmp_path / "report.json"
    result = run("analyze", str(capture), "--app-report", str(report_path), "--case",
                 str(case_file(tmp_path / "case.toml")), "-o", str(out))
    assert result.returncode == EXIT_OK, result.stderr
    report = json.loads(out.read_text())
    by_ip = {f["server"]["ip"]: f for f in report["flows"] if f["transport"] == "tcp"}
    assert by_ip[sc.RELAY_IP]["app"] == {"id": IOS_MAIL, "name": None, "uid": None, "source": "app-privacy-report"}
    assert by_ip[sc.TELEMETRY_IP]["app"]["id"] == IOS_MAIL
    assert by_ip[sc.MAIL_IP]["app"]["id"] == APPLE_MAIL  # by its SNI
    assert by_ip["198.51.100.77"]["app"] is None
    # Safari reported the tracker at 08:55, Outlook at 09:19-09:25: the flow at 09:20 is Outlook's
    assert by_ip["142.250.74.110"]["app"]["id"] == IOS_MAIL
    lines = {line["app"]["id"]: line for line in report["verdict"]["per_app"] if line["app"]}
    assert lines[IOS_MAIL]["summary"] == "relayed" and lines[APPLE_MAIL]["summary"] == "direct"
    apps = {e["app"]: e for e in report["app_report"]["apps"]}
    relay_row = next(d for d in apps[IOS_MAIL]["domains"] if d["domain"] == sc.RELAY_NAME)
    assert relay_row["flows"] == [by_ip[sc.RELAY_IP]["id"]] and relay_row["category"] == "mail-relay"
    assert report["app_report"]["attribution"]["flows"] == 4  # the DNS query to the resolver names no server
    assert report["inputs"][-1]["format"] == "app-privacy-report"
    scoped = tmp_path / "scoped.json"
    result = run("analyze", str(capture), "--app-report", str(report_path), "--case", str(tmp_path / "case.toml"),
                 "--app", IOS_MAIL, "-o", str(scoped))
    assert result.returncode == EXIT_OK, result.stderr
    scoped_report = json.loads(scoped.read_text())
    assert scoped_report["verdict"]["summary"] == "relayed"  # Apple Mail's IMAP is another app's
    assert scoped_report["verdict"]["app"]["sources"] == ["app-privacy-report"]
    other = {(g["app"] or {}).get("id") for g in scoped_report["other_apps"]}
    assert APPLE_MAIL in other and None in other  # the unattributed flows are listed too


def test_same_period_is_ambiguous_and_pcapdroid_wins(tmp_path):
    """A name two apps reported in overlapping periods attributes nothing (counted); PCAPdroid's own record
    is never replaced by the report's."""
    extra = [network(SAFARI, sc.RELAY_NAME, "2020-08-28T09:00:00Z", "2020-08-28T09:50:00Z", 1)]
    report_path = app_privacy_report(tmp_path / "r.ndjson", extra=extra)
    capture = iphone_capture(tmp_path / "iphone.pcapng")
    result = run("flows", str(capture), "--app-report", str(report_path), "--format", "jsonl")
    assert result.returncode == EXIT_OK, result.stderr
    rows = {r["server"]["ip"]: r for r in map(json.loads, result.stdout.splitlines()) if r["transport"] == "tcp"}
    assert rows[sc.RELAY_IP]["app"] is None and "1 flow matched domains several apps" in result.stderr
    assert rows[sc.TELEMETRY_IP]["app"]["id"] == IOS_MAIL
    only = run("flows", str(capture), "--app-report", str(report_path), "--app", APPLE_MAIL, "--format", "jsonl")
    assert [json.loads(r)["server"]["ip"] for r in only.stdout.splitlines()] == [sc.MAIL_IP]
    droid = tmp_path / "phone.pcapng"
    pb.write(droid, pd.pcapng_bytes(phone(), APPS))
    claim = app_privacy_report(tmp_path / "claim.ndjson", extra=[
        network(SAFARI, VENDOR_API, "2020-08-28T09:00:00Z", "2020-08-28T09:50:00Z", 3)])
    result = run("flows", str(droid), "--app-report", str(claim), "--format", "jsonl")
    vendor = [json.loads(r) for r in result.stdout.splitlines() if VENDOR_API_IP in r]
    assert vendor and all(r["app"]["id"] == MAIL and r["app"]["source"] == "pcapdroid" for r in vendor)


def test_pcap_trailer_apps_are_named_by_their_app_name(tmp_path):
    """PCAPdroid's pcap trailer records no package: --app takes the app name (or the UID) there."""
    path = pb.write(tmp_path / "phone.pcap", pd.pcap_bytes(phone(), {uid: name for uid, (_p, name) in APPS.items()}))
    for wanted in ("Example Mail", "example mail", str(MAIL_UID)):
        result = run("flows", str(path), "--app", wanted, "--format", "jsonl")
        assert result.returncode == EXIT_OK, result.stderr
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert rows and {r["app"]["uid"] for r in rows} == {MAIL_UID}
        assert {r["server"]["ip"] for r in rows} == {sc.RESOLVER, VENDOR_API_IP}


def test_hostile_names_from_the_phone_are_inert(tmp_path):
    hostile = "<img src=x onerror=alert(1)>"
    path = app_privacy_report(tmp_path / "r.ndjson", extra=[
        network(hostile, "evil.example", "2020-08-28T09:00:00Z", "2020-08-28T09:01:00Z", 1, owner=f"{hostile} Ltd",
                context=f"https://x.example/{hostile}"),
        network(IOS_MAIL, f"{hostile}.example", "2020-08-28T09:00:00Z", "2020-08-28T09:01:00Z", 1)])
    out = tmp_path / "r.json"
    result = run("analyze", "--app-report", str(path), "--app", IOS_MAIL, "--case",
                 str(case_file(tmp_path / "case.toml")), "-o", str(out))
    assert result.returncode == EXIT_OK, result.stderr
    for fmt in ("html", "md"):
        page = run("report", str(out), "--format", fmt).stdout
        assert "<img" not in page and "onerror=alert(1)&gt;" in page.replace("\\", "")
