"""Cases converted to FHIR Bundles (``cases.case_bundle``): the order-sign cards a real `scribe
serve` answers for a Bundle's orders equal the batch check's gaps that apply at order time
(``ORDER_TIME``), gap for gap (code, CPT, ICD-10-CM), and the Bundle read by ``scribe check
--fhir`` (``fhir_io.read_bundle``) gives the batch's order-time gaps too.

Two sets: the project's own examples (``examples/cases.jsonl``, every ``fires`` and ``silent``
example of every rule in ``lexicons/rules.toml``, the demo dictations), which always run; and the
shared dev cases (``/work/shared/eval/dev.jsonl``, or the JSONL files named in
``SCRIBE_ORDER_TIME_CASES``, separated by ``:``, so the same comparison runs on sets the team
never sees), skipped with the reason when absent."""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from scribe import Encounter
from scribe.lexicons import load_lexicons
from scribe_server.cds import ORDER_TIME
from scribe_server.demo import NOTES
from scribe_server.fhir_io import read_bundle

from .cases import bundle_hook_request, case_bundle

ROOT = Path(__file__).resolve().parents[2]
SHARED_DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
if not SHARED_DEV.exists():
    SHARED_DEV = Path("/work/shared/eval/dev.jsonl")


def own_examples() -> list[dict]:
    cases = [json.loads(line) for line in (ROOT / "examples" / "cases.jsonl").read_text().splitlines() if line.strip()]
    for rule in load_lexicons().rules:
        for kind in ("fires", "silent"):
            for i, ex in enumerate(getattr(rule, kind)):
                case = {k: v for k, v in ex.model_dump().items() if v not in (None, [], ())}
                if case.get("cpt") or case.get("lines"):
                    cases.append({"id": f"{rule.id}-{kind}-{i}", **case})
    cases += [{"id": n.id, "text": n.text, **n.encounter} for n in NOTES]
    return cases


def shared_cases() -> tuple[list[dict], str]:
    named = [Path(p) for p in os.environ.get("SCRIBE_ORDER_TIME_CASES", "").split(":") if p]
    paths = named or [SHARED_DEV]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        return [], f"no shared cases at {', '.join(missing)} (the shared folder is absent; set SCRIBE_ORDER_TIME_CASES)"
    return [json.loads(line) for p in paths for line in p.read_text(encoding="utf-8").splitlines() if line.strip()], ""


def order_time(gaps) -> Counter:
    return Counter((g.code, g.cpt, g.icd10) for g in gaps if g.code in ORDER_TIME)


def compare(engine, call, cases: list[dict]) -> int:
    """The number of cases with order-time gaps; asserts every case's cards equal its gaps."""
    with_cards = 0
    for case in cases:
        if not (case.get("cpt") or case.get("lines")):
            continue
        want = order_time(engine.check(case["text"], Encounter.from_dict(case)).gaps)
        fhir_bundle = case_bundle(case)
        read = read_bundle(fhir_bundle, engine)
        assert order_time(engine.check(read.text, read.encounter).gaps) == want, (case["id"], "scribe check --fhir")
        r = call("scribe-imaging-order-sign", bundle_hook_request(fhir_bundle))
        assert r.status_code == 200, (case["id"], r.text)
        got = Counter((e["code"], e.get("cpt"), e.get("icd10"))
                      for e in (c["extension"]["org.scribe.gap"] for c in r.json()["cards"]))
        assert got == want, (case["id"], r.json().get("extension"))
        with_cards += bool(want)
    return with_cards


def test_own_examples_as_bundles_cards_equal_batch_order_time_gaps(engine, call):
    cases = own_examples()
    with_cards = compare(engine, call, cases)
    fired = {c["id"].rsplit("-fires-", 1)[0] for c in cases if "-fires-" in c["id"]}
    order_time_rules = {r.id for r in load_lexicons().rules if r.code in ORDER_TIME}
    assert order_time_rules <= fired, "every order-time rule has an example that fires"
    assert with_cards >= len(order_time_rules)


def test_shared_dev_cases_as_bundles_cards_equal_batch_order_time_gaps(engine, call):
    cases, why = shared_cases()
    if not cases:
        pytest.skip(why)
    assert compare(engine, call, cases) >= 5
