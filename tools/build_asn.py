"""Convert the npm package @ip-location-db/asn into maildetour's bundled AS data (run by hand, not at install).

    cd /tmp && npm pack @ip-location-db/asn          # ip-location-db-asn-VERSION.tgz
    .venv/bin/python tools/build_asn.py /tmp/ip-location-db-asn-VERSION.tgz [-o analysis/data]

Reads asn-ipv4.csv, asn-ipv6.csv and package.json from the tarball (or an unpacked ``package/`` folder) and
writes analysis/data/asn.bin (analysis.asntable's compact form), asn.json (package, version, licence,
attribution, counts, checksums) and ASN-NOTICE (the attribution the CC BY 4.0 licence asks for).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
import tempfile
from pathlib import Path

from analysis.asntable import RangeTable
from analysis.owners import read_csv

PACKAGE = "@ip-location-db/asn"
URL = "https://www.npmjs.com/package/@ip-location-db/asn"
REPOSITORY = "https://github.com/sapics/ip-location-db"
LICENCE = "CC BY 4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
ATTRIBUTION = (
    "AS data: RouteViews (https://www.routeviews.org/), the Regional Internet Registries via the NRO "
    "(https://www.nro.net/) and DB-IP IP to ASN Lite (https://db-ip.com/), merged by ip-location-db; "
    "licensed under CC BY 4.0"
)
FILES = ("package.json", "asn-ipv4.csv", "asn-ipv6.csv")
LICENCE_FILES = ("ROUTEVIEWS-LICENSE", "NRO_LICENSE", "DBIP-LICENSE", "MODIFICATIONS")
UPSTREAM_WARNING = (  # recorded when the package's README carries its "CRITICAL NOTICE"
    "The package's README warns that the data published to npm contains known errors and that npm updates "
    "are deprecated in favour of the project's GitHub releases; spot-check important addresses (e.g. with "
    "--rdap or a whois look-up)."
)


def read_package(source: Path) -> dict[str, bytes]:
    """The package's files by name, from the .tgz npm pack writes or from its unpacked folder."""
    out: dict[str, bytes] = {}
    if source.is_dir():
        for name in FILES + LICENCE_FILES + ("README.md",):
            if (source / name).exists():
                out[name] = (source / name).read_bytes()
        return out
    with tarfile.open(source, "r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("package/")
            if member.isfile() and name in FILES + LICENCE_FILES + ("README.md",):
                out[name] = tar.extractfile(member).read()
    return out


def notice(version: str, licences: dict[str, bytes]) -> str:
    lines = [
        "maildetour bundles AS (autonomous system) ownership data in asn.bin, converted from",
        f"the npm package {PACKAGE} version {version} ({URL}, {REPOSITORY})",
        "by tools/build_asn.py: the ranges and organisation names as published (surrounding spaces trimmed;",
        "where two rows overlap, the later row wins), re-encoded as a binary table.",
        "",
        ATTRIBUTION + f" ({LICENCE_URL}).",
        "",
        "The package's own licence files follow.",
    ]
    for name in LICENCE_FILES:
        if name in licences:
            lines += ["", f"--- {name} ---", licences[name].decode("utf-8", "replace").strip()]
    return "\n".join(lines) + "\n"


def build(source: Path, out_dir: Path) -> dict:
    files = read_package(source)
    missing = [name for name in FILES if name not in files]
    if missing:
        raise SystemExit(f"build_asn: {source}: missing {', '.join(missing)}")
    version = json.loads(files["package.json"])["version"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("asn-ipv4.csv", "asn-ipv6.csv"):
            path = Path(tmp) / name
            path.write_bytes(files[name])
            rows.append(read_csv(str(path)))
    v4 = rows[0][0] + rows[1][0]
    v6 = rows[0][1] + rows[1][1]
    table = RangeTable.build(v4, v6)
    data = table.encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "asn.bin").write_bytes(data)
    meta = {
        "package": PACKAGE,
        "version": version,
        "url": URL,
        "repository": REPOSITORY,
        "licence": LICENCE,
        "licence_url": LICENCE_URL,
        "attribution": ATTRIBUTION,
        "files": {name: hashlib.sha256(files[name]).hexdigest() for name in FILES},
        "rows": {"ipv4": len(v4), "ipv6": len(v6)},
        "entries": {"ipv4": len(table.v4_starts), "ipv6": len(table.v6_high), "organisations": table.pairs},
        "asn.bin": {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
        "built_with": "tools/build_asn.py",
    }
    if b"CRITICAL NOTICE" in files.get("README.md", b""):
        meta["upstream_warning"] = UPSTREAM_WARNING
    (out_dir / "asn.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (out_dir / "ASN-NOTICE").write_text(notice(version, files), encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the .tgz from `npm pack @ip-location-db/asn`, or its package/")
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).resolve().parents[1] / "analysis" / "data")
    args = parser.parse_args(argv)
    meta = build(args.source, args.out)
    out = io.StringIO()
    json.dump({k: meta[k] for k in ("version", "rows", "entries", "asn.bin")}, out)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
