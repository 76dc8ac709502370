"""Streaming equals batch: whatever the chunking, partials and edits, the session's
gaps and facts after the last final segment equal `scribe check` on the final text."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from scribe import Encounter, InputError

NOTES = [
    ("EXAM: Lumbar spine, 3 views.\nIndication: low back pain after a fall, rule out fracture.\n"
     "Technique: AP, lateral and coned lateral views.\nComparison: none.\nFindings: Normal alignment. "
     "No fracture.\nImpression: No acute abnormality.\nElectronically signed by Lee Park, MD",
     {"cpt": ["72100"], "icd10": ["M54.50"]}),
    ("spine clinic follow up period known grade 1 spondylolisthesis at L4-5 period to assess for instability "
     "I ordered flexion and extension lateral views today comma two views period findings colon 3 mm of "
     "translation at L4 on L5 period impression colon grade 1 spondylolisthesis L4-5 without instability",
     {"cpt": ["72120"], "icd10": ["M43.10"], "site": "facility"}),
    ("MRI cervical spine without and with contrast. History: neck pain, history of breast cancer. "
     "Findings: no enhancing lesion. Impression: negative. Signed: Ana Ruiz, MD",
     {"cpt": ["72141"], "icd10": ["M54.2"], "modifiers": ["26"], "site": "facility"}),
    # raw speech: fillers, spoken marks and corrections whose reading depends on what follows them
    ("uh xray of the neck um two views scratch that four views comma ap lateral and both obliques period "
     "reason for exam neck pain after a fall period findings normal alignment no fracture period no prevertebral "
     "swelling period delete that impression normal cervical spine signed doctor rana patel",
     {"cpt": ["72050"], "icd10": ["M54.2"]}),
]


def batch(engine, text, enc):
    r = engine.check(text, enc).to_dict()
    return r["gaps"], r["facts"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(note=st.sampled_from(range(len(NOTES))), cuts=st.lists(st.integers(0, 2000), max_size=12),
       partial=st.booleans(), data=st.data())
def test_session_streaming_equals_batch(engine, note, cuts, partial, data):
    text, enc_dict = NOTES[note]
    enc = Encounter.from_dict(enc_dict)
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    session = engine.new_session(enc)
    seq = 0
    for a, b in zip(points, points[1:]):
        if partial:
            seq += 1
            tail = text[a:min(len(text), b + data.draw(st.integers(0, 15)))]
            session.segment(seq, tail + data.draw(st.sampled_from(["", " um", " period"])), False)
        seq += 1
        state = session.segment(seq, text[a:b], True)
    gaps, facts = batch(engine, text, session.encounter)
    assert session.final_text == text
    assert state["gaps"] == gaps
    assert state["facts"] == facts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(note=st.sampled_from(range(len(NOTES))), data=st.data())
def test_session_edits_equal_batch(engine, note, data):
    text, enc_dict = NOTES[note]
    session = engine.new_session(Encounter.from_dict(enc_dict))
    session.segment(1, text, True)
    current = text
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(current)))
        end = data.draw(st.integers(start, min(len(current), start + 40)))
        insert = data.draw(st.sampled_from(["", "no ", "L4-5 ", " Impression: fracture.", "four views. ", "\n"]))
        state = session.edit(start, end, insert)
        current = current[:start] + insert + current[end:]
    assert session.final_text == current
    if current.strip():
        gaps, facts = batch(engine, current, session.encounter)
        assert state["gaps"] == gaps and state["facts"] == facts


def test_session_gap_raised_then_resolved(engine):
    session = engine.new_session(Encounter.from_dict({"cpt": ["72100"]}))
    first = session.segment(1, "Lumbar spine radiographs. Indication: low back pain.\n", True)
    assert "VIEWS_NOT_DOCUMENTED" in {g["code"] for g in first["raised"]}
    second = session.segment(2, "Technique: AP and lateral views.\n", True)
    assert "VIEWS_NOT_DOCUMENTED" in {g["code"] for g in second["resolved"]}
    assert "VIEWS_NOT_DOCUMENTED" not in {g["code"] for g in second["gaps"]}


def test_session_partial_is_replaced(engine):
    session = engine.new_session(Encounter.from_dict({"cpt": ["72100"]}))
    session.segment(1, "Lumbar spine. Indication: pain.\n", True)
    with_partial = session.segment(2, "Technique: AP and lateral views", False)
    assert with_partial["facts"]["views"] == 2          # early feedback from the partial
    replaced = session.segment(3, "Technique: pending", False)
    assert replaced["facts"]["views"] is None            # the partial was thrown away
    assert session.final_text == "Lumbar spine. Indication: pain.\n"


@pytest.mark.parametrize("seq,code", [(1, "SEQ_REPEATED"), (0, "SEQ_OUT_OF_ORDER")])
def test_session_rejects_bad_seq_without_change(engine, seq, code):
    session = engine.new_session(Encounter.from_dict({"cpt": ["72100"]}))
    session.segment(1, "Lumbar spine, two views.", True)
    with pytest.raises(InputError) as err:
        session.segment(seq, " More text.", True)
    assert err.value.code == code
    assert session.final_text == "Lumbar spine, two views."


def test_session_rejects_edit_out_of_range(engine):
    session = engine.new_session(Encounter.from_dict({"cpt": ["72100"]}))
    session.segment(1, "abc", True)
    with pytest.raises(InputError) as err:
        session.edit(2, 10, "x")
    assert err.value.code == "EDIT_OUT_OF_RANGE" and session.final_text == "abc"


def test_session_context_change_rechecks(engine):
    session = engine.new_session(Encounter.from_dict({"cpt": ["72100"]}))
    state = session.segment(1, "XR cervical spine, 3 views. Neck pain. Comparison: none.", True)
    assert "REGION_MISMATCH" in {g["code"] for g in state["gaps"]}
    state = session.set_encounter(Encounter.from_dict({"cpt": ["72040"]}))
    assert "REGION_MISMATCH" in {g["code"] for g in state["resolved"]}
    with pytest.raises(InputError):
        session.set_encounter(Encounter.from_dict({"cpt": ["99999"]}))


def test_a_segment_refolds_only_the_sentences_near_the_change(engine):
    """Work per segment follows the change: on a note of hundreds of sentences, a new
    final segment re-aggregates at most one checkpoint interval plus the new sentences;
    an edit at the start re-aggregates everything."""
    session = engine.new_session(Encounter.from_dict({"cpt": ["72100"], "icd10": ["M54.50"]}))
    body = "".join(f"Finding number {i} shows mild disc narrowing at L{1 + i % 5}. " for i in range(400))
    session.segment(1, "Lumbar spine, three views. " + body, True)
    aggregator = session._aggregator
    assert aggregator.n > 400
    session.segment(2, "Impression: mild degenerative change. ", True)
    assert 1 <= aggregator.folded <= aggregator.EVERY + 2
    session.edit(0, 6, "LUMBAR")
    assert aggregator.folded == aggregator.n
    assert session.state()["gaps"] == engine.check(session.final_text, session.encounter).to_dict()["gaps"]
