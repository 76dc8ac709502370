"""Issue 13 item 5 over the real API and SQLite: a scribe's query reaches the physician (listed for
them only), the physician answers it, and the answer is on the gap in the review queue."""
from __future__ import annotations

from .conftest import NOTE, dictate


def queried_gap(api) -> tuple[str, int]:
    with api.ws() as ws:
        dictate(ws, NOTE.replace("\nElectronically signed by Lee Park, MD", ""), dictation_id="enc-q")
    gap = next(g for g in api.get("/api/review/enc-q", "scribe").json()["gaps"] if g["code"] == "SIGNATURE_MISSING")
    r = api.post(f"/api/review/gaps/{gap['id']}/query", "scribe", json={"question": "Did you sign this report?"})
    assert r.status_code == 200
    return "enc-q", gap["id"]


def test_physician_answers_a_query_and_the_scribe_sees_the_answer(api):
    did, gap_id = queried_gap(api)
    queries = api.get("/api/queries", "physician").json()
    assert [(q["dictation_id"], q["gap_code"], q["question"], q["by"]) for q in queries] == \
        [(did, "SIGNATURE_MISSING", "Did you sign this report?", "sam_scribe")]
    assert api.get("/api/queries", "other_physician").json() == []
    qid = queries[0]["query_id"]
    assert api.post(f"/api/queries/{qid}/answer", "other_physician", json={"answer": "x"}).status_code == 404
    assert api.post(f"/api/queries/{qid}/answer", "scribe", json={"answer": "x"}).status_code == 403
    assert api.post(f"/api/queries/{qid}/answer", "physician", json={"answer": "  "}).status_code == 422
    r = api.post(f"/api/queries/{qid}/answer", "physician", json={"answer": "Yes, signed on paper at 10:40."})
    assert r.status_code == 200 and r.json()["gap_id"] == gap_id
    assert api.post(f"/api/queries/{qid}/answer", "physician", json={"answer": "again"}).status_code == 404
    assert api.get("/api/queries", "physician").json() == []            # answered: no longer pending
    gap = next(g for g in api.get(f"/api/review/{did}", "scribe").json()["gaps"] if g["id"] == gap_id)
    assert gap["status"] == "open" and gap["queried"] is False
    assert [(a["action"], a["text"], a["by"]) for a in gap["actions"]] == [
        ("query", "Did you sign this report?", "sam_scribe"), ("answer", "Yes, signed on paper at 10:40.", "dr_lee")]
    item = next(i for i in api.get("/api/review", "scribe").json()["items"] if i["dictation_id"] == did)
    assert next(g for g in item["open_gaps"] if g["id"] == gap_id)["answered"] is True
