"""Conditions link over the whole ICD-10-CM code set (descriptions and inclusion terms of the
Tabular), each to the code the term as documented names."""
from __future__ import annotations

import pytest

REPORT = ("MRI lumbar spine without contrast.\nIndication: {reason}.\nComparison: none.\n"
          "Findings: normal alignment.\nImpression: no acute abnormality.\nSigned: Dr. Ada Kim")


def linked(check, reason):
    r = check(REPORT.format(reason=reason), cpt=["72148"])
    return {(i["text"].lower(), c["code"], i["assertion"]) for i in r["indications"] for c in i["icd10"][:1]}


@pytest.mark.parametrize("reason, text, code", [
    ("metastatic prostate cancer", "prostate cancer", "C61"),
    ("new urinary retention", "urinary retention", "R33.9"),
    ("right foot drop", "right foot drop", "M21.371"),
    ("fever and lumbar discitis", "lumbar discitis", "M46.46"),
    ("spinal epidural abscess", "epidural abscess", "G06.1"),
    ("bowel incontinence", "bowel incontinence", "R15.9"),
    ("left leg pain", "left leg pain", "M79.605"),
    ("multiple myeloma", "multiple myeloma", "C90.00"),
    ("unintentional weight loss", "weight loss", "R63.4"),
])
def test_a_condition_links_to_the_code_the_code_set_names(check, reason, text, code):
    assert any(t in text and c == code for t, c, _ in linked(check, reason)), linked(check, reason)


def test_a_negated_condition_keeps_its_assertion(check):
    assert any(c == "R50.9" and a == "negated" for _, c, a in linked(check, "back pain, no fever"))


def test_a_code_set_condition_can_be_the_reason_an_advanced_study_needs(check):
    plain = check(REPORT.format(reason="low back pain"), cpt=["72148"])
    red_flag = check(REPORT.format(reason="low back pain and new urinary retention"), cpt=["72148"])
    codes = lambda r: {g["code"] for g in r["gaps"]}
    assert "INDICATION_NOT_SPECIFIC" in codes(plain)
    assert "INDICATION_NOT_SPECIFIC" not in codes(red_flag)


def test_the_term_index_is_cached_and_small(engine, tmp_path):
    from scribe.linkers.terms import TermIndex

    spec = engine.lexicons.icd_terms
    built = TermIndex.load(engine.codeset, spec, cache_dir=tmp_path)
    again = TermIndex.load(engine.codeset, spec, cache_dir=tmp_path)
    assert again.entries == built.entries and len(built.entries) > 50_000
    assert sum(f.stat().st_size for f in tmp_path.iterdir()) < 20_000_000


def test_an_unspecified_code_gets_the_code_set_code_the_note_supports(check):
    note = ("CT cervical spine without contrast.\nIndication: fall from a ladder.\nComparison: none.\n"
            "Findings: type III odontoid fracture.\nImpression: type III odontoid fracture.\nSigned: Dr. Ada Kim")
    gaps = {g["code"]: g for g in check(note, cpt=["72125"], icd10=["S12.9XXA"])["gaps"]}
    assert "S12.12" in gaps["DX_MORE_SPECIFIC_AVAILABLE"]["fix"]


def test_a_code_of_a_condition_the_note_only_denies_is_not_documented(check):
    note = REPORT.format(reason="low back pain; no fever, no weight loss")
    codes = {g["code"] for g in check(note, cpt=["72148"], icd10=["M54.50", "R63.4"])["gaps"]}
    assert "DX_NOT_DOCUMENTED" in codes
    note = REPORT.format(reason="low back pain and unintentional weight loss")
    codes = {g["code"] for g in check(note, cpt=["72148"], icd10=["M54.50", "R63.4"])["gaps"]}
    assert "DX_NOT_DOCUMENTED" not in codes


def test_a_code_for_the_other_side_is_a_laterality_mismatch(check):
    note = REPORT.format(reason="left-sided sciatica for 8 weeks despite physical therapy")
    gaps = {g["code"]: g for g in check(note, cpt=["72148"], icd10=["M54.31"])["gaps"]}
    assert "LATERALITY_MISMATCH" in gaps and "M54.32" in gaps["LATERALITY_MISMATCH"]["fix"]
    assert "DX_NOT_DOCUMENTED" not in gaps
    assert "LATERALITY_MISMATCH" not in {g["code"] for g in check(note, cpt=["72148"], icd10=["M54.32"])["gaps"]}


def test_small_words_between_do_not_cut_a_term(check):
    note = REPORT.format(reason="the patient refers pain in the dorsal region (thoracic spine) since 4 weeks")
    r = check(note, cpt=["72148"], icd10=["M54.6"])
    assert "DX_NOT_DOCUMENTED" not in {g["code"] for g in r["gaps"]}


def test_a_terms_unspecified_site_is_refined_by_the_level_said_with_it(check):
    r = check(REPORT.format(reason="fever and L2-L3 discitis"), cpt=["72148"])
    assert any(c["code"] == "M46.46" for i in r["indications"] for c in i["icd10"][:1])
    r = check(REPORT.format(reason="fever, rule out discitis"), cpt=["72148"])
    assert any(c["code"] == "M46.40" for i in r["indications"] for c in i["icd10"][:1])   # never from the study


def test_spondylotic_myelopathy_is_spondylosis_with_myelopathy(check):
    note = REPORT.replace("MRI lumbar", "MRI cervical").format(reason="cervical spondylotic myelopathy")
    r = check(note, cpt=["72141"])
    assert any(c["code"] == "M47.12" for i in r["indications"] for c in i["icd10"][:1]), r["indications"]


def test_an_osteoporotic_fracture_links_to_the_pathological_fracture_code(check):
    r = check(REPORT.format(reason="osteoporotic compression fracture of L1 after a fall from standing"), cpt=["72148"])
    codes = {c["code"] for i in r["indications"] for c in i["icd10"]}
    assert codes & {"M80.08XA", "M80.08"}, r["indications"]


@pytest.mark.parametrize("reason, code", [
    # a fracture not said to be nondisplaced is coded displaced (Guidelines I.C.19.c.1)
    ("left ischial tuberosity avulsion fracture", "S32.612A"),
    ("displaced right AIIS avulsion fracture", "S32.311A"),
    # a modifier the Tabular does not index neither blocks nor counts against a long term
    ("acute nondisplaced right iliac crest avulsion fracture", "S32.314A"),
    ("acute nondisplaced type II odontoid fracture", "S12.112A"),
])
def test_a_pelvic_or_dens_fracture_links_to_its_own_code(check, reason, code):
    assert code in {c for _, c, _ in linked(check, reason)}, linked(check, reason)
