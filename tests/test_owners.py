"""IP -> AS ownership: the bundled ip-location-db data, --asn-db CSV and .mmdb files, and where it shows
(flows, the report's owner appendix and method section, ``maildetour logs``)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from pathlib import Path

import pytest

from analysis.asntable import RangeTable, TableError
from analysis.cli import main
from analysis.errors import InputError
from analysis.owners import BUNDLED_META, BUNDLED_TABLE, AsnDatabase, annotate
from tests.conftest import ROOT, SHARED
from tests.test_logs_memo import CYRUS_LISTED, CYRUS_MEMO, EXIM_MEMO

SEED = SHARED / "seed"
RELAYED = ROOT / "captures" / "relayed"
# The memo's whois (ARIN): "NetRange: 52.125.0.0 - 52.127.255.255 ... OrgName: Microsoft Corporation".
MEMO_ADDRESSES = ["52.125.138.29", "52.125.138.94", "52.125.140.101", "52.125.140.74", "52.125.141.101",
                  "52.125.141.99", "52.125.140.112"]


def seed_addresses() -> list[str]:
    """The 52.125.x.x addresses quoted in the seed memo (skips when ../shared/seed is absent)."""
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(SEED.glob("*.txt"))]
    if not texts:
        pytest.skip(f"{SEED} is absent")
    found = sorted({m for t in texts for m in re.findall(r"\b52\.125\.\d{1,3}\.\d{1,3}\b", t)})
    assert found, "the seed memo quotes no 52.125.x.x address"
    return found


def write_csv(path: Path, rows: list[str], header: bool = True) -> Path:
    path.write_text(("first_ip,last_ip,asn,organisation\n" if header else "") + "\n".join(rows) + "\n",
                    encoding="utf-8")
    return path


def write_mmdb(path: Path) -> Path:
    """A small MaxMind DB written with mmdb-writer: a GeoLite2-ASN record for IPv4, an IPinfo Lite one for v6."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN",
                        languages=["en"], description="maildetour test")
    writer.insert_network(IPSet(["52.125.140.0/22"]), {"autonomous_system_number": 64501,
                                                      "autonomous_system_organization": "Mmdb Relay GmbH"})
    writer.insert_network(IPSet(["2001:db8:100::/40"]), {"asn": "AS64502", "as_name": "Mmdb Six Ltd"})
    writer.to_db_file(str(path))
    return path


# ---- the bundled data ------------------------------------------------------------------------------------


def test_seed_memo_addresses_are_microsoft_as8075_offline():
    db = AsnDatabase.load()
    for ip in seed_addresses():
        hit = db.lookup(ip)
        assert hit is not None, ip
        assert (hit.asn, hit.org) == (8075, "Microsoft Corporation"), (ip, hit)
        first, last = ipaddress.ip_address(hit.first), ipaddress.ip_address(hit.last)
        assert first <= ipaddress.ip_address(ip) <= last
        assert hit.source.startswith("@ip-location-db/asn ")


def test_bundled_lookup_ipv4_ipv6_mapped_and_unallocated():
    db = AsnDatabase.load()
    v4 = db.lookup("52.125.140.74")
    assert v4.asn == 8075
    assert db.lookup("::ffff:52.125.140.74") == v4  # IPv4-mapped IPv6, as Dovecot logs it
    assert db.lookup("[::ffff:52.125.140.74]") == v4
    v6 = db.lookup("2a00:1450:4001:80e::200e")  # a Google front end (the catalog's google entries)
    assert v6 is not None and v6.asn == 15169 and "Google" in v6.org
    assert ipaddress.ip_address(v6.first).version == 6
    assert db.lookup("2a00:1450:4001:80e::200e%wlan0") == v6
    for ip in ("127.0.0.1", "127.42.1.10", "10.23.42.50", "192.168.1.1", "::1", "fe80::1", "fd00::5"):
        assert db.lookup(ip) is None, ip
    for junk in ("", "not-an-ip", "300.1.2.3", "52.125.140"):
        assert db.lookup(junk) is None


