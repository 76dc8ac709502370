"""Issue 13 items 1 and 2 over the real protocol and a real SQLite database: the pending partial
is stored and read back; a physician's open dictations are listed (encounter, start time, first
words) to reopen or discard; one left open too long is listed for the scribes. Listing first
words is a read of note text: audited, and only for the owner or a scribe."""
from __future__ import annotations

import time

from .conftest import ENCOUNTER

FIRST = "Lumbar spine flexion and extension radiographs, two lateral views. "
PARTIAL = "Findings: mild disc narrowing at L4-L5 and moderate facet"


def open_one(api, dictation_id: str, *, partial: bool = True, role: str = "physician") -> None:
    with api.ws(role) as ws:
        ws.send_json({"type": "start", "dictation_id": dictation_id, "encounter": ENCOUNTER})
        assert ws.receive_json()["type"] == "state"
        ws.send_json({"type": "segment", "seq": 1, "text": FIRST, "final": True})
        assert ws.receive_json()["type"] == "state"
        if partial:
            ws.send_json({"type": "segment", "seq": 2, "text": PARTIAL, "final": False})
            state = ws.receive_json()
            assert state["type"] == "state" and state["seq"] == 2
            assert not [g for g in state["gaps"] if g["code"] == "FINDINGS_MISSING"]


def audit_actions(api, dictation_id: str) -> list[tuple[str, str]]:
    rows = api.get(f"/api/audit?dictation_id={dictation_id}", "admin").json()
    return sorted((r["actor"], r["action"]) for r in rows)


def test_the_acknowledged_partial_is_stored_and_read_back_with_the_text(api):
    open_one(api, "enc-partial")
    body = api.get("/api/dictations/enc-partial", "physician").json()
    assert (body["text"], body["partial"]) == (FIRST, PARTIAL)
    with api.ws() as ws:             # a new connection (the page reopened) gets the same warnings
        ws.send_json({"type": "resume", "dictation_id": "enc-partial"})
        state = ws.receive_json()
    assert state["seq"] == 2 and not [g for g in state["gaps"] if g["code"] == "FINDINGS_MISSING"]


def test_physician_lists_own_open_dictations_with_first_words_audited(api):
    open_one(api, "enc-open-a")
    open_one(api, "enc-open-b", partial=False)
    with api.ws() as ws:             # opened and left empty: not listed
        ws.send_json({"type": "start", "dictation_id": "enc-empty", "encounter": ENCOUNTER})
        ws.receive_json()
    open_one(api, "enc-other", role="other_physician")
    listed = api.get("/api/open-dictations", "physician").json()
    assert [d["dictation_id"] for d in listed] == ["enc-open-b", "enc-open-a"]      # last changed first
    a = listed[1]
    assert a["encounter"]["cpt"] == ["72100"] and a["status"] == "open" and a["created_at"]
    assert a["first_words"] == "Lumbar spine flexion and extension radiographs, two lateral views. Findings: mild disc \u2026"
    assert listed[0]["first_words"] == FIRST.strip()
    assert ("dr_lee", "list_open_dictation") in audit_actions(api, "enc-open-a")
    assert [d["dictation_id"] for d in api.get("/api/open-dictations", "other_physician").json()] == ["enc-other"]
    assert api.get("/api/open-dictations", "scribe").status_code == 403


def test_a_discarded_dictation_leaves_the_list_and_cannot_be_resumed(api):
    open_one(api, "enc-discard")
    assert api.post("/api/dictations/enc-discard/discard", "other_physician").status_code == 404   # not theirs
    r = api.post("/api/dictations/enc-discard/discard", "physician")
    assert r.status_code == 200 and r.json()["status"] == "discarded"
    assert api.post("/api/dictations/enc-discard/discard", "physician").status_code == 404      # once
    assert "enc-discard" not in [d["dictation_id"] for d in api.get("/api/open-dictations", "physician").json()]
    with api.ws() as ws:
        ws.send_json({"type": "resume", "dictation_id": "enc-discard"})
        answer = ws.receive_json()
    assert answer["type"] == "error" and answer["code"] == "DICTATION_DISCARDED"
    assert ("dr_lee", "discard_dictation") in audit_actions(api, "enc-discard")
    assert api.get("/api/review/open?older_than_minutes=0.0001", "scribe").json() == []


def test_an_open_dictation_left_too_long_is_listed_for_the_scribe(api):
    open_one(api, "enc-left-open")
    assert api.get("/api/review/open", "scribe").json() == []          # default: 120 minutes
    time.sleep(0.05)
    listed = api.get("/api/review/open?older_than_minutes=0.0005", "scribe").json()
    assert [(d["dictation_id"], d["owner"]) for d in listed] == [("enc-left-open", "dr_lee")]
    assert listed[0]["first_words"].startswith("Lumbar spine flexion")
    assert ("sam_scribe", "list_open_dictation") in audit_actions(api, "enc-left-open")
    for role in ("physician", "manager"):
        assert api.get("/api/review/open", role).status_code == 403


def test_the_stale_time_is_a_setting(sqlite_url, engine):
    from .conftest import Api, make_api

    client, tokens, app = make_api(sqlite_url, engine, stale_open_minutes=0.0005)
    with client:
        api = Api(client, tokens, app)
        open_one(api, "enc-setting")
        time.sleep(0.05)
        assert [d["dictation_id"] for d in api.get("/api/review/open", "scribe").json()] == ["enc-setting"]
