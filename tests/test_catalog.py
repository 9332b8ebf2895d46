"""The endpoint catalog: bundled facts, lookups by name, suffix and CIDR, user files that win."""

from __future__ import annotations

import ipaddress
import json
import socket
import tomllib

import pytest

from analysis.catalog import BUNDLED, Catalog, registrable_domain
from analysis.errors import InputError
from analysis.vocab import CATEGORIES
from tests.conftest import SHARED

MS365_JSON = SHARED / "data" / "microsoft365" / "endpoints_worldwide_2023073100.json"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def test_bundled_catalog_is_valid_and_sourced(catalog):
    data = tomllib.loads(BUNDLED.read_text())
    assert data["version"] and catalog.version == data["version"]
    ids = [e["id"] for e in data["entry"]]
    assert len(ids) == len(set(ids)), "duplicate entry ids"
    for entry in data["entry"]:
        assert entry["category"] in CATEGORIES
        assert len(entry["source"]) > 10, entry["id"]
    desc = catalog.describe()
    assert desc["entries"] == len(ids)
    assert desc["files"][0]["path"] == "analysis/data/catalog.toml"
    assert len(desc["files"][0]["sha256"]) == 64


def test_no_non_commercial_lists_are_bundled():
    text = BUNDLED.read_text().lower()
    assert "disconnect" not in text and "duckduckgo" not in text


@pytest.mark.parametrize(
    "name, category, rule",
    [
        ("mobile.pipe.aria.microsoft.com", "telemetry", "exact"),
        ("olmprodpowerlift-cdn.azureedge.net", "diagnostics", "exact"),
        ("gate.hockeyapp.net", "crash-report", "exact"),
        ("eas.outlookmobile.com", "mail-relay", "suffix"),
        ("prod-api.acompli.net", "mail-relay", "suffix"),
        ("x.y.outlookmobile.us", "mail-relay", "suffix"),
        ("browser.events.data.microsoft.com", "telemetry", "suffix"),
        ("login.live.com", "auth", "exact"),
        ("outlook.office365.com", "other-mail", "exact"),
        ("in.appcenter.ms", "crash-report", "exact"),
        ("o12345.ingest.sentry.io", "crash-report", "suffix"),
        ("notify.bugsnag.com", "crash-report", "exact"),
        ("app.adjust.com", "ads-analytics", "suffix"),
        ("mtalk.google.com", "push", "exact"),
        ("5-courier.push.apple.com", "push", "suffix"),
        ("connectivitycheck.gstatic.com", "platform", "exact"),
        ("captive.apple.com", "platform", "exact"),
        ("something.azureedge.net", "cdn", "suffix"),
    ],
)
def test_memo_and_sdk_names(catalog, name, category, rule):
    hit = catalog.match_name(name)
    assert hit is not None, name
    assert (hit.category, hit.rule) == (category, rule)
    assert hit.source


def test_names_are_case_and_dot_insensitive(catalog):
    assert catalog.match_name("Mobile.Pipe.ARIA.microsoft.com.").category == "telemetry"
    assert catalog.match_name("") is None
    assert catalog.match_name("mail.example.org") is None


def test_exact_beats_suffix(catalog):
    exact = catalog.match_name("olmprodpowerlift-cdn.azureedge.net")
    other = catalog.match_name("otherthing.azureedge.net")
    assert (exact.category, exact.entry) == ("diagnostics", "microsoft-powerlift")
    assert (other.category, other.entry) == ("cdn", "microsoft-azure-cdn")


def test_suffix_walk_stops_at_registrable_domain(tmp_path):
    user = tmp_path / "user.toml"
    user.write_text(
        '[[entry]]\nid = "uk"\nowner = "X"\ncategory = "cdn"\nsuffixes = ["co.uk"]\nsource = "test"\n'
    )
    cat = Catalog.load([str(user)])
    # co.uk is a public suffix: it must never own every .co.uk name
    assert cat.match_name("shop.example.co.uk") is None
    assert cat.registrable_domain("a.b.shop.example.co.uk") == "example.co.uk"


@pytest.mark.parametrize(
    "ip, category, matched",
    [
        ("52.125.140.74", "mail-relay", "52.125.128.0/20"),
        ("52.125.138.94", "mail-relay", "52.125.128.0/20"),
        ("52.127.97.10", "mail-relay", "52.127.96.0/23"),
        ("52.125.3.4", "unknown", "52.125.0.0/16"),  # Microsoft's whois range: owner only
        ("52.126.200.1", "unknown", "52.126.0.0/15"),
        ("40.97.1.2", "other-mail", "40.96.0.0/13"),
        ("20.190.130.1", "auth", "20.190.128.0/18"),
        ("17.249.1.1", "push", "17.249.0.0/16"),  # APNs beats Apple's /8
        ("17.1.2.3", "platform", "17.0.0.0/8"),
        ("2620:149:a44::5", "push", "2620:149:a44::/48"),
        ("2603:1026:1::1", "other-mail", "2603:1026::/36"),
        ("::ffff:52.125.140.74", "mail-relay", "52.125.128.0/20"),
        ("8.8.8.8", "name-resolution", "8.8.8.8/32"),
    ],
)
def test_cidr_longest_prefix(catalog, ip, category, matched):
    hit = catalog.match_ip(ip)
    assert hit is not None
    assert (hit.category, hit.rule, hit.matched) == (category, "cidr", matched)
    assert hit.owner


