"""CDS Hooks 2.0 against a real `scribe serve`: discovery, cards at order time, prefetch
fetched from the FHIR server when absent, JWT rejections, feedback and its statistics."""
from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from .cases import bundle, case_request, document, encounter, hook_request, service_request

SIGN = "scribe-imaging-order-sign"
SELECT = "scribe-imaging-order-select"
LBP_NOTE = ("SPINE CLINIC NOTE\nOrdering physician: Samuel Ortiz, MD\nHistory: chronic low back pain for "
            "four months, no trauma, no leg symptoms.\nPlan: lumbar flexion and extension radiographs.\n")
SPONDY_NOTE = ("SPINE CLINIC NOTE\nOrdering physician: Samuel Ortiz, MD\nHistory: degenerative spondylolisthesis of "
               "L4 on L5 seen on MRI, assess for instability before fusion.\nPlan: flexion and extension views.\n")


def test_discovery_lists_both_services_with_prefetch(scribe):
    services = {s["id"]: s for s in httpx.get(f"{scribe.base}/cds-services").json()["services"]}
    assert services[SELECT]["hook"] == "order-select" and services[SIGN]["hook"] == "order-sign"
    prefetch = services[SIGN]["prefetch"]
    assert prefetch["conditions"].startswith("Condition?patient={{context.patientId}}")
    assert "DocumentReference?patient={{context.patientId}}" in prefetch["note"]
    assert "{{context.draftOrders.ServiceRequest.id}}" in prefetch["serviceRequests"]


def test_order_sign_cards_for_a_dynamic_study_with_pain_only(call, scribe):
    body = hook_request("order-sign", [service_request("sr-1", "72120", icd10=["M54.50"])],
                        note=document("doc-1", LBP_NOTE))
    r = call(SIGN, body)
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    by_rule = {c["source"]["topic"]["display"]: c for c in cards}
    assert {"DX_NOT_SUPPORTING", "INDICATION_NOT_SPECIFIC"} <= set(by_rule)
    for card in cards:
        assert len(card["summary"]) < 140
        assert card["indicator"] in ("critical", "warning", "info")
        assert card["source"]["url"] == f"{scribe.base}/rules/{card['source']['topic']['code']}"
        assert card["overrideReasons"] and card["links"][0]["type"] == "smart"
        assert card["links"][0]["url"] == f"{scribe.base}/smart/launch"
    assert "chronic low back pain" in by_rule["INDICATION_NOT_SPECIFIC"]["detail"]
    page = httpx.get(by_rule["DX_NOT_SUPPORTING"]["source"]["url"])
    assert page.status_code == 200 and "DX_NOT_SUPPORTING" in page.text


def test_a_specific_reason_gives_no_card(call):
    body = hook_request("order-sign", [service_request("sr-1", "72120", icd10=["M43.16"])],
                        note=document("doc-1", SPONDY_NOTE))
    r = call(SIGN, body)
    assert r.status_code == 200 and r.json()["cards"] == [], r.text


def test_less_specific_code_gets_a_replace_suggestion(call):
    note = ("Clinic note\nOrdering physician: Samuel Ortiz, MD\nHistory: degenerative spondylolisthesis of L4 on L5, "
            "assess for instability.\n")
    body = hook_request("order-select", [service_request("sr-1", "72120", icd10=["M43.10"])],
                        note=document("doc-1", note))
    cards = call(SELECT, body).json()["cards"]
    card = next(c for c in cards if c["source"]["topic"]["display"] == "DX_MORE_SPECIFIC_AVAILABLE")
    assert card["selectionBehavior"] == "at-most-one"
    action = card["suggestions"][0]["actions"][0]
    assert action["type"] == "update" and action["resource"]["id"] == "sr-1"
    assert action["resource"]["reasonCode"][0]["coding"][0]["code"] == "M43.16"


def test_ncci_pair_among_draft_orders(call):
    orders = [service_request("sr-1", "72100", icd10=["M43.16"]), service_request("sr-2", "72120", icd10=["M43.16"])]
    cards = call(SIGN, hook_request("order-sign", orders, note=document("doc-1", SPONDY_NOTE))).json()["cards"]
    card = next(c for c in cards if c["source"]["topic"]["display"] == "NCCI_PAIR_CONFLICT")
    assert card["indicator"] == "critical"
    deletes = [a for s in card["suggestions"] for a in s["actions"] if a["type"] == "delete"]
    assert {d["resourceId"][0] for d in deletes} <= {"ServiceRequest/sr-1", "ServiceRequest/sr-2"} and deletes


