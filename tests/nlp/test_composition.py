"""Conditions composed from their parts: a coordination shares a condition out, the words said
with a fracture pick its Tabular branch, a list item after a negation asserts its own finding."""
import pytest


def links(check, text, cpt="72100"):
    return {(i["icd10"][0]["code"] if i["icd10"] else None, i["assertion"]) for i in check(text, cpt=[cpt])["indications"]}


@pytest.mark.parametrize("text,wanted", [
    ("Reason: sore neck and lower back pain since the crash.", {("M54.2", "present"), ("M54.50", "present")}),
    ("Reason: low back and neck pain for a month.", {("M54.2", "present"), ("M54.50", "present")}),
    ("Denies neck or low back pain.", {("M54.2", "negated"), ("M54.50", "negated")}),
    ("Reason: neck/upper back pain after lifting.", {("M54.2", "present"), ("M54.6", "present")}),
    ("Known cervical and lumbar radiculopathy.", {("M54.12", "present"), ("M54.16", "present")}),
])
def test_a_coordination_shares_the_condition_out(check, text, wanted):
    assert wanted <= links(check, text)


def test_a_coordinated_symptom_is_not_made_into_a_pain(check):
    found = check("Reason: nausea and low back pain.", cpt=["72100"])["indications"]
    assert [i["text"] for i in found if i["match"] == "coordinated"] == []


@pytest.mark.parametrize("text,code", [
    ("CT neck. Impression: undisplaced fracture of the left C5 lamina.", "S12.491A"),
    ("Impression: T12 stable burst fracture, fall from a roof.", "S22.081A"),
    ("Impression: unstable burst fracture of L2 after a motorcycle crash.", "S32.022A"),
    ("Impression: fracture of the left L2 transverse process after a kick.", "S32.028A"),
    ("Impression: C6 spinous process fracture, non-displaced.", "S12.591A"),
    ("Impression: T9 wedge compression fracture after a fall.", "S22.070A"),
])
def test_the_words_said_with_a_fracture_choose_its_branch(check, text, code):
    assert (code, "present") in links(check, text, "72125" if "C" in text.split("fracture")[0] else "72100")


def test_a_stress_fracture_of_a_vertebra_is_a_fatigue_fracture(check):
    found = links(check, "Impression: stress fracture of the right L5 pars interarticularis in a young gymnast.", "72148")
    assert ("M48.46XA", "present") in found


def test_a_fracture_under_evaluation_is_an_initial_encounter(check):
    # nothing says healing, follow-up or sequela: the study evaluates the fracture (7th character A)
    assert ("S32.040A", "present") in links(check, "Findings: known L4 compression fracture, no retropulsion.")
    assert ("S32.040D", "present") in links(check, "Findings: L4 compression fracture, interval healing.")


def test_an_open_branch_lists_the_tied_children_first(check):
    fracture = next(i for i in check("Reason: L3 burst fracture.", cpt=["72100"])["indications"]
                    if i["concept"] == "vertebral_fracture")
    codes = [c["code"] for c in fracture["icd10"]]
    assert codes[0] == "S32.03" and codes[1:3] == ["S32.031A", "S32.032A"]


@pytest.mark.parametrize("text,negated,present", [
    ("No acute fracture, moderate multilevel spondylosis.", "vertebral_fracture", "spondylosis"),
    ("No fracture or listhesis, mild degenerative disc disease at L4-L5.", "spondylolisthesis", "disc_degeneration"),
    # without a degree word the list stays under the negation
    ("No fracture, subluxation or spondylolisthesis.", "spondylolisthesis", None),
])
def test_a_degree_word_after_a_negated_list_item_asserts(check, text, negated, present):
    found = {i["concept"]: i["assertion"] for i in check(text, cpt=["72100"])["indications"]}
    assert found[negated] == "negated"
    if present:
        assert found[present] == "present"


def test_a_status_after_spine_surgery_other_than_fusion_is_coded(check):
    found = links(check, "History: status post right L5-S1 hemilaminotomy in 2023, new left leg pain.", "72148")
    assert ("Z98.890", "present") in found


@pytest.mark.parametrize("said", ["low-back pain", "low back (lumbar) pain", "neck and mid-back (thoracic) pain"])
def test_a_term_said_with_a_hyphen_or_an_aside_is_the_term(check, said):
    codes = {c for c, _ in links(check, f"History: {said} for three weeks.")}
    assert ("M54.50" in codes) or ("M54.6" in codes and "M54.2" in codes)


@pytest.mark.parametrize("cpt, said, code", [
    ("72148", "Impression: L3-4 disc protrusion with right L4 radiculopathy.", "M51.16"),
    ("72141", "Impression: C6-7 disc herniation compressing the cord, with myelopathy.", "M50.02"),
    ("72141", "Impression: multilevel cervical spondylosis with myelopathy, worst at C5-6.", "M47.12"),
    ("72148", "Impression: degenerative disc disease at L4-L5 with left L5 radiculopathy.", "M51.16"),
])
def test_a_condition_said_with_its_complication_takes_the_combination_code(check, cpt, said, code):
    codes = {c for c, a in links(check, said, cpt) if a == "present"}
    assert any(c.startswith(code) for c in codes), codes


def test_a_negated_complication_does_not_combine(check):
    codes = {c for c, a in links(check, "Findings: L5-S1 disc extrusion. No radiculopathy.", "72148") if a == "present"}
    assert not any(c.startswith("M51.1") for c in codes)


def test_a_code_set_term_without_a_site_leaves_the_concepts_site(check):
    found = links(check, "History: renal cancer resected in 2019. Evaluate for metastatic disease of the spine.", "72157")
    assert ("C79.51", "possible") in found


@pytest.mark.parametrize("said, code", [
    ("History: younger brother with adolescent idiopathic scoliosis, braced last year.", "M41.129"),
    ("Family hx: mother w/ ankylosing spondylitis.", "M45.9"),
])
def test_a_relatives_condition_is_family(check, said, code):
    assert (code, "family") in links(check, said, "72081")


def test_sciatica_said_with_low_back_pain_is_lumbago_with_sciatica(check):
    assert ("M54.41", "present") in links(check, "Assessment: R-sided sciatica with low back pain for a month.")


@pytest.mark.parametrize("cpt, said, code", [
    ("72070", "Impression: Scheuermann kyphosis from T8 to T10.", "M42.04"),
    ("72100", "Assessment: left lumbar contusion from a fall onto the ice yesterday.", "S30.0XXA"),
    ("72158", "Impression: L2-3 discitis-osteomyelitis without abscess.", "M46.26"),
])
def test_index_entries_and_sites_of_spinal_conditions(check, cpt, said, code):
    assert (code, "present") in links(check, said, cpt)


def test_a_risk_factor_for_infection_is_no_infection_code(check):
    found = check("History: IV drug use, immunocompromised. Evaluate for discitis at C5-6.", cpt=["72156"])["indications"]
    risk = [i for i in found if i["concept"] == "infection_risk"]
    assert risk and not any(c["code"].startswith("M46") for i in risk for c in i["icd10"])
    assert any(i["concept"] == "infection" and i["icd10"][0]["code"] == "M46.42" for i in found)
