"""Whole notes in many phrasings (written for these tests), checked as a coder would:
the exact set of gap codes, plus the facts that decide them."""
from __future__ import annotations

import pytest

from tests.conftest import gap_codes

BASE = ("Lumbar spine AP and lateral, 2 views.\nIndication: chronic low back pain.\nComparison: none.\n"
        "Findings: normal alignment, no fracture.\nImpression: normal.\nElectronically signed by Dr A.\n"
        "Ordering physician: Dr B.\n")
SPOKEN = ("exam colon mri lumbar spine without contrast new paragraph clinical history colon 55 year old with left "
          "leg pain and numbness in the l5 distribution for 10 weeks comma no improvement with physical therapy period "
          "new paragraph comparison colon none period new paragraph findings colon at l4 l5 there is a left "
          "paracentral disc extrusion compressing the left l5 nerve root period new paragraph impression colon left "
          "l4 l5 disc extrusion period ordering physician doctor smith period electronically signed doctor jones")
HEALED = ("THORACOLUMBAR SPINE 2 VIEWS\nClinical history: history of L1 compression fracture in 2019, healed. Now new "
          "back pain after lifting.\nTechnique: AP and lateral.\nComparison: 2019 films.\nFindings: Old healed L1 wedge "
          "deformity, unchanged. No new fracture.\nImpression: Chronic healed L1 compression deformity.\n"
          "Signed: Dr A\nOrdering: Dr B")
METS = ("MRI THORACIC SPINE WITH AND WITHOUT CONTRAST\nHx: breast ca, new mid back pain, eval mets.\nTechnique: "
        "Sagittal T1, T2, STIR; post gadolinium T1 images.\nComparison: none\nFindings: Multiple enhancing lesions T4, "
        "T8 and T10 compatible with metastases. No cord compression.\nImpression: Osseous metastatic disease of the "
        "thoracic spine.\nSigned: Jo Kim MD\nOrdering physician: Dr Lee")
# dictated with no "colon" and no line breaks: headers said as words, then content
NO_COLON = ("x-ray lumbar spine three views period indication chronic low back pain for ten weeks period technique "
            "AP lateral and spot lateral views period findings mild disc space narrowing at l5 s1 period no fracture "
            "period impression mild l5 s1 disc degeneration period comparison none period ordering doctor patel period "
            "electronically signed doctor nguyen")
TERSE = "C-spine 3V. Ref Dr Okoye. Hx neck strain, MVC yesterday. Comp none. AP/lat/odontoid. No fx. IMP: neg. Signed B. Ito MD"
TWO_REGIONS = ("EXAM: FULL SPINE 1 VIEW AND LUMBAR SPINE 2 VIEWS\nOrdering: Dr Ames\nHistory: adolescent idiopathic scoliosis in a "
               "14 year old girl, and low back pain.\nComparison: 2024.\nTechnique: standing PA full spine; AP and lateral "
               "lumbar spine.\nFindings: right thoracic curve of 22 degrees. Lumbar spine normal.\nImpression: mild "
               "scoliosis.\nSigned: Dr Kerr")
ONE_VIEW = ("XR LUMBAR SPINE\nOrdering: Dr Ames\nIndication: low back pain after a fall from a ladder today.\nComparison: "
            "none.\nTechnique: a single lateral view; the patient could not tolerate further positioning.\nFindings: no "
            "fracture.\nImpression: limited single view, no fracture seen.\nSigned: Dr Kerr")
MRI_ABBREV = ("MRI L-SPINE W/O\nRef: Dr Sato\nHx: L L5 radic x 2 mo, no relief after 8 wks PT\nComp: none\nTech: sag/ax "
              "T1/T2 w/o contrast\nFindings: L4-5 L paracentral protrusion contacting L5.\nImp: L4-5 protrusion.\n"
              "E-signed R. Diaz MD")
OFFICE = ("Sports medicine visit\nHPI: 19 yo soccer player, low back pain for 5 weeks after a tackle.\nExam: tender at L5, "
          "neuro intact.\nImaging (done and read in clinic today; no earlier films to compare): lumbar spine, AP and lateral "
          "views. Normal alignment, no pars defect, no fracture.\nImpression of the radiographs: normal lumbar spine.\n"
          "Assessment: lumbar strain. PT and rest.\nElectronically signed by Rosa Imai, MD")
