"""Report layouts whose findings stand under unusual heads: a region word as a subheading, a body part
with its projections before the colon, study labels after the comparison, a line announcing the images."""
from __future__ import annotations

import pytest

from scribe import Encounter


def gaps(engine, text, cpt):
    return {g["code"] for g in engine.check(text, Encounter(cpt=(cpt,))).to_dict()["gaps"]}


SIGN = "\nReferred by Dr. Odile Brandt.\nElectronically signed by Ren Takeda, MD"


@pytest.mark.parametrize("cpt, text", [
    pytest.param("72148", "MRI lumbar spine without contrast.\nHistory: sciatica for ten weeks despite therapy.\n"
                 "Comparison: none.\nLumbar: L5-S1 left paracentral protrusion contacting the S1 root.\n"
                 "Impression: L5-S1 protrusion.", id="a region word with a colon"),
    pytest.param("72040", "XR cervical spine.\nHistory: neck pain after a rear-end collision.\nComparison: none available.\n"
                 "Cervical spine, AP, lateral and odontoid: alignment maintained, no fracture.\n"
                 "Impression: no acute injury.", id="a body part listing its projections, after the comparison"),
    pytest.param("72100", "XR lumbar spine, two sets today.\nIndication: L2 fracture, brace check.\n"
                 "Comparison: CT of last week.\nSet 1 (supine): AP and lateral. Stable L2 height.\n"
                 "Impression: stable L2 fracture.", id="study labels after a comparison are this study's images"),
    pytest.param("72100", "XR lumbar spine.\nIndication: L2 fracture.\nComparison: none.\n"
                 "A (morning, supine): AP and lateral. L2 height loss of 20%.\nImpression: L2 fracture.",
                 id="a single letter with a parenthesis is not a SOAP head"),
    pytest.param("72100", "Spine clinic consult.\nDx: right L5 radiculopathy.\nRadiographs taken here today:\n"
                 "- Lumbar spine AP and lateral: preserved alignment, mild L4-5 disc narrowing.\nNo earlier films.\n"
                 "Imaging impression: mild L4-5 degeneration.", id="a line announcing the images heads their read"),
    pytest.param("72100", "Sports medicine visit.\nS: rower, two weeks of low back ache after ergometer tests.\n"
                 "O: tender right paraspinals, neuro intact.\nX-rays of the low back taken in clinic, looked at with him: "
                 "disc heights fine, alignment normal, no pars break.\nImp: normal lumbar films.",
                 id="a line reporting the films inside the exam reads them"),
    pytest.param("72040", "Clinic note.\nDiagnosis: neck strain after a tackle.\n"
                 "C-spine films here today (AP, lateral, odontoid): lordosis kept, no fracture, dens intact.\n"
                 "Impression: normal cervical films.", id="a line reporting the films after a diagnosis reads them"),
])
def test_findings_under_an_unusual_head_are_findings(engine, cpt, text):
    assert "FINDINGS_MISSING" not in gaps(engine, text + SIGN, cpt)


def test_a_sacrum_and_coccyx_study_is_its_own_region_but_a_lumbar_series_takes_in_the_sacrum(engine):
    tailbone = ("XR sacrum/coccyx, AP and lateral, taken here today.\nReason: fell onto her tailbone skating.\n"
                "No earlier films.\nFindings: no fracture.\nImpression: normal sacrum and coccyx." + SIGN)
    out = engine.check(tailbone, Encounter(cpt=("72100",))).to_dict()
    assert out["facts"]["region"] == ["sacrum_coccyx"] and "REGION_MISMATCH" in {g["code"] for g in out["gaps"]}
    lumbar = ("MRI lumbar spine without contrast.\nHistory: sciatica for ten weeks despite therapy.\nComparison: none.\n"
              "Findings: the MRI shows normal marrow in the sacrum; L5-S1 protrusion.\nImpression: L5-S1 protrusion." + SIGN)
    assert engine.check(lumbar, Encounter(cpt=("72148",))).to_dict()["facts"]["region"] == ["lumbosacral"]


def test_a_sentence_about_the_original_report_opens_no_pasted_block(engine):
    text = ("XR THORACIC SPINE, 2 VIEWS\nOrdering provider: Dr. Aiko Tanabe\nIndication: fall onto the back, mid back pain.\n"
            "Views: AP and lateral.\nComparison: none.\n*** CORRECTED REPORT ***\n"
            "The original report read \"no acute fracture.\" On second review a fracture is present.\n"
            "Findings: mild anterior wedging of T9, about 15 percent height loss.\nImpression: acute T9 compression fracture.\n"
            "Electronically signed: Bruno Salas, MD")
    out = engine.check(text, Encounter(cpt=("72070",), modifiers=("26",), site="facility")).to_dict()
    assert out["facts"]["signed"] is True
    assert not {g["code"] for g in out["gaps"]} & {"FINDINGS_MISSING", "IMPRESSION_MISSING", "SIGNATURE_MISSING"}


