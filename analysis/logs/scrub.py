"""Keep secrets out of quoted log lines: SASL payloads, passwords in failed-login lines, the case canary."""

from __future__ import annotations

import re

from analysis.redact import MASK, Redactor

MAX_RAW = 2000  # longest raw line quoted in any output

_RULES = (
    # AUTH PLAIN <base64> / AUTH LOGIN <base64> (SMTP, and IMAP's AUTHENTICATE with SASL-IR)
    (
        re.compile(
            r"(?i)\b(AUTH(?:ENTICATE)?\s+(?:PLAIN|LOGIN|XOAUTH2|OAUTHBEARER|CRAM-MD5)\s+)[A-Za-z0-9+/=_-]{4,}"
        ),
        r"\1" + MASK,
    ),
    # Dovecot: auth_verbose_passwords=plain, auth_debug's resp=<base64>
    (re.compile(r"(?i)\b(given password:\s*)[^)]*"), r"\1" + MASK),
    (re.compile(r"(?i)\b(resp=)<[^>]*>"), r"\1<" + MASK + ">"),
    # key=value passwords in any software's failed-login line
    (
        re.compile(r"(?i)\b((?:password|passwd|pass|pwd)\s*[=:]\s*)(\"[^\"]*\"|<[^>]*>|[^\s,;)]+)"),
        r"\1" + MASK,
    ),
)

_TRIGGERS = ("auth", "pass", "resp=", "pwd")


def scrub(line: str, redactor: Redactor | None = None) -> str:
    """The line with every known secret replaced by [REDACTED], cut to MAX_RAW characters."""
    if len(line) > MAX_RAW:
        line = line[:MAX_RAW] + "…"
    low = line.lower()
    if any(word in low for word in _TRIGGERS):
        for pattern, repl in _RULES:
            line = pattern.sub(repl, line)
    if redactor is not None:
        line = redactor.text(line)
    return line