def test_bundled_ranges_are_contiguous_at_their_edges():
    """The first and last address of a range find that range; the address after it does not."""
    db = AsnDatabase.load()
    hit = db.lookup("52.125.140.74")
    assert db.lookup(hit.first) == hit and db.lookup(hit.last) == hit
    after = db.lookup(str(ipaddress.ip_address(hit.last) + 1))
    assert after is None or after.first == str(ipaddress.ip_address(hit.last) + 1)


def test_bundled_file_matches_its_metadata_and_notice():
    meta = json.loads(BUNDLED_META.read_text(encoding="utf-8"))
    data = BUNDLED_TABLE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == meta["asn.bin"]["sha256"]
    assert len(data) <= 10 * 1024 * 1024
    assert meta["package"] == "@ip-location-db/asn" and meta["version"] and meta["licence"] == "CC BY 4.0"
    table = RangeTable.decode(data)
    assert len(table.v4_starts) == meta["entries"]["ipv4"] and len(table.v6_high) == meta["entries"]["ipv6"]
    notice = (BUNDLED_TABLE.parent / "ASN-NOTICE").read_text(encoding="utf-8")
    for name in ("RouteViews", "NRO", "DB-IP", meta["version"], "CC BY 4.0"):
        assert name in notice
    sources = AsnDatabase.load().sources()
    assert sources[0]["version"] == meta["version"] and "RouteViews" in sources[0]["attribution"]


def test_damaged_table_is_refused():
    data = BUNDLED_TABLE.read_bytes()
    for bad in (b"", b"MDASN2\0\0" + data[8:64], b"XXXXXX" + data[6:4096]):
        with pytest.raises(TableError):
            RangeTable.decode(bad)


# ---- the range table --------------------------------------------------------------------------------------


def test_table_overlaps_later_rows_win_and_roundtrip(tmp_path):
    rows4 = [(100, 199, 1, "one"), (150, 159, 2, "two"), (300, 300, 3, "three"), (190, 250, 4, "four")]
    rows6 = [(1 << 100, (1 << 100) + 99, 6, "six"), ((1 << 100) + 50, (1 << 100) + 60, 7, "seven")]
    table = RangeTable.build(rows4, rows6)
    expect = {99: None, 100: 1, 149: 1, 150: 2, 159: 2, 160: 1, 189: 1, 190: 4, 250: 4, 251: None,
              300: 3, 301: None}
    path = tmp_path / "t.bin"
    path.write_bytes(table.encode())
    for t in (table, RangeTable.load(path)):
        for value, asn in expect.items():
            hit = t.find(4, value)
            assert (hit[2] if hit else None) == asn, value
        assert t.find(4, 160)[:2] == (160, 189)  # the piece of "one" between "two" and "four"
        base = 1 << 100
        assert t.find(6, base + 55)[:3] == (base + 50, base + 60, 7)
        assert t.find(6, base + 61)[:3] == (base + 61, base + 99, 6)
        assert t.find(6, base - 1) is None and t.find(6, (1 << 128) - 1) is None


# ---- --asn-db files ---------------------------------------------------------------------------------------


def test_csv_overrides_bundled_and_later_file_wins(tmp_path):
    first = write_csv(tmp_path / "first.csv", ['52.125.140.0,52.125.140.255,64500,"Relay, Inc."',
                                               "127.42.1.0,127.42.1.255,64512,Lab Vendor"])
    second = write_csv(tmp_path / "second.csv", [
        f"{int(ipaddress.ip_address('52.125.140.64'))},{int(ipaddress.ip_address('52.125.140.127'))},AS64501,"
        "Second",  # the "-num" form: addresses as integers
        "2001:db8::,2001:db8::ffff,64503,Doc Six",
    ], header=False)
    db = AsnDatabase.load([str(first), str(second)])
    assert (db.lookup("52.125.140.74").asn, db.lookup("52.125.140.74").source) == (64501, "second.csv")
    hit = db.lookup("52.125.140.10")
    assert (hit.asn, hit.org, hit.first, hit.last, hit.source) == (
        64500, "Relay, Inc.", "52.125.140.0", "52.125.140.255", "first.csv")  # the range as that file has it
    assert db.lookup("52.125.138.94").asn == 8075  # outside both files: the bundled data
    assert db.lookup("127.42.1.10").org == "Lab Vendor"
    assert db.lookup("::ffff:127.42.1.10").org == "Lab Vendor"
    assert db.lookup("2001:db8::42").asn == 64503 and db.lookup("2001:db8::1:0") is None
    names = [s["name"] for s in db.sources()]
    assert names[1:] == ["first.csv", "second.csv"] and names[0].startswith("@ip-location-db/asn")


