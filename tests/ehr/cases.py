"""Cases as FHIR: a batch case (text, cpt, modifiers, icd10, site) as the resources an EHR
holds at order time, and the CDS Hooks request that carries them."""
from __future__ import annotations

import base64
import uuid

CPT = "http://www.ama-assn.org/go/cpt"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SIDE_SNOMED = {"RT": ("24028007", "Right"), "LT": ("7771000", "Left"), "50": ("51440002", "Bilateral")}


def service_request(sid: str, cpt: str, *, icd10=(), modifiers=(), requester="Samuel Ortiz, MD",
                    patient="pat1", encounter="enc1", reason_refs=()) -> dict:
    sr = {"resourceType": "ServiceRequest", "id": sid, "status": "draft", "intent": "order",
          "subject": {"reference": f"Patient/{patient}"}, "encounter": {"reference": f"Encounter/{encounter}"},
          "code": {"coding": [{"system": CPT, "code": cpt}]},
          "requester": {"reference": "Practitioner/pr1", "display": requester}}
    if icd10:
        sr["reasonCode"] = [{"coding": [{"system": ICD, "code": c}]} for c in icd10]
    if reason_refs:
        sr["reasonReference"] = [{"reference": f"Condition/{c}"} for c in reason_refs]
    side = [m for m in modifiers if m in SIDE_SNOMED]
    other = [m for m in modifiers if m not in SIDE_SNOMED]
    if other:
        sr["orderDetail"] = [{"coding": [{"system": CPT, "code": m}]} for m in other]
    if side:
        code, display = SIDE_SNOMED[side[0]]
        sr["bodySite"] = [{"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]}]
    return sr


def document(did: str, text: str | None, *, patient="pat1", content_type="text/plain", data: bytes | None = None,
             url: str | None = None, date="2026-12-01T10:00:00Z") -> dict:
    att: dict = {"contentType": content_type}
    if url is not None:
        att["url"] = url
    else:
        att["data"] = base64.b64encode(data if data is not None else text.encode("utf-8")).decode()
    return {"resourceType": "DocumentReference", "id": did, "status": "current",
            "subject": {"reference": f"Patient/{patient}"}, "date": date, "content": [{"attachment": att}]}


def encounter(eid: str, site: str = "office", patient="pat1") -> dict:
    code = "AMB" if site == "office" else "IMP"
    return {"resourceType": "Encounter", "id": eid, "status": "in-progress",
            "class": {"system": ACT, "code": code}, "subject": {"reference": f"Patient/{patient}"}}


def condition(cid: str, icd10: str, text: str, *, patient="pat1", verification="confirmed") -> dict:
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{patient}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                               "code": verification}]},
            "code": {"coding": [{"system": ICD, "code": icd10}], "text": text}}


def bundle(resources, kind="collection") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in resources]}


def case_orders(case: dict) -> list[dict]:
    """One draft ServiceRequest per CPT of the case, each with the case's ICD-10-CM codes and modifiers."""
    lines = case.get("lines") or [{"cpt": c, "modifiers": case.get("modifiers") or []} for c in case["cpt"]]
    return [service_request(f"sr-{i}", line["cpt"], icd10=case.get("icd10") or (), modifiers=line["modifiers"])
            for i, line in enumerate(lines)]


def hook_request(hook: str, orders: list[dict], *, note: dict | None = None, conditions=(), enc: dict | None = None,
                 prefetch: bool = True, fhir_server: str | None = None, token: str | None = None,
                 selections=None) -> dict:
    body: dict = {"hook": hook, "hookInstance": str(uuid.uuid4()),
                  "context": {"userId": "Practitioner/pr1", "patientId": "pat1", "encounterId": "enc1",
                              "draftOrders": bundle(orders)}}
    if hook == "order-select":
        body["context"]["selections"] = selections or [f"ServiceRequest/{o['id']}" for o in orders[:1]]
    if prefetch:
        body["prefetch"] = {"conditions": bundle(conditions, "searchset"),
                            "note": bundle([note] if note else [], "searchset"),
                            "encounter": enc or encounter("enc1")}
    if fhir_server:
        body["fhirServer"] = fhir_server
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                     "scope": "patient/Condition.rs patient/DocumentReference.rs", "subject": "scribe"}
    return body


def case_request(case: dict, hook: str = "order-sign") -> dict:
    return hook_request(hook, case_orders(case), note=document("doc-1", case["text"]),
                        enc=encounter("enc1", case.get("site") or "office"))
