"""The ``maildetour`` command: analyze, flows, logs, report, lab."""

from __future__ import annotations

import argparse
import json
import os
import sys

from analysis import __version__
from analysis.errors import EXIT_DAMAGED, EXIT_INTERNAL, EXIT_OK, MaildetourError
from analysis.output import write_output


def _case(args) -> object:
    from analysis.case import load_case

    case = load_case(getattr(args, "case", None))
    return case.override(
        mail_hosts=getattr(args, "mail_host", None),
        mail_ips=getattr(args, "mail_ip", None),
        devices=getattr(args, "device", None),
        account=getattr(args, "account", None),
    )


def _render(report: dict, fmt: str, lang: str) -> str:
    from analysis.report.render import render

    return render(report, fmt, lang)


def cmd_analyze(args) -> int:
    from analysis.pipeline import Settings, analyze

    settings = Settings(
        case=_case(args),
        catalog_paths=args.catalog or [],
        keylog=args.keylog,
        logs=args.logs or [],
        log_offset=args.log_offset,
        year=args.year,
        lang=args.lang,
    )
    report = analyze(args.captures, settings)
    write_output(args.output, _render(report, args.format, args.lang))
    return _exit_for(report)


def _exit_for(report: dict) -> int:
    damaged = [i for i in report.get("inputs", []) if not i.get("complete", True)]
    for info in damaged:
        where = f" at offset {info['error_offset']}" if info.get("error_offset") is not None else ""
        why = "; ".join(info.get("warnings", [])[:1])
        print(f"maildetour: {info['path']}: damaged or truncated{where}: {why} (report covers what was read)",
              file=sys.stderr)
    mail_server = report.get("mail_server") or {}
    damaged_logs = [log for log in mail_server.get("logs", []) if not log.get("complete", True)]
    for log in damaged_logs:
        why = next((w for w in log.get("warnings", []) if "after line" in w), "damaged")
        print(f"maildetour: {log['path']}: {why} (report covers what was read)", file=sys.stderr)
    return EXIT_DAMAGED if damaged or damaged_logs else EXIT_OK


def cmd_flows(args) -> int:
    from analysis.pipeline import load_inputs

    capture = load_inputs(args.captures, _case(args))
    from analysis.report.flowtable import iter_flows

    write_output(args.output, iter_flows(capture, args.format))  # written piece by piece: big tables
    return _exit_for({"inputs": [info.to_json() for info in capture.inputs]})  # one stderr line per damage


def cmd_logs(args) -> int:
    case = _case(args)
    from analysis.logs.correlate import logs_report

    damaged: list[str] = []
    text = logs_report(args.logfiles, case, fmt=args.format, year=args.year, lang=args.lang, damaged=damaged)
    write_output(args.output, text)
    for line in damaged:
        print(f"maildetour: {line} (the output covers what was read)", file=sys.stderr)
    return EXIT_DAMAGED if damaged else EXIT_OK


