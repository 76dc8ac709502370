"""CDS Hooks order-sign latency: prints numbers; it is not a test.

    .venv/bin/python benchmarks/bench_cds.py [--calls 500]

Starts the tests' EHR double (tests/ehr/ehr_double.py) and a real `scribe serve` on
127.0.0.1, then sends sequential order-sign calls, each with a fresh ES384 JWT (verified
by scribe against the double's JWK Set, jti replay-checked), a draft ServiceRequest with
a CPT and an ICD-10-CM reason, the patient's active Conditions and the latest note as a
base64 DocumentReference (a typical 200-word clinic note): the time from sending to the
full answer, p50 / p99 / max, and the same without the prefetch (scribe then reads the
note and the Encounter from the double's FHIR endpoint with fhirAuthorization).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ehr.cases import condition, document, encounter, hook_request, service_request  # noqa: E402
from tests.ehr.ehr_double import EhrDouble  # noqa: E402
from tests.live import Server, free_port  # noqa: E402

NOTE = ("SPINE CLINIC FOLLOW UP\nOrdering physician: Samuel Ortiz, MD\nHistory: 61 year old woman with chronic low "
        "back pain for five months, worse with standing and walking, better with sitting. Physical therapy for eight "
        "weeks gave partial relief. No trauma, no fever, no weight loss, no bowel or bladder change. She has "
        "intermittent numbness of the lateral left leg without weakness. Prior radiographs 2025 showed degenerative "
        "disc disease at L4-5 and L5-S1.\nExam: tenderness over the lower lumbar spine, pain on extension, straight "
        "leg raise negative bilaterally, strength 5/5, reflexes symmetric.\nAssessment: chronic low back pain with "
        "degenerative spondylolisthesis of L4 on L5 suspected on the prior films; assess for instability.\nPlan: "
        "lumbar flexion and extension radiographs; continue home exercise; follow up after imaging.\n")


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=500)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="scribe-bench-cds-"))
    scribe = Server(tmp, f"sqlite:///{tmp / 'bench.sqlite'}")
    double = EhrDouble(free_port(), client_id="bench", redirect_uri=f"{scribe.base}/smart/callback")
    double.start()
    config = {"public_url": scribe.base, "cds_clients": [{"iss": double.base, "jku": [double.jwks_url],
                                                         "jwks_url": double.jwks_url}]}
    (tmp / "ehr.json").write_text(json.dumps(config))
    os.environ["SCRIBE_EHR_CONFIG"] = str(tmp / "ehr.json")
    os.environ["SCRIBE_LOG_LEVEL"] = "WARNING"
    scribe.start()
    double.add(document("doc-1", NOTE))
    double.add(encounter("enc1"))
    url = f"{scribe.base}/cds-services/scribe-imaging-order-sign"
    orders = [service_request("sr-1", "72120", icd10=["M54.50"])]
    conditions = [condition("c1", "M54.50", "Low back pain"), condition("c2", "M43.16", "Spondylolisthesis, lumbar")]
    try:
        with httpx.Client(timeout=30) as client:
            for label, prefetch in (("with prefetch", True), ("without prefetch (FHIR reads)", False)):
                times = []
                for i in range(args.calls + 20):
                    body = hook_request("order-sign", orders, note=document("doc-1", NOTE) if prefetch else None,
                                        conditions=conditions, prefetch=prefetch,
                                        fhir_server=double.fhir_base, token=double.cds_fhir_token)
                    token = double.cds_jwt(url)
                    t = time.perf_counter()
                    r = client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
                    r.raise_for_status()
                    elapsed = 1000 * (time.perf_counter() - t)
                    if i >= 20:                       # warm-up excluded
                        times.append(elapsed)
                cards = len(r.json()["cards"])
                print(f"order-sign {label}: {args.calls} calls, {cards} cards each: "
                      f"p50 {statistics.median(times):.1f} ms, "
                      f"p99 {pct(times, 99):.1f} ms, max {max(times):.1f} ms")
    finally:
        scribe.stop()
        double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