ED = ("EMERGENCY NOTE\nCC: fell from a bike, upper back pain.\nCourse: thoracic spine radiographs, 2 views, ordered by me. "
      "No prior imaging on file.\nMy interpretation: alignment normal, vertebral heights maintained, no fracture.\n"
      "A/P: thoracic strain; thoracic radiographs negative. Home with ibuprofen.\nSigned: Owen Pratt, MD")
ADDENDUM = ("MRI LUMBAR SPINE\nReq: Dr Lila Moss\nIndication: L5 radiculopathy, not improved despite 7 weeks of formal "
            "physical therapy.\nComparison: none.\nFindings: L4-5 right foraminal disc protrusion.\nImpression: right L4-5 "
            "foraminal protrusion.\nSigned: Dr Vance\nADDENDUM: The technique should read: performed without intravenous "
            "contrast.\nSigned: Dr Vance")
TERSE_FI = ("XR T-SPINE 2V\nOrd: K. Boyd, NP\nHx: mid back pain x 2 wk after a fall.\nComp: none.\nViews: AP, lat.\n"
            "F: Nl alignment. VB heights preserved. No fx.\nI: Neg T-spine.\n/s/ H. Ueda MD")
MYELO = ("EXAM: CT LUMBAR SPINE AFTER MYELOGRAPHY\nOrdering: Dr Ruiz\nIndication: neurogenic claudication despite 5 months "
         "of therapy; pacemaker, no MRI; surgical planning.\nTechnique: axial images after intrathecal iohexol; no IV "
         "contrast.\nComparison: radiographs 2025.\nFindings: severe L4-5 canal stenosis.\nImpression: severe L4-5 "
         "stenosis.\nSigned: Dr Ito")
SPOKEN_OFFICE = ("okay lumbar spine x rays comma a p and lateral comma we got them here in the office today for low back pain "
                 "after lifting period no old films to compare period findings colon normal alignment period no fracture "
                 "period impression colon normal period electronically signed doctor ueda")
MRI_ORDERED_AS = ("MRI CERVICAL SPINE\nOrdering: Dr Vale\nProcedure: MRI cervical spine (ordered as without and with "
                  "contrast)\nReason: history of lung cancer, 6 weeks of neck pain with right C6 radiculopathy.\nContrast: "
                  "gadolinium was not given because of renal failure; non-contrast study only.\nComparison: none.\nFindings: "
                  "no marrow lesion. Small C5-6 disc bulge.\nImpression: no metastasis.\nSigned: Dr Lowe")
MRI_FOLLOWED = ("MRI THORACIC SPINE\nReferring: Dr Vale\nHistory: prostate cancer, new mid back pain at night.\nTechnique: "
                "sagittal T1 and STIR images, followed by sagittal T1 images after intravenous injection of 6.5 mL "
                "gadoterate.\nComparison: bone scan 2025.\nFindings: no enhancing lesion.\nImpression: no metastasis.\n"
                "Signed: Dr Lowe")
CLINIC_BULLETS = ("Office visit\nS: 60F, low back pain x 3 months, no trauma.\nO: paraspinal tenderness, SLR negative.\n"
                  "XR L-spine 2 views (AP/lat) done in the office today, ordered and read by me. No prior films.\n"
                  " - mild facet sclerosis L4-5\n - disc heights maintained, no fracture\nXR impression: mild "
                  "spondylosis.\nA/P: PT.\nSigned: Dr Lowe")
SPOKEN_COMMA = ("Spine clinic dictation. Neck pain for four months. Cervical spine x-rays, two views, A P and lateral, taken "
                "here today, I ordered them. No prior films for comparison.\nFindings, narrowing at C five six with "
                "osteophytes, no fracture.\nImpression, cervical spondylosis at C five six.\nElectronically signed by Dr Lowe")
CLINIC = ("Pt seen in clinic. 70 yo with LBP x 3 months, failed PT. XR L-spine 2V obtained today in office, AP/lat: "
          "mild DJD L4-5, no listhesis, no fx. No comparison films. A: lumbar spondylosis. Electronically signed Dr. Mo Chan")