def test_prefetch_absent_is_fetched_from_the_fhir_server(call, double):
    double.add(document("doc-fetch", LBP_NOTE, patient="pat1", date="2026-12-05T10:00:00Z"))
    double.add(encounter("enc1"))
    before = len(double.fhir_reads)
    body = hook_request("order-sign", [service_request("sr-1", "72120", icd10=["M54.50"])], prefetch=False,
                        fhir_server=double.fhir_base, token=double.cds_fhir_token)
    r = call(SIGN, body)
    assert r.status_code == 200
    assert any(c["source"]["topic"]["display"] == "INDICATION_NOT_SPECIFIC" for c in r.json()["cards"]), r.text
    reads = double.fhir_reads[before:]
    assert any(x.startswith("DocumentReference?") for x in reads) and "Encounter/enc1" in reads


def test_prefetch_absent_without_fhir_server_is_no_cards_with_the_reason(call):
    body = hook_request("order-sign", [service_request("sr-1", "72120")], prefetch=False)
    r = call(SIGN, body)
    assert r.status_code == 200 and r.json()["cards"] == []
    assert any("no fhirServer" in x for x in r.json()["extension"]["org.scribe.reasons"])


@pytest.mark.parametrize("make, reason", [
    (lambda: hook_request("order-sign", [{**service_request("sr-1", "72120"),
                                          "code": {"coding": [{"system": "http://loinc.org", "code": "36713-2"}]}}],
                          note=document("d", LBP_NOTE)), "no CPT code"),
    (lambda: hook_request("order-sign", [service_request("sr-1", "72120")],
                          note=document("d", None, content_type="application/pdf", data=b"%PDF-1.4")),
     "application/pdf"),
    (lambda: {**hook_request("order-sign", []), "context": {"patientId": "pat1",
                                                             "draftOrders": {"resourceType": "Bundle", "type": 7}}},
     "draftOrders"),
    (lambda: hook_request("order-sign", [service_request("sr-1", "99213")], note=document("d", LBP_NOTE)),
     "not a study scribe checks"),
])
def test_bad_input_is_an_empty_card_list_with_the_reason(call, make, reason):
    r = call(SIGN, make())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cards"] == [] or reason == "application/pdf"
    assert any(reason in x for x in body["extension"]["org.scribe.reasons"]), body