def test_mmdb_overrides_and_ipv6(tmp_path):
    mmdb = write_mmdb(tmp_path / "asn.mmdb")
    csv = write_csv(tmp_path / "o.csv", ["52.125.0.0,52.125.255.255,64500,Csv Org"])
    db = AsnDatabase.load([str(csv), str(mmdb)])
    hit = db.lookup("52.125.141.99")
    assert (hit.asn, hit.org, hit.first, hit.last, hit.source) == (
        64501, "Mmdb Relay GmbH", "52.125.140.0", "52.125.143.255", "asn.mmdb")
    assert db.lookup("::ffff:52.125.141.99") == hit
    assert db.lookup("52.125.138.94").org == "Csv Org"  # not in the .mmdb: the CSV before it
    six = db.lookup("2001:db8:1ff::1")
    assert (six.asn, six.org, six.first) == (64502, "Mmdb Six Ltd", "2001:db8:100::")
    assert db.lookup("8.8.8.8").asn == 15169  # in neither file: the bundled data
    assert db.sources()[-1]["database_type"] == "GeoLite2-ASN"


def test_mmdb_without_the_suffix_is_recognised(tmp_path):
    path = write_mmdb(tmp_path / "asn.mmdb").rename(tmp_path / "asn-data")
    assert AsnDatabase.load([str(path)]).lookup("52.125.140.1").asn == 64501


@pytest.mark.parametrize("content, why", [
    ("52.125.0.0,52.125.255.255,8075,ok\nnot-an-ip,1.2.3.4,1,x\n", "line 2"),
    ("1.2.3.4,1.2.3.9,ASX,x\n1.2.3.4,1.2.3.9,AS1,x\n1.2.3.4,1.2.3.9,junk,x\n", "line 3"),
    ("1.2.3.9,1.2.3.4,1,x\n", "line 1"),
    ("1.2.3.4,2001:db8::1,1,x\n", "line 1"),
    ("just some text\n", "no address ranges"),
])
def test_malformed_csv_names_file_and_line(tmp_path, content, why):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as err:
        AsnDatabase.load([str(path)])
    assert str(path) in str(err.value) and why in str(err.value)


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", ["analyze", "flows", "logs"])
@pytest.mark.parametrize("bad", ["bad.csv", "bad.mmdb", "binary.bin", "missing.csv"])
def test_bad_asn_db_is_one_line_exit_3(tmp_path, capsys, command, bad):
    path = tmp_path / bad
    if bad == "bad.csv":
        path.write_text("52.125.0.0,52.125.255.255,8075,ok\n1.2.3.4,1.2.3,9,x\n", encoding="utf-8")
    elif bad != "missing.csv":
        path.write_bytes(b"\x00\x01garbage" * 100)
    target = str(RELAYED / ("dovecot.log" if command == "logs" else "phone.pcapng"))
    code, out, err = _run([command, target, "--asn-db", str(path)], capsys)
    assert code == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in err
    assert out == ""


# ---- where the AS shows --------------------------------------------------------------------------------