@pytest.mark.parametrize("text,enc,gaps,facts", [
    (BASE, dict(cpt=["72100"], icd10=["M54.50"]), set(), {"views": 2, "region": ["lumbosacral"]}),
    (BASE + "Flexion and extension views were not obtained.", dict(cpt=["72100"], icd10=["M54.50"]), set(), {"positions": []}),
    (BASE + "Will obtain flexion-extension views at the next visit if pain persists.", dict(cpt=["72100"]), set(), {"views": 2}),
    (BASE.replace("AP and lateral, 2 views", "AP, lateral, flexion and extension views (4 views)"),
     dict(cpt=["72110"], icd10=["M54.50"]), {"INDICATION_NOT_SPECIFIC", "DX_NOT_SUPPORTING"}, {"views": 4}),
    (BASE, dict(cpt=["72100"], icd10=["M54.50"], site="facility"), {"MODIFIER_REQUIRED"}, {}),
    (BASE, dict(cpt=["72100"], icd10=["M54.50"], modifiers=["LT"]), {"MODIFIER_INVALID"}, {}),
    (BASE, dict(cpt=["72100", "72110"], icd10=["M54.50"]), {"NCCI_PAIR_CONFLICT"}, {}),
    (BASE, dict(cpt=["72100"], icd10=["M54.5"]), {"DX_INVALID_CODE"}, {}),
    (SPOKEN, dict(cpt=["72148"], icd10=["M51.16"], site="facility", modifiers=["26"]), set(),
     {"contrast": "without", "signed": True, "levels": ["L5", "L4-L5"]}),
    (SPOKEN, dict(cpt=["72149"], icd10=["M51.16"], site="facility", modifiers=["26"]), {"CONTRAST_MISMATCH"}, {}),
    (HEALED, dict(cpt=["72080"], icd10=["S32.010A"]), {"DX_NOT_DOCUMENTED"}, {"region": ["thoracolumbar"]}),
    (HEALED, dict(cpt=["72080"], icd10=["Z87.81"]), set(), {"views": 2}),
    (METS, dict(cpt=["72157"], icd10=["C79.51", "Z85.3"], site="facility", modifiers=["26"]), set(),
     {"contrast": "without_with", "region": ["thoracic"]}),
    (CLINIC, dict(cpt=["72100"], icd10=["M47.816"]), set(), {"views": 2, "signed": True}),
    (CLINIC, dict(cpt=["72120"], icd10=["M47.816"]), {"POSITIONS_MISSING", "INDICATION_NOT_SPECIFIC", "DX_NOT_SUPPORTING"}, {}),
    # red-team phrasings: capitals without colons, a one-paragraph report, projection lists, signatures
    ("XR LUMBAR SPINE AP AND LATERAL\nINDICATION LOW BACK PAIN FOR 8 WEEKS\nCOMPARISON NONE\nFINDINGS ALIGNMENT IS "
     "NORMAL. NO FRACTURE.\nIMPRESSION NORMAL LUMBAR SPINE.\nORDERING PHYSICIAN SAMUEL ORTIZ MD\nELECTRONICALLY SIGNED "
     "BY ANA RUIZ MD", dict(cpt=["72100"], icd10=["M54.50"]), set(), {"views": 2}),
    ("Lumbar spine 2 views for low back pain, ordered by Dr Ortiz. The alignment is normal and there is no fracture. "
     "No prior studies for comparison. Impression: normal lumbar spine. Signed Ana Ruiz, MD",
     dict(cpt=["72100"], icd10=["M54.50"]), set(), {"views": 2, "signed": True}),
    (BASE.replace("AP and lateral, 2 views.", "radiographs.\nTechnique: PA/lat."), dict(cpt=["72100"], icd10=["M54.50"]),
     set(), {"views": 2}),
    (BASE.replace("Electronically signed by Dr A.", "Dictated but not signed by Dr A."),
     dict(cpt=["72100"], icd10=["M54.50"]), {"SIGNATURE_MISSING"}, {"signed": False}),
    ("MRI LUMBAR SPINE WITHOUT CONTRAST\nIndication: left L5 radiculopathy for 8 weeks despite physical therapy.\n"
     "Technique: sagittal T1, T2 and axial T2 without IV contrast. Post-contrast imaging was not performed.\n"
     "Comparison: none.\nFindings: L4-5 left paracentral protrusion contacting the L5 root.\nImpression: L4-5 "
     "protrusion.\nOrdering physician: Dr B\nElectronically signed by Dr A", dict(cpt=["72148"], icd10=["M54.16"]),
     set(), {"contrast": "without"}),
    (NO_COLON, dict(cpt=["72100"], icd10=["M54.50"]), set(),
     {"sections": ["comparison", "findings", "impression", "indication", "ordering", "technique", "title"],
      "signed": True, "views": 3}),
    (TERSE, dict(cpt=["72040"], icd10=["S16.1XXA"]), set(), {"views": 3, "region": ["cervical"]}),
    (TERSE, dict(cpt=["72040"], icd10=["S13.4XXA"]), {"DX_NOT_DOCUMENTED"}, {}),
    (TWO_REGIONS, dict(cpt=["72081", "72100"], icd10=["M41.124"]), {"NCCI_PAIR_CONFLICT"}, {"region": ["entire_spine"]}),
    (TWO_REGIONS.replace("LUMBAR SPINE 2 VIEWS", "LUMBAR SPINE 1 VIEW"), dict(cpt=["72081", "72100"], icd10=["M41.124"]),
     {"NCCI_PAIR_CONFLICT", "VIEWS_MISMATCH"}, {}),
    (ONE_VIEW, dict(cpt=["72100"], icd10=["M54.50"]), {"VIEWS_MISMATCH"}, {"views": 1}),
    (ONE_VIEW, dict(cpt=["72020"], icd10=["M54.50"]), set(), {"views": 1}),
    (MRI_ABBREV, dict(cpt=["72148"], icd10=["M54.16"]), set(), {"contrast": "without"}),
    (BASE.replace("chronic low back pain", "back pain"), dict(cpt=["72100"], icd10=["M54.50"]), set(), {}),
    (BASE.replace("Lumbar spine", "Cervical spine").replace("chronic low back pain", "back pain"),
     dict(cpt=["72040"], icd10=["M54.50"]), {"DX_NOT_DOCUMENTED"}, {}),
    (BASE.replace("AP and lateral, 2 views", "four views were requested; only AP and lateral views were obtained"),
     dict(cpt=["72100"], icd10=["M54.50"]), set(), {"views": 2}),
    (BASE.replace("AP and lateral, 2 views", "3 views ordered by Dr B"), dict(cpt=["72100"], icd10=["M54.50"]), set(),
     {"views": 3}),
    (MRI_ABBREV.replace("Tech: sag/ax T1/T2 w/o contrast", "Tech: sag/ax T1/T2"), dict(cpt=["72148"], icd10=["M54.16"]),
     set(), {"contrast": "without"}),
    ("CT C-SPINE W WO\nOrdering: Dr Ames\nIndication: neck pain with a history of lung cancer, assess for metastasis.\n"
     "Comparison: none.\nFindings: no destructive lesion.\nImpression: no metastasis.\nSigned: Dr Kerr",
     dict(cpt=["72127"]), set(), {"contrast": "without_with"}),
    ("lumbar spine two views period indication colon low back pain for eight weeks period comparison colon none period "
     "findings colon normal alignment period impression colon normal period referring physician colon doctor ames "
     "period signed colon doctor kerr", dict(cpt=["72100"], icd10=["M54.50"]), set(), {"signed": True}),
    (OFFICE, dict(cpt=["72100"], icd10=["S39.012A"]), set(), {"views": 2, "signed": True}),
    (ED, dict(cpt=["72070"], icd10=["S29.012A"], site="facility", modifiers=["26"]), set(), {"views": 2}),
    (ADDENDUM, dict(cpt=["72148"], icd10=["M54.17"]), set(), {"contrast": "without"}),
    (ADDENDUM.replace("L5 radiculopathy, not improved despite 7 weeks of formal physical therapy",
                      "low back pain, not improved despite 2 weeks of physical therapy"), dict(cpt=["72148"]),
     {"INDICATION_NOT_SPECIFIC"}, {}),
    (BASE + "If pain persists, flexion and extension views will be obtained.", dict(cpt=["72100"]), set(),
     {"views": 2, "positions": []}),
    ("EXAM: WHOLE SPINE AND LUMBAR SPINE\nOrdering: Dr Ames\nHistory: adolescent idiopathic scoliosis and low back pain.\n"
     "Comparison: 2024.\nTechnique: whole spine, three images: standing PA, lateral and right bending. At the same visit, AP "
     "and lateral views of the lumbar spine.\nFindings: right thoracic curve of 30 degrees, 18 degrees on bending. Lumbar "
     "spine normal.\nImpression: flexible thoracic curve.\nSigned: Dr Kerr",
     dict(cpt=["72082", "72100"], icd10=["M41.124"]), {"NCCI_PAIR_CONFLICT"}, {}),
    (TERSE_FI, dict(cpt=["72070"], icd10=["M54.6"]), set(), {"views": 2}),
    ("A 50 year old man with neck pain.\n" + TERSE_FI, dict(cpt=["72070"], icd10=["M54.6"]), set(), {"views": 2}),
    (MYELO, dict(cpt=["72132"], icd10=["M48.062"], site="facility", modifiers=["26"]), set(), {"contrast": "with"}),
    (MYELO, dict(cpt=["72131"], icd10=["M48.062"], site="facility", modifiers=["26"]), {"CONTRAST_MISMATCH"}, {}),
    (SPOKEN_OFFICE, dict(cpt=["72100"], icd10=["M54.50"]), set(), {"views": 2}),
    (SPOKEN_OFFICE.replace("comma a p and lateral comma", "comma i ordered four views but only a p and lateral were done comma"),
     dict(cpt=["72110"], icd10=["M54.50"]), {"VIEWS_MISMATCH"}, {"views": 2}),
    (BASE.replace("chronic low back pain", "back pain after gardening; history of an L2 compression fracture in 2012, "
                  "healed").replace("Lumbar spine AP and lateral, 2 views", "MRI lumbar spine without contrast"),
     dict(cpt=["72148"]), {"INDICATION_NOT_SPECIFIC"}, {}),
    ("XR SPINE ENTIRE 2 VIEWS; XR CERVICAL SPINE 1 VIEW\nOrdering: per Dr Wu\nHistory: scoliosis screening, and neck "
     "pain.\nComparison: none.\nFindings: 12 degree thoracic curve. Normal cervical alignment.\nImpression: mild "
     "scoliosis.\nSigned: Dr Kerr", dict(cpt=["72082", "72020"]), {"NCCI_PAIR_CONFLICT"}, {"region": ["entire_spine"]}),
    (MRI_ORDERED_AS, dict(cpt=["72156"], icd10=["M54.12", "Z85.118"], site="facility", modifiers=["26"]),
     {"CONTRAST_MISMATCH"}, {"contrast": "without"}),
    (MRI_FOLLOWED, dict(cpt=["72157"], icd10=["Z85.46"], site="facility", modifiers=["26"]), set(),
     {"contrast": "without_with"}),
    (CLINIC_BULLETS, dict(cpt=["72100"], icd10=["M47.816"]), set(), {"views": 2}),
    (SPOKEN_COMMA, dict(cpt=["72040"], icd10=["M47.812"]), set(), {"views": 2}),
    (BASE.replace("Impression: normal.", "Impression: lucency of L2 that could be a Mach band or a fracture."),
     dict(cpt=["72100"], icd10=["S32.020A"]), {"DX_UNCERTAIN_AS_CONFIRMED"}, {}),
    (BASE + "Flexion and extension views can be added if instability is suspected.", dict(cpt=["72100"]), set(),
     {"positions": []}),
    (BASE.replace("chronic low back pain", "left lumbar radiculopathy for 8 weeks"), dict(cpt=["72100"], icd10=["M54.12"]),
     {"DX_NOT_DOCUMENTED"}, {}),
    (BASE.replace("chronic low back pain", "left lumbar radiculopathy for 8 weeks"), dict(cpt=["72100"], icd10=["M54.16"]),
     set(), {}),
    (BASE.replace("chronic low back pain", "pain over the lumbar spine since a fall"), dict(cpt=["72100"], icd10=["M54.50"]),
     set(), {}),
])
def test_engine_whole_note(check, text, enc, gaps, facts):
    result = check(text, **enc)
    assert gap_codes(result) == gaps, [g["message"] for g in result["gaps"]]
    for key, value in facts.items():
        assert result["facts"][key] == value


