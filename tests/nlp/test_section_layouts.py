"""Report layouts whose findings stand under unusual heads: a region word as a subheading, a body part
with its projections before the colon, study labels after the comparison, a line announcing the images."""
from __future__ import annotations

from scribe import Encounter


def gaps(engine, text, cpt):
    return {g["code"] for g in engine.check(text, Encounter(cpt=(cpt,))).to_dict()["gaps"]}


SIGN = "\nReferred by Dr. Odile Brandt.\nElectronically signed by Ren Takeda, MD"


def test_a_region_word_with_a_colon_heads_findings(engine):
    text = ("MRI lumbar spine without contrast.\nHistory: sciatica for ten weeks despite therapy.\nComparison: none.\n"
            "Lumbar: L5-S1 left paracentral protrusion contacting the S1 root.\nImpression: L5-S1 protrusion." + SIGN)
    assert "FINDINGS_MISSING" not in gaps(engine, text, "72148")


def test_a_body_part_listing_its_projections_heads_its_findings_after_the_comparison(engine):
    text = ("XR cervical spine.\nHistory: neck pain after a rear-end collision.\nComparison: none available.\n"
            "Cervical spine, AP, lateral and odontoid: alignment maintained, no fracture.\n"
            "Impression: no acute injury." + SIGN)
    assert "FINDINGS_MISSING" not in gaps(engine, text, "72040")


def test_study_labels_after_a_comparison_are_this_studys_images(engine):
    text = ("XR lumbar spine, two sets today.\nIndication: L2 fracture, brace check.\nComparison: CT of last week.\n"
            "Set 1 (supine): AP and lateral. Stable L2 height.\nImpression: stable L2 fracture." + SIGN)
    assert "FINDINGS_MISSING" not in gaps(engine, text, "72100")


def test_a_single_letter_head_with_a_parenthesis_is_not_a_soap_section(engine):
    text = ("XR lumbar spine.\nIndication: L2 fracture.\nComparison: none.\n"
            "A (morning, supine): AP and lateral. L2 height loss of 20%.\nImpression: L2 fracture." + SIGN)
    assert "FINDINGS_MISSING" not in gaps(engine, text, "72100")


def test_a_line_announcing_the_images_heads_their_read(engine):
    text = ("Spine clinic consult.\nDx: right L5 radiculopathy.\nRadiographs taken here today:\n"
            "- Lumbar spine AP and lateral: preserved alignment, mild L4-5 disc narrowing.\nNo earlier films.\n"
            "Imaging impression: mild L4-5 degeneration." + SIGN)
    assert "FINDINGS_MISSING" not in gaps(engine, text, "72100")


def test_a_sacrum_and_coccyx_study_is_its_own_region_but_a_lumbar_series_takes_in_the_sacrum(engine):
    tailbone = ("XR sacrum/coccyx, AP and lateral, taken here today.\nReason: fell onto her tailbone skating.\n"
                "No earlier films.\nFindings: no fracture.\nImpression: normal sacrum and coccyx." + SIGN)
    out = engine.check(tailbone, Encounter(cpt=("72100",))).to_dict()
    assert out["facts"]["region"] == ["sacrum_coccyx"] and "REGION_MISMATCH" in {g["code"] for g in out["gaps"]}
    lumbar = ("MRI lumbar spine without contrast.\nHistory: sciatica for ten weeks despite therapy.\nComparison: none.\n"
              "Findings: the MRI shows normal marrow in the sacrum; L5-S1 protrusion.\nImpression: L5-S1 protrusion." + SIGN)
    assert engine.check(lumbar, Encounter(cpt=("72148",))).to_dict()["facts"]["region"] == ["lumbosacral"]
