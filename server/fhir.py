"""FHIR R4 in: resources validated with ``fhir.resources`` (its R4B models, which equal R4
for ServiceRequest, Condition, DocumentReference, Encounter and Bundle), read into the
engine's ``Encounter`` and note text; and a small FHIR REST client (httpx) for what a
CDS call's prefetch or a SMART launch does not carry.

Mapping (an imaging ServiceRequest to the engine):

* CPT: ``code.coding`` in the CPT system; codes in other systems are left out (and said so);
* modifiers: ``orderDetail`` codings in the CPT system with a two-character code (26, RT...);
* ICD-10-CM: ``reasonCode`` codings in the ICD-10-CM system, and the ICD-10-CM codings of
  the Conditions that ``reasonReference`` points to;
* laterality: ``bodySite`` (SNOMED CT right 24028007, left 7771000, bilateral 51440002, or
  the words) becomes RT / LT / 50 on the line of a code whose family takes laterality
  modifiers, when the order carries none;
* ordering provider: ``requester.display`` (or the reference);
* site: the Encounter's ``class`` (AMB, VR, HH: office; inpatient, emergency, observation...:
  facility);
* the note: the DocumentReference's ``text/plain`` attachment (``data`` base64 or ``url``);
  a PDF or another type, or one over the size cap, is not read (the reason is reported).
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError

log = logging.getLogger("scribe.server.fhir")

CPT_SYSTEMS = frozenset({"http://www.ama-assn.org/go/cpt", "urn:oid:2.16.840.1.113883.6.12"})
ICD10CM_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90"})
SNOMED = "http://snomed.info/sct"
SIDES = {"24028007": "RT", "7771000": "LT", "51440002": "50"}
SIDE_WORDS = ((re.compile(r"\b(bilateral|both)\b", re.I), "50"), (re.compile(r"\bright\b", re.I), "RT"),
              (re.compile(r"\bleft\b", re.I), "LT"))
UNPAIRED_REGIONS = frozenset({"cervical", "thoracic", "thoracolumbar", "lumbosacral", "sacrum_coccyx", "sacroiliac",
                              "pelvis", "entire_spine", "spine", "any"})      # codes that take no RT/LT/50
OFFICE_CLASSES = frozenset({"AMB", "VR", "HH"})
TEXT_TYPES = ("text/plain", "text/markdown")
SUPPORTED = ("Bundle", "ServiceRequest", "Condition", "DocumentReference", "Encounter", "Practitioner", "Patient",
             "Binary", "DetectedIssue")


class FhirError(Exception):
    """A resource that is not valid FHIR, or a FHIR server that did not answer (``status``: its
    HTTP status when it answered one)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def _model(resource_type: str):
    from importlib import import_module

    module = import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


def validate(resource: Any, expected: str | tuple[str, ...] | None = None) -> dict:
    """``resource`` when it is a valid FHIR R4 resource (of the ``expected`` type), else FhirError."""
    if not isinstance(resource, dict):
        raise FhirError("a FHIR resource must be a JSON object")
    rtype = resource.get("resourceType")
    allowed = (expected,) if isinstance(expected, str) else (expected or SUPPORTED)
    if rtype not in allowed:
        raise FhirError(f"expected {' or '.join(allowed)}, got {rtype!r}")
    try:
        _model(rtype).model_validate(resource)
    except ValidationError as exc:
        first: dict[str, Any] = dict(exc.errors()[0]) if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise FhirError(f"{rtype} is not valid FHIR R4 ({exc.error_count()} problem(s); first at "
                        f"{where or 'the top'}: {first.get('type', 'invalid')})") from None
    return resource


def bundle_resources(bundle: Any, resource_type: str | None = None) -> list[dict]:
    """The resources of a validated Bundle (of one type when given)."""
    validate(bundle, "Bundle")
    out = []
    for entry in bundle.get("entry") or ():
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict) and (resource_type is None or res.get("resourceType") == resource_type):
            out.append(res)
    return out


def codings(concept: Any) -> list[dict]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or () if isinstance(c, dict)]


def cpt_codes(sr: dict) -> list[str]:
    return [c["code"].strip() for c in codings(sr.get("code")) if c.get("system") in CPT_SYSTEMS
            and isinstance(c.get("code"), str) and re.fullmatch(r"\d{4}[0-9A-Z]", c["code"].strip())]


def modifiers_of(sr: dict) -> list[str]:
    return [c["code"].strip().upper() for d in sr.get("orderDetail") or () for c in codings(d)
            if c.get("system") in CPT_SYSTEMS and isinstance(c.get("code"), str) and len(c["code"].strip()) == 2]


def icd10_of(concept: Any) -> list[str]:
    return [c["code"].strip().upper() for c in codings(concept) if c.get("system") in ICD10CM_SYSTEMS
            and isinstance(c.get("code"), str) and c["code"].strip()]


def side_of(sr: dict) -> str | None:
    for site in sr.get("bodySite") or ():
        for c in codings(site):
            if c.get("system") == SNOMED and c.get("code") in SIDES:
                return SIDES[c["code"]]
        words = " ".join(filter(None, [site.get("text") if isinstance(site, dict) else None,
                                       *(c.get("display") for c in codings(site))]))
        for rx, side in SIDE_WORDS:
            if rx.search(words or ""):
                return side
    return None


def reference_id(ref: Any, resource_type: str) -> str | None:
    value = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(value, str):
        return None
    parts = value.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == resource_type:
        return parts[-1]
    return None