@pytest.mark.parametrize("ip", ["10.23.42.50", "203.0.113.25", "2001:db8::1", "not-an-ip", ""])
def test_cidr_misses(catalog, ip):
    assert catalog.match_ip(ip) is None


def test_user_file_wins(tmp_path, catalog):
    user = tmp_path / "mine.toml"
    user.write_text(
        """
[[entry]]
id = "lab-hockeyapp"
owner = "Lab"
category = "telemetry"
names = ["gate.hockeyapp.net"]
cidrs = ["52.125.140.0/24", "52.125.128.0/20"]
source = "our lab notes"
"""
    )
    cat = Catalog.load([str(user)])
    hit = cat.match_name("gate.hockeyapp.net")
    assert (hit.owner, hit.category, hit.entry) == ("Lab", "telemetry", "lab-hockeyapp")
    assert cat.match_ip("52.125.140.74").owner == "Lab"  # longer user prefix
    assert cat.match_ip("52.125.130.1").owner == "Lab"  # same prefix: user replaces bundled
    assert cat.match_name("mobile.pipe.aria.microsoft.com").owner == "Microsoft"  # the rest stays
    desc = cat.describe()
    assert [f["entries"] for f in desc["files"]] == [catalog.describe()["entries"], 1]
    assert desc["files"][1]["path"] == user.name  # outside the working folder: the file name alone


def test_ports_restrict_an_entry(tmp_path):
    user = tmp_path / "ports.toml"
    user.write_text(
        '[[entry]]\nid = "p"\nowner = "P"\ncategory = "push"\nnames = ["push.example.net"]\nports = [5223]\n'
        'source = "test"\n'
    )
    cat = Catalog.load([str(user)])
    assert cat.match_name("push.example.net", 5223).category == "push"
    assert cat.match_name("push.example.net", None).category == "push"
    assert cat.match_name("push.example.net", 443) is None


