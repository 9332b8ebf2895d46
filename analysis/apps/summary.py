"""The per-app verdict lines ``maildetour analyze`` prints on stderr under the verdict line."""

from __future__ import annotations

MAX_LINES = 20  # apps listed on the terminal; the report has them all
MAX_NAME = 80


def _printable(text: object) -> str:
    """``text`` without control characters (app names come from the capture or the phone), bounded."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return clean if len(clean) <= MAX_NAME else clean[: MAX_NAME - 1] + "…"


def _name(app) -> str:
    if not isinstance(app, dict):
        return "(no app recorded)"
    return _printable(app.get("id") or app.get("name") or f"UID {app.get('uid')}")


def app_lines(report: dict) -> list[str]:
    """``  app com.example.mail: relayed (mail host contacted: no; mail relay: Microsoft)``, one per mail app;
    with --app, the app the verdict concerns and how many other apps' flows are listed apart."""
    verdict = report.get("verdict") if isinstance(report.get("verdict"), dict) else {}
    out = []
    app = verdict.get("app")
    if verdict.get("basis") == "app-privacy-report":
        out.append(f"  basis: the App Privacy Report of {_name(app)}, domain level (no bytes, no protocols)")
    elif isinstance(app, dict):
        others = report.get("other_apps") or []
        flows = sum(len(g.get("flows") or []) for g in others if isinstance(g, dict))
        out.append(f"  app {_name(app)}: the verdict concerns its {app.get('flows', 0)} flows; "
                   f"{len(others)} other app(s) with {flows} flows listed under other_apps")
    lines = [x for x in verdict.get("per_app") or [] if isinstance(x, dict)]
    for line in lines[:MAX_LINES]:
        owners = ", ".join(_printable(r.get("owner")) for r in line.get("relays") or [] if isinstance(r, dict))
        contacted = "yes" if line.get("mail_host_contacted") else "no"
        out.append(f"  app {_name(line.get('app'))}: {_printable(line.get('summary', '?'))} "
                   f"(mail host contacted: {contacted}; mail relay: {owners or 'none'})")
    if len(lines) > MAX_LINES:
        out.append(f"  ... and {len(lines) - MAX_LINES} more apps in the report (verdict.per_app)")
    return out