def test_a_pasted_earlier_report_never_documents_this_study(check):
    current = ("XR THORACIC SPINE 2 VIEWS\nReferring: Dr. Lina Park\nHistory: mid back pain.\n"
               "Technique: AP and lateral.\nComparison: thoracic series 2023, report below.\n"
               "Findings: normal alignment, no fracture.\n")
    prior = ("\n=== Prior report 2023-01-09 ===\nXR THORACIC SPINE 3 VIEWS (AP, lateral, swimmer's)\n"
             "Findings: mild wedging of T8.\nImpression: mild T8 wedging.\nElectronically signed by Omar Reyes, MD\n")
    r = check(current + prior, cpt=["72070"])
    assert r["facts"]["views"] == 2 and r["facts"]["signed"] is False
    codes = {g["code"] for g in r["gaps"]}
    assert {"SIGNATURE_MISSING", "IMPRESSION_MISSING"} <= codes and "VIEWS_MISMATCH" not in codes
    # the current study can come after the pasted one
    r = check(prior.strip() + "\n\nCURRENT STUDY\n" + current + "Impression: normal.\nSigned: Dr. Ana Ruiz", cpt=["72070"])
    assert r["facts"]["views"] == 2 and r["facts"]["signed"] is True


def test_a_study_in_the_plan_is_an_order_not_this_study(check):
    note = ("Lumbar spine AP and lateral (2 views) in office today for low back pain. No prior films.\n"
            "Findings: mild L4-5 narrowing. Impression: mild degenerative change.\n"
            "Plan: MRI of the lumbar spine without contrast ordered; flexion and extension views at follow-up.\n"
            "Signed: Dr. Ada Kim")
    r = check(note, cpt=["72100"])
    assert r["facts"]["contrast"] is None and r["facts"]["views"] == 2 and r["facts"]["positions"] == []


