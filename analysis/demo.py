"""``python -m analysis.demo OUTDIR`` (``make demo``): analyse the shipped capture of the relaying lab app.

Reads captures/relayed/ (made by ``maildetour lab run relayed``: the capture, its case file and the mail
server's logs), writes OUTDIR/demo-report.html and OUTDIR/demo-report.json and prints the verdict.
"""

from __future__ import annotations

import sys
from pathlib import Path

from analysis.case import load_case
from analysis.errors import MaildetourError
from analysis.lab.catalogfile import LAB_CATALOG
from analysis.output import write_output
from analysis.pipeline import Settings, analyze
from analysis.report.render import render
from analysis.report.summary import verdict_line

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def run_demo(out_dir: Path, sample: Path = CAPTURES / "relayed") -> tuple[dict, Path, Path]:
    """``maildetour analyze`` of the sample with the lab's catalog and the mail server's logs: the report and
    the paths of its HTML and JSON files."""
    logs = [str(p) for p in (sample / "dovecot.log", sample / "submission.log") if p.exists()]
    settings = Settings(case=load_case(str(sample / "case.toml")), catalog_paths=[str(LAB_CATALOG)], logs=logs)
    report = analyze([str(sample / "phone.pcapng")], settings)
    html_path, json_path = out_dir / "demo-report.html", out_dir / "demo-report.json"
    write_output(str(json_path), render(report, "json", "en"))
    write_output(str(html_path), render(report, "html", "en"))
    return report, html_path, json_path


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "out")
    try:
        report, html_path, json_path = run_demo(out)
    except MaildetourError as exc:
        print(f"maildetour demo: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"maildetour demo: {_rel(CAPTURES / 'relayed' / 'phone.pcapng')} (the lab's relaying app)")
    print(verdict_line(report))
    print(f"report:  {_rel(html_path)}")
    print(f"         {_rel(json_path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
