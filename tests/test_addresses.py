"""The one address rule (analysis.addresses) and the places that compare addresses with it.

Deliberate changes when it replaced six local rules: a case file's or flag's IPv4-mapped address is stored as
IPv4, a flow to a mapped address meets the mail host's IPv4 address (classify), DNS answers and look-ups
meet the same way (dnsmap), and a ``%zone`` is dropped from logged addresses. The shipped captures have no
mapped addresses, so their reports are unchanged. Also changed: the server logs' logins meet the capture's
flows by the same rule (correlate).
"""

from __future__ import annotations

import ipaddress

import pytest

from analysis.addresses import canonical, is_address, parse
from analysis.case import Case, MailHost
from analysis.catalog import Catalog
from analysis.classify import Classifier
from analysis.logs.correlate import correlate_logs
from analysis.logs.events import normalize_ip
from analysis.logs.netstat import split_endpoint
from analysis.model import Capture, Endpoint, Flow
from analysis.owners import parse_ip
from analysis.relays import network_prefix


@pytest.mark.parametrize(("text", "expected"), [
    ("192.0.2.7", "192.0.2.7"),
    (" 192.0.2.7\n", "192.0.2.7"),
    ("2001:DB8:0:0::1", "2001:db8::1"),
    ("[2001:db8::1]", "2001:db8::1"),
    ("fe80::1%eth0", "fe80::1"),
    ("[fe80::1%25en0]", "fe80::1"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("::FFFF:c000:0207", "192.0.2.7"),
    ("[::ffff:192.0.2.7]", "192.0.2.7"),
    ("::192.0.2.7", "::c000:207"),  # IPv4-compatible (deprecated) is not mapped: stays IPv6
    ("64:ff9b::192.0.2.7", "64:ff9b::c000:207"),  # NAT64 is a real IPv6 address
    ("::1", "::1"),
    ("", None),
    (None, None),
    ("mail.example.org", None),
    ("192.0.2.7:993", None),
    ("[2001:db8::1]:993", None),
    ("01.2.3.4", None),  # leading zeros are ambiguous (octal to some tools): not an address
    ("192.0.2.256", None),
    ("192.0.2.7%eth0", "192.0.2.7"),
])
def test_the_rule(text, expected) -> None:
    assert canonical(text) == expected
    assert is_address(text or "") is (expected is not None)


def test_owners_numeric_form_agrees_with_the_rule() -> None:
    """owners.parse_ip reads plain dotted quads with inet_pton for speed; every answer equals the rule's."""
    forms = ["192.0.2.7", "0.0.0.0", "255.255.255.255", "01.2.3.4", "1.2.3", "192.0.2.7 ", "[192.0.2.7]",
             "2001:db8::1", "[2001:db8::1]", "fe80::1%eth0", "::ffff:192.0.2.7", "::ffff:0:0", "::",
             "example.org", "", "1.2.3.4.5", "::ffff:1.2.3.4:993"]
    for text in forms:
        addr = parse(text)
        assert parse_ip(text) == (None if addr is None else (addr.version, int(addr))), text


def test_mapped_server_meets_the_configured_mail_address() -> None:
    """Changed: the classifier compared ``::ffff:192.0.2.25`` as IPv6 text and missed the mail host."""
    case = Case(mail_hosts=[MailHost.parse("imap.example.org")], mail_addresses=["192.0.2.25"])
    flow = Flow(1, "tcp", Endpoint("10.23.42.50", 40000), Endpoint("::ffff:192.0.2.25", 993), app_protocol="tls")
    Classifier(case, Catalog.load()).classify_flow(flow)
    assert (flow.category, flow.evidence.rule) == ("mail-host", "mail-host:address")
    assert flow.server.ip == "::ffff:192.0.2.25"  # the record keeps the address as the capture wrote it


def test_case_addresses_are_stored_canonical() -> None:
    """Changed: a mapped address in a case file or flag is stored as IPv4 (it was kept as written)."""
    assert MailHost.parse("[::FFFF:192.0.2.25]:993") == MailHost("192.0.2.25", 993)
    assert MailHost.parse("2001:DB8::25").host == "2001:db8::25"
    case = Case().override(mail_ips=["::ffff:192.0.2.25"], devices=["2001:DB8::50"])
    assert case.mail_addresses == ["192.0.2.25"] and case.devices == ["2001:db8::50"]
    assert case.mail_host_ips() == {"192.0.2.25"}


def test_logs_and_snapshots() -> None:
    assert normalize_ip("::ffff:52.125.138.94") == "52.125.138.94"
    assert normalize_ip("fe80::1%eth0") == "fe80::1"  # changed: the zone was kept, so it never matched
    assert normalize_ip("unknown host " + "x" * 100) == ("unknown host " + "x" * 100)[:64]
    assert split_endpoint("[::ffff:10.23.42.103]:993") == ("10.23.42.103", 993)
    assert split_endpoint("fe80::1%lo0.993") == ("fe80::1", 993)


def test_network_prefixes_of_mapped_addresses() -> None:
    assert network_prefix("::ffff:192.0.2.7") == "192.0.2.0/24" == network_prefix("192.0.2.99")
    assert network_prefix("2001:db8:1:2::1") == str(ipaddress.ip_network("2001:db8:1::/48"))
    assert network_prefix("example.org") is None


def test_catalog_matches_mapped_addresses() -> None:
    catalog = Catalog.load()
    for entry in catalog.entries.values():
        for cidr in entry.cidrs:
            net = ipaddress.ip_network(cidr, strict=False)
            if net.version == 4:
                inside = str(net.network_address)
                hit = catalog.match_ip(f"::ffff:{inside}")
                assert hit is not None and hit == catalog.match_ip(inside)
                return
    pytest.skip("the bundled catalog has no IPv4 range")


def test_log_logins_meet_capture_flows_written_as_mapped_addresses(tmp_path) -> None:
    """Changed: correlate compared the logs' canonical addresses with the capture's text as written, so a
    device seen as ``::ffff:10.0.0.50`` was a third party in the logs and a login's flows were not found."""
    log = tmp_path / "dovecot.log"
    log.write_text(
        "2026-03-01T10:00:00+0000 imap-login: Info: Login: user=<lft2>, method=PLAIN, rip=::ffff:198.51.100.9, "
        "lip=10.0.0.5, mpid=7, TLS, session=<AAA>\n"
        "2026-03-01T10:01:00+0000 imap-login: Info: Login: user=<lft2>, method=PLAIN, rip=10.0.0.50, "
        "lip=10.0.0.5, mpid=8, TLS, session=<BBB>\n"
    )
    flow = Flow(1, "tcp", Endpoint("::ffff:10.0.0.50", 40000), Endpoint("::ffff:198.51.100.9", 443))
    result = correlate_logs([str(log)], Case(username="lft2"), Capture(flows=[flow]), Catalog.load())
    view, findings = result.view, result.findings
    assert {o["address"]: o["is_device"] for o in view["origins"]} == {"198.51.100.9": False, "10.0.0.50": True}
    (login,) = [f for f in findings if f.kind == "third-party-login"]
    assert login.details["addresses"] == ["198.51.100.9"] and login.flows == [1]
