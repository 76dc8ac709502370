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


def case_bundle(case: dict) -> dict:
    """A batch case as the FHIR Bundle an EHR holds when the order is signed: one draft
    ServiceRequest per claim line (CPT in ``code``, modifiers in ``orderDetail``, a side in
    ``bodySite``), the case's ICD-10-CM codes as reasons (the first as ``reasonCode``, the others
    as active Conditions the order names in ``reasonReference``), the note as a base64
    ``text/plain`` DocumentReference, the site as the Encounter's class."""
    lines = case.get("lines") or [{"cpt": c, "modifiers": case.get("modifiers") or []} for c in case["cpt"]]
    icd = list(case.get("icd10") or ())
    conditions = [condition(f"cond-{i}", code, code) for i, code in enumerate(icd[1:], 1)]
    orders = [service_request(f"sr-{i}", line["cpt"], icd10=icd[:1], modifiers=line.get("modifiers") or (),
                              reason_refs=[c["id"] for c in conditions], requester=case.get("provider") or "Samuel Ortiz, MD")
              for i, line in enumerate(lines)]
    return bundle([*orders, *conditions, document("doc-1", case["text"]), encounter("enc1", case.get("site") or "office")])


def bundle_hook_request(fhir_bundle: dict, hook: str = "order-sign") -> dict:
    """The CDS Hooks request an EHR sends for a Bundle's orders: the ServiceRequests as
    ``draftOrders``, the Conditions, the note and the Encounter as prefetch."""
    of = lambda rtype: [e["resource"] for e in fhir_bundle["entry"] if e["resource"]["resourceType"] == rtype]  # noqa: E731
    docs = of("DocumentReference")
    encounters = of("Encounter")
    return hook_request(hook, of("ServiceRequest"), note=docs[0] if docs else None, conditions=of("Condition"),
                        enc=encounters[0] if encounters else None)
