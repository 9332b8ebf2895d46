"""Keep secrets out of every output: the canary password and captured passwords become [REDACTED]."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MASK = "[REDACTED]"


@dataclass
class Redactor:
    """Replaces every known secret (and simple encodings of it) in text; bounded by the number of secrets."""

    secrets: list[str] = field(default_factory=list)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 3 and secret not in self.secrets:
            self.secrets.append(secret)
            self._pattern = None

    _pattern: re.Pattern | None = None

    def _forms(self) -> list[str]:
        from analysis.canary import text_forms  # the canary module knows every encoding

        forms: set[str] = set()
        for s in self.secrets:
            forms.update(f for f in text_forms(s) if len(f) >= 3)
        return sorted(forms, key=len, reverse=True)

    def text(self, value: str) -> str:
        if not self.secrets or not value:
            return value
        if self._pattern is None:
            self._pattern = re.compile("|".join(re.escape(f) for f in self._forms()), re.IGNORECASE)
        return self._pattern.sub(MASK, value)
