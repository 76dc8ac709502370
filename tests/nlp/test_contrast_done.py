"""Contrast is what was done: the study's name says what was ordered, the technique and the read
say what was given; a negated contrast statement means the study was done without."""
from __future__ import annotations

from scribe import Encounter


def contrast(engine, text, cpt="72158"):
    out = engine.check(text, Encounter(cpt=(cpt,))).to_dict()
    return out["facts"]["contrast"], {g["code"] for g in out["gaps"]}


def test_contrast_declined_after_a_with_and_without_title_is_a_study_without(engine):
    text = ("MR LUMBAR SPINE PRE AND POST GADOLINIUM\nHistory: recurrent sciatica after discectomy, 8 weeks.\n"
            "Technique: sagittal and axial T1 and T2. No intravenous gadolinium was given (prior reaction).\n"
            "Findings: scar at L5-S1.\nImpression: postoperative scar.")
    value, gaps = contrast(engine, text)
    assert value == "without" and "CONTRAST_MISMATCH" in gaps


def test_the_title_alone_still_documents_the_contrast(engine):
    text = ("MR LUMBAR SPINE PRE AND POST GADOLINIUM\nHistory: recurrent sciatica after discectomy, 8 weeks.\n"
            "Findings: enhancing scar at L5-S1.\nImpression: postoperative scar.")
    assert contrast(engine, text)[0] == "without_with"


def test_noncon_is_without_contrast(engine):
    text = "CT C-SPINE NON-CON\nHistory: fall from a roof.\nFindings: no fracture.\nImpression: negative."
    assert contrast(engine, text, cpt="72125")[0] == "without"


def test_an_order_line_names_the_study_ordered_not_what_was_done(engine):
    text = ("NORTHSIDE IMAGING\nORDERED: MR THORACIC SPINE W/WO CONTRAST\nReferring: Ada Kim, NP\n"
            "Reason on order: mid back pain and fever, evaluate for infection.\n"
            "Tech note: contrast refused by the patient, exam done without it.\nComparison: none.\n"
            "Findings: no marrow edema, no collection.\nImpression: no MRI sign of infection on this non-contrast exam.")
    value, gaps = contrast(engine, text, "72157")
    assert value == "without" and "CONTRAST_MISMATCH" in gaps
    assert "INDICATION_MISSING" not in gaps      # the order's reason field is the indication
