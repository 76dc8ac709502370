"""Issue 13 items 7 and 8: the plain titles come from the rules (one source for both pages), every
rule has a page of its own, and no gap source cites a file a user does not have."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

PRIVATE = ("domain.md", "codes.csv", "contract section", "contract", ".csv", ".md")
CASES = Path(__file__).resolve().parents[2] / "examples" / "cases.jsonl"


def test_every_gap_code_has_one_plain_title_served_from_the_rules(api, engine):
    body = api.get("/api/rules").json()                     # no token: rules hold no patient data
    codes = {r.code for r in engine.rules}
    assert set(body["titles"]) == codes and all(body["titles"].values())
    assert body["titles"]["INDICATION_MISSING"] == "Reason for the exam missing"
    assert {r["id"] for r in body["rules"]} == {r.id for r in engine.rules}


@pytest.mark.parametrize("where", ["rules", "pairs"])
def test_no_source_cites_a_file_a_user_does_not_have(engine, where):
    sources = ([r.source for r in engine.rules] if where == "rules"
               else [p.source for p in engine.pair_rules])
    for source in sources:
        assert not any(word in source for word in PRIVATE), source


def test_gap_sources_of_the_example_cases_are_public_and_have_a_rule_page(api, engine):
    from scribe import Encounter

    seen = set()
    for line in CASES.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        result = engine.check(case["text"], Encounter.from_dict(case)).to_dict()
        for g in result["gaps"]:
            assert not any(word in g["source"] for word in PRIVATE), (g["code"], g["source"])
            seen.add(g["rule_id"])
    assert seen
    for rule_id in sorted(seen):
        page = api.get(f"/rules/{rule_id}")
        assert page.status_code == 200 and rule_id in page.text
        assert "<script" not in page.text                       # the CSP forbids inline script
    assert api.get("/rules/XXX-999").status_code == 404
    index = api.get("/rules")
    assert index.status_code == 200 and all(f'/rules/{r.id}"' in index.text for r in engine.rules)
