"""On the shared dev cases converted to FHIR (a draft ServiceRequest per CPT with the
case's ICD-10-CM codes, the note as a DocumentReference, the site as the Encounter's
class), the order-sign cards equal the batch gaps that apply at order time."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from scribe import Encounter
from scribe_server.cds import ORDER_TIME

from .cases import case_request

DEV = Path(__file__).resolve().parents[3] / "shared" / "eval" / "dev.jsonl"
if not DEV.exists():
    DEV = Path("/work/shared/eval/dev.jsonl")


def dev_cases():
    if not DEV.exists():
        return []
    return [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_dev_cases_cards_equal_batch_order_time_gaps(engine, call):
    cases = dev_cases()
    if not cases:
        pytest.skip(f"no shared dev cases at {DEV}")
    compared = with_cards = 0
    for case in cases:
        batch = engine.check(case["text"], Encounter.from_dict(case))
        want = Counter((g.code, g.cpt, g.icd10) for g in batch.gaps if g.code in ORDER_TIME)
        r = call("scribe-imaging-order-sign", case_request(case))
        assert r.status_code == 200, (case["id"], r.text)
        got = Counter((e["code"], e.get("cpt"), e.get("icd10"))
                      for e in (c["extension"]["org.scribe.gap"] for c in r.json()["cards"]))
        assert got == want, case["id"]
        compared += 1
        with_cards += bool(want)
    assert compared == len(cases) and with_cards >= 5
