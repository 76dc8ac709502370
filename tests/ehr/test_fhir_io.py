"""FHIR in and out: a Bundle checked by `scribe check --fhir` and `POST /api/fhir/check`,
the gaps as validated DetectedIssue resources; bad bundles are clear errors."""
from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from scribe_server import fhir
from scribe_server.fhir_io import OFFSET_EXT, detected_issues, read_bundle

from .cases import bundle, condition, document, encounter, service_request

NOTE = ("XR LUMBAR SPINE FLEXION AND EXTENSION\nReferring: Maya Chen, MD\nHistory: chronic low back pain.\n"
        "Technique: lateral views in flexion and extension, 2 views.\nComparison: MRI 01/2026.\n"
        "Findings: 3 mm of translation at L4-5.\nImpression: grade 1 spondylolisthesis L4-5 without instability.\n"
        "Electronically signed by Victor Osei, MD")


def the_bundle(**kw):
    return bundle([service_request("sr-1", "72120", icd10=["M54.50"], reason_refs=["c1"]),
                   condition("c1", "M43.10", "Spondylolisthesis"), document("doc-1", NOTE), encounter("enc1"),
                   *kw.get("extra", ())])


def test_read_bundle_maps_the_order_like_the_batch_case(engine):
    case = read_bundle(the_bundle(), engine)
    assert case.text == NOTE
    assert case.encounter.cpt == ("72120",) and case.encounter.icd10 == ("M54.50", "M43.10")
    assert case.encounter.site == "office" and case.encounter.provider == "Samuel Ortiz, MD"


def test_detected_issues_are_valid_fhir_with_offsets(engine):
    case = read_bundle(the_bundle(), engine)
    result = engine.check(case.text, case.encounter)
    out = detected_issues(result, case, base_url="http://scribe.test")
    assert out["resourceType"] == "Bundle" and len(out["entry"]) == len(result.gaps) > 0
    for entry, gap in zip(out["entry"], result.gaps):
        issue = fhir.validate(entry["resource"], "DetectedIssue")
        assert issue["code"]["coding"][0]["code"] == gap.code
        assert issue["implicated"] == [{"reference": "ServiceRequest/sr-1"}]
        assert issue["reference"] == f"http://scribe.test/rules/{gap.rule_id}"
        for ext, ev in zip(issue.get("extension", ()), gap.evidence):
            parts = {e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in ext["extension"]}
            assert ext["url"] == OFFSET_EXT and NOTE[parts["start"]:parts["end"]] == parts["text"] == ev.text


@pytest.mark.parametrize("make, code", [
    (lambda: {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": {"resourceType": "ServiceRequest"}}]},
     "BAD_BUNDLE"),
    (lambda: bundle([document("d", NOTE)]), "CPT_MISSING"),
    (lambda: bundle([service_request("s", "72120"), document("d", None, content_type="application/pdf",
                                                                  data=b"%PDF")]), "NOTE_NOT_TEXT"),
    (lambda: bundle([service_request("s", "72120")]), "NO_NOTE"),
    (lambda: [1, 2], "BAD_BUNDLE"),
])
def test_bad_bundles_are_input_errors(engine, make, code):
    from scribe.errors import InputError

    with pytest.raises(InputError) as err:
        read_bundle(make(), engine)
    assert err.value.code == code


def test_scribe_check_fhir_prints_detected_issues(tmp_path):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(the_bundle()))
    out = subprocess.run([sys.executable, "-m", "scribe.cli", "check", str(path), "--fhir", "--detected-issues",
                          "--compact"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    issues = json.loads(out.stdout)
    assert {e["resource"]["resourceType"] for e in issues["entry"]} == {"DetectedIssue"}
    plain = subprocess.run([sys.executable, "-m", "scribe.cli", "check", str(path), "--fhir", "--compact"],
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0 and "gaps" in json.loads(plain.stdout)
    path.write_text(json.dumps(bundle([document("d", NOTE)])))
    bad = subprocess.run([sys.executable, "-m", "scribe.cli", "check", str(path), "--fhir"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_http_api_checks_a_bundle(scribe, make_token):
    headers = {"Authorization": f"Bearer {make_token('physician', 'dr_fhir')}"}
    r = httpx.post(f"{scribe.base}/api/fhir/check", json=the_bundle(), headers=headers, timeout=30)
    assert r.status_code == 200 and r.json()["gaps"], r.text
    r = httpx.post(f"{scribe.base}/api/fhir/check?format=DetectedIssue", json=the_bundle(), headers=headers, timeout=30)
    assert r.status_code == 200 and r.json()["entry"][0]["resource"]["resourceType"] == "DetectedIssue"
    assert r.json()["entry"][0]["resource"]["reference"].startswith(f"{scribe.base}/rules/")
    bad = httpx.post(f"{scribe.base}/api/fhir/check", json=bundle([document("d", NOTE)]), headers=headers, timeout=30)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "CPT_MISSING"
    assert httpx.post(f"{scribe.base}/api/fhir/check", json=the_bundle(), timeout=30).status_code == 401


def test_a_10_mb_attachment_is_a_clear_error_never_read(tmp_path, scribe, make_token, engine):
    from scribe.errors import InputError

    big = bundle([service_request("sr-1", "72120", icd10=["M54.50"]),
                  document("d", None, data=b"low back pain. " * (10 * 1024 * 1024 // 15))])
    with pytest.raises(InputError) as err:
        read_bundle(big, engine)
    assert err.value.code == "NOTE_NOT_TEXT" and "over" in err.value.message
    path = tmp_path / "big.json"
    path.write_text(json.dumps(big))
    out = subprocess.run([sys.executable, "-m", "scribe.cli", "check", str(path), "--fhir"], capture_output=True,
                         text=True, timeout=120)
    # the CLI refuses a file over its 2 MB input cap before parsing it: one line, exit 2
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and not out.stdout
    assert "the limit is" in out.stderr
    headers = {"Authorization": f"Bearer {make_token('physician', 'dr_big')}"}
    r = httpx.post(f"{scribe.base}/api/fhir/check", content=path.read_bytes(), headers=headers, timeout=60)
    assert r.status_code == 413 and r.json()["error"]["code"] == "BODY_TOO_LARGE"
