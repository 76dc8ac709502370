"""FHIR in and out for the batch check and the HTTP API.

In: a Bundle with the imaging ServiceRequest(s), the note as a DocumentReference (text or a
base64 ``text/plain`` attachment), the Conditions its ``reasonReference`` names and,
optionally, the Encounter (site): read into the note text and the engine's Encounter
exactly as a CDS call is (``server/fhir.py``).

Out: the gaps as FHIR R4 ``DetectedIssue`` resources in a collection Bundle, each validated
with ``fhir.resources``: ``status`` final, ``severity`` high / moderate / low (error /
warning / info), ``code`` the gap code (and the rule in a second coding), ``detail`` the
message and fix, ``reference`` the rule's page, ``implicated`` the ServiceRequest(s) the gap
is about, ``patient`` the ServiceRequest's subject, and the evidence offsets as an
extension (``evidence-offset``: ``start``, ``end`` into the note, ``text``).
"""
from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from scribe.errors import InputError

from . import fhir
from .auth import require
from .errors import ApiError
from .store import Principal

GAP_SYSTEM = "urn:scribe:gap-code"
RULE_SYSTEM = "urn:scribe:rule"
OFFSET_EXT = "urn:scribe:StructureDefinition:evidence-offset"
SEVERITY = {"error": "high", "warning": "moderate", "info": "low"}


@dataclass
class BundleCase:
    text: str
    encounter: Any
    service_requests: list[dict]
    reasons: list[str] = field(default_factory=list)


def read_bundle(bundle: Any, engine, *, max_bytes: int = 2 * 1024 * 1024) -> BundleCase:
    """The note and encounter of a Bundle; InputError (a stable code) when it is unusable."""
    try:
        resources = fhir.bundle_resources(bundle)
        for r in resources:
            if r.get("resourceType") in fhir.SUPPORTED:
                fhir.validate(r)
    except fhir.FhirError as exc:
        raise InputError(f"not a usable FHIR Bundle: {exc}", code="BAD_BUNDLE") from None
    of = lambda rtype: [r for r in resources if r.get("resourceType") == rtype]  # noqa: E731
    conditions = {c.get("id"): c for c in of("Condition")}
    reasons: list[str] = []
    orders = []
    for sr in of("ServiceRequest"):
        codes = [c for c in fhir.cpt_codes(sr) if engine.cpt.get(c) is not None]
        if not codes:
            reasons.append(f"ServiceRequest/{sr.get('id')} has no CPT code scribe checks")
            continue
        icd = [c for concept in sr.get("reasonCode") or () for c in fhir.icd10_of(concept)]
        for ref in sr.get("reasonReference") or ():
            cond = conditions.get(fhir.reference_id(ref, "Condition") or "")
            if cond is not None:
                icd += fhir.icd10_of(cond.get("code"))
        orders.append((sr, codes[0], icd))
    if not orders:
        raise InputError("the Bundle has no imaging ServiceRequest with a CPT code scribe checks"
                         + (f" ({'; '.join(reasons)})" if reasons else ""), code="CPT_MISSING")
    docs = sorted(of("DocumentReference"), key=lambda d: d.get("date") or "", reverse=True)
    if not docs:
        raise InputError("the Bundle has no DocumentReference with the note", code="NO_NOTE")
    note = fhir.attachment_text(docs[0], max_bytes=max_bytes)
    if note.text is None:
        raise InputError("the note cannot be read: " + "; ".join(r for r in note.reasons if not r.startswith("url:"))
                         or "its attachment is a URL (give the text in the Bundle)", code="NOTE_NOT_TEXT")
    encounters = of("Encounter")
    site = fhir.site_of(encounters[0]) if encounters else None
    encounter = fhir.order_encounter(engine, orders, site)
    return BundleCase(note.text, encounter, [sr for sr, _, _ in orders], reasons + note.reasons)


def detected_issues(result, case: BundleCase, *, base_url: str = "") -> dict:
    """The gaps of ``result`` as a collection Bundle of validated DetectedIssue resources."""
    entries = []
    for i, gap in enumerate(result.gaps):
        implicated = [sr for sr in case.service_requests
                      if gap.cpt is None or gap.cpt in fhir.cpt_codes(sr)] or case.service_requests
        issue: dict[str, Any] = {
            "resourceType": "DetectedIssue", "id": f"gap-{i + 1}", "status": "final",
            "severity": SEVERITY[gap.severity],
            "code": {"coding": [{"system": GAP_SYSTEM, "code": gap.code},
                                {"system": RULE_SYSTEM, "code": gap.rule_id}], "text": gap.code},
            "detail": f"{gap.message} Fix: {gap.fix}",
            "implicated": [{"reference": f"ServiceRequest/{sr['id']}"} for sr in implicated if sr.get("id")],
        }
        subject = (case.service_requests[0].get("subject") or {}).get("reference")
        if isinstance(subject, str) and subject.startswith("Patient/"):
            issue["patient"] = {"reference": subject}
        if base_url:
            issue["reference"] = f"{base_url}/rules/{gap.rule_id}"
        if gap.evidence:
            issue["extension"] = [{"url": OFFSET_EXT, "extension": [
                {"url": "start", "valueInteger": e.start}, {"url": "end", "valueInteger": e.end},
                {"url": "text", "valueString": e.text}]} for e in gap.evidence]
        fhir.validate(issue, "DetectedIssue")
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": issue})
    out = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    fhir.validate(out, "Bundle")
    return out


# -- HTTP ---------------------------------------------------------------------------------------
router = APIRouter(prefix="/api/fhir", tags=["FHIR"])
CheckerRole = Annotated[Principal, Depends(require("physician", "scribe"))]


@router.post("/check")
async def check_bundle(request: Request, who: CheckerRole,
                       format: Annotated[Literal["contract", "DetectedIssue"],
                                         Query(description="contract JSON (default) or a Bundle of DetectedIssue")]
                       = "contract"):
    """Check a FHIR Bundle (ServiceRequest + DocumentReference + Conditions [+ Encounter])."""
    try:
        bundle = json.loads(await request.body())
    except (ValueError, UnicodeError):
        raise ApiError(422, "BAD_BUNDLE", "the body is not JSON") from None
    engine = request.app.state.engine
    try:
        case = read_bundle(bundle, engine)
        result = await asyncio.get_running_loop().run_in_executor(request.app.state.executor, engine.check,
                                                                  case.text, case.encounter)
    except InputError as exc:
        raise ApiError(422, exc.code, exc.message, **exc.details) from None
    if format == "DetectedIssue":
        from .cds import public_url, runtime

        return detected_issues(result, case, base_url=public_url(request, runtime(request).config))
    return result.to_dict()
