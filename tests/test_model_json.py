"""Flow.to_json inlines its nested records' shapes for speed: they must stay equal to their own to_json."""

from analysis.model import Endpoint, Evidence, Flow, Names, iso_utc


def test_flow_to_json_matches_nested_to_json():
    names = Names(sni=["imap.example.org"], dns=["mail.example.org"], http_host=["example.org"])
    flow = Flow(id=7, transport="tcp", client=Endpoint("127.0.0.2", 50123), server=Endpoint("127.0.0.1", 993),
                first_seen=1598605676.123456, last_seen=1598605678.5, names=names,
                evidence=Evidence("catalog:exact", "imap.example.org", "sni", "x", "https://example.org"))
    out = flow.to_json()
    assert out["client"] == flow.client.to_json()
    assert out["server"] == flow.server.to_json()
    assert out["names"] == names.to_json()
    assert out["names"]["sni"] is not names.sni  # a copy, as Names.to_json gives
    assert out["evidence"] == flow.evidence.to_json()
    assert out["first_seen"] == iso_utc(flow.first_seen) == "2020-08-28T09:07:56.123456Z"
    assert out["duration"] == round(flow.duration, 6) == 2.376544
    bare = Flow(id=1, transport="udp", client=Endpoint("127.0.0.2", 5), server=Endpoint("127.0.0.1", 53))
    assert bare.to_json()["duration"] == 0.0 and bare.to_json()["first_seen"] is None
    assert bare.to_json()["evidence"] is None