def test_a_vista_style_report_is_read(engine):
    text = ("LUMBAR SPINE\nReq Phys: ABEBE,SAMUEL T                Pat Loc: PRIMARY CARE\n"
            "    Reason for Study: chronic low back pain, service connected\n"
            "    Report Status: Verified\n    Verifier E-Sig:/ES/ MARTA J OYELARAN, MD\n    Report:\n"
            "      Technique: AP and lateral views.\n      Comparison: community care films dated 2021,\n"
            "      loaded to PACS.\n      Alignment preserved. Mild L4-5 disc narrowing with small osteophytes.\n"
            "    Impression:\n      Mild lumbar spondylosis.")
    out = engine.check(text, Encounter(cpt=("72100",), modifiers=("26",), site="facility")).to_dict()
    assert out["facts"]["signed"] is True
    assert not {g["code"] for g in out["gaps"]} & {"SIGNATURE_MISSING", "FINDINGS_MISSING", "ORDERING_PROVIDER_MISSING"}


def test_the_pelvis_of_a_body_ct_is_not_a_pelvis_study(engine):
    text = ("CT CHEST, ABDOMEN AND PELVIS WITH IV CONTRAST; THORACIC AND LUMBAR SPINE RECONSTRUCTIONS\n"
            "Indication: motorcycle crash, back pain.\nTechnique: axial images chest through pelvis after IV contrast.\n"
            "Comparison: none.\nFindings: no thoracic or lumbar spine fracture.\nImpression: no spine fracture.")
    out = engine.check(text, Encounter(cpt=("72129", "72132"), modifiers=("26",), site="facility")).to_dict()
    assert "pelvis" not in out["facts"]["region"] and {"thoracic", "lumbosacral"} <= set(out["facts"]["region"])


@pytest.mark.parametrize("header", ["Hx per tech:", "History as per patient:", "Clinical hx (tech):",
                                    "Auth reason:", "Dx on req:"])
def test_a_history_said_with_its_source_is_the_reason_for_the_exam(engine, header):
    text = (f"CT CERVICAL SPINE WITHOUT CONTRAST\n{header} driver in a rear-end collision yesterday, neck pain.\n"
            "Comparison: none.\nFindings: no fracture, alignment normal.\nImpression: no acute injury." + SIGN)
    assert "INDICATION_MISSING" not in gaps(engine, text, "72125")
    assert "INDICATION_MISSING" in gaps(engine, text.replace(f"{header} driver in a rear-end collision yesterday, "
                                                               "neck pain.\n", ""), "72125")


def test_section_names_and_signatures_in_the_writers_own_language(engine):
    text = ("Röntgen / Radiology: X-ray of the right knee in 3 views (AP standing, lateral, patella tangential), today in our "
            "practice. No previous images for comparison.\nBefund: narrowing of the medial joint space, osteophytes.\n"
            "Beurteilung: medial gonarthrosis right, Kellgren-Lawrence III.\n"
            "gez. Dr. med. Andreas Weber, Oberarzt Orthopädie - elektronisch unterschrieben / electronically signed")
    out = engine.check(text, Encounter(cpt=("73562",), modifiers=("RT",))).to_dict()
    codes = {g["code"] for g in out["gaps"]}
    assert out["facts"]["signed"] is True and not codes & {"IMPRESSION_MISSING", "FINDINGS_MISSING", "SIGNATURE_MISSING"}
    unsigned = text.rsplit("\n", 1)[0] + "\nDiktiert: Dr. med. Andreas Weber"
    assert engine.check(unsigned, Encounter(cpt=("73562",), modifiers=("RT",))).to_dict()["facts"]["signed"] is False


def test_a_signer_named_with_a_specialty_before_the_signing_words(engine):
    text = ("XR LUMBAR SPINE 2 VIEWS\nIndication: back pain.\nComparison: none.\nFindings: normal.\nImpression: normal.\n"
            "MUDr. Jana Horakova, radiolog - podepsano elektronicky / signed electronically")
    assert engine.check(text, Encounter(cpt=("72100",))).to_dict()["facts"]["signed"] is True
