"""Dictation normalisation: raw speech-recognition text is read as what was meant, without
moving a character (evidence offsets point into the submitted text)."""
from __future__ import annotations

import pytest

from tests.conftest import gap_codes


@pytest.fixture(scope="module")
def norm(engine):
    return engine.dictation.normalize


@pytest.mark.parametrize("said, meant", [
    ("pain comma numbness period", "pain, numbness."),
    ("normal alignment new paragraph impression colon normal", "normal alignment\\nimpression: normal"),
    ("uh two views um of the sacrum", "two views of the sacrum"),
    ("two views scratch that three views", "three views"),
    ("narrowing at c four five correction c five six", "narrowing at c five six"),
    ("no fracture period mild scoliosis period delete that", "no fracture."),
    ("open paren prior fusion close paren", "(prior fusion)"),
])
def test_spoken_dictation_is_read_as_meant(norm, said, meant):
    out = norm(said)
    assert len(out) == len(said)
    assert " ".join(out.split()) == " ".join(meant.replace("\\n", "\n").split())
    if "\\n" in meant:
        assert "\n" in out


@pytest.mark.parametrize("prose", [
    "Six weeks of therapy over a period of two months.",
    "The sigmoid colon is redundant.",
    "My impression is that the films are normal.",
    "Findings are unchanged since the prior study.",
    "The consent form was signed by the patient.",
])
def test_words_that_only_look_like_commands_are_kept(norm, prose):
    assert norm(prose) == prose


def test_section_words_in_running_speech_open_their_section(check):
    said = ("lumbar spine two views ap and lateral for low back pain findings mild disc narrowing l five s one "
            "no fracture impression mild degenerative change signed doctor ana moreno")
    r = check(said, cpt=["72100"])
    assert {"findings", "impression"} <= set(r["facts"]["sections"])
    assert "IMPRESSION_MISSING" not in gap_codes(r) and "FINDINGS_MISSING" not in gap_codes(r)


def test_a_spoken_comma_does_not_split_a_projection_list(check):
    r = check("lumbar flexion extension study lateral in flexion comma lateral in extension period "
              "indication spondylolisthesis l four l five", cpt=["72120"])
    assert r["facts"]["views"] == 2
    assert set(r["facts"]["positions"]) == {"flexion", "extension"}


def test_a_corrected_view_count_is_the_one_checked_and_evidence_is_the_spoken_words(check):
    said = "thoracic spine um two views scratch that three views period no fracture"
    r = check(said, cpt=["72070"])
    assert r["facts"]["views"] == 3
    mismatch = [g for g in r["gaps"] if g["code"] == "VIEWS_MISMATCH"]
    assert mismatch, r["gaps"]
    for ev in mismatch[0]["evidence"]:
        assert said[ev["start"]:ev["end"]] == ev["text"]
    assert any(ev["text"] == "three views" for ev in mismatch[0]["evidence"])


def test_a_withdrawn_sentence_meets_no_requirement(check):
    r = check("Lumbar spine AP and lateral. Low back pain. Findings normal. Impression normal study period "
              "delete that", cpt=["72100"])
    assert "IMPRESSION_MISSING" in gap_codes(r)


def test_normalising_a_megabyte_of_speech_is_bounded(engine):
    said = ("no fracture comma um mild narrowing scratch that moderate narrowing period " * 15000)[:1_000_000]
    out = engine.dictation.normalize(said)
    assert len(out) == len(said) and "scratch" not in out


@pytest.mark.parametrize("typed", ["Anterolisthesis of 4 mm at L4-L5.", "Seen by the ER physician.", "Ah, the L5 pars."])
def test_words_that_are_fillers_only_in_speech_are_kept(norm, typed):
    assert norm(typed) == typed