def test_relayed_capture_report_flows_and_appendix(tmp_path, capsys):
    """The shipped lab capture: loopback addresses have no AS (asn null, as_org ""), until an --asn-db names
    them; the owner appendix and the method section say which data answered."""
    out = tmp_path / "r.json"
    code, _, _ = _run(["analyze", str(RELAYED / "phone.pcapng"), "--case", str(RELAYED / "case.toml"),
                       "--logs", str(RELAYED / "dovecot.log"), "-o", str(out), "-q"], capsys)
    assert code == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["flows"]
    for flow in report["flows"]:
        assert flow["asn"] is None and flow["as_org"] == ""
    assert report["settings"]["asn_data"][0]["licence"] == "CC BY 4.0"

    owners = write_csv(tmp_path / "owners.csv", ["127.42.1.0,127.42.1.255,64512,Vendor Test Networks"])
    code, _, _ = _run(["analyze", str(RELAYED / "phone.pcapng"), "--case", str(RELAYED / "case.toml"),
                       "--logs", str(RELAYED / "dovecot.log"), "--asn-db", str(owners), "-o", str(out), "-q"],
                      capsys)
    report = json.loads(out.read_text(encoding="utf-8"))
    vendor = [f for f in report["flows"] if f["server"]["ip"].startswith("127.42.1.")]
    assert vendor and all((f["asn"], f["as_org"]) == (64512, "Vendor Test Networks") for f in vendor)
    others = [f for f in report["flows"] if not f["server"]["ip"].startswith("127.42.1.")]
    assert all(f["asn"] is None for f in others)
    rows = {o["address"]: o for o in report["owners"]}
    for f in vendor:
        row = rows[f["server"]["ip"]]
        assert (row["asn"], row["as_range"], row["as_source"]) == (64512, "127.42.1.0 – 127.42.1.255",
                                                                  "owners.csv")
    logins = [o for o in report["owners"] if "login" in o["roles"]]
    origins = {o["address"] for o in report["mail_server"]["origins"]}
    assert origins and origins == {o["address"] for o in logins}
    assert [s["name"] for s in report["settings"]["asn_data"]][1:] == ["owners.csv"]
    for fmt in ("md", "html"):
        for lang in ("en", "de"):
            code, text, _ = _run(["report", str(out), "--format", fmt, "--lang", lang], capsys)
            assert code == 0
            assert "AS64512" in text and "127.42.1.0 – 127.42.1.255" in text
            assert "RouteViews" in text and "DB-IP" in text and "owners.csv" in text
    code, text, _ = _run(["report", str(out), "--format", "md", "--lang", "de"], capsys)
    assert "Netzbetreiber (autonomes System) je Adresse" in text


def test_json_line_stays_identical_with_an_as(tmp_path):
    from analysis.pipeline import load

    capture = load([str(RELAYED / "phone.pcapng")])
    owners = write_csv(tmp_path / "o.csv", ['127.42.0.0,127.42.255.255,4200000000,"Quote "" and ünïcode"'])
    annotate(capture.flows, AsnDatabase.load([str(owners)]))
    assert capture.flows
    for flow in capture.flows:
        assert flow.asn == 4200000000
        assert flow.json_line() == json.dumps(flow.to_json(), ensure_ascii=False)


def test_flows_command_shows_the_as(tmp_path, capsys):
    owners = write_csv(tmp_path / "o.csv", ["127.42.1.0,127.42.1.255,64512,Vendor Test Networks"])
    code, out, _ = _run(["flows", str(RELAYED / "phone.pcapng"), "--format", "jsonl", "--asn-db", str(owners)],
                        capsys)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert {r["asn"] for r in rows if r["server"]["ip"].startswith("127.42.1.")} == {64512}
    code, out, _ = _run(["flows", str(RELAYED / "phone.pcapng"), "--format", "csv", "--asn-db", str(owners)],
                        capsys)
    header = out.splitlines()[0].split(",")
    assert "asn" in header and "as_org" in header and "Vendor Test Networks" in out


def _seed_log(tmp_path: Path) -> Path:
    path = tmp_path / "maillog"
    path.write_text("\n".join(CYRUS_MEMO + CYRUS_LISTED + EXIM_MEMO) + "\n", encoding="utf-8")
    return path


