"""Flow.to_json inlines its nested records' shapes for speed: they must stay equal to their own to_json."""

import pytest

from analysis.model import App, Endpoint, Evidence, Flow, Names, iso_utc


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


def _dumps(flow: Flow) -> str:
    import json

    return json.dumps(flow.to_json(), ensure_ascii=False)


def test_json_line_is_the_json_of_to_json():
    """Flow.json_line builds the text directly: byte for byte what json.dumps gives of to_json()."""
    tricky = ['quote " and \\ backslash', "tab\tnew\nline\x00\x1f", "ünïcødé ✉", "\ud800 lone surrogate", ""]
    flows = [
        Flow(id=1, transport="udp", client=Endpoint("127.0.0.2", 5), server=Endpoint("127.0.0.1", 53)),
        Flow(id=2, transport="tcp", client=Endpoint("2001:db8::1", 443), server=Endpoint("2001:db8::2", 1),
             packets=10**12, bytes=3, first_seen=0.0000005, last_seen=1e9 + 0.25,
             names=Names(sni=tricky, dns=["a"], http_host=tricky[:2]), alpn=["h2", "http/1.1"],
             auth_mechanisms=["PLAIN"], cleartext_credentials=True, starttls=True, category="mail-host",
             owner=tricky[0], notes=tricky, credential_frames=[1, 2]),
        Flow(id=3, transport="tcp", client=Endpoint("127.0.0.2", 1), server=Endpoint("127.0.0.1", 2),
             first_seen=1598605676.9999996, last_seen=1598605676.9999996,
             evidence=Evidence("catalog:exact", tricky[2], "sni", None, None)),
        Flow(id=4, transport="tcp", client=Endpoint("127.0.0.2", 1), server=Endpoint("127.0.0.1", 2),
             first_seen=5.0, last_seen=None),
        Flow(id=5, transport="tcp", client=Endpoint("127.0.0.2", 1), server=Endpoint("127.0.0.1", 2),
             app=App(id=tricky[0], name=tricky[3], uid=-1, source="pcapdroid")),
        Flow(id=6, transport="udp", client=Endpoint("127.0.0.2", 1), server=Endpoint("127.0.0.1", 2),
             app=App(id=None, name=None, uid=None, source="app-privacy-report")),
    ]
    for flow in flows:
        assert flow.json_line() == _dumps(flow)


def _json_lines_match(paths) -> int:
    """Flows checked: ``json_line`` against ``json.dumps`` for every flow of every capture in ``paths``."""
    from analysis.capture import load_capture

    checked = 0
    for path in paths:
        for flow in load_capture(str(path)).flows:
            assert flow.json_line() == _dumps(flow), (path, flow.id)
            checked += 1
    return checked


def test_json_line_on_the_shipped_captures():
    from tests.conftest import ROOT

    paths = sorted((ROOT / "captures").glob("*/phone.pcapng"))
    assert len(paths) >= 3
    assert _json_lines_match(paths) > 20


def test_json_line_on_every_shared_capture(shared_captures):
    from tests.conftest import all_shared_captures

    assert _json_lines_match(all_shared_captures()) > 100


def test_iso_utc_rounds_as_datetime_does():
    """Cached whole seconds, microseconds rounded half to even: the same text as datetime gives."""
    import random
    from datetime import UTC, datetime

    rng = random.Random(3)
    values = [0.0, -0.5, -1.0000005, 1.9999995, 1.9999994999, 1598605200.0000005, 1598605200.0000015,
              1598605200.9999996, -1e-7, 253402300799.4, -62135596800.0]
    values += [rng.uniform(-1e9, 4e9) for _ in range(20_000)]
    values += [rng.randrange(4 * 10**15) / 1e6 + rng.choice((0.0, 5e-7, -5e-7)) for _ in range(20_000)]
    values += [rng.randrange(4 * 10**18) * 1e-9 for _ in range(10_000)]
    for ts in values:
        assert iso_utc(ts) == datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")[:-6] + "Z", ts
    assert iso_utc(None) is None
    for ts in (253402300799.999999, float("nan"), float("inf")):  # rounds past year 9999; no time at all
        with pytest.raises((ValueError, OverflowError)):
            datetime.fromtimestamp(ts, UTC)
    # where datetime raises, iso_utc does not: the last microsecond there is, or None for NaN
    assert (iso_utc(253402300799.999999), iso_utc(float("inf"))) == ("9999-12-31T23:59:59.999999Z",) * 2
    assert iso_utc(float("nan")) is None


def test_json_line_of_classified_flows():
    """Classified flows carry evidence (``maildetour flows`` classifies): the direct text still equals json.dumps."""
    from analysis.case import load_case
    from analysis.pipeline import flow_table
    from tests.conftest import ROOT

    checked = 0
    for folder in sorted((ROOT / "captures").glob("*/")):
        if not (folder / "phone.pcapng").is_file():
            continue
        case = load_case(str(folder / "case.toml"), environ={})
        capture = flow_table([str(folder / "phone.pcapng")], case,
                             [str(ROOT / "analysis/data/lab-catalog.toml")]).capture()
        for flow in capture.flows:
            assert flow.evidence is not None
            assert flow.json_line() == _dumps(flow), (folder.name, flow.id)
            checked += 1
    assert checked > 10


def test_json_line_durations_and_equal_times():
    """The quick paths for a zero duration (no times, one packet) and equal first/last times keep the text:
    a negative zero stays ``-0.0``; NaN and infinite spans fall back to the encoder as before."""
    times = [(None, None), (5.0, 5.0), (0.0, -0.0), (-0.0, 0.0), (1598605676.0000001, 1598605676.0000001),
             (1.5, 1.5000004), (1.5, 1.5000005), (1e9, 1e9 + 1e-7), (100.0, 99.0)]
    for i, (first, last) in enumerate(times):
        flow = Flow(id=i, transport="tcp", client=Endpoint("127.0.0.2", 1), server=Endpoint("127.0.0.1", 2),
                    first_seen=first, last_seen=last)
        assert flow.json_line() == _dumps(flow), (first, last)
    assert '"duration": -0.0' in Flow(1, "tcp", Endpoint("a", 1), Endpoint("b", 2), first_seen=0.0,
                                      last_seen=-0.0).json_line()
