"""Existence does not leak (issue 14, item 4): another physician's dictation id answers
exactly as an unknown id does, on the WebSocket (start, resume, watch) and over HTTP, and
the same id used by two physicians names two dictations; a scribe reads only what the
review queue shows (or what that scribe worked on), and each read is audited."""
from __future__ import annotations

import json

from ..live import ask
from ..server.conftest import ENCOUNTER, NOTE

FIRST = "Lumbar spine, three views. Indication: low back pain after a fall. "


def shape(answer: dict, dictation_id: str) -> str:
    """The answer with the id taken out and volatile fields left as keys."""
    return json.dumps(answer, sort_keys=True).replace(dictation_id, "<ID>")


def test_existence_another_owners_id_answers_as_an_unknown_id(live):
    lee, _ = live.token(name="dr_exist_lee")
    kim, _ = live.token(name="dr_exist_kim")
    with live.server.ws(lee) as ws:
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "enc-shared"})["type"] == "state"
        assert ask(ws, {"type": "segment", "seq": 1, "text": FIRST, "final": True})["final_length"] == len(FIRST)
        # the owner's own id is taken, and says so
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "enc-shared"})["code"] == \
            "DICTATION_EXISTS"
    with live.server.ws(kim) as ws:
        for verb in ("resume", "watch"):
            taken = ask(ws, {"type": verb, "dictation_id": "enc-shared"})
            unknown = ask(ws, {"type": verb, "dictation_id": "enc-nobody"})
            assert taken["code"] == "DICTATION_NOT_FOUND"
            assert shape(taken, "enc-shared") == shape(unknown, "enc-nobody")
        # start with the other physician's id: the same answer as with a fresh id
        taken = ask(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "enc-shared"})
        fresh = ask(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "enc-fresh"})
        assert taken["type"] == "state" and taken["dictation_id"] == "enc-shared"
        assert shape(taken, "enc-shared") == shape(fresh, "enc-fresh")
        assert ask(ws, {"type": "resume", "dictation_id": "enc-shared"})["final_length"] == 0   # kim's own
        assert ask(ws, {"type": "segment", "seq": 1, "text": "Cervical spine. ", "final": True})["type"] == "state"
    # over HTTP: each sees their own dictation under the id; neither sees the other's
    for token, text in ((lee, FIRST), (kim, "")):
        status, body = live.json("GET", "/api/dictations/enc-shared", token)
        assert status == 200 and body["dictation_id"] == "enc-shared"
        assert body["text"] == text if text else body["text"] == "Cervical spine. "
    stranger, _ = live.token(name="dr_exist_stranger")
    taken = live.request("GET", "/api/dictations/enc-shared", stranger)
    unknown = live.request("GET", "/api/dictations/enc-nobody", stranger)
    assert taken[0] == unknown[0] == 404
    assert taken[2].replace(b"enc-shared", b"<ID>") == unknown[2].replace(b"enc-nobody", b"<ID>")
    listed = live.json("GET", "/api/dictations", kim)[1]
    assert sorted(d["dictation_id"] for d in listed) == ["enc-fresh", "enc-shared"]


def finalize(live, token: str, dictation_id: str) -> None:
    with live.server.ws(token) as ws:
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": dictation_id})["type"] == "state"
        assert ask(ws, {"type": "segment", "seq": 1, "text": NOTE, "final": True})["type"] == "state"
        assert ask(ws, {"type": "finalize"})["type"] == "finalized"


def test_existence_a_scribe_reads_only_what_the_queue_shows(live):
    doc, _ = live.token(name="dr_exist_queue")
    sam, _ = live.token(role="scribe", name="sam_exist")
    pat, _ = live.token(role="scribe", name="pat_exist")
    admin, _ = live.token(role="admin", name="ada_exist")
    finalize(live, doc, "q-shown")
    finalize(live, doc, "q-worked")
    with live.server.ws(doc) as ws:                       # open: not in the queue
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "q-open"})["type"] == "state"
        assert ask(ws, {"type": "segment", "seq": 1, "text": NOTE, "final": True})["type"] == "state"
    queue = {i["dictation_id"] for i in live.json("GET", "/api/review?limit=500", sam)[1]["items"]}
    assert {"q-shown", "q-worked"} <= queue and "q-open" not in queue
    # sam dismisses every open gap of q-worked: it leaves the queue
    detail = live.json("GET", "/api/review/q-worked", sam)[1]
    for gap in detail["gaps"]:
        status, _ = live.json("POST", f"/api/review/gaps/{gap['id']}/dismiss", sam, {"reason": "not_applicable"})
        assert status == 200
    assert "q-worked" not in {i["dictation_id"] for i in live.json("GET", "/api/review?limit=500", sam)[1]["items"]}
    unknown = live.request("GET", "/api/review/q-nobody", pat)
    for dictation_id in ("q-open", "q-worked"):           # not shown to pat: exactly as unknown
        status, _, body = live.request("GET", f"/api/review/{dictation_id}", pat)
        assert status == 404 and body.replace(dictation_id.encode(), b"<ID>") == \
            unknown[2].replace(b"q-nobody", b"<ID>")
    assert live.json("GET", "/api/review/q-shown", pat)[0] == 200
    assert live.json("GET", "/api/review/q-worked", sam)[0] == 200     # sam worked on it
    reads = live.json("GET", "/api/audit?actor=pat_exist", admin)[1]
    assert [(r["action"], r["dictation_id"]) for r in reads] == [("read_note_text", "q-shown")]
    assert reads[0]["address"] == "127.0.0.1" and reads[0]["role"] == "scribe"
