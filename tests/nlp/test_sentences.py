import pytest

from scribe.lexicons import load_lexicons
from scribe.nlp.sections import HeaderDetector
from scribe.nlp.sentences import SentenceSplitter


@pytest.fixture(scope="module")
def split():
    lex = load_lexicons()
    splitter = SentenceSplitter(list(lex.midline_headers), HeaderDetector(lex.sections).literals)
    return lambda text: [text[s.start:s.end] for s in splitter.split(text)]


@pytest.mark.parametrize("text,expected", [
    ("No fracture. Normal alignment.", ["No fracture.", "Normal alignment."]),
    ("no fracture period normal alignment period", ["no fracture period", "normal alignment period"]),
    ("pain for a period of six weeks period no trauma", ["pain for a period of six weeks period", "no trauma"]),
    ("seen by Dr. Lee today. Stable.", ["seen by Dr. Lee today.", "Stable."]),
    ("Slip of 7.5 mm at L4-5. Stable.", ["Slip of 7.5 mm at L4-5.", "Stable."]),
    ("FINDINGS:\nNormal.\nIMPRESSION: Negative.", ["FINDINGS:", "Normal.", "IMPRESSION: Negative."]),
    ("alignment is normal impression: no fracture", ["alignment is normal", "impression: no fracture"]),
    ("alignment is normal impression colon no fracture", ["alignment is normal", "impression colon no fracture"]),
    ("Report status: PRELIMINARY, pending signature.", ["Report status: PRELIMINARY, pending signature."]),
    ("disc bulge new paragraph impression normal", ["disc bulge new paragraph", "impression normal"]),
    ("", []),
])
def test_sentences_split_dictation(split, text, expected):
    assert split(text) == expected


def test_sentences_tail_resplit_matches_whole(split):
    lex = load_lexicons()
    splitter = SentenceSplitter(list(lex.midline_headers), HeaderDetector(lex.sections).literals)
    text = "EXAM: lumbar spine. History: pain period Technique: AP and lateral. Findings: normal alignment impression: normal"
    whole = splitter.split(text)
    for k in range(1, len(whole)):
        tail = splitter.split(text, whole[k].start)
        assert whole[k:] == tail


@pytest.mark.parametrize("line,category", [
    ("FINDINGS: normal", "findings"),
    ("Impression colon no fracture", "impression"),
    ("Clinical history: pain", "history"),
    ("Reason for exam: fall", "indication"),
    ("X-RAY IMPRESSION: spondylosis", "impression"),
    ("Comparison: none", "comparison"),
    ("IMPRESSION", "impression"),
    ("The impression is good", None),
    ("History of fusion", None),
])
def test_sections_header_detection(line, category):
    detector = HeaderDetector(load_lexicons().sections)
    found = detector.detect(line)
    assert (found[0] if found else None) == category


@pytest.mark.parametrize("line, category", [
    ("Befund/Findings: normal alignment.", "findings"),
    ("Conclusión / Impression: no fracture.", "impression"),
    ("A/P: lumbar strain.", "assessment"),
])
def test_a_bilingual_header_opens_its_section(engine, line, category):
    assert engine._component.analyze(line).header[0] == category