TEMPLATE = ("EXAMINATION: MRI THORACIC SPINE\nOrdering physician: {ordering}\nCLINICAL INDICATION: lung cancer, new "
            "mid back pain at night.\nCONTRAST: {contrast}\nTECHNIQUE: sagittal T1 and STIR; sagittal T1 repeated after "
            "intravenous administration of 15 mL gadoterate.\nCOMPARISON: none.\nFINDINGS:\nT6: marrow lesion.\n"
            "IMPRESSION: {impression}\nDictated by: Dr. Ines Moll\nSigned: Dr. Ines Moll")


def test_template_fields_read_by_what_they_hold(check):
    filled = check(TEMPLATE.format(ordering="Dr. Ada Kim", contrast="[ ]", impression="T6 metastasis."), cpt=["72157"])
    assert filled["facts"]["contrast"] == "without_with"
    assert not {"IMPRESSION_MISSING", "ORDERING_PROVIDER_MISSING"} & {g["code"] for g in filled["gaps"]}
    empty = check(TEMPLATE.format(ordering="[ ]", contrast="[ ]", impression="***"), cpt=["72157"])
    assert {"IMPRESSION_MISSING", "ORDERING_PROVIDER_MISSING"} <= {g["code"] for g in empty["gaps"]}


@pytest.mark.parametrize("field, contrast", [("CONTRAST: Without", "without"), ("CONTRAST: No IV contrast.", "without"),
                                             ("Contrast: with, 7 mL gadobutrol", "with")])
