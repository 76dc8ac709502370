"""Limb conditions composed over the code set from what their clause says: head, site, kind, side."""
from __future__ import annotations

import pytest

from scribe import Encounter

SIGNED = "\nComparison: none.\nOrdered by Dr. Maya Lund.\nElectronically signed by Petra Olsen, MD"


def indications(engine, text, cpt, modifiers=("RT",), icd10=()):
    enc = Encounter.from_dict({"cpt": [cpt], "modifiers": list(modifiers), "icd10": list(icd10), "site": "office"})
    result = engine.check(text, enc).to_dict()
    return result, {(i["assertion"], c["code"]) for i in result["indications"] for c in i["icd10"]}


def test_a_fracture_takes_its_kind_bone_end_and_side_from_the_clause(engine):
    text = ("LEFT WRIST, 3 VIEWS\nHistory: 9 year old fell from monkey bars.\nPA, lateral and oblique views.\n"
            "Findings: cortical buckling of the distal radial metaphysis.\n"
            "Impression: Torus fracture of the distal left radius." + SIGNED)
    _, found = indications(engine, text, "73110", ["LT"])
    assert ("present", "S52.522A") in found          # torus, lower end, left radius, initial


def test_a_pain_site_side_is_the_letter_said_with_the_part(engine):
    text = ("XR WRIST RT 2 VIEWS\nReason: R wrist pain after a fall onto the outstretched hand.\n"
            "PA and lateral views.\nFindings: no fracture, carpal alignment normal.\nImpression: normal wrist." + SIGNED)
    _, found = indications(engine, text, "73100")
    assert ("present", "M25.531") in found and ("present", "M25.539") not in found


def test_a_digit_said_by_its_lay_name_is_the_tabular_finger(engine):
    text = ("Right small finger, 3 views\nIndication: crush injury at work.\nPA, lateral and oblique.\n"
            "Findings: nondisplaced fracture at the base of the proximal phalanx of the right small finger.\n"
            "Impression: nondisplaced proximal phalanx fracture, right 5th finger." + SIGNED)
    _, found = indications(engine, text, "73140")
    assert ("present", "S62.646A") in found


def test_a_follow_up_of_routine_healing_is_the_subsequent_encounter(engine):
    text = ("Follow-up visit, right ankle, 3 views\nHistory: 4 weeks after a right lateral malleolus fracture, "
            "healing as expected, in a boot.\nAP, mortise and lateral views.\n"
            "Findings: bridging callus at the fracture of the lateral malleolus, alignment maintained.\n"
            "Impression: healing fracture of the right lateral malleolus, routine healing." + SIGNED)
    _, found = indications(engine, text, "73610")
    assert ("present", "S82.61XD") in found           # displaced by default, right, subsequent routine healing


def test_a_sprain_said_without_detail_is_the_unspecified_ligament(engine):
    text = ("LEFT ANKLE 3 VIEWS\nIndication: rolled her left ankle stepping off a curb.\nAP, mortise and lateral.\n"
            "Findings: lateral soft tissue swelling, no fracture.\nImpression: left ankle sprain, no fracture." + SIGNED)
    result, found = indications(engine, text, "73610", ["LT"], ["S93.402A"])
    assert ("present", "S93.402A") in found
    assert "DX_MORE_SPECIFIC_AVAILABLE" not in {g["code"] for g in result["gaps"]}


def test_an_unspecified_side_code_gets_the_sided_fix_from_the_composed_link(engine):
    text = ("XR KNEE LEFT 3 VIEWS\nReason: left knee effusion after a twisting injury.\nAP, lateral and sunrise views.\n"
            "Findings: moderate suprapatellar joint effusion, no fracture.\nImpression: joint effusion." + SIGNED)
    result, found = indications(engine, text, "73562", ["LT"], ["M25.469"])
    assert ("present", "M25.462") in found
    assert "DX_MORE_SPECIFIC_AVAILABLE" in {g["code"] for g in result["gaps"]}


