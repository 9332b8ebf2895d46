"""Regenerate the sample captures: ``python -m analysis.lab.ship [FOLDER]`` (root, Dovecot, tcpdump).

Each scenario runs once with a random password on the default address block (127.42.0.0/16, the one
analysis/data/lab-catalog.toml lists); the capture, the case file and the mail server's logs are copied to
``FOLDER/<scenario>/``, with the run's ownership file (``owners.csv``, for ``--asn-db``).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from analysis.lab.apps import SCENARIOS
from analysis.lab.plan import FIRST_BLOCK, LabPlan
from analysis.lab.run import run_lab

SHIPPED = ("phone.pcapng", "case.toml", "owners.csv", "logs/dovecot.log", "logs/submission.log")
CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def ship(folder: Path, scenarios: tuple[str, ...] = SCENARIOS) -> list[Path]:
    written = []
    for scenario in scenarios:
        with tempfile.TemporaryDirectory(prefix=f"maildetour-ship-{scenario}-") as tmp:
            result = run_lab(scenario, tmp, analyze=False)
            if result.plan != LabPlan.for_block(FIRST_BLOCK):
                raise SystemExit(f"ship: the default block 127.{FIRST_BLOCK}.0.0/16 is busy; try again")
            target = folder / scenario
            target.mkdir(parents=True, exist_ok=True)
            for name in SHIPPED:
                dest = target / Path(name).name
                shutil.copyfile(Path(tmp) / name, dest)
                written.append(dest)
    return written


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else CAPTURES
    for path in ship(folder):
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
