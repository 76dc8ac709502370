"""CDS Hooks 2.0 service: order-time checks of imaging orders.

``GET /cds-services`` lists two services: ``scribe-imaging-order-select`` (hook
``order-select``) and ``scribe-imaging-order-sign`` (hook ``order-sign``), each with
prefetch templates for the draft ServiceRequests, the patient's active Conditions, the
latest note (DocumentReference) and the Encounter. ``POST /cds-services/{id}`` (a JWT
from a registered CDS client, ``server/jwt_auth.py``; else 401) answers cards: the
engine's gaps that apply at order time (``ORDER_TIME``), one card each, with a summary
under 140 characters, an indicator (critical for errors), the rule's page as source,
the evidence in the detail, FHIR suggestions where the fix is mechanical, override
reasons and a SMART link to the sidebar. Prefetch that is absent is fetched from
``fhirServer`` with ``fhirAuthorization``; when it cannot be, the answer is an empty
card list whose ``extension`` says why (never a 500, never a card from an unauthenticated
call). ``POST /cds-services/{id}/feedback`` records accepted / overridden per card.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from . import fhir
from .auth import Manager
from .db import utcnow
from .deps import FiltersDep, StoreDep
from .ehr_config import EhrConfig
from .ehr_store import EhrStore
from .jwt_auth import AuthError, CdsAuthenticator, CdsCaller
from .store import DISMISS_REASONS

log = logging.getLogger("scribe.server.cds")

ORDER_TIME = ("INDICATION_NOT_SPECIFIC", "DX_NOT_SUPPORTING", "DX_UNCERTAIN_AS_CONFIRMED", "DX_INVALID_CODE",
              "DX_MORE_SPECIFIC_AVAILABLE", "NCCI_PAIR_CONFLICT", "LATERALITY_MISSING", "LATERALITY_MISMATCH")
INDICATOR = {"error": "critical", "warning": "warning", "info": "info"}
ICD_IN_TEXT = re.compile(r"\b([A-TV-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?)\b")
REASONS_EXT = "org.scribe.reasons"
PREFETCH = {
    "serviceRequests": "ServiceRequest?_id={{context.draftOrders.ServiceRequest.id}}",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    "note": "DocumentReference?patient={{context.patientId}}&status=current&_sort=-date&_count=1",
    "encounter": "Encounter/{{context.encounterId}}",
}
SERVICES = {
    "scribe-imaging-order-select": {
        "hook": "order-select", "title": "scribe: imaging order check (on select)",
        "description": "Checks a selected spine imaging order against the CPT's documentation requirements: "
                       "indication specific for the study, supporting and valid ICD-10-CM codes, "
                       "NCCI pairs among the draft orders, laterality."},
    "scribe-imaging-order-sign": {
        "hook": "order-sign", "title": "scribe: imaging order check (on sign)",
        "description": "The same checks when the imaging order is signed; each card links to the rule's "
                       "documentation and can open the scribe sidebar (SMART)."},
}
OVERRIDE_SYSTEM_PATH = "/cds-services/override-reasons"
SUMMARY = {
    "INDICATION_NOT_SPECIFIC": "Reason not specific enough for {cpt}",
    "DX_NOT_SUPPORTING": "Diagnosis codes do not support {cpt}",
    "DX_UNCERTAIN_AS_CONFIRMED": "{icd10} codes a condition documented only as uncertain",
    "DX_INVALID_CODE": "{icd10} is not a billable ICD-10-CM code",
    "DX_MORE_SPECIFIC_AVAILABLE": "{icd10} is less specific than the note supports",
    "NCCI_PAIR_CONFLICT": "NCCI: {cpt} conflicts with another draft order",
    "LATERALITY_MISSING": "Side not stated for {cpt}",
    "LATERALITY_MISMATCH": "Side of the order differs from the note ({cpt})",
}


# -- runtime ---------------------------------------------------------------------------------
class EhrRuntime:
    """What the EHR routes share: the configuration, the JWT verifier, SMART state."""

    def __init__(self, config: EhrConfig, store):
        import httpx

        self.config = config
        self.db = EhrStore(store)
        # one client (connection pool, TLS context) for every outbound call: JWKS, FHIR, SMART
        self.http = httpx.AsyncClient(timeout=config.fhir_timeout_seconds, follow_redirects=False)
        self.auth = CdsAuthenticator(config, self.http, replay=self.db.claim_jti)
        from .smart import SmartState

        self.smart = SmartState(self.db)


def runtime(request: Request) -> EhrRuntime:
    state = request.app.state
    rt = getattr(state, "ehr", None)
    if rt is None:
        settings = getattr(state, "settings", None)
        rt = state.ehr = EhrRuntime(EhrConfig.load(getattr(settings, "ehr_config", None)), state.store)
    return rt


def public_url(request: Request, config: EhrConfig) -> str:
    return config.public_url or str(request.base_url).rstrip("/")


def cds_error(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


router = APIRouter(tags=["CDS Hooks"])


@router.get("/cds-services")
def discovery(request: Request):
    """CDS Hooks discovery: the services, their hooks and prefetch templates."""
    return {"services": [{"hook": s["hook"], "id": sid, "title": s["title"], "description": s["description"],
                          "prefetch": dict(PREFETCH),
                          "usageRequirements": "Register scribe's client (README, 'Inside the EHR'); without "
                                               "prefetch scribe reads the FHIR server with fhirAuthorization."}
                         for sid, s in SERVICES.items()]}


async def _authenticate(request: Request, rt: EhrRuntime, service_id: str, suffix: str = ""):
    audience = f"{public_url(request, rt.config)}/cds-services/{service_id}"
    try:
        return await rt.auth.verify(request.headers.get("authorization"), audience)
    except AuthError as exc:
        log.warning("CDS call to %s%s refused: %s", service_id, suffix, exc.code)
        return cds_error(401, exc.code, exc.message)


async def _json_body(request: Request):
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeError):
        return cds_error(400, "BAD_REQUEST", "the body is not JSON")
    if not isinstance(body, dict):
        return cds_error(400, "BAD_REQUEST", "the body must be a JSON object")
    return body


@router.post("/cds-services/{service_id}")
async def call_service(service_id: str, request: Request):
    """A hook call: cards for the imaging orders among the draft orders."""
    if service_id not in SERVICES:
        return cds_error(404, "NOT_FOUND", f"no CDS service {service_id!r}")
    rt = runtime(request)
    caller = await _authenticate(request, rt, service_id)
    if isinstance(caller, JSONResponse):
        return caller
    body = await _json_body(request)
    if isinstance(body, JSONResponse):
        return body
    hook = SERVICES[service_id]["hook"]
    if body.get("hook") != hook:
        return cds_error(400, "WRONG_HOOK", f"{service_id} answers the {hook} hook, not {body.get('hook')!r}")
    if not isinstance(body.get("hookInstance"), str) or not isinstance(body.get("context"), dict):
        return cds_error(400, "BAD_REQUEST", "a hook call carries hookInstance (string) and context (object)")
    started = time.perf_counter()
    order = OrderCall(request, rt, service_id, body, caller)
    try:
        cards = await order.cards()
    except Exception as exc:  # noqa: BLE001 - an order-time check never breaks the EHR's workflow
        log.error("CDS %s failed: %s", service_id, type(exc).__name__)
        order.reasons.append("scribe could not check this order (internal error); see the service log")
        cards = []
    if order.reasons:
        log.info("CDS %s %s: %d card(s); %s", service_id, body["hookInstance"][:64], len(cards),
                 "; ".join(order.reasons))
    log.debug("CDS %s answered in %.1f ms", service_id, 1000 * (time.perf_counter() - started))
    out: dict[str, Any] = {"cards": cards}
    if order.reasons:
        out["extension"] = {REASONS_EXT: order.reasons}
    return out


@dataclass
class Order:
    resource: dict
    cpt: list[str]
    icd10: list[tuple[str, str]] = field(default_factory=list)    # (code, origin: "ServiceRequest" or "Condition/ID")


class OrderCall:
    def __init__(self, request: Request, rt: EhrRuntime, service_id: str, body: dict, caller: CdsCaller):
        self.request, self.rt, self.service_id, self.body, self.caller = request, rt, service_id, body, caller
        self.context: dict = body["context"]
        prefetch = body.get("prefetch")
        self.prefetch: dict = prefetch if isinstance(prefetch, dict) else {}
        self.reasons: list[str] = []
        self.base = public_url(request, rt.config)
        self._client: fhir.FhirClient | None = None
        server = body.get("fhirServer")
        auth = body.get("fhirAuthorization")
        client = rt.config.client_for(caller.iss)
        allowed = client.fhir_servers if client else ()
        if isinstance(server, str) and allowed and not server.startswith(allowed):
            self.reasons.append(f"fhirServer {server} is not a FHIR server registered for {caller.iss}")
            server = None
        if isinstance(server, str) and server.startswith(("http://", "https://")):
            token = auth.get("access_token") if isinstance(auth, dict) else None
            self._client = fhir.FhirClient(server, token if isinstance(token, str) else None,
                                           timeout=rt.config.fhir_timeout_seconds,
                                           max_bytes=rt.config.max_attachment_bytes + 64 * 1024, http=rt.http)

    # -- gathering -------------------------------------------------------------------------
    def _token(self, template: str, draft_ids: list[str]) -> str | None:
        values = {"context.patientId": self.context.get("patientId"),
                  "context.encounterId": self.context.get("encounterId"),
                  "context.userId": self.context.get("userId"),
                  "context.draftOrders.ServiceRequest.id": ",".join(draft_ids) or None}
        missing = False

        def sub(m):
            nonlocal missing
            value = values.get(m.group(1).strip())
            if not isinstance(value, str) or not value:
                missing = True
                return ""
            return value

        out = re.sub(r"\{\{([^}]+)\}\}", sub, template)
        return None if missing else out

    async def _prefetched(self, key: str, draft_ids: list[str]) -> Any:
        if self.prefetch.get(key) is not None:
            return self.prefetch[key]
        query = self._token(PREFETCH[key], draft_ids)
        if query is None:
            return None
        if self._client is None:
            self.reasons.append(f"prefetch '{key}' absent and no fhirServer to read it from")
            return None
        try:
            return await self._client.get(query)
        except fhir.FhirError as exc:
            self.reasons.append(f"prefetch '{key}' absent and the FHIR server did not give it: {exc}")
            return None

    def _resources(self, value: Any, rtype: str, key: str) -> list[dict]:
        if value is None:
            return []
        try:
            if isinstance(value, dict) and value.get("resourceType") == "Bundle":
                return [fhir.validate(r, rtype) for r in fhir.bundle_resources(value, rtype)]
            return [fhir.validate(value, rtype)]
        except fhir.FhirError as exc:
            self.reasons.append(f"{key}: {exc}")
            return []

    async def gather(self) -> tuple[list[Order], dict[Any, dict], str | None, str | None]:
        drafts = self.context.get("draftOrders")
        service_requests = self._resources(drafts, "ServiceRequest", "draftOrders") if drafts is not None else []
        draft_ids = [sr["id"] for sr in service_requests if isinstance(sr.get("id"), str)]
        if not service_requests:
            service_requests = self._resources(await self._prefetched("serviceRequests", draft_ids),
                                               "ServiceRequest", "prefetch serviceRequests")
        if self.body["hook"] == "order-select":
            selected = {s.split("/")[-1] for s in self.context.get("selections") or () if isinstance(s, str)}
            if selected and not any(sr.get("id") in selected for sr in service_requests):
                self.reasons.append("none of the selections is a ServiceRequest among the draft orders")
        conditions_list, notes, encounters = await asyncio.gather(
            self._prefetched("conditions", draft_ids), self._prefetched("note", draft_ids),
            self._prefetched("encounter", draft_ids))
        # keyed by id (a Condition without one is kept under None, never looked up)
        conditions: dict[Any, dict] = {c.get("id"): c for c in self._resources(conditions_list, "Condition",
                                                                              "prefetch conditions")}
        orders = []
        for sr in service_requests:
            codes = fhir.cpt_codes(sr)
            if not codes:
                others = [f"{c.get('system')}|{c.get('code')}" for c in fhir.codings(sr.get("code"))]
                self.reasons.append(f"ServiceRequest/{sr.get('id')} has no CPT code"
                                    + (f" (codes in other systems: {', '.join(others)})" if others else ""))
                continue
            if self._engine.cpt.get(codes[0]) is None:
                self.reasons.append(f"ServiceRequest/{sr.get('id')}: CPT {codes[0]} is not a study scribe checks")
                continue
            order = Order(sr, codes[:1])
            for concept in sr.get("reasonCode") or ():
                order.icd10 += [(c, "ServiceRequest") for c in fhir.icd10_of(concept)]
                other = [f"{c.get('system')}|{c.get('code')}" for c in fhir.codings(concept)
                         if c.get("system") not in fhir.ICD10CM_SYSTEMS]
                if other and not fhir.icd10_of(concept):
                    self.reasons.append(f"ServiceRequest/{sr.get('id')}: reason codes outside ICD-10-CM are not "
                                        f"checked ({', '.join(other)})")
            for ref in sr.get("reasonReference") or ():
                cid = fhir.reference_id(ref, "Condition")
                cond = conditions.get(cid) if cid else None
                if cid and cond is None and self._client is not None:
                    try:
                        cond = fhir.validate(await self._client.get(f"Condition/{cid}"), "Condition")
                        conditions[cid] = cond
                    except fhir.FhirError as exc:
                        self.reasons.append(f"Condition/{cid} (reasonReference): {exc}")
                if cond is not None:
                    order.icd10 += [(c, f"Condition/{cid}") for c in fhir.icd10_of(cond.get("code"))]
            orders.append(order)
        text = await self._note_text(notes, orders, conditions)
        encounter = self._resources(encounters, "Encounter", "prefetch encounter")
        return orders, conditions, text, fhir.site_of(encounter[0] if encounter else None)

    @property
    def _engine(self):
        return self.request.app.state.engine

    async def _note_text(self, notes: Any, orders: list[Order], conditions: dict[Any, dict]) -> str | None:
        docs = self._resources(notes, "DocumentReference", "prefetch note")
        for doc in docs[:1]:
            got = fhir.attachment_text(doc, max_bytes=self.rt.config.max_attachment_bytes, fetch=True)
            urls = [r[4:] for r in got.reasons if r.startswith("url:")]
            self.reasons += [r for r in got.reasons if not r.startswith("url:")]
            if got.text is not None:
                return got.text
            for url in urls[:1]:
                if self._client is None:
                    self.reasons.append("the note is a URL and there is no fhirServer to read it from")
                    continue
                try:
                    raw = await self._client.get_bytes(url)
                except fhir.FhirError as exc:
                    self.reasons.append(f"the note attachment could not be read: {exc}")
                    continue
                if len(raw) > self.rt.config.max_attachment_bytes:
                    self.reasons.append(f"the note attachment is over {self.rt.config.max_attachment_bytes} bytes")
                    continue
                try:
                    return raw.decode("utf-8")
                except UnicodeDecodeError:
                    self.reasons.append("the note attachment is not UTF-8 text")
        # no readable note: the order's own reasons are the text checked
        lines = []
        for order in orders:
            for concept in order.resource.get("reasonCode") or ():
                said = fhir.concept_text(concept)
                if said:
                    lines.append(said)
            for ref in order.resource.get("reasonReference") or ():
                cond = conditions.get(fhir.reference_id(ref, "Condition") or "")
                words = fhir.concept_text(cond.get("code")) if cond else ref.get("display")
                if words:
                    lines.append(("possible " if cond and fhir.is_uncertain(cond) else "") + words)
            for note in order.resource.get("note") or ():
                if isinstance(note, dict) and isinstance(note.get("text"), str):
                    lines.append(note["text"])
        if not lines:
            return None
        self.reasons.append("no readable note; the order's reasons were checked")
        return "Indication: " + "; ".join(dict.fromkeys(lines)) + "\n"

    # -- the check -----------------------------------------------------------------------------
    async def cards(self) -> list[dict]:
        orders, _conditions, text, site = await self.gather()
        if not orders:
            if not self.reasons:
                self.reasons.append("no imaging ServiceRequest with a CPT code among the draft orders")
            return []
        if text is None:
            self.reasons.append("no note and no reason on the order: nothing to check the codes against")
            return []
        from scribe import InputError

        given = [(o.resource, o.cpt[0], [c for c, _ in o.icd10]) for o in orders]
        encounter = fhir.order_encounter(self._engine, given, site)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.request.app.state.executor, self._engine.check, text, encounter)
        except InputError as exc:
            self.reasons.append(f"the order cannot be checked: {exc}")
            return []
        gaps = [g for g in result.gaps if g.code in ORDER_TIME]
        cards = [self.card(g, orders, result.supported_cpt, text) for g in gaps]
        await asyncio.to_thread(self._record, gaps, cards, encounter.provider)
        return cards

    def card(self, gap, orders: list[Order], supported: list[str], text: str) -> dict:
        rule = gap.rule_id
        card_id = str(uuid.uuid4())
        summary = SUMMARY.get(gap.code, gap.code).format(cpt=gap.cpt or "the order", icd10=gap.icd10 or "a code")
        summary = summary if len(summary) < 140 else summary[:136] + "..."
        evidence = "\n".join(f"> {e.text.strip()[:300]}" for e in gap.evidence[:3] if e.text.strip())
        detail = "\n\n".join(filter(None, [gap.message, evidence and "Documented:\n" + evidence,
                                           f"**Fix:** {gap.fix}", f"*Source:* {gap.source}"]))
        suggestions = self.suggestions(gap, orders, supported)
        out: dict[str, Any] = {
            "uuid": card_id, "summary": summary, "indicator": INDICATOR[gap.severity], "detail": detail,
            "source": {"label": f"scribe rule {rule}", "url": f"{self.base}/rules/{rule}",
                       "topic": {"system": f"{self.base}/rules", "code": rule, "display": gap.code}},
            "overrideReasons": [{"system": f"{self.base}{OVERRIDE_SYSTEM_PATH}", "code": code, "display": label}
                                for code, label in DISMISS_REASONS.items()],
            "links": [{"label": "Open the scribe sidebar", "url": f"{self.base}/smart/launch", "type": "smart",
                       "appContext": json.dumps({"serviceRequest": [f"ServiceRequest/{o.resource.get('id')}"
                                                                     for o in orders if o.resource.get("id")]})}],
        }
        out["extension"] = {"org.scribe.gap": {k: v for k, v in (("code", gap.code), ("rule_id", rule),
                                                                 ("cpt", gap.cpt), ("icd10", gap.icd10),
                                                                 ("line", gap.line)) if v is not None}}
        if suggestions:
            out["suggestions"] = suggestions
            out["selectionBehavior"] = "at-most-one"
        out["_gap"] = gap
        return out

    def suggestions(self, gap, orders: list[Order], supported: list[str]) -> list[dict]:
        out = []
        if gap.code in ("DX_MORE_SPECIFIC_AVAILABLE", "DX_INVALID_CODE") and gap.icd10:
            better = next((c for c in ICD_IN_TEXT.findall(gap.fix) if c != gap.icd10), None)
            if better:
                for order in orders:
                    origins = {origin for code, origin in order.icd10 if code == gap.icd10}
                    for origin in sorted(origins):
                        action = self._replace_reason(order.resource, origin, gap.icd10, better)
                        if action:
                            out.append({"label": f"Replace {gap.icd10} with {better}", "uuid": str(uuid.uuid4()),
                                        "isRecommended": True, "actions": [action]})
                    if origins:
                        break
        elif gap.code == "NCCI_PAIR_CONFLICT":
            pair = [o for o in orders if o.cpt[0] in gap.message[:40]]
            if len(pair) >= 2:
                keep_first = supported[0] if supported and supported[0] in (pair[0].cpt[0], pair[1].cpt[0]) else None
                options = [(pair[0], pair[1]), (pair[1], pair[0])]
                for keep, drop in options:
                    if keep_first and keep.cpt[0] != keep_first:
                        continue
                    out.append({"label": f"Keep {keep.cpt[0]}, remove the {drop.cpt[0]} order",
                                "uuid": str(uuid.uuid4()), "isRecommended": bool(keep_first),
                                "actions": [{"type": "delete",
                                             "description": f"Remove the draft order for {drop.cpt[0]}",
                                             "resourceId": [f"ServiceRequest/{drop.resource['id']}"]}]})
        elif gap.code in ("DX_NOT_SUPPORTING", "INDICATION_NOT_SPECIFIC") and gap.cpt and supported \
                and gap.cpt not in supported:
            for order in orders:
                if order.cpt[0] == gap.cpt:
                    resource = json.loads(json.dumps(order.resource))
                    for c in resource.get("code", {}).get("coding", []):
                        if c.get("system") in fhir.CPT_SYSTEMS:
                            c["code"] = supported[0]
                            c.pop("display", None)
                    out.append({"label": f"Change the order to {supported[0]}", "uuid": str(uuid.uuid4()),
                                "isRecommended": False,
                                "actions": [{"type": "update", "description": f"Order {supported[0]}, the study "
                                             "the documentation supports", "resource": resource}]})
                    break
        return out

    @staticmethod
    def _replace_reason(sr: dict, origin: str, old: str, new: str) -> dict | None:
        if origin != "ServiceRequest":
            return {"type": "update", "description": f"Code the reason as {new} instead of {old}",
                    "resource": {"resourceType": "ServiceRequest", **{k: v for k, v in sr.items()
                                                                       if k != "resourceType"},
                                 "reasonCode": [*(sr.get("reasonCode") or []),
                                                {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                                             "code": new}]}],
                                 "reasonReference": [r for r in sr.get("reasonReference") or []
                                                     if fhir.reference_id(r, "Condition") != origin.split("/")[-1]]}}
        resource = json.loads(json.dumps(sr))
        for concept in resource.get("reasonCode") or ():
            for c in concept.get("coding") or ():
                if c.get("system") in fhir.ICD10CM_SYSTEMS and (c.get("code") or "").upper() == old:
                    c["code"] = new
                    c.pop("display", None)
        return {"type": "update", "description": f"Code the reason as {new} instead of {old}", "resource": resource}

    def _record(self, gaps, cards: list[dict], provider: str | None) -> None:
        now = utcnow()
        rows = []
        for card in cards:
            gap = card.pop("_gap")
            rows.append({"uuid": card["uuid"], "service": self.service_id,
                         "hook_instance": self.body["hookInstance"][:64], "client_iss": self.caller.iss[:300],
                         "rule_id": gap.rule_id, "code": gap.code, "severity": gap.severity,
                         "cpt": gap.cpt, "icd10": gap.icd10, "issued_at": now,
                         "provider": provider[:200] if provider else None})
        self.rt.db.record_cards(rows)


# -- feedback ---------------------------------------------------------------------------------
def _when(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is not None:
                moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
            return moment
        except ValueError:
            pass
    return utcnow()


@router.post("/cds-services/{service_id}/feedback")
async def feedback(service_id: str, request: Request):
    """CDS Hooks feedback: ``{"feedback": [{"card", "outcome", "acceptedSuggestions",
    "overrideReason": {"reason": Coding, "userComment"}, "outcomeTimestamp"}]}``."""
    if service_id not in SERVICES:
        return cds_error(404, "NOT_FOUND", f"no CDS service {service_id!r}")
    rt = runtime(request)
    caller = await _authenticate(request, rt, service_id, "/feedback")
    if isinstance(caller, JSONResponse):
        return caller
    body = await _json_body(request)
    if isinstance(body, JSONResponse):
        return body
    items = body.get("feedback")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return cds_error(400, "BAD_REQUEST", "feedback must be a non-empty list of objects")
    rows = []
    for item in items:
        outcome = item.get("outcome")
        if outcome not in ("accepted", "overridden") or not isinstance(item.get("card"), str):
            return cds_error(400, "BAD_REQUEST", "each feedback names its card (uuid) and an outcome "
                             "(accepted or overridden)")
        override = item.get("overrideReason")
        reason = override if isinstance(override, dict) else {}
        said_reason = reason.get("reason")
        coding = said_reason if isinstance(said_reason, dict) else {}
        code = coding.get("code")
        accepted = [s.get("id") for s in item.get("acceptedSuggestions") or () if isinstance(s, dict)]
        comment = reason.get("userComment")
        rows.append({"card_uuid": item["card"][:36], "outcome": outcome,
                     "reason": code[:40] if outcome == "overridden" and isinstance(code, str) and code else None,
                     "comment": comment[:2000] if isinstance(comment, str) and outcome == "overridden" else None,
                     "accepted": [a for a in accepted if isinstance(a, str)],
                     "at": _when(item.get("outcomeTimestamp"))})
    unknown = await asyncio.to_thread(rt.db.record_feedback, service=service_id, client_iss=caller.iss,
                                      actor=caller.sub or caller.iss, items=rows)
    recorded = len({r["card_uuid"] for r in rows} - set(unknown))
    if not recorded:
        return cds_error(404, "UNKNOWN_CARD", "none of these cards was answered by this service to this client")
    return {"recorded": sum(1 for r in rows if r["card_uuid"] not in unknown), "unknown_cards": unknown}


# -- statistics ---------------------------------------------------------------------------------
stats_router = APIRouter(prefix="/api/stats", tags=["statistics (manager)"])


@stats_router.get("/order-time")
def order_time_overrides(who: Manager, store: StoreDep, f: FiltersDep):
    """Per rule: cards answered at order time (CDS Hooks), how many the EHR reported accepted
    or overridden, the override rate and the override reasons: the order-time half of
    ``/api/stats/rule-outcomes``, which puts the review queue's dismissals beside it."""
    return [{"rule_id": r["rule_id"], "gap_code": r["gap_code"], **r["order_time"]}
            for r in store.rule_outcomes(f) if r["order_time"]["cards"]]
