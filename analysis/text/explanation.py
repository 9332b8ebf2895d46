"""The verdict's explanation in English and German (its sentences kept in explanation.toml): one paragraph that
states the verdict and what it rests on, written from the report's ``verdict`` dict alone (so a saved report can
be explained in either language).
"""

from __future__ import annotations

from analysis.text.apps import app_scope, explain_domain_level
from analysis.text.findings import candidate_text, coded, missing_text, settle_text
from analysis.text.numbers import MAX_TEXT, language, listing, number, plural
from analysis.text.tables import Tables

TABLES = Tables("explanation")  # explanation.toml: the sentences of the verdict's paragraph
FINDINGS = Tables("findings")


def __getattr__(name: str) -> dict:
    """``SUMMARY``, ``CHANNELS``, ``STATUS``, ...: the tables of explanation.toml under their constant names."""
    return TABLES.constant(name)


def _relay_sentences(verdict: dict, lang: str) -> list[str]:
    """One sentence per relay: basis, link, frames, its first log line; the assumption server logins rest on."""
    parts = []
    relays = [r for r in verdict.get("relays") or [] if isinstance(r, dict)]
    for relay in relays:
        basis = ", ".join(coded(FINDINGS.basis_words, relay.get("basis") or [], lang))
        link = TABLES.link_words.get(str(relay.get("link")), TABLES.link_words["none"])[lang]
        owner = str(relay.get("owner", "?"))[:MAX_TEXT]
        parts.append(TABLES.relay_line[lang].format(owner=owner, basis=basis, link=link))
        frames = relay.get("frames") if isinstance(relay.get("frames"), list) else []
        if frames:
            parts.append(TABLES.relay_frames[lang].format(frames=listing(frames, lang)))
        lines = relay.get("log_lines") if isinstance(relay.get("log_lines"), list) else []
        if lines:
            parts.append(TABLES.relay_log[lang].format(line=" ".join(str(lines[0]).split())[:300]))
    if any("server-login" in (r.get("basis") or []) for r in relays):
        parts.append(FINDINGS.device_only[lang])
    return parts


def _candidate_sentences(verdict: dict, lang: str) -> list[str]:
    """The likeliest candidates for the relay and what would settle which one it is."""
    parts = []
    candidates = verdict.get("candidates") if isinstance(verdict.get("candidates"), list) else []
    if candidates:
        items = [
            candidate_text({**c, "addresses": c.get("device_addresses") or []}, lang) if isinstance(c, dict)
            else str(c)[:MAX_TEXT]
            for c in candidates[:3]
        ]
        parts.append(TABLES.candidates_line[lang].format(items="; ".join(items)))
        parts.append(settle_text(verdict.get("settle") or [], lang))
    return parts


def explain(verdict: dict, lang: str) -> str:
    """One paragraph that states the verdict and what it rests on, from the verdict dict alone."""
    lang = language(lang)
    if verdict.get("basis") == "app-privacy-report":  # the App Privacy Report alone: domains, no flows
        return explain_domain_level(verdict, lang)
    summary = str(verdict.get("summary", "inconclusive"))
    vendors = [v for v in verdict.get("vendors") or [] if isinstance(v, dict)]
    relay_owners = [str(v.get("owner", "?")) for v in vendors if "mail-relay" in (v.get("categories") or [])]
    relays = [r for r in verdict.get("relays") or [] if isinstance(r, dict)]
    if relays:
        relay_owners = [str(r.get("owner", "?")) for r in relays]
    lead = TABLES.summary.get(summary, TABLES.summary["inconclusive"])[lang]
    if summary == "relayed" and relays and all(r.get("link") == "none" for r in relays):
        lead = TABLES.relayed_unlinked[lang]
    parts = [lead.format(relay_owners=listing(relay_owners, lang)), *app_scope(verdict, lang)]
    if summary == "inconclusive":  # the other summaries already say whether the host was contacted
        parts.append(TABLES.contacted["yes" if verdict.get("mail_host_contacted") else "no"][lang])
    if verdict.get("mail_host_contact") == "attempted":
        parts.append(TABLES.attempted[lang])

    def status(key: str) -> str:
        chan = verdict.get(key)
        chan = chan if isinstance(chan, dict) else {}
        flows = chan.get("flows")
        code = str(chan.get("status", "not-observed"))
        n = len(flows) if isinstance(flows, list) else 0
        return TABLES.status.get(code, TABLES.status["not-observed"])[lang].format(
            n=number(n, lang), connections=plural(n, FINDINGS.connections[lang])
        )

    parts.append(TABLES.channels[lang].format(receive=status("receive"), send=status("send")))
    parts += _relay_sentences(verdict, lang)
    others = [
        f"{v.get('owner', '?')} ({', '.join(str(c) for c in v.get('categories') or [])})"
        for v in vendors
        if "mail-relay" not in (v.get("categories") or [])
    ]
    if others:
        parts.append(TABLES.others[lang].format(vendors=listing(others, lang)))
    if "mail-host-by-protocol" in (verdict.get("assumptions") or []):
        parts.append(TABLES.assumed[lang])
    missing = verdict.get("missing") or []
    missing = missing if isinstance(missing, list) else [missing]
    if missing and summary == "inconclusive":
        parts.append(FINDINGS.missing_lead[lang].format(missing=missing_text(missing, lang)))
    parts += _candidate_sentences(verdict, lang)
    return " ".join(parts)

