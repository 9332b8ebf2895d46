"""``maildetour lab run SCENARIO --out DIR [--proxy]``: real servers on loopback, a scripted app, a capture,
the servers' logs, a case file, and the analysis of it all.

Layout of DIR: ``phone.pcapng`` (tcpdump, converted), ``case.toml``, ``logs/`` (dovecot.log,
submission.log in Exim's format, vendor.log, dns.log), ``report.json`` and ``report.html``; with ``--proxy``
also ``proxy/`` (mitmdump's flow file, the addon's JSONL and report); ``lab/`` holds certificates, configs
and process output.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from analysis.case import load_case
from analysis.errors import MaildetourError
from analysis.lab import apps, clients
from analysis.lab.ca import LabCA
from analysis.lab.casefile import ceil_second, write_case
from analysis.lab.catalogfile import run_catalog, write_owners
from analysis.lab.plan import (
    ACCOUNT_USER,
    CANARY_ENV,
    DNS_PORT,
    HTTPS_PORT,
    IMAPS_PORT,
    MAIL_HOST,
    SUBMISSION_PORT,
    LabPlan,
    reserve_plan,
)
from analysis.lab.procs import LabError, ProcessGroup
from analysis.lab.sniff import convert, start_capture, stop_capture
from analysis.pipeline import Settings, analyze

REMOVAL_WAIT = 8.0  # seconds to wait for the vendor's first login after the app was removed


class LabRunError(MaildetourError):
    """The lab could not run (a tool missing, a port taken, a server that did not start)."""


@dataclass
class LabResult:
    scenario: str
    out_dir: Path
    plan: LabPlan
    capture: Path
    case: Path
    logs: list[Path]
    report_json: Path
    report_html: Path
    report: dict
    evidence_report: dict = field(default_factory=dict)  # the same analysis without the lab catalog
    proxy_dir: Path | None = None
    addon_report: Path | None = None
    events: list[tuple[float, str]] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)  # every process the run started (all stopped)

    def summary(self) -> str:
        verdict = self.report.get("verdict", {})
        lines = [
            f"lab {self.scenario}: verdict {verdict.get('summary', '?')}"
            f" (receive {verdict.get('receive', {}).get('status', '?')},"
            f" send {verdict.get('send', {}).get('status', '?')},"
            f" mail host contacted by the phone: {'yes' if verdict.get('mail_host_contacted') else 'no'})",
            f"  without the lab catalog (evidence alone): {_evidence_line(self.evidence_report)}",
            f"  capture  {self.capture}",
            f"  case     {self.case}",
            f"  logs     {' '.join(str(p) for p in self.logs)}",
            f"  report   {self.report_html}",
            f"           {self.report_json}",
        ]
        if self.addon_report is not None:
            lines.append(f"  proxy    {self.addon_report} (the mitmdump addon's report): "
                         f"{_addon_line(self.addon_report)}")
        return "\n".join(lines)


def _evidence_line(report: dict) -> str:
    """The verdict reached without the lab catalog, and what each relay rests on."""
    verdict = report.get("verdict", {})
    relays = [f"{r.get('owner') or '?'} ({'+'.join(r.get('basis', []))}, link {r.get('link', '?')})"
              for r in verdict.get("relays", [])]
    return f"verdict {verdict.get('summary', '?')}" + (f", relay {'; '.join(relays)}" if relays else "")


def _addon_line(path: Path) -> str:
    """The addon report's verdict and where the password went, in a few words."""
    try:
        addon = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "not written"
    flows = {f.get("id"): f for f in addon.get("flows", [])}
    leaks = set()
    for finding in addon.get("findings", []):
        if finding.get("kind") != "credential-leak" or "password" not in finding.get("message", ""):
            continue
        for flow in (flows.get(i, {}) for i in finding.get("flows", [])):
            names = flow.get("names", {}).get("sni") or [flow.get("server", {}).get("ip", "?")]
            leaks.add(str(names[0]))
    found = f"password sent to {', '.join(sorted(leaks))}" if leaks else "password not seen"
    return f"verdict {addon.get('verdict', {}).get('summary', '?')}, {found}"


def dovecot_hash(password: str) -> str:
    """{SSHA256}: what Dovecot's passwd-file stores instead of the password."""
    salt = secrets.token_bytes(8)
    return "{SSHA256}" + base64.b64encode(hashlib.sha256(password.encode() + salt).digest() + salt).decode()


def _service(group: ProcessGroup, lab: Path, name: str, config: dict, env: dict) -> None:
    path = lab / f"{name}.json"
    path.write_text(json.dumps(config, indent=1))
    group.start(name, [sys.executable, "-m", "analysis.lab.service", str(path)], ready="ready", timeout=20,
                env=env, log_path=str(lab / f"{name}.stderr"))