@pytest.mark.parametrize("text", [
    "THORACIC SPINE, 2 VIEWS\nClinical history: pain between the shoulder blades for six weeks.\n"
    "AP and lateral views of the thoracic spine.\nFindings: mild spondylosis.\nImpression: mild thoracic spondylosis.",
])
def test_a_spine_study_keeps_its_spine_link(engine, text):
    _, found = indications(engine, text + SIGNED, "72070", [])
    assert not any(code.startswith("M25.5") for _, code in found)


def test_an_ordinal_digit_is_not_a_spine_level(engine):
    text = ("XR L 5th finger 3 views: PA, lateral, oblique.\nHistory: jammed L 5th finger playing volleyball.\n"
            "Findings: no fracture or dislocation.\nImpression: normal left little finger." + SIGNED)
    result, _ = indications(engine, text, "73140", ["LT"])
    assert result["facts"]["levels"] == [] and result["supported_cpt"][0] == "73140"


def test_a_condition_said_without_a_part_is_of_the_one_part_the_study_images(engine):
    text = ("MRI LEFT LOWER LEG WITHOUT CONTRAST\nHistory: distance runner with six weeks of shin pain, "
            "radiographs negative. Question stress fracture.\nTechnique: coronal T1, axial STIR and T2 fat-sat "
            "images of the left tibia and fibula.\nFindings: cortical fracture line of the mid tibia with marrow edema.\n"
            "Impression: tibial stress fracture." + SIGNED)
    result, found = indications(engine, text, "73718", ["LT"], ["M84.362A"])
    assert ("possible", "M84.362A") in found
    assert result["facts"]["levels"] == []                 # T1 here is a sequence, not a vertebra
    assert not {"INDICATION_NOT_SPECIFIC", "DX_NOT_SUPPORTING"} & {g["code"] for g in result["gaps"]}


def test_a_condition_of_someone_else_is_not_the_patients(engine):
    text = ("RIGHT KNEE 3 VIEWS\nHistory: knee pain after a run; his roommate had a meniscus tear last year.\n"
            "AP, lateral and sunrise views.\nFindings: no fracture, no effusion.\nImpression: normal right knee." + SIGNED)
    _, found = indications(engine, text, "73562")
    assert not any(a == "present" and code.startswith("S83.2") for a, code in found)


def test_two_parts_said_together_with_one_condition_are_two_conditions(engine):
    text = ("XR ANKLE RT 3V / XR FOOT RT 3V\nIndication: R ankle and foot pain after an inversion injury.\n"
            "Technique: ankle AP, mortise, lateral; foot AP, oblique, lateral.\nFindings: no fracture.\n"
            "Impression: no fracture." + SIGNED)
    _, found = indications(engine, text, "73610")
    assert {("present", "M25.571"), ("present", "M79.671")} <= found


def test_a_torn_ligament_is_filed_as_a_sprain_and_a_cuff_tendon_as_the_rotator_cuff(engine):
    knee = ("MRI RIGHT KNEE WITHOUT CONTRAST\nHistory: pivoting injury playing soccer, instability.\n"
            "Technique: sagittal and coronal PD fat-sat, axial T2.\nFindings: complete tear of the ACL, menisci intact.\n"
            "Impression: complete ACL tear, right knee." + SIGNED)
    _, found = indications(engine, knee, "73721")
    assert ("present", "S83.511A") in found
    shoulder = ("MRI LEFT SHOULDER WITHOUT CONTRAST\nHistory: six months of pain, failed therapy.\n"
                "Technique: oblique coronal PD fat-sat, axial T2.\nFindings: full-thickness supraspinatus tear.\n"
                "Impression: full thickness tear of the supraspinatus tendon, left shoulder." + SIGNED)
    _, found = indications(engine, shoulder, "73221", ["LT"])
    assert ("present", "M75.122") in found
