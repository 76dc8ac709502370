"""The streaming protocol through FastAPI's TestClient with the real engine: the
message types, one answer per message, streaming equals batch, and one test per class
of bad input (each gets an `error` with a stable code, the connection stays open and
nothing accepted before is changed)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import OperationalError
from starlette.websockets import WebSocketDisconnect

from scribe import Encounter

from .conftest import ENCOUNTER, NOTE, dictate, make_api

STATE_KEYS = {"type", "dictation_id", "seq", "gaps", "raised", "resolved", "indications", "facts", "checklist"}


def batch(engine, text, encounter=ENCOUNTER):
    return engine.check(text, Encounter.from_dict(encounter)).to_dict()


def started(ws, encounter=ENCOUNTER, text=None):
    ws.send_json({"type": "start", "encounter": encounter})
    state = ws.receive_json()
    assert state["type"] == "state", state
    if text:
        ws.send_json({"type": "segment", "seq": 1, "text": text, "final": True})
        state = ws.receive_json()
        assert state["type"] == "state", state
    return state


def current(ws, dictation_id):
    """The dictation's state now (resume on the same connection answers it)."""
    ws.send_json({"type": "resume", "dictation_id": dictation_id})
    state = ws.receive_json()
    assert state["type"] == "state", state
    return {k: v for k, v in state.items() if k not in ("raised", "resolved")}


def expect_error(ws, message, code, *, raw=False):
    ws.send_text(message) if raw else ws.send_json(message)
    answer = ws.receive_json()
    assert answer["type"] == "error" and answer["code"] == code, answer
    assert len(answer["message"]) > 10 and answer["code"].isupper()
    return answer


# -- the happy path -------------------------------------------------------------------------
def test_dictation_exchange_states_raised_resolved_and_finalized(api, engine):
    with api.ws() as ws:
        answers = dictate(ws, NOTE, pieces=5)
    assert all(set(a) >= STATE_KEYS for a in answers[:-1])
    assert [a["seq"] for a in answers[1:-1]] == list(range(1, len(answers) - 1))
    raised = {g["code"] for a in answers for g in a.get("raised", [])}
    resolved = {g["code"] for a in answers for g in a.get("resolved", [])}
    assert "SIGNATURE_MISSING" in {g["code"] for g in answers[0]["gaps"]}
    assert "SIGNATURE_MISSING" in resolved and raised <= {g["code"] for a in answers for g in a["gaps"]}
    expected = batch(engine, NOTE)
    last_state = answers[-2]
    assert last_state["gaps"] == expected["gaps"] and last_state["facts"] == expected["facts"]
    assert last_state["indications"] == expected["indications"] and last_state["checklist"] == expected["checklist"]
    done = answers[-1]
    assert done["type"] == "finalized" and done["dictation_id"] == answers[0]["dictation_id"]
    assert done["gaps"] == expected["gaps"]
    row = api.store.dictation_row(done["dictation_id"])
    assert row["status"] == "finalized" and row["final_text"] == NOTE and row["owner"] == "dr_lee"
    assert [g["code"] for g in api.store.gaps_of(done["dictation_id"])] == [g["code"] for g in expected["gaps"]]


@pytest.mark.parametrize("cuts", [[], [3, 50, 51, 200], list(range(0, 420, 37))])
def test_streaming_equals_batch_with_partials_edits_and_context(api, engine, cuts):
    text = NOTE.replace("3 views", "3 veiws")
    points = sorted({c for c in cuts if c < len(text)} | {0, len(text)})
    with api.ws() as ws:
        state = started(ws)
        seq = 0
        for a, b in zip(points, points[1:]):
            seq += 1
            ws.send_json({"type": "segment", "seq": seq, "text": text[a:b + 7] + " um", "final": False})
            assert ws.receive_json()["seq"] == seq
            seq += 1
            ws.send_json({"type": "segment", "seq": seq, "text": text[a:b], "final": True})
            state = ws.receive_json()
        at = text.index("veiws")
        ws.send_json({"type": "edit", "start": at, "end": at + 5, "text": "views"})
        state = ws.receive_json()
        final = text[:at] + "views" + text[at + 5:]
        assert state["final_length"] == len(final)
        assert state["gaps"] == batch(engine, final)["gaps"] and state["facts"] == batch(engine, final)["facts"]
        enc = {**ENCOUNTER, "cpt": ["72110"]}
        ws.send_json({"type": "context", "encounter": enc})
        state = ws.receive_json()
        assert state["gaps"] == batch(engine, final, enc)["gaps"]
        assert any(g["code"] == "VIEWS_MISMATCH" for g in state["raised"])


