"""The lab catalog (analysis/data/lab-catalog.toml) and, for runs on another address block, its ranges."""

from __future__ import annotations

from pathlib import Path

from analysis.lab.plan import FIRST_BLOCK, LabPlan

LAB_CATALOG = Path(__file__).resolve().parents[1] / "data" / "lab-catalog.toml"


def run_catalog(plan: LabPlan, folder: Path) -> list[str]:
    """Catalog files for a run: the shipped lab catalog, plus one with this run's addresses when the run
    did not use the default block (the shipped file lists the default block's addresses)."""
    paths = [str(LAB_CATALOG)]
    if plan == LabPlan.for_block(FIRST_BLOCK):
        return paths
    source = "LAB: analysis/lab/plan.py, this run's address block"
    rows = [("lab-vendor-sync", "mail-relay", plan.vendor_sync), ("lab-vendor-telemetry", "telemetry",
            plan.vendor_telemetry), ("lab-vendor-crash", "crash-report", plan.vendor_crash)]
    text = ["# written by maildetour lab run: this run's vendor addresses", ""]
    for entry_id, category, address in rows:
        text += ["[[entry]]", f'id = "{entry_id}-run"', 'owner = "Lab Vendor"', f'category = "{category}"',
                 f'cidrs = ["{address}/32"]', f'source = "{source}"', ""]
    text += ["[[entry]]", 'id = "lab-dns-run"', 'owner = "Lab"', 'category = "name-resolution"',
             f'cidrs = ["{plan.dns}/32"]', "ports = [53]", f'source = "{source}"', ""]
    path = folder / "lab-catalog-run.toml"
    path.write_text("\n".join(text))
    return paths + [str(path)]