def test_a_contrast_field_says_what_was_given(check, field, contrast):
    r = check(f"MRI LUMBAR SPINE\n{field}\nFindings: normal.\nImpression: normal.", cpt=["72148"])
    assert r["facts"]["contrast"] == contrast


def test_a_views_field_and_a_repeat_count_are_counts(check):
    assert check("XR LUMBAR SPINE\nViews: 2 (upright lateral x2)\nFindings: normal.", cpt=["72120"])["facts"]["views"] == 2
    assert check("XR LUMBAR SPINE\nupright lateral x3. Findings: normal.", cpt=["72100"])["facts"]["views"] == 3


def test_a_sentence_that_says_what_the_images_show_is_a_finding_anywhere(check):
    note = ("Clinic visit. O: tender paraspinals. AP and lateral views of the lumbar spine taken in clinic show normal "
            "alignment and preserved disc spaces.\nA: lumbar strain.\nSigned: Dr. Ana Ruiz")
    assert "FINDINGS_MISSING" not in {g["code"] for g in check(note, cpt=["72100"])["gaps"]}
    only_impression = ("XR CERVICAL SPINE 3 VIEWS\nIndication: neck pain after a tackle.\n"
                       "Projections: AP, lateral, open-mouth odontoid.\n"
                       "IMPRESSION: no acute fracture.\nSigned: Dr. Ana Ruiz")
    assert "FINDINGS_MISSING" in {g["code"] for g in check(only_impression, cpt=["72040"])["gaps"]}