def test_every_message_gets_exactly_one_answer_in_order(api):
    messages = [{"type": "segment", "seq": 1, "text": "x", "final": True},        # before start
                {"type": "start", "encounter": ENCOUNTER},
                {"type": "segment", "seq": 1, "text": "EXAM: lumbar spine. ", "final": True},
                {"type": "segment", "seq": 1, "text": "again", "final": True},
                "not json", {"type": "nope"},
                {"type": "edit", "start": 0, "end": 4, "text": "Exam"},
                {"type": "finalize"}, {"type": "finalize"}]
    with api.ws() as ws:
        for m in messages:        # pipelined: all sent before any answer is read
            ws.send_text(m if isinstance(m, str) else json.dumps(m))
        answers = [ws.receive_json() for _ in messages]
    assert [a.get("code", a["type"]) for a in answers] == [
        "NO_DICTATION", "state", "state", "SEQ_REPEATED", "INVALID_JSON", "UNKNOWN_TYPE", "state", "finalized",
        "DICTATION_FINALIZED"]


def test_start_with_client_dictation_id_and_resume_on_a_new_connection(api):
    with api.ws() as ws:
        dictate(ws, NOTE[:120], finalize=False, dictation_id="enc-2026-0001")
        before = current(ws, "enc-2026-0001")
        expect_error(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "enc-2026-0001"},
                     "DICTATION_EXISTS")
        expect_error(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "no spaces/allowed"},
                     "BAD_DICTATION_ID")
        expect_error(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "facets"},  # a review path word
                     "BAD_DICTATION_ID")
    with api.ws() as ws:
        assert current(ws, "enc-2026-0001") == before
        ws.send_json({"type": "segment", "seq": before["seq"] + 1, "text": " more", "final": True})
        assert ws.receive_json()["final_length"] == before["final_length"] + 5


def test_physician_pages_token_in_query_parameter(api):
    with api.client.websocket_connect(f"/ws/dictation?access_token={api.tokens['physician']}") as ws:
        assert started(ws)["type"] == "state"


# -- authentication -------------------------------------------------------------------------
@pytest.mark.parametrize("headers, code, close", [
    ({}, "UNAUTHENTICATED", 4401),
    ({"Authorization": "Bearer scr_not-a-real-token"}, "BAD_TOKEN", 4401),
    ("scribe", "FORBIDDEN", 4403), ("manager", "FORBIDDEN", 4403), ("admin", "FORBIDDEN", 4403)])
def test_websocket_refuses_missing_bad_and_wrong_role_tokens(api, headers, code, close):
    headers = api.headers(headers) if isinstance(headers, str) else headers
    with api.client.websocket_connect("/ws/dictation", headers=headers) as ws:
        answer = ws.receive_json()
        assert answer["type"] == "error" and answer["code"] == code
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == close


def test_revoked_token_is_refused(api):
    mine = next(t for t in api.store.list_tokens() if t["name"] == "dr_lee")
    api.store.revoke_token(mine["id"])
    with api.ws() as ws:
        assert ws.receive_json()["code"] == "BAD_TOKEN"


# -- bad input: one test per class --------------------------------------------------------------
@pytest.fixture
def live(api):
    """An open dictation with one accepted final segment: (ws, dictation_id, state before)."""
    with api.ws() as ws:
        state = started(ws, text=NOTE[:150])
        yield ws, state["dictation_id"], current(ws, state["dictation_id"])


def test_malformed_json(live):
    ws, did, before = live
    expect_error(ws, '{"type": "segment", "seq": 2,', "INVALID_JSON", raw=True)
    assert current(ws, did) == before


def test_binary_frame(live):
    ws, did, before = live
    ws.send_bytes(json.dumps({"type": "segment", "seq": 2, "text": "x", "final": True}).encode())
    assert ws.receive_json()["code"] == "BINARY_FRAME"
    assert current(ws, did) == before