def test_an_ehr_export_is_laid_out_in_lines_without_moving_a_character(engine):
    from scribe import Encounter
    text = ("OBR|1|ORD55|ACC9|72040^XR CERVICAL SPINE 2 VIEWS|||20260102\n"
            "OBX|1|TX|||ORDERING PHYSICIAN: OYELOWO, DAVID MD\n"
            "OBX|2|TX|||REASON FOR EXAM: NECK PAIN AFTER A FALL\\.br\\COMPARISON: NONE.\n"
            "OBX|3|TX|||FINDINGS: AP AND LATERAL VIEWS. NORMAL ALIGNMENT. ~IMPRESSION: NO FRACTURE, ~5% LOSS NONE.\n"
            "OBX|4|TX|||ELECTRONICALLY SIGNED BY: ABARA, NKECHI MD 01/02/2026 10:10")
    read = engine.dictation.normalize(text)
    assert len(read) == len(text) and "|" not in read and "\\.br\\" not in read and "~5%" in read
    out = engine.check(text, Encounter(cpt=("72040",), site="office")).to_dict()
    assert out["facts"]["signed"] is True and out["facts"]["views"] == 2
    assert not {g["code"] for g in out["gaps"]} & {"SIGNATURE_MISSING", "IMPRESSION_MISSING", "FINDINGS_MISSING",
                                                   "ORDERING_PROVIDER_MISSING", "COMPARISON_NOT_STATED"}


def test_an_export_of_name_value_fields_on_one_line_reads_as_headed_lines(engine):
    from scribe import Encounter
    text = ("ACC#|Q77-1002|EXAM|XR ANKLE 2-3V LT|ORD|OKONJO, TEMI MD|REASON FOR EXAM|L ANKLE PAIN AFTER A FALL|"
            "TECHNIQUE|AP AND LATERAL VIEWS LEFT ANKLE|COMPARISON|NONE|FINDINGS|NO FRACTURE. MORTISE CONGRUENT.|"
            "IMPRESSION|NO ACUTE OSSEOUS ABNORMALITY.|SIGNED|ELECTRONICALLY SIGNED BY VANCE, ILSE MD|STATUS|FINAL")
    out = engine.check(text, Encounter(cpt=("73600",), modifiers=("LT",))).to_dict()
    assert {"impression", "findings", "indication", "technique"} <= set(out["facts"]["sections"])
    assert out["facts"]["views"] == 2                     # "2-3V" names the order's range, not a count
    assert not {g["code"] for g in out["gaps"]} & {"IMPRESSION_MISSING", "ORDERING_PROVIDER_MISSING", "INDICATION_MISSING"}


def test_an_unresolved_pick_list_of_a_macro_documents_none_of_its_choices(engine):
    from scribe import Encounter
    base = ("MRI CERVICAL SPINE {WITHOUT/WITH/WITHOUT AND WITH} CONTRAST\nIndication: right C6 radiculopathy, 8 weeks of "
            "failed PT.\nComparison: none.\nFindings: C5-6 right foraminal narrowing.\nImpression: as above.\n"
            "Electronically signed by Tomas Ek, MD")
    out = engine.check(base, Encounter(cpt=("72141",))).to_dict()
    assert out["facts"]["contrast"] is None and "CONTRAST_NOT_DOCUMENTED" in {g["code"] for g in out["gaps"]}
    chosen = base.replace("{WITHOUT/WITH/WITHOUT AND WITH}", "WITHOUT")
    assert engine.check(chosen, Encounter(cpt=("72141",))).to_dict()["facts"]["contrast"] == "without"
    level = "XR LUMBAR SPINE [L4/5] 2 VIEWS\nIndication: back pain.\nFindings: normal.\nImpression: normal."
    assert engine.check(level, Encounter(cpt=("72100",))).to_dict()["facts"]["views"] == 2


def test_a_value_in_capitals_after_a_field_name_stays_that_fields_value(engine):
    from scribe import Encounter
    text = ("EXAM|RIGHT KNEE|VIEWS|AP AND LATERAL|REASON FOR EXAM|KNEE PAIN AFTER A FALL|FINDINGS|NO FRACTURE.|"
            "IMPRESSION|NEGATIVE.|SIGNED|ELECTRONICALLY SIGNED BY VANCE, ILSE MD")
    read = engine.dictation.normalize(text)
    assert "EXAM:RIGHT KNEE" in read and "RIGHT KNEE:" not in read and len(read) == len(text)
    out = engine.check(text, Encounter(cpt=("73560",), modifiers=("RT",))).to_dict()
    assert out["facts"]["views"] == 2 and "IMPRESSION_MISSING" not in {g["code"] for g in out["gaps"]}
