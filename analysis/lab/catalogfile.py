"""The lab catalog (analysis/data/lab-catalog.toml) and, for runs on another address block, its ranges; the
lab's ownership file (the vendor's network as one AS, in ``--asn-db`` CSV form)."""

from __future__ import annotations

from pathlib import Path

from analysis.lab.plan import FIRST_BLOCK, LabPlan

LAB_CATALOG = Path(__file__).resolve().parents[1] / "data" / "lab-catalog.toml"
CATEGORY = {"sync": "mail-relay", "telemetry": "telemetry", "crash": "crash-report"}  # of each vendor role


def run_catalog(plan: LabPlan, folder: Path) -> list[str]:
    """Catalog files for a run: the shipped lab catalog, plus one with this run's addresses when the run
    did not use the default block (the shipped file lists the default block's addresses)."""
    paths = [str(LAB_CATALOG)]
    if plan == LabPlan.for_block(FIRST_BLOCK):
        return paths
    source = "LAB: analysis/lab/plan.py, this run's address block"
    text = ["# written by maildetour lab run: this run's vendor addresses", ""]
    for role, _, address in plan.vendors():
        text += ["[[entry]]", f'id = "lab-vendor-{role}-run"', 'owner = "Lab Vendor"', f'category = "{CATEGORY[role]}"',
                 f'cidrs = ["{address}/32"]', f'source = "{source}"', ""]
    text += ["[[entry]]", 'id = "lab-dns-run"', 'owner = "Lab"', 'category = "name-resolution"',
             f'cidrs = ["{plan.dns}/32"]', "ports = [53]", f'source = "{source}"', ""]
    path = folder / "lab-catalog-run.toml"
    path.write_text("\n".join(text))
    return paths + [str(path)]


LAB_ASN = 64512  # the first private AS number (RFC 6996): the lab vendor's network
LAB_AS_ORG = "Lab Vendor Cloud"


def write_owners(plan: LabPlan, path: Path) -> Path:
    """The ownership file of a run: the vendor's /24 (sync, its second login address, telemetry, crash) is
    one AS, as a whois look-up would show a real vendor's addresses. Read with ``--asn-db``."""
    first, last = plan.vendor_network()
    path.write_text(f"first_ip,last_ip,asn,organisation\n{first},{last},{LAB_ASN},{LAB_AS_ORG}\n")
    return path
