"""Keyword gates are prefilters: a pattern group runs only on sentences holding one of
its keywords. A gate missing a way its patterns can match would silently drop a fact,
so every guarded pattern is tried on many sentences: wherever it matches, its gate
must be open."""
import json
from pathlib import Path

import pytest

from scribe import build_engine
from scribe.lexicons import load_lexicons

ROOT = Path(__file__).resolve().parents[2]

# phrasings chosen to reach every guarded group, including the rare spellings
PHRASES = """\
58 y o male with low back pain. 61 y/o woman. 72-year-old man. 45 yo. 30 yr old. 50 y-o.
MRI lumbar spine w and w/o contrast. CT w/o contrast. MRI w/ and w/o gadolinium. w & w/o.
Pre and post contrast images. Postcontrast T1. Without IV contrast. Non-contrast CT. Unenhanced.
Following the administration of 15 mL of gadobutrol. Contrast: none. Contrast was not given.
Before and after intravenous gadolinium. MRI with and without contrast.
Electronically signed by Dr. Lee. Signed: J. Park MD. /s/ A. Chen. Dictated but not signed.
Attested by the attending. To be signed by the radiologist. I have reviewed the images and agree.
Ordering physician: Dr. Ray. Referred by his PCP. X-rays obtained in the office today.
Comparison: none. Compared with 03/2025. No prior imaging. Stable since 2024. Previously 4 mm.
Limited study due to motion. Exam terminated early. Only two views obtained.
Nonunion of the fracture. Delayed healing. Sequela of an old fracture. Follow-up x-rays.
Initial encounter after a fall yesterday. Known L1 fracture, treated in a brace.
Pain for 3 weeks. Two months of pain. 6 wks of PT. Several days. 1 year history.
Films show mild spondylosis. On the MRI there is stenosis. Radiographically stable. Normal CT.
Right-sided sciatica. Left leg pain. Bilateral radiculopathy. Both legs. Rt arm. Lt sided.
Neck pain. Mid-back pain. Lower back pain. Thoracolumbar junction. Lumbosacral strain. Sacral fracture.
C-spine. T-spine series. L-spine films. Cervical spine, three views. Thoracic spine two views.
Lumbosacral spine AP and lateral. Lumbar spine 4V. Sacrum and coccyx. SI joints. Sacroiliac joints.
Entire spine scoliosis survey. Whole spine. Pelvis AP. Thoracolumbar spine. Cervicothoracic spine.
AP and lateral radiographs. Flexion and extension views. Three projections. Swimmer's view. Odontoid.
Low back and left hip pain. Neck & shoulder pain. LBP with left sciatica. Breast ca. H/o ca.
Pain radiating down the right leg. Radicular leg pain. Refractory to PT. Failed 6 weeks of therapy.
No relief despite 8 weeks of NSAIDs. Spondylo listhesis. Instabilty. S/p fusion.
Pain at the thoracolumbar junction. Pain over the cervical spine. Pain in the lower back. Comp none. Comps: n/a.
Ref Dr Okoye. PCP: Dr Lee (ordering). Lumbar strain. Cervical sprain.
Obliques were obtained. Scoliosis series, standing PA and lateral. Bending films. Coned-down lateral.
"""


def _sentences() -> list[str]:
    engine = build_engine()
    texts = [PHRASES]
    for rule in load_lexicons().rules:
        texts += [e.text for e in rule.fires + rule.silent]
    for line in (ROOT / "examples" / "cases.jsonl").read_text().splitlines():
        if line.strip():
            texts.append(json.loads(line)["text"])
    texts += [p.read_text() for p in (ROOT / "examples").glob("*.txt")]
    # every body-part word of every family, said as a study and as a complaint
    for fam in load_lexicons().families:
        for part in fam.anatomy.parts:
            texts += [f"Radiographs of the left {w}, two views. {w.capitalize()} pain." for w in part.words]
    return sorted({t[s.start:s.end] for t in texts for s in engine.splitter.split(t)})


SENTENCES = _sentences()


def test_the_phrases_reach_every_gate():
    extractor = build_engine()._component.extractor
    reached = set()
    for sentence in SENTENCES:
        gates = extractor.open_gates(sentence.lower())
        for gate, patterns in extractor.gated_patterns().items():
            if gate in gates and any(rx.search(sentence) for rx in patterns):
                reached.add(gate)
    assert reached == set(extractor.gated_patterns())


@pytest.mark.parametrize("gate", sorted(build_engine()._component.extractor.gated_patterns()))
def test_gate_is_open_wherever_its_patterns_match(gate):
    extractor = build_engine()._component.extractor
    patterns = extractor.gated_patterns()[gate]
    closed = [s for s in SENTENCES
              if gate not in extractor.open_gates(s.lower())
              # a one-letter 'r'/'l' is never taken for a side, so the laterality gate may skip it
              and any(len(m.group(0)) > 1 for rx in patterns for m in rx.finditer(s))]
    assert closed == []


def test_concept_pattern_gates():
    analyzer = build_engine()._component
    gated = analyzer.concepts.gate_keywords()
    assert {"concept:" + concept for concept, _ in analyzer.concepts.patterns} <= set(gated)
    closed = [(concept, s) for s in SENTENCES for concept, rx in analyzer.concepts.patterns
              if "concept:" + concept not in analyzer.extractor.open_gates(s.lower()) and rx.search(s)]
    assert closed == []


def test_term_gate_is_open_wherever_a_term_matches():
    analyzer = build_engine()._component
    closed = [s for s in SENTENCES
              if "terms" not in analyzer.extractor.open_gates(s.lower()) and analyzer.concepts.term_regex.search(s)]
    assert closed == []


def test_split_word_gate_is_open_wherever_a_split_word_matches():
    analyzer = build_engine()._component
    closed = [s for s in SENTENCES
              if "split" not in analyzer.extractor.open_gates(s.lower()) and "  " not in s and "\t" not in s
              and analyzer.concepts.split_regex.search(s.lower())]
    assert closed == []
    assert any("split" in analyzer.extractor.open_gates(s.lower()) for s in SENTENCES)
