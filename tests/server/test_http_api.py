"""The HTTP API: the whole role-by-endpoint matrix (401 without or with a bad token, 403
for a wrong role), the review actions, statistics without note text, token management
and the audit log of every read of note text."""
from __future__ import annotations

import json

import pytest

from .conftest import ENCOUNTER, NOTE, dictate

UNSIGNED = NOTE.rsplit("\n", 1)[0]          # SIGNATURE_MISSING (error) + ORDERING_PROVIDER_MISSING (info)
SIGNATURE = "Electronically signed by Lee Park, MD"


@pytest.fixture
def finalized(api):
    """A finalized dictation of dr_lee with open gaps: (dictation_id, {code: gap_id})."""
    with api.ws() as ws:
        answers = dictate(ws, UNSIGNED, dictation_id="enc-1")
    assert answers[-1]["type"] == "finalized"
    gaps = {g["code"]: g["id"] for g in api.store.gaps_of("enc-1")}
    assert set(gaps) == {"SIGNATURE_MISSING", "ORDERING_PROVIDER_MISSING"}
    return "enc-1", gaps


ENDPOINTS = [  # method, path, allowed role(s), json body
    ("GET", "/api/me", ("physician", "scribe", "manager", "admin"), None),
    ("GET", "/api/dictations", ("physician",), None),
    ("GET", "/api/dictations/enc-1", ("physician",), None),
    ("GET", "/api/queries", ("physician",), None),
    ("GET", "/api/open-dictations", ("physician",), None),
    ("GET", "/api/review/open", ("scribe",), None),
    ("GET", "/api/review", ("scribe",), None),
    ("GET", "/api/review/dismiss-reasons", ("scribe",), None),
    ("GET", "/api/review/enc-1", ("scribe",), None),
    ("POST", "/api/review/gaps/{SIGNATURE_MISSING}/resolve", ("scribe",), {"addendum": SIGNATURE}),
    ("POST", "/api/review/gaps/{SIGNATURE_MISSING}/dismiss", ("scribe",), {"reason": "false_positive"}),
    ("POST", "/api/review/gaps/{SIGNATURE_MISSING}/query", ("scribe",), {"question": "Did you sign?"}),
    ("GET", "/api/stats/clean-share", ("manager",), None),
    ("GET", "/api/stats/dismissals", ("manager",), None),
    ("GET", "/api/stats/money-at-risk", ("manager",), None),
    ("POST", "/api/stats/money-at-risk", ("manager",), {"fees": {"72100": 30.0}}),
    ("GET", "/api/tokens", ("admin",), None),
    ("POST", "/api/tokens", ("admin",), {"name": "new_doc", "role": "physician"}),
    ("DELETE", "/api/tokens/1", ("admin",), None),
    ("GET", "/api/audit", ("admin",), None),
]