def test_unknown_type(live):
    ws, did, before = live
    expect_error(ws, {"type": "append", "text": "x"}, "UNKNOWN_TYPE")
    assert current(ws, did) == before


@pytest.mark.parametrize("message", ["[1, 2]", '"segment"', '{"seq": 2}', '{"type": 7}'])
def test_not_a_message_object(live, message):
    ws, did, before = live
    expect_error(ws, message, "BAD_MESSAGE", raw=True)
    assert current(ws, did) == before


@pytest.mark.parametrize("message, code", [
    ({"type": "segment", "text": "x", "final": True}, "BAD_SEGMENT"),
    ({"type": "segment", "seq": "2", "text": "x", "final": True}, "BAD_SEGMENT"),
    ({"type": "segment", "seq": 2, "text": None, "final": True}, "BAD_SEGMENT"),
    ({"type": "segment", "seq": 2, "text": "x", "final": "yes"}, "BAD_SEGMENT"),
    ({"type": "edit", "start": "0", "end": 1, "text": "x"}, "BAD_EDIT"),
    ({"type": "edit", "start": 0, "end": 1}, "BAD_EDIT"),
    ({"type": "context", "encounter": "72100"}, "BAD_ENCOUNTER"),
    ({"type": "context", "encounter": {"cpt": 72100}}, "BAD_ENCOUNTER"),
    ({"type": "context", "encounter": {"cpt": ["72100"], "site": "home"}}, "BAD_SITE"),
    ({"type": "resume"}, "BAD_MESSAGE")])
def test_missing_or_wrongly_typed_fields(live, message, code):
    ws, did, before = live
    answer = expect_error(ws, message, code)
    assert ("seq" in answer) == (message["type"] == "segment" and isinstance(message.get("seq"), int))
    assert current(ws, did) == before


def test_oversize_message(live):
    ws, did, before = live
    big = {"type": "segment", "seq": 2, "text": "word " * 14_000, "final": True}      # ~70 KB > 64 KiB
    expect_error(ws, big, "MESSAGE_TOO_LARGE")
    assert current(ws, did) == before
    ws.send_json({**big, "text": "word " * 1000})     # under the limit: accepted
    assert ws.receive_json()["type"] == "state"


@pytest.mark.parametrize("seq, code", [(1, "SEQ_REPEATED"), (0, "SEQ_OUT_OF_ORDER"), (-5, "SEQ_OUT_OF_ORDER")])
def test_repeated_or_out_of_order_seq(live, seq, code):
    ws, did, before = live
    answer = expect_error(ws, {"type": "segment", "seq": seq, "text": "Findings: normal.", "final": True}, code)
    assert answer["seq"] == seq
    assert current(ws, did) == before


@pytest.mark.parametrize("start, end", [(0, 10_000), (-1, 3), (10, 5), (151, 151)])
def test_edit_out_of_range(live, start, end):
    ws, did, before = live
    expect_error(ws, {"type": "edit", "start": start, "end": end, "text": "x"}, "EDIT_OUT_OF_RANGE")
    assert current(ws, did) == before


def test_unknown_cpt(api, live):
    ws, did, before = live
    expect_error(ws, {"type": "context", "encounter": {**ENCOUNTER, "cpt": ["99999"]}}, "UNKNOWN_CPT")
    assert current(ws, did) == before
    expect_error(ws, {"type": "start", "encounter": {**ENCOUNTER, "cpt": ["12345"]}}, "UNKNOWN_CPT")
    assert current(ws, did) == before           # the failed start left the open dictation attached


def test_invalid_icd10(live):
    ws, did, before = live
    expect_error(ws, {"type": "context", "encounter": {**ENCOUNTER, "icd10": ["M5"]}}, "INVALID_ICD10")
    expect_error(ws, {"type": "start", "encounter": {**ENCOUNTER, "icd10": ["not-a-code"]}}, "INVALID_ICD10")
    assert current(ws, did) == before


