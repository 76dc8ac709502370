import pytest

from scribe.lexicons import load_lexicons
from scribe.nlp.context import ContextAnnotator


@pytest.fixture(scope="module")
def assertion():
    ctx = ContextAnnotator(load_lexicons().context)

    def run(sentence, target):
        start = sentence.index(target)
        return ctx.assertion(sentence, ctx.triggers(sentence), start, start + len(target))

    return run


@pytest.mark.parametrize("sentence,target,expected", [
    ("Low back pain for eight weeks.", "Low back pain", "present"),
    ("No fracture.", "fracture", "negated"),
    ("Denies arm pain, numbness, tingling or weakness.", "weakness", "negated"),
    ("The study is negative for fracture.", "fracture", "negated"),
    ("Fracture: none.", "Fracture", "negated"),
    ("No fracture but there is spondylolisthesis.", "spondylolisthesis", "present"),
    ("Recurrent right leg pain after discectomy, evaluate disc versus scar.", "leg pain", "present"),
    ("Rule out infection versus fracture.", "fracture", "possible"),
    ("She could not tolerate positioning for the oblique views.", "oblique", "negated"),
    ("If symptoms persist, flexion views next visit.", "flexion", "hypothetical"),
    ("The technique should read: performed without contrast.", "contrast", "negated"),
    ("No fever, possible infection.", "infection", "possible"),
    ("Rule out compression fracture.", "compression fracture", "possible"),
    ("R/O fracture.", "fracture", "possible"),
    ("Assess for instability.", "instability", "possible"),
    ("I want to assess for instability, so I ordered flexion views.", "flexion views", "present"),
    ("Evaluation for segmental instability.", "segmental instability", "possible"),
    ("Suspicious for metastasis.", "metastasis", "possible"),
    ("An acute fracture cannot be excluded.", "fracture", "possible"),
    ("History of L1 fracture, healed.", "L1 fracture", "historical"),
    ("No history of cancer.", "cancer", "negated"),
    ("Will obtain bending views if pain persists.", "bending views", "hypothetical"),
    ("If she is not better we will get flexion and extension views.", "flexion and extension views", "hypothetical"),
    ("Family history of scoliosis.", "scoliosis", "family"),
    ("Mother had ankylosing spondylitis.", "ankylosing spondylitis", "family"),
    ("No change in the alignment since the prior.", "alignment", "present"),
    ("Lumbar spine films were not obtained today.", "Lumbar spine films", "negated"),
    ("58 year old with low back pain.", "low back pain", "present"),
    ("No improvement with physical therapy.", "physical therapy", "present"),
    ("Her sciatica is no longer present after the injection.", "sciatica", "historical"),
    ("The neck pain has since resolved.", "neck pain", "historical"),
    ("Radiating arm pain went away last month.", "arm pain", "historical"),
    ("No (acute) fracture.", "fracture", "negated"),
    ("No new compression fracture.", "compression fracture", "negated"),
    ("Low back pain (no fever) for two weeks.", "Low back pain", "present"),
    ("AP and lateral views (obliques not done).", "lateral views", "present"),
    ("History of breast cancer, new low back pain.", "low back pain", "present"),
    ("HX: pain in the lower back for 2 months.", "pain in the lower back", "present"),
    ("PMH significant for lumbar fusion.", "lumbar fusion", "historical"),
])
def test_context_assertion(assertion, sentence, target, expected):
    assert assertion(sentence, target) == expected


def test_a_composed_rule_covers_every_form_of_its_construction(engine):
    ctx = engine._component.context
    for said in ("Obliques were not repeated.", "Obliques have been never obtained.", "Obliques will not be attempted."):
        assert ctx.assertion(said, ctx.triggers(said), 0, 8) == "negated", said


def test_a_plan_reaches_into_the_parenthesis_that_spells_it_out(check):
    r = check("I planned a four-view series (AP, lateral, both obliques) but only AP and lateral were taken (2 views).",
              cpt=["72100"])
    assert r["facts"]["views"] == 2
    r = check("AP and lateral views. No fracture (old L1 wedge deformity).", cpt=["72100"])
    assert r["facts"]["views"] == 2
