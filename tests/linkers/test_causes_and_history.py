"""A condition's code follows what the note says about it: a vertebral fracture's cause (trauma,
osteoporosis, a neoplasm, other pathology, none), a malignancy that is over (personal history), and
the code set's "X, except Y" descriptions found by X."""
from __future__ import annotations

import pytest

from scribe import Encounter


def codes(engine, text, cpt="72100", concept=None):
    out = engine.check(text, Encounter(cpt=(cpt,))).to_dict()
    return [(i["text"].lower(), i["assertion"], [c["code"] for c in i["icd10"]]) for i in out["indications"]
            if concept is None or i["concept"] == concept]


@pytest.mark.parametrize("text, family", [
    ("Reason: slipped on the stairs this morning, sharp pain.\nFindings: wedging of L2 with fracture lines.\n"
     "Impression: acute L2 compression fracture.", "S32.0"),
    ("Reason: known osteoporosis on alendronate, pain after sneezing.\nFindings: L1 compression fracture.\n"
     "Impression: new L1 compression fracture.", "M80.08"),
    ("Reason: sudden thoracolumbar pain.\nImpression: osteoporotic compression fracture of T12.", "M80.08"),
    ("Reason: multiple myeloma, pain.\nFindings: lytic lesions throughout; collapse and fracture of T9.\n"
     "Impression: T9 fracture in the setting of myeloma.", "M84.58"),
    ("Reason: back pain.\nImpression: insufficiency fracture of the L4 vertebral body.", "M84.48"),
    ("Reason: back pain, no fall or injury.\nFindings: compression fracture of L3, age indeterminate.", "M48.56"),
])
def test_a_vertebral_fracture_is_coded_by_its_documented_cause(engine, text, family):
    found = codes(engine, text, concept="vertebral_fracture")
    assert found and all(c[2][0].startswith(family) for c in found), found


def test_a_fall_said_in_a_note_of_osteoporosis_is_still_a_fragility_fracture_but_a_crash_is_trauma(engine):
    base = "Reason: osteoporosis; {how}.\nImpression: acute L1 compression fracture."
    fragility = codes(engine, base.format(how="tripped over the cat"), concept="vertebral_fracture")
    crash = codes(engine, base.format(how="driver in a highway-speed collision"), concept="vertebral_fracture")
    assert fragility[0][2][0].startswith("M80.08") and crash[0][2][0].startswith("S32.0")


def test_a_cancer_that_is_over_is_its_personal_history_code(engine):
    text = ("History: colon cancer resected in 2012, no recurrence, completed chemotherapy.\n"
            "Reason: low back pain.\nFindings: no destructive lesion.")
    colon = [c for c in codes(engine, text) if "colon" in c[0]]
    assert colon and colon[0][1] == "historical" and colon[0][2] == ["Z85.038"]
    active = [c for c in codes(engine, "Reason: colon cancer on chemotherapy, new back pain.\nFindings: normal.")
              if "colon" in c[0]]
    assert active and active[0][1] == "present" and active[0][2][0].startswith("C18")


def test_a_description_with_an_exception_is_found_by_its_main_words(engine):
    found = [c for c in codes(engine, "Reason: renal cell carcinoma, staging.\nFindings: normal.") if "renal" in c[0]]
    assert found and found[0][2][0].startswith("C64")


def test_levels_at_the_junction_fit_a_thoracolumbar_study(engine):
    text = ("Reason: pain after a fall from a bike.\nTwo views.\nFindings: height loss of T12 and L1.\n"
            "Impression: T12 and L1 compression deformities.\nSigned: Kai Moro, MD")
    gaps = {g["code"] for g in engine.check(text, Encounter(cpt=("72080",))).to_dict()["gaps"]}
    assert "REGION_MISMATCH" not in gaps
    lower = text.replace("T12 and L1", "L4 and L5")
    gaps = {g["code"] for g in engine.check(lower, Encounter(cpt=("72080",))).to_dict()["gaps"]}
    assert "REGION_MISMATCH" in gaps


def _links(check, text, cpt="72070"):
    return {(i["icd10"][0]["code"] if i["icd10"] else None, i["assertion"]) for i in check(text, cpt=[cpt])["indications"]}


def test_a_healed_fracture_is_coded_as_a_history_by_its_cause(check):
    found = _links(check, "History: osteoporosis; healed T11 osteoporotic compression fracture from 2022. New T8 pain.")
    assert ("Z87.310", "historical") in found
    trauma = _links(check, "History: old healed L2 fracture from a car crash in 2010. Now low back pain.", "72100")
    assert ("Z87.81", "historical") in trauma


def test_long_term_bone_and_hormone_drugs_are_their_status_codes(check):
    found = _links(check, "History: postmenopausal osteoporosis on risedronate since 2021; breast cancer survivor on letrozole; "
                          "switched to teriparatide last month.")
    assert {("Z79.83", "present"), ("Z79.811", "present"), ("Z79.899", "present")} <= found


def test_a_fracture_in_steroid_induced_osteoporosis_is_drug_induced(check):
    found = _links(check, "History: COPD on prednisone 10 mg daily for years, glucocorticoid-induced osteoporosis. "
                          "Impression: acute T9 compression fracture after a cough.")
    assert ("M81.8", "present") in found and ("M80.88XA", "present") in found
