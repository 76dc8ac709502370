"""Durability on both backends: a dictation rebuilt from the database (after a restart
or after its session left memory) has the same state as the live one, and goes on
exactly as the live one would have."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from scribe import InputError

from scribe_server.hub import DictationHub, ProtocolError
from scribe_server.store import Principal, Store

from .conftest import ENCOUNTER, NOTE, make_api

DR = Principal(1, "dr_lee", "physician")


def comparable(state: dict) -> dict:
    return {k: v for k, v in state.items() if k not in ("raised", "resolved")}


def test_resume_after_restart_returns_the_same_state(db_url, engine):
    client, tokens, app = make_api(db_url, engine)
    auth = {"Authorization": f"Bearer {tokens['physician']}"}
    with client, client.websocket_connect("/ws/dictation", headers=auth) as ws:
        ws.send_json({"type": "start", "encounter": ENCOUNTER, "dictation_id": "d-restart"})
        ws.receive_json()
        ws.send_json({"type": "segment", "seq": 1, "text": NOTE[:200], "final": True})
        ws.receive_json()
        ws.send_json({"type": "edit", "start": 0, "end": 4, "text": "Exam"})
        ws.receive_json()
        ws.send_json({"type": "context", "encounter": {**ENCOUNTER, "icd10": ["M54.59"]}})
        ws.receive_json()
        ws.send_json({"type": "segment", "seq": 2, "text": NOTE[200:260], "final": False})
        before = ws.receive_json()
    # a new app on the same database: nothing in memory
    client2, _, app2 = make_api(db_url, engine)
    with client2, client2.websocket_connect("/ws/dictation", headers=auth) as ws:
        ws.send_json({"type": "resume", "dictation_id": "d-restart"})
        after = ws.receive_json()
        assert comparable(after) == comparable(before)
        assert after["seq"] == 2 and after["raised"] == [] and after["resolved"] == []
        ws.send_json({"type": "segment", "seq": 3, "text": NOTE[200:], "final": True})
        last = ws.receive_json()
        ws.send_json({"type": "finalize"})
        done = ws.receive_json()
    text = "Exam" + NOTE[4:]
    from scribe import Encounter

    expected = engine.check(text, Encounter.from_dict({**ENCOUNTER, "icd10": ["M54.59"]})).to_dict()
    assert last["gaps"] == expected["gaps"] and last["facts"] == expected["facts"]
    assert done["gaps"] == expected["gaps"]
    assert app2.state.store.dictation_row("d-restart")["final_text"] == text


OPS = st.lists(st.one_of(
    st.tuples(st.just("final"), st.integers(0, len(NOTE)), st.integers(1, 120)),
    st.tuples(st.just("partial"), st.integers(0, len(NOTE)), st.integers(0, 40)),
    st.tuples(st.just("edit"), st.integers(0, 400), st.integers(0, 30)),
    st.tuples(st.just("context"), st.sampled_from([["72100"], ["72110"], ["72120"], ["99999"]]), st.just(0)),
    st.tuples(st.just("badseq"), st.integers(-3, 0), st.just(0)),
), min_size=1, max_size=10)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_rebuilt_dictation_matches_the_live_one_after_any_messages(store, engine, ops):
    live_hub = DictationHub(engine, store)
    did, _, _ = live_hub.start(DR, ENCOUNTER)
    seq = 0
    for kind, a, b in ops:
        try:
            if kind in ("final", "partial"):
                seq += 1
                live_hub.segment(DR, did, seq, NOTE[a:a + b], kind == "final")
            elif kind == "edit":
                live_hub.edit(DR, did, a, a + b, "L4-5 ")
            elif kind == "context":
                live_hub.context(DR, did, {**ENCOUNTER, "cpt": a})
            else:
                live_hub.segment(DR, did, a, "bad", True)
        except (InputError, ProtocolError):
            pass
        other = Store(store.url)                 # a new process's view: nothing in memory
        rebuilt = DictationHub(engine, other)
        assert comparable(rebuilt.resume(DR, did)[1]) == comparable(live_hub.resume(DR, did)[1])
        other.dispose()
    # and the rebuilt session goes on exactly like the live one (raised/resolved included)
    nxt = (seq + 1, " Impression: normal. Electronically signed by Lee Park, MD", True)
    live_session, rebuilt_session = live_hub._get(DR, did).session, rebuilt._get(DR, did).session
    assert rebuilt_session.final_text == live_session.final_text
    assert rebuilt_session.segment(*nxt) == live_session.segment(*nxt)