@pytest.mark.parametrize("method, path, allowed, body", ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_role_by_endpoint_matrix(api, finalized, method, path, allowed, body):
    path = path.format(**finalized[1])
    call = lambda headers: api.client.request(method, path, headers=headers, json=body)
    for headers, code in (({}, "UNAUTHENTICATED"), ({"Authorization": "Bearer scr_wrong"}, "BAD_TOKEN"),
                          ({"Authorization": "Basic abc"}, "UNAUTHENTICATED")):
        r = call(headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == code, (headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
    for role in ("physician", "scribe", "manager", "admin"):
        r = call(api.headers(role))
        if role in allowed:
            assert r.status_code in (200, 201), (role, r.text)
        else:
            assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN", (role, r.text)
            assert role in r.json()["error"]["message"]


def test_unauthenticated_health_docs_and_pages(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/docs").status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/api/review", "/api/stats/money-at-risk", "/api/tokens", "/healthz"} <= set(paths)
    for page in ("/sidebar", "/review", "/dashboard"):
        r = api.get(page + "?access_token=x")
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]


def test_access_token_query_parameter_works_for_http(api):
    r = api.client.get(f"/api/me?access_token={api.tokens['manager']}")
    assert r.json() == {"name": "max_manager", "role": "manager"}


def test_physician_reaches_only_own_dictations_and_reads_are_audited(api, finalized):
    did, _ = finalized
    mine = api.get("/api/dictations", "physician").json()
    assert [d["dictation_id"] for d in mine] == [did] and "text" not in mine[0]
    assert api.get("/api/dictations", "other_physician").json() == []
    r = api.get(f"/api/dictations/{did}", "other_physician")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    detail = api.get(f"/api/dictations/{did}", "physician").json()
    assert detail["text"] == UNSIGNED and {g["code"] for g in detail["gaps"]} == {"SIGNATURE_MISSING",
                                                                                 "ORDERING_PROVIDER_MISSING"}
    api.get(f"/api/review/{did}", "scribe")
    audit = api.get(f"/api/audit?dictation_id={did}", "admin").json()
    assert [(a["actor"], a["action"]) for a in audit] == [("sam_scribe", "read_note_text"),
                                                          ("dr_lee", "read_note_text")]
    assert all(a["at"].endswith("Z") for a in audit)


def test_open_dictation_detail_shows_accepted_text(api):
    with api.ws() as ws:
        dictate(ws, NOTE, finalize=False, dictation_id="open-1")
    detail = api.get("/api/dictations/open-1", "physician").json()
    assert detail["status"] == "open" and detail["text"] == NOTE and detail["gaps"] == []
    assert api.get("/api/review/open-1", "scribe").status_code == 404       # not in the queue


def test_review_queue_filters(api, finalized):
    with api.ws() as ws:
        dictate(ws, NOTE, {**ENCOUNTER, "cpt": ["72120"], "provider": "Dr Kim"}, dictation_id="enc-2")
    q = lambda qs="": [i["dictation_id"] for i in api.get(f"/api/review{qs}", "scribe").json()["items"]]
    assert q() == ["enc-2", "enc-1"]
    assert q("?provider=Dr%20Kim") == ["enc-2"]
    assert q("?cpt=72100") == ["enc-1"]
    assert q("?gap_code=POSITIONS_MISSING") == ["enc-2"]
    assert q("?severity=warning") == ["enc-2"]
    assert q("?severity=error&severity=info") == ["enc-2", "enc-1"]
    assert q("?date_from=2000-01-01&date_to=2000-12-31") == []
    assert api.get("/api/review?severity=fatal", "scribe").json()["error"]["code"] == "BAD_REQUEST"
    assert api.get("/api/review?date_from=yesterday", "scribe").status_code == 422
    item = api.get("/api/review?limit=1", "scribe").json()
    assert item["total"] == 2 and len(item["items"]) == 1 and "text" not in json.dumps(item["items"][0]["open_gaps"])


def test_resolve_rechecks_the_addendum(api, finalized):
    did, gaps = finalized
    useless = api.post(f"/api/review/gaps/{gaps['SIGNATURE_MISSING']}/resolve", "scribe",
                       json={"addendum": "Patient tolerated the exam well."})
    assert useless.status_code == 409 and useless.json()["error"]["code"] == "GAP_STILL_PRESENT"
    assert "SIGNATURE_MISSING" in useless.json()["error"]["message"]
    assert all(g["actions"] == [] for g in api.store.gaps_of(did))           # nothing stored
    ok = api.post(f"/api/review/gaps/{gaps['SIGNATURE_MISSING']}/resolve", "scribe", json={"addendum": SIGNATURE})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["gap"]["status"] == "resolved" and body["gap"]["actions"][0]["by"] == "sam_scribe"
    assert body["gap"]["actions"][0]["text"] == SIGNATURE and body["also_resolved"] == []
    assert [g["code"] for g in body["recheck_gaps"]] == ["ORDERING_PROVIDER_MISSING"]
    again = api.post(f"/api/review/gaps/{gaps['SIGNATURE_MISSING']}/resolve", "scribe", json={"addendum": SIGNATURE})
    assert again.status_code == 409 and again.json()["error"]["code"] == "GAP_NOT_OPEN"
    detail = api.get(f"/api/review/{did}", "scribe").json()
    assert detail["addenda"][0]["text"] == SIGNATURE and detail["text"] == UNSIGNED
    # a later addendum is checked on the note with the earlier ones
    ordering = api.post(f"/api/review/gaps/{gaps['ORDERING_PROVIDER_MISSING']}/resolve", "scribe",
                        json={"addendum": "Ordering physician: Dana Whitfield, MD"})
    assert ordering.status_code == 200 and ordering.json()["recheck_gaps"] == []
    assert api.get("/api/review", "scribe").json()["items"] == []             # nothing open: off the queue


def test_resolve_closes_other_gaps_the_addendum_fixes(api):
    with api.ws() as ws:
        dictate(ws, UNSIGNED.replace("Comparison: none.\n", ""), dictation_id="enc-3")
    gaps = {g["code"]: g["id"] for g in api.store.gaps_of("enc-3")}
    assert "COMPARISON_NOT_STATED" in gaps
    r = api.post(f"/api/review/gaps/{gaps['SIGNATURE_MISSING']}/resolve", "scribe",
                 json={"addendum": SIGNATURE + "\nComparison: none."})
    assert r.status_code == 200 and r.json()["also_resolved"] == [gaps["COMPARISON_NOT_STATED"]]
    stored = {g["code"]: g for g in api.store.gaps_of("enc-3")}
    assert stored["COMPARISON_NOT_STATED"]["status"] == "resolved"
    assert stored["COMPARISON_NOT_STATED"]["actions"][0]["reason"] == f"addendum:{gaps['SIGNATURE_MISSING']}"


def test_dismiss_needs_a_listed_reason_and_query_reaches_the_physician(api, finalized):
    did, gaps = finalized
    url = f"/api/review/gaps/{gaps['SIGNATURE_MISSING']}"
    assert api.post(url + "/dismiss", "scribe", json={"reason": "i_dont_like_it"}).status_code == 422
    r = api.post(url + "/dismiss", "scribe", json={"reason": "other"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "NOTE_REQUIRED"
    assert api.post("/api/review/gaps/99999/dismiss", "scribe", json={"reason": "not_applicable"}).status_code == 404
    q = api.post(url + "/query", "scribe", json={"question": "Please sign the report."})
    assert q.status_code == 200 and q.json()["gap"]["queried"] is True and q.json()["gap"]["status"] == "open"
    queries = api.get("/api/queries", "physician").json()
    assert [(x["question"], x["gap_code"], x["by"]) for x in queries] == [
        ("Please sign the report.", "SIGNATURE_MISSING", "sam_scribe")]
    assert api.get("/api/queries", "other_physician").json() == []
    d = api.post(url + "/dismiss", "scribe", json={"reason": "other", "note": "signed on the paper copy"})
    assert d.status_code == 200 and d.json()["gap"]["status"] == "dismissed"
    actions = d.json()["gap"]["actions"]
    assert [(a["action"], a["reason"], a["role"]) for a in actions] == [("query", None, "scribe"),
                                                                        ("dismiss", "other", "scribe")]
    assert api.get("/api/queries", "physician").json() == []               # answered by the dismissal


def test_statistics_are_aggregates_without_note_text(api, finalized):
    did, gaps = finalized
    with api.ws() as ws:
        dictate(ws, NOTE, dictation_id="enc-clean")
    api.post(f"/api/review/gaps/{gaps['ORDERING_PROVIDER_MISSING']}/dismiss", "manager")   # refused (403)
    api.post(f"/api/review/gaps/{gaps['ORDERING_PROVIDER_MISSING']}/dismiss", "scribe",
             json={"reason": "documented_elsewhere"})
    bodies = []
    for by in ("provider", "cpt", "gap_code", "week"):
        r = api.get(f"/api/stats/clean-share?by={by}", "manager")
        assert r.status_code == 200
        bodies.append(r.text)
    share = {row["key"]: row for row in json.loads(bodies[0])}
    assert share["Dr Lee"] == {"key": "Dr Lee", "finalized": 2, "clean": 1, "share": 0.5}
    assert api.get("/api/stats/clean-share?by=owner", "manager").status_code == 422
    dismiss = api.get("/api/stats/dismissals", "manager").json()
    assert {r["gap_code"]: r["rate"] for r in dismiss} == {"ORDERING_PROVIDER_MISSING": 0.5,
                                                          "SIGNATURE_MISSING": 0.0}
    money = api.get("/api/stats/money-at-risk", "manager").json()
    fee = api.app.state.fees["72100"]
    assert money["total_dollars"] == round(fee, 2) and money["by_cpt"][0]["cpt"] == "72100"
    priced = api.post("/api/stats/money-at-risk?severity=error&severity=info", "manager",
                      json={"fees": {"72100": 10.0}}).json()
    # enc-1's SIGNATURE_MISSING (error) and enc-clean's ORDERING_PROVIDER_MISSING (info): two 72100 lines
    assert priced["total_dollars"] == 20.0 and priced["severities"] == ["error", "info"]
    bodies += [json.dumps(dismiss), json.dumps(money)]
    for body in bodies:          # no note text, no evidence, no gap messages
        for fragment in ("Lumbar spine", "Normal alignment", "evidence", "message"):
            assert fragment not in body


def test_admin_manages_tokens(api):
    created = api.post("/api/tokens", "admin", json={"name": "dr_new", "role": "physician"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert api.client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "dr_new"
    listed = api.get("/api/tokens", "admin").json()
    assert token not in json.dumps(listed) and all("token_hash" not in t for t in listed)
    assert {t["name"] for t in listed} >= {"dr_lee", "dr_new", "ada_admin"}
    revoked = api.delete(f"/api/tokens/{created.json()['id']}", "admin")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert api.client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert api.delete("/api/tokens/9999", "admin").status_code == 404
    bad = api.post("/api/tokens", "admin", json={"name": "x", "role": "root"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "BAD_REQUEST"
    actions = [a["action"] for a in api.get("/api/audit", "admin").json()]
    assert actions[:2] == ["revoke_token", "create_token"]


def test_validation_errors_do_not_echo_input(api, finalized):
    _, gaps = finalized
    secret = "Patient John Q Public, DOB 01/02/1950"
    r = api.post(f"/api/review/gaps/{gaps['SIGNATURE_MISSING']}/query", "scribe",
                 json={"question": secret, "extra": secret})
    assert r.status_code == 422 and secret not in r.text


def test_review_detail_explains_gaps_when_asked(api, finalized):
    did, _ = finalized
    plain = api.get(f"/api/review/{did}", "scribe").json()
    assert all(g.get("trace") is None for g in plain["gaps"])
    explained = api.get(f"/api/review/{did}?explain=true", "scribe").json()
    traces = {g["code"]: g["trace"] for g in explained["gaps"]}
    assert traces["SIGNATURE_MISSING"]["rule"] and "signature" in traces["SIGNATURE_MISSING"]["looked_for"]
    assert traces["ORDERING_PROVIDER_MISSING"]["note_sections"]