def test_resume_of_a_dictation_that_does_not_exist_or_is_not_yours(api, live):
    ws, did, before = live
    expect_error(ws, {"type": "resume", "dictation_id": "does-not-exist"}, "DICTATION_NOT_FOUND")
    with api.ws("other_physician") as other:
        answer = expect_error(other, {"type": "resume", "dictation_id": did}, "DICTATION_NOT_FOUND")
        assert "of yours" in answer["message"]
        expect_error(other, {"type": "segment", "seq": 9, "text": "x", "final": True}, "NO_DICTATION")
    api.app.state.hub.forget(did)         # also when it must be rebuilt from the database
    with api.ws("other_physician") as other:
        expect_error(other, {"type": "resume", "dictation_id": did}, "DICTATION_NOT_FOUND")
    assert current(ws, did) == before


def test_messages_after_finalize(api, live):
    ws, did, before = live
    ws.send_json({"type": "finalize"})
    assert ws.receive_json()["type"] == "finalized"
    for message in ({"type": "segment", "seq": 2, "text": "x", "final": True},
                    {"type": "edit", "start": 0, "end": 1, "text": "x"},
                    {"type": "context", "encounter": ENCOUNTER}, {"type": "finalize"},
                    {"type": "resume", "dictation_id": did}):
        expect_error(ws, message, "DICTATION_FINALIZED")
    with api.ws() as again:
        expect_error(again, {"type": "resume", "dictation_id": did}, "DICTATION_FINALIZED")
    assert api.store.dictation_row(did)["final_text"] == NOTE[:150]
    assert started(ws)["type"] == "state"        # the connection goes on with a new dictation


def test_flood_is_rate_limited(sqlite_url, engine):
    client, tokens, app = make_api(sqlite_url, engine, rate_per_second=2.0, rate_burst=5)
    with client, client.websocket_connect("/ws/dictation", headers={"Authorization": f"Bearer {tokens['physician']}"}) as ws:
        ws.send_json({"type": "start", "encounter": ENCOUNTER})
        did = ws.receive_json()["dictation_id"]
        for seq in range(1, 31):
            ws.send_json({"type": "segment", "seq": seq, "text": f"word{seq} ", "final": True})
        answers = [ws.receive_json() for _ in range(30)]
        applied = [a["seq"] for a in answers if a["type"] == "state"]
        limited = [a for a in answers if a.get("code") == "RATE_LIMITED"]
        assert len(applied) + len(limited) == 30 and 4 <= len(applied) <= 8 and limited
        assert "messages a second" in limited[0]["message"]
        stored = app.state.store.load(did)[1]
    assert [e["seq"] for e in stored if e["kind"] == "segment"] == applied   # exactly the accepted ones


def test_no_dictation_before_start(api):
    with api.ws() as ws:
        for kind in ("segment", "edit", "context", "finalize"):
            expect_error(ws, {"type": kind, "seq": 1, "text": "x", "final": True, "start": 0, "end": 0,
                              "encounter": ENCOUNTER}, "NO_DICTATION")


def test_storage_failure_applies_nothing_and_the_dictation_goes_on(api, live, monkeypatch):
    ws, did, before = live
    store = api.store

    def broken(**_kw):
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(store, "append_event", broken)
    expect_error(ws, {"type": "segment", "seq": 2, "text": " Findings: normal.", "final": True}, "STORAGE_UNAVAILABLE")
    monkeypatch.undo()
    assert current(ws, did) == before              # rebuilt from the database: the segment is not there
    ws.send_json({"type": "segment", "seq": 2, "text": " Findings: normal.", "final": True})
    assert ws.receive_json()["final_length"] == before["final_length"] + len(" Findings: normal.")


def test_internal_error_keeps_the_connection(api, live, monkeypatch):
    ws, did, before = live
    monkeypatch.setattr(api.app.state.hub, "edit", lambda *a, **k: 1 / 0)
    expect_error(ws, {"type": "edit", "start": 0, "end": 1, "text": "x"}, "INTERNAL_ERROR")
    monkeypatch.undo()
    assert current(ws, did) == before


