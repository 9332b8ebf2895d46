"""The classifier's rule order on Flow records built directly (no capture reader involved)."""

from __future__ import annotations

import pytest

from analysis.case import Case, MailHost
from analysis.catalog import Catalog
from analysis.classify import Classifier, classify
from analysis.model import Capture, DnsEntry, Endpoint, Flow

DEVICE = "10.23.42.50"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def case(*hosts: str, ips: tuple[str, ...] = ()) -> Case:
    return Case(mail_hosts=[MailHost.parse(h) for h in hosts], mail_addresses=list(ips))


def flow(
    server: str,
    port: int = 443,
    proto: str = "tls",
    transport: str = "tcp",
    fid: int = 1,
    sni: tuple[str, ...] = (),
    dns: tuple[str, ...] = (),
    http: tuple[str, ...] = (),
) -> Flow:
    f = Flow(
        id=fid,
        transport=transport,
        client=Endpoint(DEVICE, 40000 + fid),
        server=Endpoint(server, port),
        app_protocol=proto,
    )
    for n in sni:
        f.names.add("sni", n)
    for n in dns:
        f.names.add("dns", n)
    for n in http:
        f.names.add("http_host", n)
    return f


def dns(query: str, *answers: str) -> DnsEntry:
    return DnsEntry(query=query, types=["A"], answers=list(answers), first_frame=1, client=DEVICE)


def run(c: Case, catalog: Catalog, f: Flow, entries=()) -> Flow:
    clf = Classifier(c, catalog)
    clf.learn_dns(entries)
    clf.classify_flow(f)
    return f


def test_mail_host_by_sni_name(catalog):
    f = run(
        case("mail.example.org:993"), catalog, flow("203.0.113.25", 993, "imaps", sni=("MAIL.example.org",))
    )
    assert (f.category, f.owner) == ("mail-host", "example.org")
    assert (f.evidence.rule, f.evidence.matched, f.evidence.source) == (
        "mail-host:name",
        "mail.example.org",
        "sni",
    )


def test_mail_host_by_configured_address(catalog):
    f = run(case("mail.example.org", ips=("203.0.113.25",)), catalog, flow("203.0.113.25", 587, "smtp"))
    assert f.category == "mail-host"
    assert (f.evidence.rule, f.evidence.source) == ("mail-host:address", "address")


def test_mail_host_by_ip_given_as_host(catalog):
    f = run(case("203.0.113.25:993"), catalog, flow("203.0.113.25", 993, "other"))
    assert f.category == "mail-host" and f.evidence.rule == "mail-host:address"


def test_mail_host_by_address_from_dns_cname_chain(catalog):
    entries = [dns("mail.example.org", "mx.hoster.example.net", "203.0.113.25")]
    f = run(case("mail.example.org"), catalog, flow("203.0.113.25", 443, "tls"), entries)
    assert f.category == "mail-host"
    assert "mail.example.org" in f.names.dns  # names attached from DNS
    assert f.evidence.source == "dns"


def test_mail_host_wins_over_catalog(catalog):
    # a user whose mail really is at Exchange Online: the configured host is the mail host, not other-mail
    f = run(
        case("outlook.office365.com:993"),
        catalog,
        flow("40.97.1.2", 993, "imaps", sni=("outlook.office365.com",)),
    )
    assert f.category == "mail-host"


def test_sni_beats_http_host_beats_dns(catalog):
    f = run(
        case("mail.example.org"),
        catalog,
        flow(
            "13.107.246.40",
            sni=("gate.hockeyapp.net",),
            http=("mobile.pipe.aria.microsoft.com",),
            dns=("eas.outlookmobile.com",),
        ),
    )
    assert (f.category, f.evidence.source) == ("crash-report", "sni")
    f = run(
        case(),
        catalog,
        flow("13.107.246.40", http=("mobile.pipe.aria.microsoft.com",), dns=("eas.outlookmobile.com",)),
    )
    assert (f.category, f.evidence.source) == ("telemetry", "http_host")


def test_catalog_exact_suffix_and_cidr_evidence(catalog):
    f = run(case(), catalog, flow("52.182.143.212", sni=("mobile.pipe.aria.microsoft.com",)))
    ev = f.evidence
    assert (f.category, f.owner, ev.rule, ev.matched, ev.entry) == (
        "telemetry",
        "Microsoft",
        "catalog:exact",
        "mobile.pipe.aria.microsoft.com",
        "microsoft-aria-collector",
    )
    assert "2023073100" in ev.catalog_source or "MEMO" in ev.catalog_source
    f = run(case(), catalog, flow("52.125.140.74", sni=("eas.outlookmobile.com",)))
    assert (f.category, f.evidence.rule, f.evidence.matched) == (
        "mail-relay",
        "catalog:suffix",
        "outlookmobile.com",
    )
    f = run(case(), catalog, flow("52.125.140.74"))
    assert (f.category, f.evidence.rule, f.evidence.matched, f.evidence.source) == (
        "mail-relay",
        "catalog:cidr",
        "52.125.128.0/20",
        "address",
    )


def test_name_match_beats_cidr(catalog):
    # an SDK endpoint hosted inside Microsoft's relay range is still what its name says
    f = run(case(), catalog, flow("52.125.140.74", sni=("gate.hockeyapp.net",)))
    assert f.category == "crash-report"


def test_dns_names_attached_and_used(catalog):
    entries = [
        dns("mobile.pipe.aria.microsoft.com", "onedscolprdwus.westus.cloudapp.azure.com", "52.182.143.212")
    ]
    f = run(case(), catalog, flow("52.182.143.212"), entries)
    assert f.names.dns == ["mobile.pipe.aria.microsoft.com", "onedscolprdwus.westus.cloudapp.azure.com"]
    assert (f.category, f.evidence.source) == ("telemetry", "dns")