def test_logs_shows_as8075_for_the_memo_lines(tmp_path, capsys):
    log = _seed_log(tmp_path)
    code, out, _ = _run(["logs", str(log), "--account", "lft2", "--year", "2020"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert {o["address"] for o in doc["origins"]} >= set(MEMO_ADDRESSES[:6])
    for origin in doc["origins"]:
        assert (origin["asn"], origin["as_org"]) == (8075, "Microsoft Corporation")
        assert origin["as_range"] == "52.125.0.0 – 52.125.255.255"
    assert "RouteViews" in doc["asn_sources"][0]["attribution"]
    for lang, heading in (("en", "AS (network owner)"), ("de", "AS (Netzbetreiber)")):
        code, out, _ = _run(["logs", str(log), "--account", "lft2", "--year", "2020", "--format", "md",
                             "--lang", lang], capsys)
        assert heading in out
        rows = [line for line in out.splitlines() if line.startswith("| lft2 |")]
        assert len(rows) == 6 and all("AS8075 Microsoft Corporation" in r for r in rows)


def test_logs_asn_db_mmdb_overrides_for_login_origins(tmp_path, capsys):
    mmdb = write_mmdb(tmp_path / "asn.mmdb")
    code, out, _ = _run(["logs", str(_seed_log(tmp_path)), "--account", "lft2", "--year", "2020",
                         "--asn-db", str(mmdb)], capsys)
    assert code == 0
    by_address = {o["address"]: o for o in json.loads(out)["origins"]}
    assert by_address["52.125.140.74"]["asn"] == 64501 and by_address["52.125.140.74"]["as_source"] == "asn.mmdb"
    assert by_address["52.125.138.94"]["asn"] == 8075  # outside the .mmdb's /22


def test_ipv6_starts_sharing_their_upper_bits_are_found_as_a_full_search_finds_them(tmp_path):
    """find() bisects the upper 64 bits, then whole starts among those sharing them (many /128 ranges inside
    one /64 here): every answer equals a linear search over the elementary ranges."""
    import random

    rng = random.Random(64)
    prefix = 0x2001_0DB8_0000_0001 << 64
    rows6 = [(prefix, prefix | ((1 << 64) - 1), 65000, "the /64")]
    rows6 += [(prefix | low, prefix | low, 65001 + i, f"host {i}") for i, low in enumerate(sorted(
        rng.sample(range(1, 5000), 300)))]
    rows6 += [((prefix + (1 << 64)) | 7, (prefix + (1 << 64)) | 9, 65999, "next /64, low bits only")]
    table = RangeTable.build([(0, 0, 1, "zero")], rows6)
    path = tmp_path / "t.bin"
    path.write_bytes(table.encode())
    loaded = RangeTable.load(path)
    starts = [loaded._v6_start(k) for k in range(len(loaded.v6_high))]

    def linear(value):
        i = max(k for k, start in enumerate(starts) if start <= value)
        pair = loaded.v6_index[i]
        last = starts[i + 1] - 1 if i + 1 < len(starts) else (1 << 128) - 1
        return (starts[i], last, loaded.pair_asn[pair - 1]) if pair else None

    values = [prefix - 1, prefix, prefix | 4999, prefix | 5000, (1 << 128) - 1, 0]
    values += [s + d for s in starts for d in (-1, 0, 1) if 0 <= s + d < (1 << 128)]
    values += [prefix | rng.randrange(6000) for _ in range(2000)]
    for t in (table, loaded):
        for value in values:
            hit = t.find(6, value)
            assert (hit[:3] if hit else None) == linear(value), hex(value)


def test_addresses_of_one_range_share_its_record_and_texts():
    db = AsnDatabase.load()
    first, second = db.lookup("52.125.138.94"), db.lookup("52.125.138.95")
    assert first is second and first.asn == 8075
    hit = db.lookup("2620:1ec:42::132")
    assert hit is not None
    assert hit.first == str(ipaddress.ip_address(hit.first)) and hit.last == str(ipaddress.ip_address(hit.last))
