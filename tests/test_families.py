"""Extremity families: body parts, sides, views per side, laterality gaps and the family registry."""
from __future__ import annotations

import shutil

import pytest

from scribe import Encounter
from scribe.errors import LexiconError
from scribe.lexicons import lexicon_root, load_lexicons

from .conftest import gap_codes

SIGNED = "\nComparison: none.\nOrdering physician: Lena Fischer, MD\nElectronically signed by Tomas Ek, MD"


def report(title: str, indication: str, technique: str, findings: str = "No fracture. Alignment normal.",
           impression: str = "No acute osseous abnormality.") -> str:
    return (f"{title}\nIndication: {indication}\nTechnique: {technique}\nFindings: {findings}\n"
            f"Impression: {impression}{SIGNED}")


def lines_check(engine, text, lines, icd10=(), site="office"):
    enc = Encounter.from_dict({"lines": lines, "icd10": list(icd10), "site": site})
    return engine.check(text, enc).to_dict()


def by_code(result, code):
    return [g for g in result["gaps"] if g["code"] == code]


# -- the registry ------------------------------------------------------------------------------
def test_every_extremity_code_of_the_plan_is_loaded_with_its_laterality():
    codes = {c.code: c for fam in load_lexicons().families for c in fam.codes if c.status == "active"}
    for code in ("73000", "73030", "73060", "73080", "73110", "73130", "73140", "73502", "73522", "73552",
                 "73562", "73565", "73590", "73610", "73630", "73650", "73660", "73221", "73723", "73200", "73702"):
        assert code in codes, code
    assert codes["73562"].laterality == "unilateral"
    assert codes["73565"].laterality == "bilateral" and codes["73522"].laterality == "bilateral"
    assert codes["72100"].laterality == "none"
    for code in codes.values():
        assert code.source and code.paraphrase


