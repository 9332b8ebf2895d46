"""Writing the lab's case file (the format of analysis/case.py); the canary is named, never written."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

from analysis.lab.plan import (
    ACCOUNT_ADDRESS,
    ACCOUNT_USER,
    CANARY_ENV,
    IMAPS_PORT,
    MAIL_HOST,
    SUBMISSION_PORT,
)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def floor_second(ts: float) -> float:
    return float(math.floor(ts))


def ceil_second(ts: float) -> float:
    return float(math.ceil(ts))


def case_text(scenario: str, mail_ip: str, device: str, account_added: float, app_removed: float) -> str:
    return "\n".join([
        f"# maildetour lab, scenario {scenario!r}: written by `maildetour lab run`.",
        f"# The test password is in ${CANARY_ENV} while the lab runs and is not stored anywhere.",
        "",
        "[account]",
        f'address = "{ACCOUNT_ADDRESS}"',
        f'username = "{ACCOUNT_USER}"',
        f'canary_env = "{CANARY_ENV}"',
        "",
        "[mail]",
        f'hosts = ["{MAIL_HOST}:{IMAPS_PORT}", "{MAIL_HOST}:{SUBMISSION_PORT}"]',
        f'addresses = ["{mail_ip}"]',
        "",
        "[device]",
        f'addresses = ["{device}"]',
        "",
        "[timeline]",
        f'account_added = "{_iso(floor_second(account_added))}"',
        f'app_removed = "{_iso(ceil_second(app_removed))}"',
        "",
    ])


def write_case(path: Path, scenario: str, mail_ip: str, device: str, account_added: float,
               app_removed: float) -> Path:
    path.write_text(case_text(scenario, mail_ip, device, account_added, app_removed))
    return path
