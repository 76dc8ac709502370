"""SMART App Launch 2.x against a real `scribe serve` and the EHR double's authorization
server: the EHR launch and the standalone launch end in the sidebar with the order's
codes for the account mapped from fhirUser; every bad answer is a page, nothing opened."""
from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from .cases import condition, encounter, service_request


@pytest.fixture
def order(double):
    double.add(condition("c-launch", "M43.16", "Spondylolisthesis, lumbar region", patient="pat7"))
    double.add({**service_request("sr-launch", "72120", patient="pat7", encounter="enc-launch",
                                  reason_refs=["c-launch"]), "status": "active"})
    double.add(encounter("enc-launch", "facility", patient="pat7"))
    return double.add_launch(patient="pat7", encounter="enc-launch", service_request="sr-launch")


def launch(scribe, double, *, launch_id=None, iss=None):
    """The browser's walk: scribe's launch, the EHR's authorize, scribe's callback. Returns
    (authorize query, callback response, the client with its cookies)."""
    client = httpx.Client(timeout=30)
    params = {"iss": iss or double.fhir_base}
    if launch_id:
        params["launch"] = launch_id
    first = client.get(f"{scribe.base}/smart/launch", params=params)
    if first.status_code != 302:
        return None, first, client
    authorize = first.headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    second = client.get(authorize)
    assert second.status_code == 302, second.text
    callback_url = second.headers["location"]
    return query, client.get(callback_url), client


def test_ehr_launch_opens_the_sidebar_with_the_order(scribe, double, order):
    query, done, client = launch(scribe, double, launch_id=order)
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["aud"] == double.fhir_base and query["launch"] == order and query["state"]
    assert set(query["scope"].split()) >= {"launch", "openid", "fhirUser", "patient/ServiceRequest.rs",
                                           "patient/DocumentReference.rs", "patient/Condition.rs"}
    assert done.status_code == 303, done.text
    target = urlsplit(done.headers["location"])
    assert target.path == "/sidebar"
    params = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert params["cpt"] == "72120" and params["icd10"] == "M43.16" and params["site"] == "facility"
    assert params["provider"] == "Samuel Ortiz, MD"
    ehr_tokens = [t for t in double.tokens if t.startswith("at-")]
    assert not any(t in done.headers["location"] for t in ehr_tokens)
    me = httpx.get(f"{scribe.base}/api/dictations", headers={"Authorization": f"Bearer {params['access_token']}"})
    assert me.status_code == 200, me.text
    page = client.get(f"{scribe.base}{done.headers['location']}")
    assert page.status_code == 200 and not any(t in page.text for t in ehr_tokens)


def test_pkce_challenge_is_s256_of_the_verifier_the_token_endpoint_checked(scribe, double, order):
    before = len(double.exchanged)
    query, done, _ = launch(scribe, double, launch_id=order)
    assert done.status_code == 303
    # the authorization server (authlib, RFC 7636) compared S256(code_verifier) with this challenge
    # before it issued the token, and the code is spent
    assert double.seen[-1]["code_challenge"] == query["code_challenge"]
    assert len(double.exchanged) == before + 1 and double.exchanged[-1] not in double.codes


def test_standalone_launch_finds_the_patients_order(scribe, double, order):
    query, done, _ = launch(scribe, double)
    assert "launch" not in query and "launch/patient" in query["scope"].split()
    assert done.status_code == 303, done.text
    # the standalone double picks patient pat1; scribe searched its orders
    assert any(r.startswith("ServiceRequest?patient=pat1") for r in double.fhir_reads)


@pytest.mark.parametrize("behaviour, code", [
    ({"state": "tampered-state"}, "STATE_MISMATCH"),
    ({"id_token_aud": "some-other-app"}, "WRONG_AUD"),
    ({"id_token_exp": -600}, "TOKEN_EXPIRED"),
    ({"expires_in": -5}, "TOKEN_EXPIRED"),
    ({"expires_in": 0}, "TOKEN_REJECTED"),         # no expires_in sent; the FHIR server refuses the spent token
])
def test_bad_answers_are_an_error_page_and_nothing_opens(scribe, double, order, behaviour, code):
    double.behaviour.update(behaviour)
    _, done, _ = launch(scribe, double, launch_id=order)
    assert done.status_code in (400, 401), done.text
    assert f"data-code='{code}'" in done.text and "Nothing was opened" in done.text
    assert "location" not in done.headers


def test_a_reused_code_is_refused(scribe, double, order):
    client = httpx.Client(timeout=30)
    first = client.get(f"{scribe.base}/smart/launch", params={"iss": double.fhir_base, "launch": order})
    callback = client.get(first.headers["location"]).headers["location"]
    assert client.get(callback).status_code == 303
    again = client.get(callback)
    assert again.status_code == 400 and "data-code='CODE_REUSED'" in again.text


def test_a_callback_scribe_did_not_start_is_refused(scribe):
    r = httpx.get(f"{scribe.base}/smart/callback", params={"code": "abc", "state": "never-issued"})
    assert r.status_code == 400 and "data-code='STATE_MISMATCH'" in r.text


def test_an_unregistered_iss_is_refused(scribe):
    r = httpx.get(f"{scribe.base}/smart/launch", params={"iss": "http://127.0.0.1:9/fhir", "launch": "x"})
    assert r.status_code == 403 and "data-code='UNKNOWN_ISS'" in r.text


def test_an_unmapped_user_gets_no_sidebar(scribe, double, order):
    double.practitioner = "Practitioner/pr-unknown"
    try:
        _, done, _ = launch(scribe, double, launch_id=order)
    finally:
        double.practitioner = "Practitioner/pr1"
    assert done.status_code == 403 and "data-code='NO_ACCOUNT'" in done.text


def test_an_authorization_error_is_a_page(scribe, double, order):
    client = httpx.Client(timeout=30)
    first = client.get(f"{scribe.base}/smart/launch", params={"iss": double.fhir_base, "launch": order})
    state = parse_qs(urlsplit(first.headers["location"]).query)["state"][0]
    r = client.get(f"{scribe.base}/smart/callback", params={"error": "access_denied", "state": state})
    assert r.status_code == 401 and "data-code='AUTHORIZATION_DENIED'" in r.text


def test_s256_helper_matches_rfc7636_appendix_b():
    from scribe_server.smart import s256

    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert s256(verifier) == base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_v1_scopes_for_a_server_without_v2():
    from scribe_server.smart import v1_scopes

    assert v1_scopes("launch openid fhirUser patient/ServiceRequest.rs patient/Condition.rs") == \
        "launch openid fhirUser patient/ServiceRequest.read patient/Condition.read"