MALFORMED = {
    "not JSON": b"{not json",
    "a JSON list": b"[1, 2]",
    "context a string": {"hook": "order-sign", "hookInstance": "h1", "context": "x"},
    "no hookInstance": {"hook": "order-sign", "context": {}},
    "another hook": {"hook": "patient-view", "hookInstance": "h1", "context": {}},
    "draftOrders a list": {"hook": "order-sign", "hookInstance": "h1", "context": {"draftOrders": [1, "x"]}},
    "an entry without resource": {"hook": "order-sign", "hookInstance": "h1",
                                  "context": {"draftOrders": {"resourceType": "Bundle", "type": "collection",
                                                              "entry": [{"fullUrl": 5}, "x", None]}}},
    "a ServiceRequest missing required fields": {
        "hook": "order-sign", "hookInstance": "h1",
        "context": {"draftOrders": {"resourceType": "Bundle", "type": "collection",
                                    "entry": [{"resource": {"resourceType": "ServiceRequest", "id": "s",
                                                            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt",
                                                                                 "code": "72120"}]}}}]}}},
    "prefetch of the wrong types": {**hook_request("order-sign", [service_request("sr-1", "72120")]),
                                    "prefetch": {"note": 7, "conditions": "x", "encounter": [None]}},
    "a note that is not base64": hook_request("order-sign", [service_request("sr-1", "72120", icd10=["M54.50"])],
                                              note={**document("d", "x"), "content": [{"attachment": {
                                                  "contentType": "text/plain", "data": "%%%not base64%%%"}}]}),
    "a CPT code that is not a code": hook_request("order-sign", [{**service_request("sr-1", "72120"), "code": {
        "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "7" * 300}]}}], note=document("d", LBP_NOTE)),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_calls_are_a_clear_error_or_no_cards_with_the_reason(call, scribe, double, name):
    payload = MALFORMED[name]
    aud = f"{scribe.base}/cds-services/{SIGN}"
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    r = httpx.post(aud, content=raw, timeout=30, headers={"Authorization": f"Bearer {double.cds_jwt(aud)}",
                                                          "Content-Type": "application/json"})
    assert r.status_code in (200, 400), (name, r.status_code, r.text)
    body = r.json()
    if r.status_code == 400:
        assert body["error"]["code"] in ("BAD_REQUEST", "WRONG_HOOK") and body["error"]["message"]
    else:
        assert body["cards"] == [] and body["extension"]["org.scribe.reasons"], (name, body)


def test_an_oversized_body_is_a_clear_413(call):
    big = document("d", None, data=b"x" * (10 * 1024 * 1024))
    r = call(SIGN, hook_request("order-sign", [service_request("sr-1", "72120")], note=big))
    assert r.status_code == 413


def test_an_attachment_url_over_the_cap_is_not_read(call, double):
    double.add({"resourceType": "Binary", "id": "big", "contentType": "text/plain",
                "data": base64.b64encode(b"low back pain " * 200_000).decode()})
    note = document("d", None, url=f"{double.fhir_base}/Binary/big")
    body = hook_request("order-sign", [service_request("sr-1", "72120", icd10=["M54.50"])], note=note,
                        fhir_server=double.fhir_base, token=double.cds_fhir_token)
    r = call(SIGN, body)
    assert r.status_code == 200
    assert any("over" in x for x in r.json()["extension"]["org.scribe.reasons"])


# -- authentication -------------------------------------------------------------------------
def _none_jwt(aud: str) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    now = int(time.time())
    claims = {"iss": "x", "aud": aud, "exp": now + 60, "iat": now, "jti": "n"}
    return f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc(claims)}."


REJECTION_CODES = {"missing": "UNAUTHENTICATED", "alg_none": "BAD_JWT_ALG", "unlisted_jku": "UNLISTED_JKU",
                   "wrong_aud": "BAD_CLAIMS", "expired": "JWT_EXPIRED", "unknown_iss": "UNKNOWN_ISSUER",
                   "foreign_key": "BAD_SIGNATURE", "too_long": "BAD_CLAIMS", "no_jti": "BAD_CLAIMS",
                   "wrong_sub": "BAD_CLAIMS", "hs256": "BAD_JWT_ALG"}


def _cards_stored(scribe) -> int:
    import sqlite3

    with sqlite3.connect(scribe.db_url.removeprefix("sqlite:///")) as conn:
        return conn.execute("SELECT count(*) FROM cds_cards").fetchone()[0]


@pytest.mark.parametrize("case", ["missing", "alg_none", "unlisted_jku", "wrong_aud", "expired", "unknown_iss",
                                  "foreign_key", "too_long", "no_jti", "wrong_sub", "hs256"])
def test_jwt_rejections_are_401_and_build_no_card(call, scribe, double, case):
    from joserfc.jwk import ECKey, OctKey

    aud = f"{scribe.base}/cds-services/{SIGN}"
    token = {
        "missing": "",
        "alg_none": _none_jwt(aud),
        "unlisted_jku": double.cds_jwt(aud, header={"jku": "http://127.0.0.1:1/evil-jwks"}),
        "wrong_aud": double.cds_jwt(f"{scribe.base}/cds-services/{SELECT}"),
        "expired": double.cds_jwt(aud, exp=int(time.time()) - 120, iat=int(time.time()) - 200),
        "unknown_iss": double.cds_jwt(aud, iss="http://127.0.0.1:9/other-ehr"),
        "foreign_key": double.cds_jwt(aud, key=ECKey.generate_key("P-384", parameters={"kid": "ehr-ec-1"})),
        "too_long": double.cds_jwt(aud, exp=int(time.time()) + 3600),
        "no_jti": double.cds_jwt(aud, jti=None),
        "wrong_sub": double.cds_jwt(aud, sub="someone-else"),
        "hs256": double.cds_jwt(aud, header={"alg": "HS256"}, key=OctKey.import_key(b"k" * 32)),
    }[case]
    # prefetch absent and a FHIR server named: a call that got past authentication would read it
    body = hook_request("order-sign", [service_request("sr-1", "72120", icd10=["M54.50"])], prefetch=False,
                        fhir_server=double.fhir_base, token=double.cds_fhir_token)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    cards_before, reads_before = _cards_stored(scribe), len(double.fhir_reads)
    r = httpx.post(aud, json=body, headers=headers, timeout=30)
    assert r.status_code == 401, (case, r.text)
    assert "cards" not in r.json() and r.json()["error"]["code"] == REJECTION_CODES[case]
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert _cards_stored(scribe) == cards_before and len(double.fhir_reads) == reads_before


def test_a_replayed_jwt_is_refused(call, scribe, double):
    aud = f"{scribe.base}/cds-services/{SIGN}"
    token = double.cds_jwt(aud)
    body = hook_request("order-sign", [service_request("sr-1", "72120")], note=document("d", LBP_NOTE))
    assert call(SIGN, body, token=token).status_code == 200
    again = call(SIGN, body, token=token)
    assert again.status_code == 401 and again.json()["error"]["code"] == "JWT_REPLAYED"


def test_jwks_url_without_jku_header_is_used(call, scribe, double):
    token = double.cds_jwt(f"{scribe.base}/cds-services/{SIGN}", header={"jku": None})
    body = hook_request("order-sign", [service_request("sr-1", "72120")], note=document("d", LBP_NOTE))
    assert call(SIGN, body, token=token).status_code == 200


# -- feedback ---------------------------------------------------------------------------------
def test_feedback_records_overrides_into_order_time_statistics(call, scribe, make_token):
    from ..live import http_get

    body = hook_request("order-sign", [service_request("sr-1", "72120", icd10=["M54.50"])],
                        note=document("d", LBP_NOTE))
    cards = call(SIGN, body).json()["cards"]
    assert len(cards) >= 2
    feedback = {"feedback": [
        {"card": cards[0]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-07T10:00:00Z",
         "overrideReason": {"reason": {"system": cards[0]["overrideReasons"][0]["system"],
                                       "code": "documented_elsewhere"}, "userComment": "in the referral"}},
        {"card": cards[1]["uuid"], "outcome": "accepted", "acceptedSuggestions": [],
         "outcomeTimestamp": "2026-12-07T10:00:01Z"}]}
    r = call(SIGN, feedback, path="/feedback")
    assert r.status_code == 200 and r.json()["recorded"] == 2, r.text
    assert call(SIGN, {"feedback": [{"card": "nope", "outcome": "accepted"}]}, path="/feedback").status_code == 404
    unsigned = httpx.post(f"{scribe.base}/cds-services/{SIGN}/feedback", json=feedback, timeout=30)
    assert unsigned.status_code == 401
    status, rows = http_get(f"{scribe.base}/api/stats/order-time", make_token("manager", "mgr"))
    assert status == 200
    by_rule = {r["rule_id"]: r for r in rows}
    first = by_rule[cards[0]["source"]["topic"]["code"]]
    assert first["overridden"] >= 1 and first["reasons"].get("documented_elsewhere", 0) >= 1
    assert first["override_rate"] is not None


def test_case_request_round_trip(call):
    case = {"text": SPONDY_NOTE, "cpt": ["72120"], "icd10": ["M43.16"], "site": "office", "modifiers": []}
    assert call(SIGN, case_request(case)).json()["cards"] == []


def test_service_requests_from_prefetch_when_draft_orders_hold_none(call):
    body = hook_request("order-sign", [], note=document("d", LBP_NOTE))
    body["prefetch"]["serviceRequests"] = bundle([service_request("sr-9", "72120", icd10=["M54.50"])], "searchset")
    cards = call(SIGN, body).json()["cards"]
    assert any(c["extension"]["org.scribe.gap"]["code"] == "DX_NOT_SUPPORTING" for c in cards)


def test_reason_codes_in_other_systems_are_named(call):
    sr = service_request("sr-1", "72120")
    sr["reasonCode"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "279039007"}]}]
    r = call(SIGN, hook_request("order-sign", [sr], note=document("d", LBP_NOTE)))
    assert any("outside ICD-10-CM" in x for x in r.json()["extension"]["org.scribe.reasons"])


def test_an_unregistered_fhir_server_is_not_read(call, double):
    before = len(double.fhir_reads)
    body = hook_request("order-sign", [service_request("sr-1", "72120")], prefetch=False,
                        fhir_server="http://127.0.0.1:9/elsewhere", token=double.cds_fhir_token)
    r = call(SIGN, body)
    assert r.status_code == 200 and r.json()["cards"] == []
    assert any("not a FHIR server registered" in x for x in r.json()["extension"]["org.scribe.reasons"])
    assert len(double.fhir_reads) == before


def test_the_service_log_holds_no_note_text(call, scribe):
    secret = "Zebulon Quixote fell from a ladder onto his lower back"
    body = hook_request("order-sign", [service_request("sr-1", "72120", icd10=["M54.50"])],
                        note=document("d", f"Clinic note\nHistory: {secret}.\n"))
    assert call(SIGN, body).status_code == 200
    time.sleep(0.3)
    scribe._drain()
    log = "".join(scribe.output)
    assert "scribe-imaging-order-sign" in log and "Zebulon" not in log and "ladder" not in log
