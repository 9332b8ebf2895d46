"""DnsMap: names <-> addresses through CNAME chains, case-insensitive, loop-safe."""

from __future__ import annotations

from analysis.dnsmap import DnsMap, attach_dns_names
from analysis.model import DnsEntry, Endpoint, Flow


def _entry(query: str, *answers: str) -> DnsEntry:
    return DnsEntry(query=query, types=["A"], answers=list(answers), first_frame=1, client="10.0.0.2")


def test_direct_and_cname_chain():
    m = DnsMap([_entry("www.Example.org.", "edge.cdn.net", "203.0.113.7", "2001:DB8::7")])
    assert m.addresses_for("WWW.example.ORG") == {"203.0.113.7", "2001:db8::7"}
    assert m.addresses_for("edge.cdn.net.") == {"203.0.113.7", "2001:db8::7"}
    assert m.names_for("203.0.113.7") == ["www.Example.org", "edge.cdn.net"]
    assert m.names_for("2001:db8:0::7") == ["www.Example.org", "edge.cdn.net"]
    assert m.names_for("198.51.100.1") == []
    assert m.names_for("not an ip") == []


def test_chain_across_entries_and_query_names_first():
    m = DnsMap()
    m.add_entry(_entry("mail.example.org", "mx.provider.net"))  # CNAME only, no address in this answer
    m.add_entry(_entry("mx.provider.net", "192.0.2.25"))
    assert m.addresses_for("mail.example.org") == {"192.0.2.25"}
    assert m.names_for("192.0.2.25") == ["mail.example.org", "mx.provider.net"]
    m.add_entry(_entry("alias.example.org", "cdn.example.net", "192.0.2.25"))
    expected = ["mail.example.org", "mx.provider.net", "alias.example.org", "cdn.example.net"]
    assert m.names_for("192.0.2.25") == expected


def test_cname_loop_terminates():
    m = DnsMap()
    m.add_cname("a.example", "b.example")
    m.add_cname("b.example", "a.example")
    m.add_address("b.example", "192.0.2.1")
    assert m.addresses_for("a.example") == {"192.0.2.1"}
    assert m.names_for("192.0.2.1") == ["a.example", "b.example"]


def test_empty_and_garbage_answers_ignored():
    m = DnsMap([_entry("", "192.0.2.1"), _entry("x.example", "", ".", "x.example")])
    assert m.addresses_for("x.example") == set()
    assert len(m) == 1


def test_addresses_compare_by_the_one_rule():
    """Answers and look-ups go through analysis.addresses: case, brackets and IPv4-mapped forms meet."""
    m = DnsMap([_entry("v6.example", "2001:DB8::1"), _entry("mapped.example", "::ffff:192.0.2.9")])
    assert m.names_for("[2001:db8::1]") == ["v6.example"]
    assert m.names_for("192.0.2.9") == ["mapped.example"]
    assert m.addresses_for("mapped.example") == {"192.0.2.9"}


def test_attach_dns_names_to_flows():
    flows = [
        Flow(1, "tcp", Endpoint("10.0.0.2", 50000), Endpoint("203.0.113.7", 443)),
        Flow(2, "tcp", Endpoint("10.0.0.2", 50001), Endpoint("198.51.100.9", 993)),
    ]
    entries = [_entry("imap.example.org", "203.0.113.7"), _entry("www.example.org", "203.0.113.7")]
    attach_dns_names(flows, entries)
    assert flows[0].names.dns == ["imap.example.org", "www.example.org"]
    assert flows[1].names.dns == []
