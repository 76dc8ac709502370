"""Every rule's examples, straight from lexicons/rules.toml: a `fires` example must
raise the rule's gap code (from that rule), a `silent` example must not."""
from __future__ import annotations

import pytest

from scribe import Encounter
from scribe.lexicons import load_lexicons

RULES = load_lexicons().rules
CASES = [(r, "fires", i, ex) for r in RULES for i, ex in enumerate(r.fires)] + \
        [(r, "silent", i, ex) for r in RULES for i, ex in enumerate(r.silent)]


@pytest.mark.parametrize("rule,kind,i,example", CASES, ids=[f"{r.id}-{k}-{i}" for r, k, i, _ in CASES])
def test_rule_example(engine, rule, kind, i, example):
    enc = Encounter.from_dict(example.model_dump())
    gaps = engine.check(example.text, enc).gaps
    raised = [g for g in gaps if g.rule_id == rule.id]
    if kind == "fires":
        assert raised, f"{rule.id} ({rule.code}) did not fire; got {[g.code for g in gaps]}"
        for gap in raised:
            assert gap.message and gap.fix and gap.source and "{" not in gap.message + gap.fix
            for ev in gap.evidence:
                assert example.text[ev.start:ev.end] == ev.text
    else:
        assert not raised, f"{rule.id} ({rule.code}) fired on a silent example: {raised[0].message}"