def site_of(encounter: dict | None) -> str | None:
    cls = (encounter or {}).get("class")
    code = cls.get("code") if isinstance(cls, dict) else None
    if not code:
        return None
    return "office" if code in OFFICE_CLASSES else "facility"


def provider_of(sr: dict) -> str | None:
    req = sr.get("requester")
    if not isinstance(req, dict):
        return None
    return req.get("display") or req.get("reference")


def concept_text(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    return concept.get("text") or next((c.get("display") for c in codings(concept) if c.get("display")), None)


def is_uncertain(condition: dict) -> bool:
    return any(c.get("code") in ("provisional", "differential", "unconfirmed")
               for c in codings(condition.get("verificationStatus")))


def order_encounter(engine, orders: list[tuple[dict, str, list[str]]], site: str | None):
    """The engine's Encounter for imaging orders given as (ServiceRequest, its CPT, its ICD-10-CM
    codes): one claim line per order with its modifiers, and the side of ``bodySite`` as RT/LT/50
    on a paired body part's line that carries none."""
    from scribe import Encounter
    from scribe.types import Line

    laterality = set(getattr(engine, "laterality", ()))
    lines = []
    for sr, cpt, _ in orders:
        mods = modifiers_of(sr)
        side = side_of(sr)
        spec = engine.cpt.get(cpt)
        if side and side in laterality and not set(mods) & laterality and spec is not None \
                and spec.region not in UNPAIRED_REGIONS:
            mods.append(side)
        lines.append(Line(cpt, tuple(dict.fromkeys(mods))))
    icd10 = tuple(dict.fromkeys(code for _, _, codes in orders for code in codes))
    provider = next((provider_of(sr) for sr, _, _ in orders if provider_of(sr)), None)
    return Encounter(lines=tuple(lines), icd10=icd10, site=site or "office", provider=provider)


@dataclass
class NoteText:
    text: str | None
    reasons: list[str] = field(default_factory=list)


def attachment_text(doc: dict, *, max_bytes: int, fetch=None) -> NoteText:
    """The note of a DocumentReference: its first text attachment (base64 ``data``; a ``url`` is
    returned for the caller to fetch when ``fetch`` is None)."""
    reasons = []
    for content in doc.get("content") or ():
        att = content.get("attachment") if isinstance(content, dict) else None
        if not isinstance(att, dict):
            continue
        ctype = (att.get("contentType") or "").split(";")[0].strip().lower()
        if ctype and ctype not in TEXT_TYPES:
            reasons.append(f"the note attachment is {ctype}; scribe reads text/plain only")
            continue
        size = att.get("size")
        if isinstance(size, int) and size > max_bytes:
            reasons.append(f"the note attachment has {size} bytes; the limit is {max_bytes}")
            continue
        data = att.get("data")
        if isinstance(data, str):
            if len(data) > (max_bytes * 4) // 3 + 4:
                reasons.append(f"the note attachment is over {max_bytes} bytes")
                continue
            try:
                raw = base64.b64decode(data, validate=True)
                return NoteText(raw.decode(_charset(att.get("contentType"))), reasons)
            except (binascii.Error, ValueError, LookupError):
                reasons.append("the note attachment is not base64 text in its charset")
                continue
        if isinstance(att.get("url"), str) and fetch is not None:
            return NoteText(None, reasons + [f"url:{att['url']}"])
    if not reasons:
        reasons.append("the DocumentReference holds no text attachment")
    return NoteText(None, reasons)


def _charset(content_type: str | None) -> str:
    m = re.search(r"charset=([\w-]+)", content_type or "", re.I)
    return m.group(1) if m else "utf-8"


class FhirClient:
    """GETs against one FHIR server with a bearer token; JSON in, FhirError on any failure."""

    def __init__(self, base: str, token: str | None, *, timeout: float = 5.0, max_bytes: int = 4 * 1024 * 1024,
                 http: httpx.AsyncClient | None = None):
        self.base = base.rstrip("/")
        self.http = http
        self.headers = {"Accept": "application/fhir+json, application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout, self.max_bytes = timeout, max_bytes

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base}/{path.lstrip('/')}"

    async def get(self, path: str) -> dict:
        raw = await self.get_bytes(path)
        try:
            import json

            data = json.loads(raw)
        except ValueError:
            raise FhirError(f"{path.split('?')[0]} did not answer JSON") from None
        if not isinstance(data, dict):
            raise FhirError(f"{path.split('?')[0]} did not answer a resource")
        return data

    async def get_bytes(self, path: str) -> bytes:
        url = self.url(path)
        if not url.startswith(self.base + "/"):
            raise FhirError("a referenced URL outside the FHIR server is not fetched")
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = self.http
                if client is None:
                    client = await stack.enter_async_context(
                        httpx.AsyncClient(timeout=self.timeout, follow_redirects=False))
                async with client.stream("GET", url, headers=self.headers, timeout=self.timeout) as response:
                    if response.status_code != 200:
                        raise FhirError(f"the FHIR server answered {response.status_code} for "
                                        f"{path.split('?')[0]}", response.status_code)
                    chunks, size = [], 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise FhirError(f"{path.split('?')[0]} is over {self.max_bytes} bytes")
                        chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise FhirError(f"the FHIR server could not be reached ({type(exc).__name__})") from None
        return b"".join(chunks)
