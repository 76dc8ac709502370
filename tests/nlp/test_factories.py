"""The spaCy side: the components work in any blank English pipeline through
``nlp.add_pipe``, and the engine loads spaCy only when a sentence needs tokens."""
import subprocess
import sys
import textwrap

import spacy


def test_sentence_facts_component_in_a_blank_pipeline():
    nlp = spacy.blank("en")
    nlp.add_pipe("scribe_sentence_facts")
    facts = nlp("AP, lateral and flexion/extension views to assess for instabilty at L4-5.")._.scribe_facts
    assert [p for p, _, _ in facts.projections] == ["frontal", "lateral", "flexion", "extension"]
    assert [(m.concept, m.assertion, m.match) for m in facts.mentions] == [("instability", "possible", "fuzzy")]
    assert [level.label for level in facts.levels] == ["L4-L5"]


def test_sentence_facts_component_rejoins_split_words_and_reads_abbreviations():
    nlp = spacy.blank("en")
    nlp.add_pipe("scribe_sentence_facts")
    split = nlp("Grade 1 spondylo listhesis at L5-S1.")._.scribe_facts
    assert [(m.concept, m.match) for m in split.mentions] == [("spondylolisthesis", "fuzzy")]
    defined = nlp("History of degenerative disc disease (DDD) at L4-5.")._.scribe_facts
    assert ("DDD", "degenerative disc disease") in defined.abbreviations


def test_sentencizer_and_sectionizer_on_a_whole_note():
    nlp = spacy.blank("en")
    nlp.add_pipe("scribe_sentencizer")
    nlp.add_pipe("scribe_sectionizer")
    doc = nlp("Lumbar spine, two views period indication colon low back pain\n"
              "FINDINGS: Normal alignment. No fracture.\nIMPRESSION: Negative study.")
    sections = [(doc.text[s:e], section) for s, e, section in doc._.scribe_sections]
    assert ("low back pain" in sections[1][0].lower()) and sections[1][1] == "indication"
    assert [section for _, section in sections[-3:]] == ["findings", "findings", "impression"]


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_engine_loads_spacy_only_for_a_sentence_that_needs_tokens():
    loaded = _run("""
        import sys
        from scribe import Encounter, build_engine
        engine = build_engine()
        enc = Encounter(cpt=("72100",))
        engine.check("Lumbar spine, AP and lateral views. Indication: low back pain. Impression: normal.", enc)
        before = "spacy" in sys.modules
        result = engine.check("Indication: lumbar spinal stenosis (LSS). Impression: LSS worst at L4-5.", enc)
        print(before, "spacy" in sys.modules, [(i.text, i.concept, i.match) for i in result.indications][-1])
    """)
    assert loaded == "False True ('LSS', 'spinal_stenosis', 'abbreviation')"


def test_sectionizer_component_and_engine_agree_on_an_office_note(engine):
    """One sectionizer: the spaCy component gives each sentence the section the engine's
    note aggregator gives it (an office note's film line opens the imaging read)."""
    note = ("Office visit\nHistory: 3 weeks of low back pain after lifting.\nExam: pain with extension. Tender at L4.\n"
            "XR L-spine 2 views (AP/lat) done in office today: mild L4-5 disc narrowing.\n"
            "Assessment: lumbar strain.\nPlan: PT.\nJohn Smith MD")
    nlp = spacy.blank("en")
    nlp.add_pipe("scribe_sentencizer")
    nlp.add_pipe("scribe_sectionizer")
    component = [section for _, _, section in nlp(note)._.scribe_sections]
    spans = engine.splitter.split(note)
    aggregated = engine.note(note, spans, engine.sentence_facts([note[s.start:s.end] for s in spans])).sections
    assert component == aggregated
    assert "imaging" in component