def _copy_lexicons(tmp_path):
    target = tmp_path / "lex"
    shutil.copytree(lexicon_root(), target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_a_family_file_with_a_bad_side_policy_fails_naming_the_file_and_key(tmp_path):
    root = _copy_lexicons(tmp_path)
    path = root / "families" / "knee_leg.toml"
    path.write_text(path.read_text().replace('laterality = "unilateral"', 'laterality = "one side"', 1))
    with pytest.raises(LexiconError) as err:
        load_lexicons(root)
    assert "knee_leg.toml" in str(err.value) and "laterality" in str(err.value)


def test_a_projection_naming_an_unknown_part_fails_at_load(tmp_path):
    root = _copy_lexicons(tmp_path)
    path = root / "families" / "knee_leg.toml"
    path.write_text(path.read_text() + '\n[[anatomy.projections]]\nname = "odd"\nwords = ["odd view"]\nparts = ["elbowz"]\n')
    with pytest.raises(LexiconError) as err:
        load_lexicons(root)
    assert "knee_leg.toml" in str(err.value) and "elbowz" in str(err.value)


def test_a_new_family_is_a_data_file(tmp_path, engine):
    """A family the engine has never seen works from its file alone: its part, its codes, its side rule."""
    from scribe.engine import build_engine

    root = _copy_lexicons(tmp_path)
    (root / "families" / "jaw_test.toml").write_text('''
family = "jaw_test"
description = "Test family: temporomandibular joint radiography"
study = "the jaw"
laterality_modifiers = ["RT", "LT", "50"]
distinct_modifiers = ["59"]
facility_modifiers = { professional = "26", technical = "TC" }
pair_rules = []
[fee_schedule]
year = 2026
[[codes]]
code = "70328"
modality = "xray"
region = "tmj"
paraphrase = "one jaw joint, open and closed mouth"
min_views = 2
max_views = 3
laterality = "unilateral"
source = "test fixture"
[[anatomy.parts]]
id = "tmj"
label = "temporomandibular joint"
words = ["temporomandibular joint", "TMJ"]
''')
    other = build_engine(root)
    text = report("XR LEFT TMJ", "jaw clicking", "open and closed mouth lateral views, 2 views")
    result = other.check(text, Encounter.from_dict({"cpt": ["70328"]})).to_dict()
    required = by_code(result, "MODIFIER_REQUIRED")
    assert required and "LT" in required[0]["fix"]
    assert result["facts"]["body_parts"] == ["tmj"] and result["facts"]["laterality"] == {"tmj": "left"}


# -- sides and parts ---------------------------------------------------------------------------
@pytest.mark.parametrize("sentence,side", [
    ("Exam: radiographs of the RIGHT KNEE, three views.", "right"),
    ("Knee, left: AP and lateral views.", "left"),
    ("XR KNEE 3V LT", "left"),
    ("L knee films today.", "left"),
    ("Standing films of both knees.", "both"),
    ("AP views of the knees.", "both"),
    ("Right and left knee radiographs.", "both"),
])
def test_the_side_said_with_the_part(engine, sentence, side):
    f = engine.sentence_facts([sentence])[0]
    assert [(p[0], p[4]) for p in f.parts] == [("knee", side)]


def test_the_longest_part_name_wins_and_a_projection_name_is_not_a_part(engine):
    f = engine.sentence_facts(["Left distal radius films with a scapular Y view."])[0]
    assert [p[0] for p in f.parts] == ["wrist"]
    assert "scapular_y" in [p[0] for p in f.projections]


def test_a_side_named_only_outside_the_study_lines_of_both_sides_is_unclear(check):
    text = ("Indication: right knee pain; the left knee was replaced years ago.\n"
            "Radiographs: AP and lateral views show mild narrowing." + SIGNED)
    result = check(text, cpt=["73560"])
    assert "knee" not in result["facts"]["laterality"]
    assert not gap_codes(result) & {"LATERALITY_MISSING", "LATERALITY_MISMATCH"}


# -- views per side ----------------------------------------------------------------------------
def test_views_of_both_sides_are_counted_per_side(check):
    text = report("XR BOTH KNEES", "bilateral knee pain", "AP and lateral views of both knees.")
    assert check(text, cpt=["73560"], modifiers=["50"])["facts"]["views"] == 2


def test_one_oblique_of_a_foot_is_one_view_while_spine_obliques_stay_a_pair(check):
    foot = report("XR RIGHT FOOT", "foot pain after a fall", "AP, lateral and oblique views.")
    result = check(foot, cpt=["73630"], modifiers=["RT"])
    assert result["facts"]["views"] == 3 and "VIEWS_MISMATCH" not in gap_codes(result)
    spine = report("XR LUMBAR SPINE", "low back pain", "AP, lateral and oblique views.")
    assert check(spine, cpt=["72110"])["facts"]["views"] == 4


def test_supported_codes_follow_the_sides_imaged(check):
    both = report("STANDING KNEES", "knee osteoarthritis follow-up", "one standing AP view of both knees")
    assert check(both, cpt=["73565"])["supported_cpt"][0] == "73565"
    hips = report("XR BOTH HIPS", "bilateral hip pain", "AP pelvis and frog-leg laterals of both hips, 3 views")
    assert check(hips, cpt=["73522"])["supported_cpt"][0] == "73522"
    one = report("XR RIGHT HIP", "right hip pain", "AP pelvis and frog-leg lateral of the right hip, 2 views")
    assert check(one, cpt=["73502"], modifiers=["RT"])["supported_cpt"][0] == "73502"


# -- laterality gaps ---------------------------------------------------------------------------
def test_side_in_the_note_and_none_on_the_claim_asks_for_the_modifier(check):
    text = report("XR LEFT WRIST 3 VIEWS", "wrist pain after a fall on an outstretched hand", "PA, lateral and oblique views.")
    result = check(text, cpt=["73110"])
    required = by_code(result, "MODIFIER_REQUIRED")
    assert required and "LT" in required[0]["fix"] and required[0]["evidence"]
    assert "LATERALITY_MISSING" not in gap_codes(result)


def test_side_nowhere_is_laterality_missing_and_the_claim_side_is_enough(check):
    text = report("XR ELBOW 3 VIEWS", "elbow pain after a fall", "AP, lateral and oblique views.")
    assert "LATERALITY_MISSING" in gap_codes(check(text, cpt=["73080"]))
    assert "LATERALITY_MISSING" not in gap_codes(check(text, cpt=["73080"], modifiers=["RT"]))


def test_the_other_side_on_the_claim_is_a_mismatch_naming_the_right_modifier(check):
    text = report("XR RIGHT ANKLE 3 VIEWS", "right ankle inversion injury", "AP, mortise and lateral views.")
    result = check(text, cpt=["73610"], modifiers=["LT"])
    mismatch = by_code(result, "LATERALITY_MISMATCH")
    assert mismatch and "RT" in mismatch[0]["fix"]


def test_both_sides_imaged_and_one_billed_is_a_mismatch_and_two_lines_are_not_a_pair(engine):
    text = report("XR BOTH HANDS", "bilateral hand pain and morning stiffness", "PA, oblique and lateral views of both hands.")
    one = lines_check(engine, text, [{"cpt": "73130", "modifiers": ["RT"]}])
    assert "LATERALITY_MISMATCH" in gap_codes(one)
    two = lines_check(engine, text, [{"cpt": "73130", "modifiers": ["RT"]}, {"cpt": "73130", "modifiers": ["LT"]}])
    assert not gap_codes(two) & {"LATERALITY_MISMATCH", "NCCI_PAIR_CONFLICT", "MODIFIER_REQUIRED"}


def test_a_code_of_both_sides_takes_no_side_modifier_and_does_not_fit_one_side(check):
    both = report("STANDING KNEES", "knee osteoarthritis follow-up", "one standing AP view of both knees")
    assert "MODIFIER_INVALID" in gap_codes(check(both, cpt=["73565"], modifiers=["RT"]))
    one = report("STANDING LEFT KNEE", "left knee osteoarthritis", "one standing AP view of the left knee")
    assert "LATERALITY_MISMATCH" in gap_codes(check(one, cpt=["73565"]))


def test_spine_codes_still_refuse_side_modifiers(check):
    text = report("XR LUMBAR SPINE 2 VIEWS", "low back pain", "AP and lateral views.")
    invalid = by_code(check(text, cpt=["72100"], modifiers=["LT"]), "MODIFIER_INVALID")
    assert invalid and "midline" in invalid[0]["message"]


def test_a_diagnosis_code_of_the_other_side_or_no_side(check):
    text = report("XR LEFT SHOULDER 3 VIEWS", "left shoulder pain after a fall",
                  "AP internal rotation, AP external rotation and scapular Y views.")
    wrong = by_code(check(text, cpt=["73030"], modifiers=["LT"], icd10=["M25.511"]), "LATERALITY_MISMATCH")
    assert wrong and "M25.512" in wrong[0]["fix"]
    vague = by_code(check(text, cpt=["73030"], modifiers=["LT"], icd10=["M25.519"]), "DX_MORE_SPECIFIC_AVAILABLE")
    assert vague and "M25.512" in vague[0]["fix"]


def test_rt_and_lt_lines_of_a_knee_and_an_ankle_each_keep_their_side(engine):
    text = ("XR RIGHT KNEE 2 VIEWS AND XR LEFT ANKLE 3 VIEWS\nIndication: fall from a ladder, right knee and left ankle pain.\n"
            "Technique: AP and lateral of the right knee; AP, mortise and lateral of the left ankle.\n"
            "Findings: No fracture of either.\nImpression: Negative." + SIGNED)
    ok = lines_check(engine, text, [{"cpt": "73560", "modifiers": ["RT"]}, {"cpt": "73610", "modifiers": ["LT"]}])
    assert not gap_codes(ok) & {"LATERALITY_MISMATCH", "MODIFIER_REQUIRED", "LATERALITY_MISSING"}
    swapped = lines_check(engine, text, [{"cpt": "73560", "modifiers": ["LT"]}, {"cpt": "73610", "modifiers": ["RT"]}])
    assert len(by_code(swapped, "LATERALITY_MISMATCH")) == 2


# -- necessity and wording ---------------------------------------------------------------------
def test_a_joint_mri_for_pain_alone_is_not_specific_and_an_injury_is(check):
    pain = ("MRI RIGHT KNEE WITHOUT CONTRAST\nIndication: right knee pain.\nFindings: Menisci intact.\n"
            "Impression: Normal." + SIGNED)
    result = check(pain, cpt=["73721"], modifiers=["RT"], icd10=["M25.561"])
    assert {"INDICATION_NOT_SPECIFIC", "DX_NOT_SUPPORTING"} <= gap_codes(result)
    for gap in result["gaps"]:
        assert "spine" not in gap["message"] + gap["fix"], gap
    injury = pain.replace("right knee pain.", "right knee pain after a twisting injury playing football.")
    assert not gap_codes(check(injury, cpt=["73721"], modifiers=["RT"])) & {"INDICATION_NOT_SPECIFIC"}


def test_a_knee_code_on_a_shoulder_study_is_a_region_mismatch(check):
    text = report("XR RIGHT SHOULDER 2 VIEWS", "shoulder pain", "AP and axillary views.")
    mismatch = by_code(check(text, cpt=["73560"], modifiers=["RT"]), "REGION_MISMATCH")
    assert mismatch and "73030" in mismatch[0]["fix"]