def cmd_report(args) -> int:
    from analysis.errors import InputError

    try:
        with open(args.report, encoding="utf-8") as fh:
            report = json.load(fh)
    except OSError as exc:
        raise InputError(args.report, f"cannot read report: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InputError(args.report, f"not a JSON report: {exc.msg}", exc.pos) from None
    if not isinstance(report, dict) or not str(report.get("schema", "")).startswith("maildetour.report/"):
        raise InputError(args.report, "not a maildetour report (no 'schema': 'maildetour.report/1')")
    from analysis.report.render import ReportError

    try:
        text = _render(report, args.format, args.lang)
    except ReportError as exc:
        raise InputError(args.report, str(exc).removeprefix("report: ")) from None
    write_output(args.output, text)
    return EXIT_OK


def cmd_lab(args) -> int:
    from analysis.lab.run import run_scenario

    result = run_scenario(args.scenario, args.out, proxy=args.proxy)
    print(result)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="maildetour",
        description="Did the mail app talk to the configured mail server, or did its mail go through a vendor?",
    )
    p.add_argument("--version", action="version", version=f"maildetour {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def case_flags(sp, mail=True):
        sp.add_argument("--case", metavar="CASE.toml", help="case file (account, mail hosts, device, timeline)")
        if mail:
            sp.add_argument("--mail-host", action="append", metavar="HOST[:PORT]",
                            help="configured mail host (IMAP, SMTP, POP3); repeatable")
            sp.add_argument("--mail-ip", action="append", metavar="IP",
                            help="address a mail host resolves to; repeatable")
        sp.add_argument("--device", action="append", metavar="IP", help="the phone's address; repeatable")

    a = sub.add_parser("analyze", help="analyse captures and write the report with the verdict")
    a.add_argument("captures", nargs="+", metavar="CAPTURE", help="pcap, pcapng (optionally gzip) or .mitm file")
    case_flags(a)
    a.add_argument("--format", choices=["json", "md", "html", "csv"], default="json")
    a.add_argument("-o", "--output", metavar="OUT", help="output file ('-' or none: stdout)")
    a.add_argument("--lang", choices=["en", "de"], default="en")
    a.add_argument("--keylog", metavar="FILE", help="TLS key log (SSLKEYLOGFILE) to decrypt TLS with tshark")
    a.add_argument("--catalog", action="append", metavar="FILE", help="extra endpoint catalog (its entries win)")
    a.add_argument("--logs", nargs="+", metavar="LOGFILE", help="mail server logs to correlate")
    a.add_argument("--log-offset", type=float, default=0.0, metavar="SECONDS",
                   help="seconds to add to log times to match the capture clock (default 0)")
    a.add_argument("--year", type=int, help="year for syslog lines without one")
    a.set_defaults(func=cmd_analyze)

    f = sub.add_parser("flows", help="print the flow table alone, no verdict")
    f.add_argument("captures", nargs="+", metavar="CAPTURE")
    f.add_argument("--device", action="append", metavar="IP")
    f.add_argument("--format", choices=["jsonl", "csv", "table"], default="table")
    f.add_argument("-o", "--output", metavar="OUT")
    f.set_defaults(func=cmd_flows)

    lg = sub.add_parser("logs", help="read mail server logs: logins per account and source address")
    lg.add_argument("logfiles", nargs="+", metavar="LOGFILE")
    case_flags(lg, mail=False)
    lg.add_argument("--account", metavar="USER", help="the test account (username or address)")
    lg.add_argument("--format", choices=["json", "md"], default="json")
    lg.add_argument("--year", type=int, help="year for syslog lines without one")
    lg.add_argument("--lang", choices=["en", "de"], default="en")
    lg.add_argument("-o", "--output", metavar="OUT")
    lg.set_defaults(func=cmd_logs)

    r = sub.add_parser("report", help="re-render a JSON report, no re-analysis")
    r.add_argument("report", metavar="REPORT.json")
    r.add_argument("--format", choices=["md", "html", "csv", "json"], default="md")
    r.add_argument("--lang", choices=["en", "de"], default="en")
    r.add_argument("-o", "--output", metavar="OUT")
    r.set_defaults(func=cmd_report)

    lab = sub.add_parser("lab", help="run the lab: real servers on loopback, a scripted app, a capture")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True)
    lr = lab_sub.add_parser("run", help="run one scenario")
    lr.add_argument("scenario", choices=["direct", "relayed", "mixed"])
    lr.add_argument("--out", required=True, metavar="DIR")
    lr.add_argument("--proxy", action="store_true", help="also route the phone through mitmdump with the addon")
    lr.set_defaults(func=cmd_lab)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MaildetourError as exc:
        print(f"maildetour: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        print("maildetour: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: still one line, the traceback on request
        if os.environ.get("MAILDETOUR_DEBUG"):
            raise
        print(f"maildetour: internal error: {type(exc).__name__}: {exc} (MAILDETOUR_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
