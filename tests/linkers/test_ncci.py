"""`scribe data import-ncci` on a small file written in the CMS practitioner PTP layout."""
from __future__ import annotations

import os
import subprocess
import sys

from scribe import Encounter
from scribe.engine import Engine
from scribe.lexicons import load_lexicons
from scribe.linkers.ncci import NcciEdits

HEADER = ("CPT only copyright 2025 American Medical Association. All rights reserved.\n"
          "Column 1\tColumn 2\t*=in existence prior to 1996\tEffective Date\tDeletion Date *=no data\t"
          "Modifier 0=not allowed 1=allowed 9=not applicable\tPTP Edit Rationale\n")
ROWS = [
    "72148\t72141\t\t20250101\t*\t1\tMisuse of column two code with column one code\n",   # kept, active
    "72100\t72020\t\t20240101\t20250101\t1\tStandards of medical / surgical practice\n",  # deleted already
    "72050\t72040\t\t20200101\t*\t0\tMutually exclusive procedures\n",                    # indicator 0
    "99213\t36415\t\t20200101\t*\t1\tNot imaging\n",                                       # outside the family
]


def test_ncci_import_then_edits_apply(tmp_path):
    src = tmp_path / "ccipra-v321r0-f1.txt"
    src.write_text(HEADER + "".join(ROWS), encoding="latin-1")
    store = tmp_path / "data"
    env = {**os.environ, "SCRIBE_DATA_DIR": str(store), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-m", "scribe.cli", "data", "import-ncci", str(src)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "read 4" in out.stdout and "kept 3" in out.stdout
    edits = NcciEdits.load(store / "ncci_ptp.jsonl")
    assert edits.find("72141", "72148") is not None
    assert edits.find("72100", "72020") is None            # deleted before today
    engine = Engine(load_lexicons(), ncci=edits)
    text = "MRI cervical and lumbar spine without contrast. Neck pain. Impression: normal."
    gaps = engine.check(text, Encounter.from_dict({"cpt": ["72148", "72141"]})).gaps
    conflict = [g for g in gaps if g.code == "NCCI_PAIR_CONFLICT"]
    assert conflict and "CMS NCCI" in conflict[0].source
    bypassed = engine.check(text, Encounter.from_dict({"cpt": ["72148", "72141"], "modifiers": ["59"]})).gaps
    assert not [g for g in bypassed if g.code == "NCCI_PAIR_CONFLICT"]
    never = engine.check("Cervical spine, 5 views. Neck pain.", Encounter.from_dict({"cpt": ["72050", "72040"], "modifiers": ["59"]})).gaps
    assert [g for g in never if g.code == "NCCI_PAIR_CONFLICT"]


def test_ncci_import_rejects_a_file_in_another_layout(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    out = subprocess.run([sys.executable, "-m", "scribe.cli", "data", "import-ncci", str(bad)],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "SCRIBE_DATA_DIR": str(tmp_path), "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 2 and "PTP" in out.stderr