def _vendor_logins(log: Path, vendor: str) -> int:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if "Login: user=" in line and f"rip={vendor}," in line)


def _wait_for_vendor_login(log: Path, vendor: str, after: float) -> None:
    """The vendor keeps polling after the app is gone (as in the memo): wait for one such login."""
    seen = _vendor_logins(log, vendor)
    deadline = time.monotonic() + REMOVAL_WAIT
    while time.monotonic() < deadline:
        if time.time() > after + 1.0 and _vendor_logins(log, vendor) > seen:  # logs count whole seconds
            return
        time.sleep(0.1)


MARKER = ".maildetour-lab"


def _prepare_out(out: Path) -> tuple[Path, Path]:
    """Create DIR, or clean a previous lab run's DIR; refuse a non-empty folder the lab did not make."""
    if out.exists() and not out.is_dir():
        raise LabRunError(f"{out}: not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise LabRunError(f"{out}: not empty and not made by a lab run; give a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by maildetour lab run; the next run into this folder replaces it\n")
    for folder in ("lab", "logs", "proxy"):
        shutil.rmtree(out / folder, ignore_errors=True)
    for name in ("phone.pcap", "phone.pcapng", "case.toml", "owners.csv", "sslkeys.log", "report.json",
                 "report.html", "report-evidence.json"):
        (out / name).unlink(missing_ok=True)
    (out / "lab").mkdir()
    (out / "logs").mkdir()
    return out / "lab", out / "logs"


def run_lab(scenario: str, out_dir: str | os.PathLike, proxy: bool = False, canary: str | None = None,
            analyze: bool = True) -> LabResult:
    """Run one scenario end to end; every process is stopped by its pid before this returns or raises.

    The test password is ``canary``, else ``$MAILDETOUR_CANARY``, else a random one; it reaches the servers
    and the app through the environment and memory only."""
    if scenario not in apps.SCENARIOS:
        raise LabRunError(f"unknown scenario {scenario!r} (known: {', '.join(apps.SCENARIOS)})")
    if os.geteuid() != 0:
        raise LabRunError("the lab needs root: tcpdump on the loopback interface and DNS on port 53")
    if importlib.util.find_spec("aiosmtpd") is None:
        raise LabRunError("the lab's SMTP server needs aiosmtpd: pip install -e '.[lab]'")
    out = Path(out_dir).resolve()
    lab, logs = _prepare_out(out)
    try:
        reservation = reserve_plan()
    except OSError as exc:
        raise LabRunError(str(exc)) from None
    with reservation as plan:
        try:
            password = canary or os.environ.get(CANARY_ENV) or secrets.token_urlsafe(18)
            return _run(scenario, out, lab, logs, plan, proxy, password, analyze)
        except (LabError, OSError, clients.LabClientError) as exc:
            raise LabRunError(f"lab {scenario}: {exc}") from None


def _run(scenario: str, out: Path, lab: Path, logs: Path, plan: LabPlan, proxy: bool, password: str,
         analyze: bool = True) -> LabResult:
    from analysis.lab.dovecot import start_dovecot

    env = dict(os.environ)
    env[CANARY_ENV] = password
    ca = LabCA.create(lab / "tls")
    certs = {name: ca.issue(lab / "tls", name) for name in plan.hosts()}
    group = ProcessGroup()
    dovecot = None
    capture = out / "phone.pcap"
    pcapng = out / "phone.pcapng"
    proxy_run = None
    catalogs = run_catalog(plan, lab)
    owners = write_owners(plan, out / "owners.csv")
    dovecot_log = logs / "dovecot.log"
    submission_log = logs / "submission.log"
    try:
        mail_cert = certs[MAIL_HOST]
        dovecot = start_dovecot(lab / "dovecot", plan.mail, imaps_port=IMAPS_PORT,
                                users={ACCOUNT_USER: dovecot_hash(password)},
                                cert=(str(mail_cert.cert_path), str(mail_cert.key_path)))
        _service(group, lab, "dns", {"kind": "dns", "address": plan.dns, "port": DNS_PORT,
                                     "hosts": plan.hosts(), "log_path": str(logs / "dns.log")}, env)
        _service(group, lab, "submission", {
            "kind": "submission", "address": plan.mail, "port": SUBMISSION_PORT,
            "cert": str(mail_cert.cert_path), "key": str(mail_cert.key_path), "username": ACCOUNT_USER,
            "password_env": CANARY_ENV, "log_path": str(submission_log), "spool": str(lab / "spool"),
            "hostname": MAIL_HOST}, env)
        vendor_login = plan.vendor_egress if scenario == "relayed-egress" else plan.vendor_sync
        for role, name, address in plan.vendors():
            _service(group, lab, f"vendor-{role}", {
                "kind": "vendor", "role": role, "address": address, "port": HTTPS_PORT,
                "egress": vendor_login if role == "sync" else address,
                "cert": str(certs[name].cert_path), "key": str(certs[name].key_path), "ca": str(ca.cert_path),
                "dns": plan.dns, "log_path": str(logs / "vendor.log")}, env)
        case_path = out / "case.toml"
        started = time.time()
        write_case(case_path, scenario, plan.mail, plan.phone, started, started + 3600)  # for the addon
        tls_cas = [str(ca.cert_path)]
        socks = None
        if proxy:
            from analysis.lab.proxy import start_proxy

            proxy_run = start_proxy(group, out / "proxy", case_path, ca.cert_path, plan.phone, catalogs, env)
            tls_cas.append(str(proxy_run.ca_cert))
            socks = ("127.0.0.1", proxy_run.port)
        tcpdump = start_capture(group, capture, plan.phone, lab / "tcpdump.stderr")
        keylog = out / "sslkeys.log"  # the phone's TLS secrets: the analysis looks inside its TLS
        context = clients.client_context(*tls_cas, keylog=str(keylog))
        phone = apps.Phone(plan, clients.Net(plan.phone, context, socks), password)
        account_added = time.time()
        vendor_has_account = apps.APPS[scenario](phone)
        app_removed = time.time()
        if vendor_has_account:
            _wait_for_vendor_login(dovecot.log_path, vendor_login, ceil_second(app_removed))
        stop_capture(tcpdump, capture)
        if proxy_run is not None:
            from analysis.lab.proxy import stop_proxy

            stop_proxy(proxy_run)
    finally:
        pids = [p.pid for p in group.procs] + ([dovecot.pid] if dovecot is not None and dovecot.pid else [])
        problems = group.stop_all()
        if dovecot is not None:
            dovecot.stop()
            if dovecot.log_path.exists():
                shutil.copyfile(dovecot.log_path, dovecot_log)
    if problems:
        print("maildetour lab: " + "; ".join(problems), file=sys.stderr)
    write_case(case_path, scenario, plan.mail, plan.phone, account_added, app_removed)
    variant = " --proxy" if proxy else ""
    convert(capture, pcapng, f"maildetour lab run {scenario}{variant}: phone {plan.phone}, "
            f"tcpdump -i lo host {plan.phone}")
    log_paths = [p for p in (dovecot_log, submission_log) if p.exists()]
    inputs = [str(proxy_run.flows)] if proxy_run is not None else [str(pcapng)]
    report_json, report_html = out / "report.json", out / "report.html"
    report: dict = {}
    evidence: dict = {}
    try:
        if analyze:
            keys = str(keylog) if proxy_run is None and keylog.exists() else None  # a proxy run reads flows
            report = analyze_lab(inputs, case_path, log_paths, catalogs, password, [str(owners)], keys)
            _write_reports(report, report_json, report_html)
            evidence = analyze_lab(inputs, case_path, log_paths, [], password, [str(owners)], keys)
            _write_reports(evidence, out / "report-evidence.json", None)
    finally:
        if proxy_run is not None:  # mitmdump's flow file holds the decrypted requests, password included
            proxy_run.flows.unlink(missing_ok=True)
    return LabResult(scenario, out, plan, pcapng, case_path, log_paths, report_json, report_html, report,
                     evidence_report=evidence, proxy_dir=out / "proxy" if proxy_run else None,
                     addon_report=proxy_run.report if proxy_run else None, events=phone.events, pids=pids)


def analyze_lab(inputs: list[str], case_path: Path, logs: list[Path], catalogs: list[str],
                canary: str | None, asn_db: list[str] | None = None, keylog: str | None = None) -> dict:
    """``maildetour analyze`` on a lab capture: the case, the catalogs (the lab's, or none: evidence alone), the
    server logs and the lab's ownership file."""
    environ = dict(os.environ)
    if canary:
        environ[CANARY_ENV] = canary
    case = load_case(str(case_path), environ)
    settings = Settings(case=case, catalog_paths=catalogs, logs=[str(p) for p in logs], asn_db=list(asn_db or []),
                        keylog=keylog)
    return analyze(inputs, settings)


def _write_reports(report: dict, json_path: Path, html_path: Path | None) -> None:
    from analysis.output import write_output
    from analysis.report.render import render

    write_output(str(json_path), render(report, "json", "en"))
    if html_path is not None:
        write_output(str(html_path), render(report, "html", "en"))


def run_scenario(scenario: str, out_dir: str, proxy: bool = False) -> str:
    """The CLI's entry point: run the scenario and return the summary it prints."""
    return run_lab(scenario, out_dir, proxy=proxy).summary()