# -- watching a dictation another connection feeds (a speech engine and the sidebar) -----------
def test_watcher_receives_the_states_another_connection_causes(api, engine):
    with api.ws() as engine_feed, api.ws() as sidebar:
        dictation_id = started(engine_feed)["dictation_id"]
        sidebar.send_json({"type": "watch", "dictation_id": dictation_id})
        first = sidebar.receive_json()
        assert first["type"] == "state" and first["watching"] is True and first["seq"] is None
        engine_feed.send_json({"type": "segment", "seq": 1, "text": NOTE[:120], "final": True})
        answer = engine_feed.receive_json()
        pushed = sidebar.receive_json()
        assert pushed["pushed"] is True and pushed["seq"] == 1
        assert {k: v for k, v in pushed.items() if k != "pushed"} == answer
        engine_feed.send_json({"type": "segment", "seq": 2, "text": NOTE[120:], "final": True})
        engine_feed.receive_json()
        assert sidebar.receive_json()["gaps"] == batch(engine, NOTE)["gaps"]
        # the watcher's own messages are answered, not echoed back as pushes
        sidebar.send_json({"type": "unwatch"})
        assert sidebar.receive_json() == {"type": "unwatched", "dictation_id": dictation_id}
        engine_feed.send_json({"type": "finalize"})
        assert engine_feed.receive_json()["type"] == "finalized"
        expect_error(sidebar, {"type": "unwatch"}, "NOT_WATCHING")


def test_watch_is_for_the_owner_only(api):
    with api.ws() as ws:
        dictation_id = started(ws)["dictation_id"]
    with api.ws("other_physician") as intruder:
        expect_error(intruder, {"type": "watch", "dictation_id": dictation_id}, "DICTATION_NOT_FOUND")
        expect_error(intruder, {"type": "watch", "dictation_id": "no-such-dictation"}, "DICTATION_NOT_FOUND")


def test_watcher_sees_finalize(api):
    with api.ws() as feed, api.ws() as sidebar:
        dictation_id = started(feed, text=NOTE)["dictation_id"]
        sidebar.send_json({"type": "watch", "dictation_id": dictation_id})
        sidebar.receive_json()
        feed.send_json({"type": "finalize"})
        done = feed.receive_json()
        assert sidebar.receive_json() == {**done, "pushed": True}


def test_explain_adds_traces_only_when_asked(api):
    with api.ws() as ws:
        plain = started(ws, text="Lumbar spine AP and lateral. Indication: rule out discitis.")
        assert all("trace" not in g for g in plain["gaps"])
        ws.send_json({"type": "segment", "seq": 2, "text": " No fever.", "final": True, "explain": True})
        explained = ws.receive_json()
        assert explained["type"] == "state" and explained["gaps"]
        assert all(g["trace"]["rule"] == g["rule_id"] for g in explained["gaps"])
        findings = next(g for g in explained["gaps"] if g["code"] == "FINDINGS_MISSING")
        assert findings["trace"]["looked_for"]
        fever = next(i for i in explained["indications"] if i["text"].lower() == "fever")
        assert fever["trace"]["trigger"]["text"].lower() == "no" and fever["assertion"] == "negated"
        ws.send_json({"type": "segment", "seq": 3, "text": " Signed: Dr. Ana Ruiz", "final": True, "explain": False})
        assert all("trace" not in g for g in ws.receive_json()["gaps"])


def test_an_encounter_with_claim_lines_keeps_each_lines_modifiers(api, engine):
    encounter = {"lines": [{"cpt": "72100", "modifiers": ["26"]}, {"cpt": "72040", "modifiers": []}],
                 "icd10": ["M54.50"], "site": "facility"}
    with api.ws() as ws:
        state = started(ws, encounter, text=NOTE)
        needed = [(g["cpt"], g.get("line")) for g in state["gaps"] if g["code"] == "MODIFIER_REQUIRED"]
        assert needed == [("72040", 1)]
        ws.send_json({"type": "context", "encounter": {**encounter, "lines": [
            {"cpt": "72100", "modifiers": ["26"]}, {"cpt": "72040", "modifiers": ["26"]}]}})
        state = ws.receive_json()
        assert [g["cpt"] for g in state["resolved"] if g["code"] == "MODIFIER_REQUIRED"] == ["72040"]
        assert current(ws, state["dictation_id"])["gaps"] == batch(engine, NOTE, {**encounter, "lines": [
            {"cpt": "72100", "modifiers": ["26"]}, {"cpt": "72040", "modifiers": ["26"]}]})["gaps"]
