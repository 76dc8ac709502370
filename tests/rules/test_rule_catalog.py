"""The rule catalog as a whole: ids, ledger, citations, examples, contract coverage."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from scribe.errors import LexiconError
from scribe.evaluators import CHECKS
from scribe.lexicons import lexicon_root, load_lexicons

CONTRACT_CODES = {
    "INDICATION_MISSING", "INDICATION_NOT_SPECIFIC", "VIEWS_NOT_DOCUMENTED", "VIEWS_MISMATCH", "POSITIONS_MISSING",
    "LEVEL_MISSING", "REGION_MISMATCH", "CONTRAST_NOT_DOCUMENTED", "CONTRAST_MISMATCH", "FINDINGS_MISSING",
    "IMPRESSION_MISSING", "SIGNATURE_MISSING", "COMPARISON_NOT_STATED", "ORDERING_PROVIDER_MISSING",
    "DX_NOT_SUPPORTING", "DX_MORE_SPECIFIC_AVAILABLE", "DX_INVALID_CODE", "DX_UNCERTAIN_AS_CONFIRMED",
    "DX_NOT_DOCUMENTED", "NCCI_PAIR_CONFLICT", "MODIFIER_REQUIRED", "MODIFIER_INVALID",
    "LATERALITY_MISSING", "LATERALITY_MISMATCH",
}
# a side stated nowhere applies to paired body parts only, which come with the extremity families
NOT_YET: set[str] = set()
SEVERITY = {"INDICATION_NOT_SPECIFIC": "warning", "IMPRESSION_MISSING": "warning", "COMPARISON_NOT_STATED": "info",
            "ORDERING_PROVIDER_MISSING": "info", "DX_NOT_SUPPORTING": "warning", "DX_MORE_SPECIFIC_AVAILABLE": "warning",
            "DX_NOT_DOCUMENTED": "warning", "MODIFIER_REQUIRED": "warning"}


def test_rule_catalog_covers_every_contract_gap_code_with_its_severity():
    rules = load_lexicons().rules
    assert {r.code for r in rules} == CONTRACT_CODES - NOT_YET
    for r in rules:
        assert r.severity == SEVERITY.get(r.code, "error"), r.id


def test_rule_catalog_every_rule_cites_a_source_and_has_examples_both_ways():
    for r in load_lexicons().rules:
        assert r.source.strip() and r.fix.strip() and r.message.strip()
        assert r.fires and r.silent, f"{r.id} needs examples that fire and stay silent"
        assert r.check in CHECKS


def test_rule_catalog_ledger_only_grows():
    ledger = (lexicon_root() / "rule_ids.txt").read_text().split()
    ids = [r.id for r in load_lexicons().rules]
    assert len(ids) == len(set(ids))
    assert set(ids) <= set(ledger), "a new rule id must be added to lexicons/rule_ids.txt"


def test_cpt_family_codes_match_the_spec_ranges():
    lex = load_lexicons()
    codes = {c.code: c for fam in lex.families for c in fam.codes if c.status == "active"}
    assert {"72020", "72081", "72084", "72114", "72120", "72131", "72158"} <= set(codes)
    assert (codes["72120"].min_views, codes["72120"].max_views) == (2, 3)
    assert codes["72114"].min_views == 6 and codes["72114"].positions == "includes_dynamic"
    assert codes["72156"].contrast == "without_with"
    for code in codes.values():
        assert code.source and code.paraphrase


@pytest.mark.parametrize("broken,message", [
    ('{"id": "CTX-999", "category": "negated", "directon": "forward", "literals": ["no"], "source": "x"}', "directon"),
    ('{"id": "CTX-999", "category": "maybe", "direction": "forward", "literals": ["no"], "source": "x"}', "maybe"),
    ('not json', "context_rules.jsonl:"),
])
def test_lexicon_broken_file_fails_at_load_with_file_and_line(tmp_path, broken, message):
    root = lexicon_root()
    for path in root.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            target = tmp_path / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    with open(tmp_path / "context_rules.jsonl", "a") as f:
        f.write(broken + "\n")
    with pytest.raises(LexiconError) as err:
        load_lexicons(tmp_path)
    assert message in str(err.value)


def test_no_long_phrase_lists_in_nlp_code():
    """Clinical phrases live in lexicons/, not in Python (house style B8.3)."""
    for path in (Path(__file__).parents[2] / "scribe").rglob("*.py"):
        for m in re.finditer(r"\[([^\[\]]*)\]", path.read_text()):
            strings = re.findall(r'"[a-z][a-z ]+"', m.group(1))
            assert len(strings) <= 8, f"{path.name}: a phrase list belongs in lexicons/"
