"""The ``maildetour`` command: analyze, flows, logs, report, batch, compare, lab."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from analysis import __version__
from analysis.errors import EXIT_DAMAGED, EXIT_INTERNAL, EXIT_OK, MaildetourError, UsageError
from analysis.outformat import pick_format
from analysis.output import write_output
from analysis.vocab import LANGS

REPORT_FORMATS = ("json", "md", "html", "csv")
FLOW_FORMATS = ("jsonl", "csv", "table", "zeek")  # analysis.report.flowlist.FORMATS (not imported: startup time)
BOM = b"\xef\xbb\xbf"


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


def _captures_among_logs(args) -> None:
    """``--logs`` takes every file after it: move the captures it swallowed (known by content) to CAPTURE."""
    from analysis.inputkind import is_capture

    logs = args.logs or []
    kinds = [is_capture(path) for path in logs]
    args.captures = [*args.captures, *(path for path, cap in zip(logs, kinds, strict=True) if cap)]
    args.logs = [path for path, cap in zip(logs, kinds, strict=True) if not cap]
    if not args.captures and not args.app_report:
        hint = (": no file after --logs is a pcap, pcapng or mitmproxy capture" if logs
                else " (a pcap, pcapng or mitmproxy flow file; see 'maildetour analyze --help')")
        raise UsageError(f"analyze: no CAPTURE given{hint}")


def _warn_without_mail_host(case) -> None:
    if not case.mail_hosts and not case.mail_addresses:
        print("maildetour: warning: no mail host given (--mail-host HOST or [mail] hosts in --case): "
              "the verdict cannot tell whether the app spoke to the mail server", file=sys.stderr)


def _with_app(case, app: str | None):
    """The case with ``--app`` as its app (over the case file's ``[app]``, whose name and version are another
    app's when the id differs)."""
    from analysis.case import AppInfo

    app = (app or "").strip()
    if app and app != case.app.id:
        case.app = AppInfo(id=app)
    return case


def cmd_analyze(args) -> int:
    from analysis.apps.analyze import analyze_apps
    from analysis.apps.summary import app_lines
    from analysis.pipeline import Settings
    from analysis.report.summary import verdict_line

    _captures_among_logs(args)
    fmt = pick_format(args.format, args.output, REPORT_FORMATS, "json")
    settings = Settings(
        case=_with_app(_case(args), args.app),
        catalog_paths=args.catalog or [],
        keylog=args.keylog,
        logs=args.logs or [],
        log_offset=args.log_offset,
        year=args.year,
        lang=args.lang,
        asn_db=args.asn_db or [],
        rdap=args.rdap or bool(args.rdap_server),
        rdap_server=_rdap_server(args),
        evidence=args.evidence,
    )
    if settings.evidence:
        from analysis.evidence import prepare

        prepare(settings.evidence)  # an unwritable folder fails before the long read
    report = analyze_apps(args.captures, settings, args.app_report)
    write_output(args.output, _render(report, fmt, args.lang))
    evidence = _evidence(report, args.captures, settings) if settings.evidence else []
    code = _exit_for(report)
    if not args.quiet:  # after the analysis: an unreadable input stays one error line; stderr also with stdout
        _warn_without_mail_host(settings.case)
        extra = report.get("settings") or {}
        for line in [*((extra.get("rdap") or {}).get("warnings") or []), *((extra.get("apps") or {}).get("warnings")
                                                                          or [])]:
            print(f"maildetour: warning: {line}", file=sys.stderr)
        for line in evidence:
            print(f"maildetour: {line}", file=sys.stderr)
        print(verdict_line(report), file=sys.stderr)
        for line in app_lines(report):
            print(line, file=sys.stderr)
    return code


def _evidence(report: dict, captures: list[str], settings) -> list[str]:
    """Write the --evidence folder (after the report); the lines for stderr."""
    from analysis.evidence import write_evidence

    written, notes = write_evidence(report, captures, settings.case, settings.evidence)
    return [f"warning: evidence: {note}" for note in notes] + [
        f"evidence: {written} pcapng file{'s' if written != 1 else ''} in {settings.evidence} "
        f"(index.json, SHA256SUMS)"]


def _exit_for(report: dict) -> int:
    damaged = [i for i in report.get("inputs", []) if not i.get("complete", True)]
    for info in damaged:
        where = f" at offset {info['error_offset']}" if info.get("error_offset") is not None else ""
        why = "; ".join(info.get("warnings", [])[:1])
        print(f"maildetour: {info['path']}: damaged or truncated{where}: {why} (report covers what was read)",
              file=sys.stderr)
    damaged_logs = [log for log in (report.get("mail_server") or {}).get("logs", []) if "damage" in log]
    for log in damaged_logs:
        print(f"maildetour: {log['path']}: {log['damage']['reason']} (report covers what was read)", file=sys.stderr)
    return EXIT_DAMAGED if damaged or damaged_logs else EXIT_OK


def cmd_flows(args) -> int:
    from analysis.pipeline import flow_table
    from analysis.report.flowlist import iter_flows

    # classified, with the servers' AS; redacted with a canary; made as they are written
    case = _with_app(_case(args), args.app)
    table = flow_table(args.captures, case, args.catalog or [], args.asn_db or [])
    if args.app or args.app_report:  # the table keeps every app's flows unless --app names one
        from analysis.apps.analyze import scope_flow_table
        from analysis.model import FlowStream

        capture = table.capture()  # the attribution looks at every flow
        for line in scope_flow_table(capture, case, args.app, args.app_report):
            print(f"maildetour: warning: {line}", file=sys.stderr)
        table = FlowStream.of(capture)
    fmt = pick_format(args.format, args.output, FLOW_FORMATS, "table")
    write_output(args.output, iter_flows(table, fmt))  # written piece by piece: big tables
    typed = [{**info.to_json(), "path": info.path} for info in table.inputs]  # stderr names them as typed
    return _exit_for({"inputs": typed})  # one stderr line per damage


def _rdap_server(args) -> str | None:
    """--rdap-server, else MAILDETOUR_RDAP_SERVER (only with --rdap), checked before any work."""
    server = args.rdap_server or (os.environ.get("MAILDETOUR_RDAP_SERVER") if args.rdap else None)
    if not server:
        return None
    from analysis.rdap import check_server

    return check_server(server)


def cmd_logs(args) -> int:
    case = _case(args)
    from analysis.pipeline import logs_view
    from analysis.report.logsview import render_logs

    fmt = pick_format(args.format, args.output, ("json", "md"), "json")
    rdap = None
    if args.rdap or args.rdap_server:
        from analysis.rdap import Rdap

        rdap = Rdap(server=_rdap_server(args))
    doc = logs_view(args.logfiles, case, year=args.year, lang=args.lang, asn_db=args.asn_db or [], rdap=rdap)
    write_output(args.output, render_logs(doc, fmt, args.lang))
    for line in rdap.warnings if rdap is not None else []:
        print(f"maildetour: warning: {line}", file=sys.stderr)
    damaged = [log for log in doc["logs"] if "damage" in log]
    for log in damaged:
        print(f"maildetour: {log['path']}: {log['damage']['reason']} (the output covers what was read)",
              file=sys.stderr)
    return EXIT_DAMAGED if damaged else EXIT_OK


def _load_report(path: str) -> dict:
    """The JSON report at ``path``, its fields type-checked (analysis.reportschema); anything else is one
    InputError naming it ("not a maildetour report", or the first field of the wrong type)."""
    from analysis.errors import InputError
    from analysis.inputkind import is_capture
    from analysis.reportschema import check_report

    not_report = "not a maildetour report"
    if is_capture(path):
        raise InputError(path, f"{not_report}: this is a capture, analyse it with 'maildetour analyze'")
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if not head.removeprefix(BOM).lstrip().startswith(b"{"):  # before reading a big file of other things
                raise InputError(path, f"{not_report} (a report is a JSON object, this file does not start with '{{')")
            data = head + fh.read()
    except OSError as exc:
        raise InputError(path, f"cannot read report: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"{not_report} (not UTF-8 text)", exc.start) from None
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        offset = len(text[: exc.pos].encode()) + (len(BOM) if data.startswith(BOM) else 0)
        raise InputError(path, f"{not_report} (invalid JSON: {exc.msg})", offset) from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, an integer too long
        raise InputError(path, f"{not_report} (unreadable JSON: {exc})") from None
    if not isinstance(report, dict) or not str(report.get("schema", "")).startswith("maildetour.report/"):
        raise InputError(path, f"{not_report} (no 'schema': 'maildetour.report/1')")
    return check_report(report, path)


def cmd_report(args) -> int:
    from analysis.errors import InputError
    from analysis.report.render import ReportError

    fmt = pick_format(args.format, args.output, REPORT_FORMATS, "md")
    report = _load_report(args.report)
    try:
        text = _render(report, fmt, args.lang)
    except ReportError as exc:
        raise InputError(args.report, str(exc).removeprefix("report: ")) from None
    except MaildetourError:
        raise
    except Exception as exc:  # the file's content, not maildetour, is at fault: still exit 3, not 70
        if os.environ.get("MAILDETOUR_DEBUG"):
            raise
        raise InputError(args.report, f"malformed maildetour report, cannot render {fmt}: "
                                      f"{type(exc).__name__}: {exc}") from None
    write_output(args.output, text)
    return EXIT_OK


def cmd_batch(args) -> int:
    from analysis.batch.driver import run_batch
    from analysis.batch.runs import BatchOptions

    if args.output in ("", "-"):
        raise UsageError("batch: -o needs a folder (the runs' reports and the comparison are several files)")
    if args.scheduler and args.jobs is not None:
        raise UsageError("batch: --jobs runs local processes, --scheduler a Dask cluster: give one of them")
    options = BatchOptions(catalogs=tuple(args.catalog or ()), asn_db=tuple(args.asn_db or ()), lang=args.lang)

    def progress(spec, result, done: int, total: int) -> None:
        row = result.row
        if row["error"]:
            print(f"maildetour: {spec.given}: {row['error']}", file=sys.stderr)
        elif row.get("damaged"):
            print(f"maildetour: {spec.given}: {row['damaged']} (its report covers what was read)", file=sys.stderr)
        elif not args.quiet:
            print(f"batch: [{done}/{total}] {spec.name}: {row['summary']}", file=sys.stderr)

    jobs = args.jobs if args.jobs is not None else os.cpu_count() or 1
    result = run_batch(args.runs, args.output, options, jobs=jobs, scheduler=args.scheduler, progress=progress)
    if not args.quiet:
        runs = len(result.comparison["runs"])
        print(f"batch: {runs} runs, {result.failed} failed, {result.damaged} with damaged input; "
              f"{os.path.join(args.output, 'comparison.html')}", file=sys.stderr)
    return result.exit_code


def cmd_compare(args) -> int:
    from analysis.batch.diff import changes, label
    from analysis.report.changes import FORMATS, render_changes

    fmt = pick_format(args.format, args.output, FORMATS, "md")
    before, after = _load_report(args.a), _load_report(args.b)
    diff = changes(before, after, label(args.a), label(args.b))
    write_output(args.output, render_changes(diff, fmt, args.lang))
    return EXIT_OK


def cmd_lab(args) -> int:
    from analysis.lab.run import run_scenario

    result = run_scenario(args.scenario, args.out, proxy=args.proxy)
    print(result)
    return EXIT_OK


EXIT_CODES = """exit codes:
  0   done
  1   done, but an input was damaged or truncated (the output covers what was read; stderr says where)
  2   usage error
  3   unreadable input or unwritable output (nothing analysed)
  70  internal error, a bug in maildetour (MAILDETOUR_DEBUG=1 shows the traceback)"""

SUFFIX_NOTE = "given, it wins over the suffix of -o"


class _Help(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's layout and appends "(default: ...)" to every option that has a real default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if "default" in text or not action.option_strings or unset:
            return text
        return f"{text} (default: %(default)s)"


def _seconds(text: str) -> float:
    """A finite number of seconds (``nan`` or ``inf`` would move every log time out of the calendar; a finite
    offset that does is shown as an empty time)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number of seconds: {text!r}")
    return value


def _positive(text: str) -> int:
    """A whole number of at least 1 (``--jobs``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _command(sub, name: str, summary: str, description: str, example: str, **kw) -> argparse.ArgumentParser:
    """A sub-command whose --help has a description, every default, one example and the exit codes."""
    return sub.add_parser(name, help=summary, description=description, formatter_class=_Help,
                          epilog=f"example:\n  {example}\n\n{EXIT_CODES}", **kw)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="maildetour",
        description="Did the mail app talk to the configured mail server, or did its mail go through a vendor?",
        epilog=f"'maildetour COMMAND --help' describes a command's options.\n\n{EXIT_CODES}",
        formatter_class=_Help,
    )
    p.add_argument("--version", action="version", version=f"maildetour {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def rdap_flags(sp):
        sp.add_argument("--rdap", action="store_true",
                        help="look up who holds the relays', candidates' and logins' addresses over RDAP (network "
                             "look-ups, answers cached in ~/.cache/maildetour/rdap or $MAILDETOUR_RDAP_CACHE) "
                             "(default: no look-ups)")
        sp.add_argument("--rdap-server", metavar="URL",
                        help="send every RDAP query to this base URL, http allowed (tests, mirrors); implies --rdap "
                             "(default: $MAILDETOUR_RDAP_SERVER, else the registry IANA names)")

    def asn_db_flag(sp):
        sp.add_argument("--asn-db", action="append", metavar="FILE",
                        help="AS (network owner) data: CSV first_ip,last_ip,asn,organisation or a MaxMind-format "
                             ".mmdb (GeoLite2-ASN, DB-IP, IPinfo Lite); later files win; repeatable (default: the "
                             "bundled ip-location-db data)")

    def case_flags(sp, mail=True):
        sp.add_argument("--case", metavar="CASE.toml",
                        help="case file: account, mail hosts, device, timeline; the flags below override it "
                             "(default: none)")
        if mail:
            sp.add_argument("--mail-host", action="append", metavar="HOST[:PORT]",
                            help="the configured mail host (IMAP, SMTP or POP3), optionally with a port; "
                                 "repeatable (default: the case file's [mail] hosts)")
            sp.add_argument("--mail-ip", action="append", metavar="IP",
                            help="an address the mail hosts resolve to, for captures without the DNS answer; "
                                 "repeatable (default: the case file's [mail] addresses)")
        sp.add_argument("--device", action="append", metavar="IP",
                        help="the phone's address: only its flows are analysed, only its logins are the app's "
                             "own; repeatable (default: the case file's [device] addresses, else every client)")

    def format_flag(sp, formats, fallback: str, what: str = "output"):
        suffixes = " ".join(f".{fmt}" for fmt in formats)
        sp.add_argument("--format", choices=formats, default=None,
                        help=f"{what} format; {SUFFIX_NOTE} (default: from the suffix of -o: {suffixes}, "
                             f"else {fallback})")

    def lang_flag(sp, text: str = "the output's text"):
        sp.add_argument("--lang", choices=LANGS, default="en", help=f"language of {text}")

    def output_flag(sp):
        sp.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout, also for '-')")

    def year_flag(sp, fallback: str):
        sp.add_argument("--year", type=int,
                        help=f"year for syslog lines that carry none (default: the case timeline's year, else "
                             f"{fallback})")

    a = _command(sub, "analyze", "analyse captures and write the report with the verdict",
                 "Read the captures, classify every flow, correlate the mail server's logs and decide whether the "
                 "app\nspoke to the configured mail host itself or relayed the account through a vendor. The "
                 "verdict line goes\nto stderr; the report to -o or stdout.",
                 "maildetour analyze phone.pcapng --case case.toml --logs dovecot.log -o report.html",
                 usage="%(prog)s CAPTURE... [--case CASE.toml] [--mail-host HOST[:PORT]]... [options]")
    a.add_argument("captures", nargs="*", metavar="CAPTURE",
                   help="pcap or pcapng file (also gzip-compressed) or mitmproxy flow file (.mitm); one or more, "
                        "read as one capture")
    case_flags(a)
    format_flag(a, REPORT_FORMATS, "json", "report")
    a.add_argument("-o", "--output", metavar="OUT",
                   help="write the report to OUT (atomically: temp file and rename) (default: stdout, also for '-')")
    lang_flag(a, "the report's text")
    a.add_argument("--keylog", metavar="FILE",
                   help="TLS key log (SSLKEYLOGFILE format) for tshark to decrypt TLS (default: none)")
    a.add_argument("--catalog", action="append", metavar="FILE",
                   help="extra endpoint catalog (TOML); its entries win over the bundled catalog; repeatable "
                        "(default: the bundled catalog only)")
    a.add_argument("--logs", nargs="+", metavar="LOGFILE",
                   help="mail server logs (Dovecot, Postfix, Exim, Cyrus; also gzip) to correlate; takes every "
                        "file after it, a capture among them is recognised by its content and analysed "
                        "(default: none)")
    a.add_argument("--log-offset", type=_seconds, default=0.0, metavar="SECONDS",
                   help="seconds to add to the log times to match the capture clock")
    year_flag(a, "the capture's")
    a.add_argument("-q", "--quiet", action="store_true",
                   help="print neither the verdict line nor warnings on stderr (errors and damage still are)")
    asn_db_flag(a)
    a.add_argument("--app", metavar="ID",
                   help="the app under test (Android package, iOS bundle id, or the app name PCAPdroid recorded): "
                        "the verdict, relays and findings concern its flows, every other app's flows are listed "
                        "under other_apps (default: the case file's [app] id, else every app, with a verdict line "
                        "per mail app when the capture names apps)")
    a.add_argument("--app-report", metavar="FILE",
                   help="iOS App Privacy Report (NDJSON, 'Save App Activity'): attributes flows to apps by their "
                        "names and adds each app's domains to the report; without a CAPTURE, a domain-level "
                        "verdict on --app (default: none)")
    a.add_argument("--evidence", metavar="DIR",
                   help="write, for each finding that cites flows or frames, a pcapng file of exactly their frames "
                        "(source bytes and times; comments name the finding; the canary overwritten) into DIR, "
                        "with index.json and SHA256SUMS (default: none)")
    rdap_flags(a)
    a.set_defaults(func=cmd_analyze)

    f = _command(sub, "flows", "print the flow table alone (classified, secrets redacted), no verdict",
                 "One row per flow (a TCP connection or a UDP conversation, as Wireshark counts them), classified "
                 "as\n'maildetour analyze' classifies them, with the case's secrets redacted; no verdict.",
                 "maildetour flows phone.pcapng --format csv -o flows.csv")
    f.add_argument("captures", nargs="+", metavar="CAPTURE",
                   help="pcap or pcapng file (also gzip-compressed) or mitmproxy flow file (.mitm)")
    case_flags(f)
    f.add_argument("--catalog", action="append", metavar="FILE", help="extra endpoint catalog (its entries win)")
    f.add_argument("--app", metavar="ID",
                   help="only this app's flows (package, bundle id, or the app name PCAPdroid recorded) "
                        "(default: every flow)")
    f.add_argument("--app-report", metavar="FILE",
                   help="iOS App Privacy Report (NDJSON): attribute flows to apps by their names (default: none)")
    f.add_argument("--format", choices=FLOW_FORMATS, default=None,
                   help="jsonl: one report flow per line; csv: one row per flow; table: for the terminal; zeek: "
                        "Zeek's conn.log as JSON lines (with community_id, category, owner, sni) "
                        f"({SUFFIX_NOTE}; default: from the suffix of -o: .jsonl .csv, else table)")
    f.add_argument("-o", "--output", metavar="OUT",
                   help="output file ('-' or none: stdout); missing parent folders are created")
    asn_db_flag(f)
    f.set_defaults(func=cmd_flows)

    lg = _command(sub, "logs", "read mail server logs: logins per account and source address",
                  "Read the mail server's logs and list who logged in to which account, from which address and "
                  "when;\nwith a case file, logins to the test account from addresses other than the device stand "
                  "out.",
                  "maildetour logs dovecot.log submission.log --case case.toml --format md")
    lg.add_argument("logfiles", nargs="+", metavar="LOGFILE",
                    help="mail server log (Dovecot, Postfix, Exim, Cyrus, syslog; also gzip-compressed)")
    case_flags(lg, mail=False)
    lg.add_argument("--account", metavar="USER",
                    help="the test account, username or address (default: the case file's [account])")
    format_flag(lg, ["json", "md"], "json")
    year_flag(lg, "this year")
    lang_flag(lg)
    output_flag(lg)
    asn_db_flag(lg)
    rdap_flags(lg)
    lg.set_defaults(func=cmd_logs)

    r = _command(sub, "report", "re-render a JSON report, no re-analysis",
                 "Render a JSON report written by 'maildetour analyze' in another format or language, without "
                 "reading\nthe captures again.",
                 "maildetour report report.json --lang de -o bericht.html")
    r.add_argument("report", metavar="REPORT.json", help="a JSON report written by 'maildetour analyze'")
    format_flag(r, REPORT_FORMATS, "md")
    lang_flag(r, "the rendered text (the verdict and findings are re-worded)")
    output_flag(r)
    r.set_defaults(func=cmd_report)

    b = _command(sub, "batch", "analyse many run folders (locally or on a Dask cluster) and compare them",
                 "Analyse each RUN folder (captures and/or .mitm files, case.toml, optional mail server logs *.log "
                 "at the\ntop or under logs/, optional owners.csv) and write its report (JSON and HTML) under "
                 "OUT_DIR/runs/RUN/,\nthen the comparison: OUT_DIR/comparison.json, comparison.csv and "
                 "comparison.html, one row per run\nin run-name order. A run that fails is a row with its error; "
                 "the exit code is then 1.",
                 "maildetour batch runs/* -o study --catalog analysis/data/lab-catalog.toml",
                 usage="%(prog)s RUN_DIR... -o OUT_DIR [--jobs N | --scheduler ADDRESS] [options]")
    b.add_argument("runs", nargs="+", metavar="RUN_DIR", help="a run folder, as 'maildetour lab run' writes one")
    b.add_argument("-o", "--output", required=True, metavar="OUT_DIR",
                   help="folder for the runs' reports and the comparison (created; earlier files are replaced)")
    b.add_argument("--jobs", type=_positive, metavar="N",
                   help="analyse N runs at a time in local processes (default: the number of CPUs)")
    b.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on this Dask distributed scheduler (tcp://host:8786, tls://...), one task per run; "
                        "every worker needs this maildetour version and the run folders at the same paths "
                        "(pip install 'maildetour[dask]') (default: local processes)")
    b.add_argument("--catalog", action="append", metavar="FILE",
                   help="extra endpoint catalog (TOML) for every run; its entries win; repeatable "
                        "(default: the bundled catalog only)")
    b.add_argument("--asn-db", action="append", metavar="FILE",
                   help="AS (network owner) data for every run (CSV or .mmdb); a run's owners.csv wins over it; "
                        "repeatable (default: the bundled ip-location-db data)")
    lang_flag(b, "the reports and the comparison")
    b.add_argument("-q", "--quiet", action="store_true",
                   help="print no line per run (failed and damaged runs still are)")
    b.set_defaults(func=cmd_batch)

    c = _command(sub, "compare", "what changed between two runs' reports",
                 "Compare two JSON reports (e.g. two versions of an app): the verdict, relays, destinations, "
                 "bytes per\ncategory, owners, credential leaks and third-party logins; only changes are listed.",
                 "maildetour compare old/report.json new/report.json --format html -o changes.html")
    c.add_argument("a", metavar="A.json", help="the earlier report (from 'maildetour analyze' or 'batch')")
    c.add_argument("b", metavar="B.json", help="the later report")
    format_flag(c, ["md", "json", "html"], "md")
    lang_flag(c)
    output_flag(c)
    c.set_defaults(func=cmd_compare)

    lab = sub.add_parser("lab", help="run the lab: real servers on loopback, a scripted app, a capture",
                         description="The lab: real mail servers on loopback, a scripted mail app and its capture.",
                         formatter_class=_Help, epilog="'maildetour lab run --help' describes the options.")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, metavar="run")
    lr = _command(lab_sub, "run", "run one scenario",
                  "Start Dovecot, an SMTP server, DNS and the lab vendor on 127.0.0.0/8, let a scripted app use the "
                  "test\naccount, capture it all, and analyse the capture with the case file and the servers' logs.",
                  "maildetour lab run relayed --out lab-out")
    lr.add_argument("scenario", choices=["direct", "relayed", "mixed", "relayed-egress"],
                    help="the scripted app: direct (talks to the mail server itself), relayed (the vendor's cloud "
                         "fetches the mail), mixed (both), relayed-egress (relayed; the vendor logs in from a second "
                         "address)")
    lr.add_argument("--out", required=True, metavar="DIR",
                    help="folder for the capture, the case file, the servers' logs and the report (required)")
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
