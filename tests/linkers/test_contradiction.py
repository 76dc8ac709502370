"""Issue 13 item 7: a suggested ICD-10-CM code whose description excludes ("without [mention of]
...") a condition the note documents is not suggested; a sibling that fits takes its place."""
from __future__ import annotations

import pytest

from scribe import Encounter
from scribe.linkers.contradiction import contradicts

DDD = ("XR lumbar spine, 3 views. Indication: {reason}. Findings: degenerative disc disease at L4-5 with disc "
       "space narrowing. Impression: lumbar degenerative disc disease.\nElectronically signed by Lee Park, MD")
M51_369 = "Other intervertebral disc degeneration, lumbar region without mention of lumbar back pain or lower extremity pain"


@pytest.mark.parametrize("documented, expected", [
    ([{"low", "back", "pain"}], True),                   # "lumbar back pain": all but one word, the head
    ([{"leg", "pain"}], False),                          # "lower extremity pain" needs more than the head
    ([{"lower", "extremity", "pain"}], True),
    ([{"neck", "pain"}], False),
    ([], False),
])
def test_a_without_clause_contradicts_a_documented_condition(documented, expected):
    assert contradicts(M51_369, documented) is expected


def test_descriptions_without_a_without_clause_never_contradict():
    assert not contradicts("Low back pain, unspecified", [{"low", "back", "pain"}])


def suggested(engine, reason: str) -> list[str]:
    result = engine.check(DDD.format(reason=reason), Encounter.from_dict({"cpt": ["72100"], "icd10": ["M51.36"]}))
    ddd = [i for i in result.to_dict()["indications"] if i["text"] == "degenerative disc disease"]
    assert ddd
    return [c["code"] for c in ddd[0]["icd10"]], result.to_dict()["gaps"]


def test_back_pain_documented_m51_369_is_not_suggested(engine):
    codes, gaps = suggested(engine, "low back pain")
    assert "M51.369" not in codes and codes[0] == "M51.360"       # with discogenic back pain only
    fix = next(g["fix"] for g in gaps if g["code"] == "DX_INVALID_CODE")
    assert "M51.369" not in fix


def test_no_pain_documented_m51_369_stays(engine):
    codes, _ = suggested(engine, "follow-up of a known finding")
    assert codes[0] == "M51.369"