@pytest.mark.parametrize(
    "text, needle",
    [
        (
            '[[entry]]\nid = "a"\nowner = "A"\ncategory = "spyware"\nnames = ["a.example"]\nsource = "s"\n',
            "unknown category",
        ),
        (
            '[[entry]]\nid = "a"\nowner = "A"\ncategory = "cdn"\ncidrs = ["10.0.0.0/33"]\nsource = "s"\n',
            "not a CIDR range",
        ),
        (
            '[[entry]]\nid = "a"\nowner = "A"\ncategory = "cdn"\nnames = ["a.example"]\n',
            "'source' is required",
        ),
        (
            '[[entry]]\nid = "a"\nowner = "A"\ncategory = "cdn"\nsuffixes = ["com"]\nsource = "s"\n',
            "two labels",
        ),
        ('[[entry]]\nid = "a"\nowner = "A"\ncategory = "cdn"\nsource = "s"\n', "at least one of"),
        (
            '[[entry]]\nid = "a"\nowner = "A"\ncategory = "cdn"\nnames = "a.b"\nports = [0]\nsource = "s"\n',
            "ports",
        ),
        ("entry = 3\n", "[[entry]]"),
        ("[[entry]\n", "invalid catalog TOML"),
    ],
)
def test_bad_user_catalog_is_one_clear_error(tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        Catalog.load([str(path)])
    assert str(path) in str(exc.value) and needle in str(exc.value)
    assert "\n" not in str(exc.value)


def test_missing_user_catalog(tmp_path):
    with pytest.raises(InputError, match="cannot read catalog"):
        Catalog.load([str(tmp_path / "nope.toml")])


def test_lookups_never_touch_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    cat = Catalog.load()
    assert cat.registrable_domain("a.b.example.com") == "example.com"
    assert registrable_domain("x.bbc.co.uk") == "bbc.co.uk"
    assert cat.match_name("a.b.c.d.e.outlookmobile.com").category == "mail-relay"


def test_long_names_are_bounded(catalog):
    name = ".".join(["a"] * 200) + ".outlookmobile.com"  # 418 characters: not a DNS name
    assert catalog.match_name(name) is None
    assert catalog.match_name(".".join(["a"] * 100) + ".outlookmobile.com").category == "mail-relay"
    assert catalog.match_name("x" * 5000) is None


def test_catalog_agrees_with_microsofts_published_list(catalog):
    if not MS365_JSON.is_file():
        pytest.skip("../shared/data/microsoft365 is absent")
    sets = {s["id"]: s for s in json.loads(MS365_JSON.read_text())}
    expected = {95: "mail-relay", 69: "telemetry", 96: "auth", 97: "auth", 2: "other-mail", 1: "other-mail"}
    for set_id, category in expected.items():
        for url in sets[set_id].get("urls", []):
            name = url.replace("*.", "probe.") if url.startswith("*.") else url
            hit = catalog.match_name(name)
            assert hit is not None and hit.category == category, (set_id, url, hit)
        for prefix in sets[set_id].get("ips", []):
            net = ipaddress.ip_network(prefix)
            for addr in (net.network_address, net.broadcast_address):
                hit = catalog.match_ip(str(addr))
                assert hit is not None and hit.category == category, (set_id, prefix, hit)


def test_ranges_of_an_address_give_match_ips_answer_for_every_port(tmp_path):
    """The classifier keeps ``ranges_of`` per address and picks by port: the same match as ``match_ip``,
    for nested ranges of which the longest allows only some ports."""
    user = tmp_path / "nested.toml"
    user.write_text(
        '[[entry]]\nid = "wide"\nowner = "W"\ncategory = "cdn"\ncidrs = ["198.51.0.0/16", "2001:db8::/32"]\n'
        'source = "test"\n'
        '[[entry]]\nid = "narrow"\nowner = "N"\ncategory = "push"\ncidrs = ["198.51.100.0/24", "2001:db8:1::/48"]\n'
        'ports = [5223]\nsource = "test"\n'
    )
    cat = Catalog.load([str(user)])
    for ip in ("198.51.100.7", "::ffff:198.51.100.7", "198.51.7.1", "2001:db8:1::5", "2001:db8:2::5", "192.0.2.1"):
        version, value = (4, int(ipaddress.ip_address(ip.removeprefix("::ffff:")))) if "." in ip else (
            6, int(ipaddress.ip_address(ip)))
        ranges = cat.ranges_of(version, value)
        for port in (5223, 443, None):
            assert cat.pick_range(ranges, port) == cat.match_ip(ip, port), (ip, port)
    assert cat.match_ip("198.51.100.7", 5223).entry == "narrow"
    assert cat.match_ip("198.51.100.7", 443).entry == "wide"
    assert cat.match_ip("2001:db8:1::5", 443).matched == "2001:db8::/32"


def test_ranges_of_agrees_with_ipaddress_inside_at_the_edges_and_outside(tmp_path):
    """``ranges_of`` (one look-up per prefix length): every range holding the address, longest first, as
    ``ipaddress`` finds them, at each range's first and last address, just outside them and at 20,000 random
    addresses."""
    import random

    user = tmp_path / "extra.toml"
    user.write_text('[[entry]]\nid = "short"\nowner = "S"\ncategory = "cdn"\ncidrs = ["100.64.0.0/10", "fc00::/7"]\n'
                    'source = "test"\n')
    cat = Catalog.load([str(user)])
    nets = [(ipaddress.ip_network(cidr, strict=False), entry) for entry in cat.entries.values() for cidr in entry.cidrs]
    assert {n.version for n, _e in nets} == {4, 6}
    rng = random.Random(16)
    probes = [ipaddress.ip_address(rng.getrandbits(32)) for _ in range(10_000)]
    probes += [ipaddress.ip_address(rng.getrandbits(128)) for _ in range(10_000)]
    for net, _entry in nets:
        last = 2 ** net.max_prefixlen - 1
        for value in (int(net.network_address) - 1, int(net.network_address), int(net.broadcast_address),
                      int(net.broadcast_address) + 1):
            if 0 <= value <= last:
                probes.append(ipaddress.IPv4Address(value) if net.version == 4 else ipaddress.IPv6Address(value))
    found = 0
    for addr in probes:
        expected = sorted(((net, entry) for net, entry in nets if net.version == addr.version and addr in net),
                          key=lambda pair: -pair[0].prefixlen)
        got = cat.ranges_of(addr.version, int(addr))
        assert [(m, e.id) for m, e in got] == [(str(n), e.id) for n, e in expected], addr
        found += bool(got)
    assert found > len(nets)  # the edges inside every range were found


def test_ranges_of_after_a_shorter_range_is_added(tmp_path):
    """``ranges_of`` first asks whether any range can hold the address (its top bits, as many as the
    shortest prefix has); a range added after a lookup, even /0, is found, and so are the ones before it."""
    user = tmp_path / "all.toml"
    user.write_text('[[entry]]\nid = "all"\nowner = "A"\ncategory = "cdn"\ncidrs = ["0.0.0.0/0", "::/0"]\n'
                    'source = "test"\n')
    everything = Catalog.load([str(user)]).entries["all"]
    cat = Catalog.load([])
    outside, inside = (int(ipaddress.ip_address(ip)) for ip in ("192.0.2.1", "52.125.140.74"))
    assert cat.ranges_of(4, outside) == () and cat.ranges_of(6, int(ipaddress.ip_address("2001:db8::1"))) == ()
    before = [m for m, _e in cat.ranges_of(4, inside)]
    assert before and before[0].startswith("52.125.")
    cat.add(everything)
    assert [m for m, _e in cat.ranges_of(4, outside)] == ["0.0.0.0/0"]
    assert [m for m, _e in cat.ranges_of(6, int(ipaddress.ip_address("2001:db8::1")))] == ["::/0"]
    assert [m for m, _e in cat.ranges_of(4, inside)] == [*before, "0.0.0.0/0"]