def test_modifier_52_on_a_radiography_code_whose_views_were_all_taken_is_invalid(check):
    note = ("XR lumbar spine for low back pain. I planned four views but the obliques could not be tolerated, so AP, "
            "lateral and a coned L5-S1 lateral were taken (3 views). No prior films.\nFindings: normal alignment.\n"
            "Impression: normal.\nOrdering: Dr. Ana Ruiz\nSigned: Dr. Ana Ruiz")
    assert "MODIFIER_INVALID" in {g["code"] for g in check(note, cpt=["72100"], modifiers=["52"])["gaps"]}
    assert "MODIFIER_INVALID" not in {g["code"] for g in check(note.replace("(3 views)", "(1 view)").replace(
        "AP, lateral and a coned L5-S1 lateral were", "only an AP was"), cpt=["72100"], modifiers=["52"])["gaps"]}


def test_a_coded_condition_supports_a_study_whose_reason_the_note_gives(check):
    note = ("XR CERVICAL SPINE 4 VIEWS\nOrdering: Dr. Ana Ruiz\nIndication: cervical spondylotic myelopathy, "
            "pre-operative motion assessment before fusion.\nTechnique: AP, lateral, flexion and extension laterals.\n"
            "Comparison: none.\nFindings: no abnormal motion.\nImpression: no instability.\nSigned: Dr. Ana Ruiz")
    assert "DX_NOT_SUPPORTING" not in {g["code"] for g in check(note, cpt=["72050"], icd10=["M47.12"])["gaps"]}
    assert "DX_NOT_SUPPORTING" in {g["code"] for g in check(note, cpt=["72050"], icd10=["M54.2"])["gaps"]}


@pytest.mark.parametrize("reason", ["[NOT PROVIDED]", "Not provided on requisition.", "No reason given by the ordering office."])
def test_a_reason_field_that_says_none_was_given_is_no_reason(check, reason):
    note = (f"XR LUMBAR SPINE 2 VIEWS\nOrdering: Dr. Kofi Asante\nReason for exam: {reason}\nComparison: none.\n"
            "Findings: AP and lateral. Mild L4-5 disc narrowing.\nImpression: mild lumbar spondylosis.\n"
            "Electronically signed by Rhea Das, MD")
    assert "INDICATION_MISSING" in {g["code"] for g in check(note, cpt=["72100"])["gaps"]}


def test_an_unspecified_code_beside_the_specific_one_the_note_documents_is_less_specific(check):
    note = ("MRI lumbar spine without contrast\nReferring: Dr. Tove Lind\nHistory: low back pain for ten weeks, "
            "no leg symptoms, no improvement with six weeks of physical therapy.\nComparison: none.\n"
            "Findings: L4-5 broad-based disc protrusion without nerve root contact.\nImpression: L4-5 disc protrusion.\n"
            "Electronically signed by Omar Saleh, MD")
    codes = {g["code"] for g in check(note, cpt=["72148"], icd10=["M51.9"])["gaps"]}
    assert "DX_MORE_SPECIFIC_AVAILABLE" in codes and "DX_NOT_DOCUMENTED" not in codes
    assert "INDICATION_NOT_SPECIFIC" not in codes     # failed therapy said after a negated symptom stays failed