def test_flow_with_own_dns_names_keeps_them(catalog):
    f = flow("52.182.143.212", dns=("gate.hockeyapp.net",))
    run(case(), catalog, f, [dns("mobile.pipe.aria.microsoft.com", "52.182.143.212")])
    assert f.names.dns == ["gate.hockeyapp.net"] and f.category == "crash-report"


@pytest.mark.parametrize(
    "server, port, proto, category, rule",
    [
        ("198.51.100.7", 993, "imaps", "other-mail", "fallback:protocol"),
        ("198.51.100.7", 25, "smtp", "other-mail", "fallback:protocol"),
        ("198.51.100.7", 995, "other", "other-mail", "fallback:port"),
        ("198.51.100.7", 443, "pop3", "other-mail", "fallback:protocol"),
        ("10.23.42.1", 53, "dns", "name-resolution", "fallback:protocol"),
        ("10.23.42.1", 53, "other", "name-resolution", "fallback:port"),
        ("224.0.0.251", 5353, "other", "name-resolution", "fallback:port"),
        ("10.23.42.1", 67, "other", "platform", "fallback:port"),
        ("239.255.255.250", 1900, "other", "platform", "fallback:port"),
        ("198.51.100.7", 123, "other", "platform", "fallback:port"),
        ("198.51.100.7", 443, "tls", "unknown", "unknown:address"),
    ],
)
def test_protocol_fallbacks(catalog, server, port, proto, category, rule):
    c = case("mail.example.org", ips=("203.0.113.25",))
    transport = "udp" if port in (53, 67, 123, 1900, 5353) else "tcp"
    f = run(c, catalog, flow(server, port, proto, transport=transport))
    assert (f.category, f.evidence.rule) == (category, rule)
    assert f.owner


def test_unnamed_mail_protocol_is_assumed_mail_host_only_while_its_address_is_unknown(catalog):
    c = case("mail.example.org:993", "mail.example.org:587")
    f = run(c, catalog, flow("198.51.100.7", 993, "imaps"))
    assert (f.category, f.evidence.rule, f.owner) == ("mail-host", "mail-host:assumed", "example.org")
    # not on a port the case does not name, not with a name of its own, not once DNS told the address
    assert run(c, catalog, flow("198.51.100.7", 143, "imap")).category == "other-mail"
    assert (
        run(c, catalog, flow("198.51.100.7", 993, "imaps", sni=("imap.gmail.com",))).category == "other-mail"
    )
    known = run(c, catalog, flow("198.51.100.7", 993, "imaps"), [dns("mail.example.org", "203.0.113.25")])
    assert known.category == "other-mail"
    # an address the catalog knows keeps its catalog category
    assert run(c, catalog, flow("40.97.1.2", 993, "imaps")).category == "other-mail"
    # no mail host configured at all: nothing to assume
    assert run(case(), catalog, flow("198.51.100.7", 993, "imaps")).category == "other-mail"


def test_unknown_owner_is_registrable_domain(catalog):
    f = run(case(), catalog, flow("198.51.100.7", sni=("api.cdn.shop.example.co.uk",)))
    assert (f.category, f.owner, f.evidence.rule) == ("unknown", "example.co.uk", "unknown:name")
    f = run(case(), catalog, flow("198.51.100.7"))
    assert (f.category, f.owner) == ("unknown", "198.51.100.7")


def test_hostile_names_are_bounded_and_harmless(catalog):
    hostile = "<img src=x onerror=alert(1)>.example"
    f = run(case(), catalog, flow("198.51.100.66", sni=(hostile, "x" * 4000)))
    assert f.category == "unknown"
    assert f.evidence.matched == hostile  # kept as text; escaping is the renderer's job


def test_ipv6_flows(catalog):
    f = run(case(ips=("2001:db8::25",)), catalog, flow("2001:DB8:0::25", 993, "imaps"))
    assert f.category == "mail-host"
    f = run(case(), catalog, flow("2620:149:a44::10", 5223, "tls"))
    assert (f.category, f.owner) == ("push", "Apple")


def test_live_use_learns_dns_between_flows(catalog):
    """The addon classifies flow by flow and learns DNS as it arrives."""
    clf = Classifier(case("mail.example.org"), catalog)
    first = flow("198.51.100.7", 993, "other", fid=1)
    clf.classify_flow(first)
    assert first.evidence.rule == "mail-host:assumed"  # nothing known yet about the mail host's address
    clf.learn_dns([dns("mail.example.org", "203.0.113.25")])
    second = flow("203.0.113.25", 993, "other", fid=2)
    clf.classify_flow(second)
    assert (second.category, second.evidence.rule) == ("mail-host", "mail-host:name")
    third = flow("198.51.100.7", 993, "other", fid=3)
    clf.classify_flow(third)
    assert third.category == "other-mail"  # now the address is known, and it is another one
    assert clf.mail_host_addresses() == {"203.0.113.25"}


def test_classify_wrapper_over_a_capture(catalog):
    cap = Capture(
        flows=[
            flow("52.125.140.74", fid=1),
            flow("203.0.113.25", 993, "imaps", fid=2),
            flow("10.23.42.1", 53, "dns", "udp", fid=3),
        ],
        dns=[dns("mail.example.org", "203.0.113.25")],
    )
    classify(cap, case("mail.example.org:993"), catalog)
    assert [f.category for f in cap.flows] == ["mail-relay", "mail-host", "name-resolution"]
    assert all(f.evidence is not None for f in cap.flows)
    assert cap.flows[0].to_json()["evidence"]["entry"] == "microsoft-outlook-mobile-relay"
