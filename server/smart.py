"""SMART App Launch 2.x: the EHR launch and the standalone launch of the sidebar.

``GET /smart/launch?iss=FHIR_BASE&launch=OPAQUE`` (EHR launch; without ``launch`` it is a
standalone launch, ``iss`` then optional when one issuer is configured):

1. ``iss`` must be a configured issuer; its ``.well-known/smart-configuration`` gives the
   authorize and token endpoints (and the JWK Set of its id_tokens); S256 must be offered.
2. scribe keeps a pending launch in its database under a random ``state`` (as sha256; single
   use, ten minutes; a restart of scribe in between does not lose it) (and sets it as an
   HttpOnly cookie for the callback), makes a PKCE verifier, and redirects the browser to
   the authorize endpoint with ``response_type=code``, ``client_id``, ``redirect_uri``,
   ``scope``, ``state``, ``aud`` (= iss), ``launch`` and ``code_challenge`` (S256).

``GET /smart/callback?code=...&state=...``: the state must be one scribe issued and not yet
used (and equal the cookie when the browser sent it); a code is accepted once. The code is
exchanged (with the verifier) at the token endpoint; the id_token is verified (signature
against the issuer's JWK Set, ``iss``, ``aud`` = our client id, ``exp``) and its
``fhirUser`` names the physician, mapped to a scribe account (``smart.accounts``). The
access token stays server-side (``smart_sessions`` in the database), never in a page: scribe
reads the launch context with it (the ServiceRequest of ``fhirContext`` or the patient's
active imaging order, its reason Conditions, the Encounter) and opens the sidebar for
that account with the order's codes, carrying a scribe token minted for the account
(lifetime ``smart.session_hours``). Anything wrong (unknown or reused state or code,
wrong ``aud``, an expired token, an unmapped user, an EHR error) is a page that says
what happened; nothing is opened.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from . import fhir
from .ehr_config import SmartClient
from .jwt_auth import ALGORITHMS, SKEW

log = logging.getLogger("scribe.server.smart")
router = APIRouter(prefix="/smart", tags=["SMART launch"])
STATE_COOKIE = "scribe_smart_state"
PENDING_SECONDS = 600


@dataclass
class SmartSession:
    """A launch's server-side state: the EHR's tokens never leave it."""

    iss: str
    account: str
    fhir_user: str
    access_token: str
    refresh_token: str | None
    expires_at: float
    patient: str | None
    encounter: str | None
    service_request: str | None


@dataclass
class Pending:
    iss: str
    verifier: str
    config: dict
    standalone: bool


class SmartState:
    """A launch's state in the database (``server/ehr_store.py``): the pending launch under its
    ``state`` (single use, ``PENDING_SECONDS``), the authorization codes exchanged (single use),
    and the launch session holding the EHR's tokens. Only the EHRs' smart-configurations are
    cached in this process (five minutes)."""

    def __init__(self, db):
        self.db = db
        self.configs: dict[str, tuple[float, dict]] = {}

    async def add_pending(self, state: str, pending: Pending) -> None:
        await asyncio.to_thread(self.db.add_launch, state=state, iss=pending.iss, verifier=pending.verifier,
                                config=pending.config, standalone=pending.standalone, seconds=PENDING_SECONDS)

    async def take_pending(self, state: str) -> Pending | None:
        row = await asyncio.to_thread(self.db.take_launch, state)
        if row is None:
            return None
        return Pending(iss=row["iss"], verifier=row["verifier"], config=row["config"], standalone=row["standalone"])

    async def use_code(self, code: str) -> bool:
        """True the first time a code is seen (codes are kept as hashes for an hour)."""
        return await asyncio.to_thread(self.db.use_code, code, seconds=3600)

    async def add_session(self, session_id: str, session: SmartSession) -> None:
        fields = dict(session.__dict__)
        expires_in = max(1.0, fields.pop("expires_at") - time.time())
        await asyncio.to_thread(self.db.add_session, session_id, expires_in=expires_in, **fields)


class LaunchError(Exception):
    def __init__(self, code: str, title: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.title, self.message, self.status = code, title, message, status


def error_page(exc: LaunchError) -> HTMLResponse:
    e = html.escape
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>scribe: {e(exc.title)}</title>"
            "<link rel='stylesheet' href='/static/common.css'></head><body><main class='page'>"
            f"<h1>{e(exc.title)}</h1><p data-testid='launch-error' data-code='{e(exc.code)}'>{e(exc.message)}</p>"
            "<p>Nothing was opened. Start scribe again from the EHR.</p>"
            f"<p class='muted'>Error code: <code>{e(exc.code)}</code></p></main></body></html>")
    return HTMLResponse(page, status_code=exc.status, headers={"Cache-Control": "no-store"})


def _smart_client(request: Request) -> SmartClient:
    from .cds import runtime

    smart = runtime(request).config.smart
    if smart is None:
        raise LaunchError("SMART_NOT_CONFIGURED", "SMART launch is not set up",
                          "This scribe has no SMART client registered (smart in the EHR configuration).", 404)
    return smart


def _redirect_uri(request: Request) -> str:
    from .cds import public_url, runtime

    return f"{public_url(request, runtime(request).config)}/smart/callback"


async def _get_json(url: str, *, timeout: float, http: httpx.AsyncClient | None = None) -> dict:
    if http is not None:
        response = await http.get(url, headers={"Accept": "application/json"}, timeout=timeout)
    else:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
    response.raise_for_status()
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


async def smart_configuration(request: Request, iss: str) -> dict:
    from .cds import runtime

    rt = runtime(request)
    hit = rt.smart.configs.get(iss)
    if hit and time.monotonic() - hit[0] < 300:
        return hit[1]
    try:
        config = await _get_json(f"{iss}/.well-known/smart-configuration", timeout=rt.config.fhir_timeout_seconds,
                                 http=rt.http)
    except (httpx.HTTPError, ValueError):
        raise LaunchError("DISCOVERY_FAILED", "The EHR could not be reached",
                          f"scribe could not read {iss}/.well-known/smart-configuration.", 502) from None
    for key in ("authorization_endpoint", "token_endpoint"):
        if not isinstance(config.get(key), str):
            raise LaunchError("DISCOVERY_FAILED", "The EHR's SMART configuration is incomplete",
                              f"Its smart-configuration has no {key}.", 502)
    if "S256" not in (config.get("code_challenge_methods_supported") or ()):
        raise LaunchError("NO_PKCE", "The EHR does not offer PKCE",
                          "Its smart-configuration does not list S256 in code_challenge_methods_supported; "
                          "scribe launches only with PKCE.", 502)
    rt.smart.configs[iss] = (time.monotonic(), config)
    return config


def v1_scopes(scope: str) -> str:
    """SMART v2 resource scopes as their v1 equivalents (``patient/X.rs`` -> ``patient/X.read``), for a
    server that advertises ``permission-v1`` only."""
    return " ".join(re.sub(r"^((?:patient|user|system)/[\w*]+)\.[cruds]+$", r"\1.read", s) for s in scope.split())


def s256(verifier: str) -> str:
    """RFC 7636 section 4.2: BASE64URL(SHA256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


@router.get("/launch")
async def launch(request: Request, iss: str | None = None, launch: str | None = None):
    """Start a SMART launch (EHR launch with ``launch``, standalone without)."""
    from .cds import runtime

    try:
        smart = _smart_client(request)
        if iss is None and launch is None and len(smart.issuers) == 1:
            iss = smart.issuers[0]
        if not iss:
            raise LaunchError("NO_ISS", "Which EHR?", "The launch names no FHIR server (iss).")
        iss = iss.rstrip("/")
        if iss not in smart.issuers:
            raise LaunchError("UNKNOWN_ISS", "This EHR is not registered",
                              f"{iss} is not a FHIR server this scribe may be launched from.", 403)
        config = await smart_configuration(request, iss)
    except LaunchError as exc:
        log.warning("SMART launch refused: %s", exc.code)
        return error_page(exc)
    state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    await runtime(request).smart.add_pending(state, Pending(iss=iss, verifier=verifier, config=config,
                                                      standalone=launch is None))
    scope = smart.standalone_scope if launch is None else smart.scope
    capabilities = set(config.get("capabilities") or ())
    if "permission-v1" in capabilities and "permission-v2" not in capabilities:
        scope = v1_scopes(scope)
    params = {"response_type": "code", "client_id": smart.client_id, "redirect_uri": _redirect_uri(request),
              "scope": scope, "state": state, "aud": iss,
              "code_challenge": s256(verifier), "code_challenge_method": "S256"}
    if launch is not None:
        params["launch"] = launch
    target = config["authorization_endpoint"]
    response = RedirectResponse(f"{target}{'&' if '?' in target else '?'}{urlencode(params)}", status_code=302)
    response.set_cookie(STATE_COOKIE, state, max_age=PENDING_SECONDS, path="/smart", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


@router.get("/callback")
async def callback(request: Request, code: str | None = None, state: str | None = None,
                   error: str | None = None, error_description: str | None = None):
    """The authorization server's redirect: exchange the code, read the context, open the sidebar."""
    try:
        return await _callback(request, code, state, error, error_description)
    except LaunchError as exc:
        log.warning("SMART callback refused: %s", exc.code)
        response = error_page(exc)
        response.delete_cookie(STATE_COOKIE, path="/smart")
        return response


async def _callback(request: Request, code, state, error, error_description):
    from .cds import runtime

    rt = runtime(request)
    smart = _smart_client(request)
    if error:
        raise LaunchError("AUTHORIZATION_DENIED", "The EHR did not authorize scribe",
                          f"The authorization server answered {error}"
                          + (f": {error_description[:200]}" if error_description else "") + ".", 401)
    if not code or not state:
        raise LaunchError("BAD_CALLBACK", "Incomplete answer from the EHR", "The callback lacks its code or state.")
    if not await rt.smart.use_code(code):
        raise LaunchError("CODE_REUSED", "This sign-in was already used",
                          "The authorization code was already exchanged once; a code is good for one launch.")
    cookie = request.cookies.get(STATE_COOKIE)
    if cookie is not None and cookie != state:
        raise LaunchError("STATE_MISMATCH", "The sign-in does not match this browser",
                          "The state returned by the EHR is not the one this browser started with.")
    pending = await rt.smart.take_pending(state)
    if pending is None:
        raise LaunchError("STATE_MISMATCH", "Unknown or expired sign-in",
                          "The state returned by the EHR is not one scribe issued, or it was used or expired.")
    token = await _exchange(request, smart, pending, code)
    claims = await _id_token_claims(request, smart, pending, token)
    fhir_user = claims.get("fhirUser") or claims.get("profile")
    account = _account(smart, fhir_user)
    assert isinstance(fhir_user, str)      # _account refuses anything else
    expires_in = token.get("expires_in")
    if isinstance(expires_in, (int, float)) and expires_in <= 0:
        raise LaunchError("TOKEN_EXPIRED", "The EHR's token has expired", "The access token came back already expired.",
                          401)
    session_id = secrets.token_urlsafe(24)
    context = await _launch_context(request, pending, token)
    await rt.smart.add_session(session_id, SmartSession(
        iss=pending.iss, account=account, fhir_user=fhir_user[:300], access_token=token["access_token"],
        refresh_token=token.get("refresh_token"),
        expires_at=time.time() + (expires_in if isinstance(expires_in, (int, float)) else 300),
        patient=_short(token.get("patient")), encounter=_short(token.get("encounter")),
        service_request=context.get("service_request")))
    scribe_token, _ = request.app.state.store.create_token(
        name=account, role="physician", created_by=f"smart {pending.iss}"[:100],
        lifetime=timedelta(hours=smart.session_hours))
    params = {"access_token": scribe_token}
    for key in ("cpt", "modifiers", "icd10"):
        if context.get(key):
            params[key] = ",".join(context[key])
    if context.get("site"):
        params["site"] = context["site"]
    if context.get("provider"):
        params["provider"] = context["provider"]
    log.info("SMART launch from %s opened the sidebar for %s", pending.iss, account)
    response = RedirectResponse(f"/sidebar?{urlencode(params)}", status_code=303,
                                headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    response.delete_cookie(STATE_COOKIE, path="/smart")
    response.set_cookie("scribe_smart_session", session_id, httponly=True, samesite="lax", path="/",
                        secure=request.url.scheme == "https", max_age=int(smart.session_hours * 3600))
    return response


async def _exchange(request: Request, smart: SmartClient, pending: Pending, code: str) -> dict:
    from .cds import runtime

    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": _redirect_uri(request),
            "code_verifier": pending.verifier}
    auth = None
    if smart.client_secret:
        auth = (smart.client_id, smart.client_secret)
    else:
        form["client_id"] = smart.client_id
    try:
        response = await runtime(request).http.post(pending.config["token_endpoint"], data=form,
                                                    auth=auth,  # type: ignore[arg-type]  # None: no client auth
                                                    headers={"Accept": "application/json"})
        token = response.json()
    except (httpx.HTTPError, ValueError):
        raise LaunchError("TOKEN_EXCHANGE_FAILED", "The EHR's token endpoint did not answer",
                          "scribe could not exchange the authorization code.", 502) from None
    if response.status_code != 200 or not isinstance(token, dict) or not isinstance(token.get("access_token"), str):
        err = token.get("error") if isinstance(token, dict) else None
        message = {"invalid_grant": "The EHR refused the authorization code (invalid_grant): it was already used, "
                                    "has expired, or was issued for another client or redirect."}.get(
            err or "", f"The EHR refused the code exchange ({err or response.status_code}).")
        raise LaunchError("CODE_REJECTED" if err == "invalid_grant" else "TOKEN_EXCHANGE_FAILED",
                          "The EHR refused the sign-in", message, 401)
    if str(token.get("token_type", "")).lower() != "bearer":
        raise LaunchError("TOKEN_EXCHANGE_FAILED", "Unexpected token", "The EHR issued a token that is not a Bearer "
                          "token.", 502)
    return token


async def _id_token_claims(request: Request, smart: SmartClient, pending: Pending, token: dict) -> dict:
    from .cds import runtime

    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise LaunchError("NO_ID_TOKEN", "The EHR did not say who you are",
                          "The token response has no id_token (scope openid fhirUser).", 401)
    jwks_uri = pending.config.get("jwks_uri")
    issuer = pending.config.get("issuer") or pending.iss
    try:
        if not isinstance(jwks_uri, str):
            oidc = await _get_json(f"{issuer.rstrip('/')}/.well-known/openid-configuration",
                                   timeout=runtime(request).config.fhir_timeout_seconds, http=runtime(request).http)
            jwks_uri = oidc["jwks_uri"]
        key_set = KeySet.import_key_set(await _get_json(  # type: ignore[arg-type]  # JSON; import_key_set checks it
            jwks_uri, timeout=runtime(request).config.fhir_timeout_seconds, http=runtime(request).http))
    except (httpx.HTTPError, ValueError, KeyError, JoseError):
        raise LaunchError("JWKS_UNAVAILABLE", "The EHR's keys could not be read",
                          "scribe could not read the JWK Set that signs the EHR's id_tokens.", 502) from None
    try:
        decoded = jwt.decode(id_token, key_set, algorithms=ALGORITHMS)
    except JoseError:
        raise LaunchError("BAD_ID_TOKEN", "The EHR's identity token does not verify",
                          "The id_token's signature does not verify against the EHR's keys.", 401) from None
    claims = decoded.claims
    aud = claims.get("aud")
    if smart.client_id not in (aud if isinstance(aud, list) else [aud]):
        raise LaunchError("WRONG_AUD", "This sign-in was meant for another application",
                          f"The id_token's audience is {aud!r}, not scribe's client id.", 401)
    if claims.get("iss") != issuer:
        raise LaunchError("WRONG_ISS", "The identity token comes from another issuer",
                          f"The id_token was issued by {claims.get('iss')!r}, not {issuer}.", 401)
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp + SKEW < time.time():
        raise LaunchError("TOKEN_EXPIRED", "The EHR's sign-in has expired",
                          "The id_token has expired; start again from the EHR.", 401)
    return claims


def _short(value: Any, limit: int = 100) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def _account(smart: SmartClient, fhir_user: Any) -> str:
    if not isinstance(fhir_user, str) or not fhir_user:
        raise LaunchError("NO_FHIR_USER", "The EHR did not say who you are", "The id_token carries no fhirUser.", 401)
    parts = fhir_user.rstrip("/").split("/")
    relative = "/".join(parts[-2:]) if len(parts) >= 2 else fhir_user
    if parts[-2:-1] != ["Practitioner"] and parts[-2:-1] != ["PractitionerRole"]:
        raise LaunchError("NOT_A_PRACTITIONER", "The sidebar is for clinicians",
                          f"The signed-in user is a {parts[-2] if len(parts) >= 2 else 'user'}, not a Practitioner.",
                          403)
    account = smart.accounts.get(fhir_user) or smart.accounts.get(relative)
    if account is None and smart.auto_accounts:
        account = "ehr-" + relative.replace("/", "-").lower()[:90]
    if account is None:
        raise LaunchError("NO_ACCOUNT", "No scribe account for this user",
                          f"{relative} is not mapped to a scribe account (smart.accounts); ask an admin.", 403)
    return account


async def _launch_context(request: Request, pending: Pending, token: dict) -> dict:
    """The order's codes, site and ordering provider, read with the EHR's access token."""
    from .cds import runtime

    client = fhir.FhirClient(pending.iss, token["access_token"], timeout=runtime(request).config.fhir_timeout_seconds,
                             http=runtime(request).http)
    engine = request.app.state.engine
    out: dict[str, Any] = {}
    patient, encounter_id = token.get("patient"), token.get("encounter")
    sr_ids = [fhir.reference_id(c, "ServiceRequest") for c in token.get("fhirContext") or () if isinstance(c, dict)]
    candidates: list[dict] = []
    try:
        for sid in filter(None, sr_ids):
            candidates.append(fhir.validate(await client.get(f"ServiceRequest/{sid}"), "ServiceRequest"))
        if not candidates and isinstance(patient, str):
            query = f"ServiceRequest?patient={patient}&status=draft,active" + \
                (f"&encounter={encounter_id}" if isinstance(encounter_id, str) else "")
            candidates = [fhir.validate(r, "ServiceRequest") for r in
                          fhir.bundle_resources(await client.get(query), "ServiceRequest")]
    except fhir.FhirError as exc:
        if exc.status in (401, 403):
            raise LaunchError("TOKEN_REJECTED", "The EHR refused scribe's access",
                              "The EHR's FHIR server did not accept the access token it had just issued (expired "
                              "or without the scopes for the order).", 401) from None
        log.warning("SMART launch context: %s", exc)
        return out
    order = next((sr for sr in candidates if any(engine.cpt.get(c) for c in fhir.cpt_codes(sr))), None)
    if order is None:
        return out
    out["service_request"] = f"ServiceRequest/{order.get('id')}"
    out["cpt"] = [c for c in fhir.cpt_codes(order) if engine.cpt.get(c)][:1]
    # the order's modifiers, with the side of bodySite on a paired body part's code (as a CDS call reads it)
    out["modifiers"] = list(fhir.order_encounter(engine, [(order, out["cpt"][0], [])], None).lines[0].modifiers)
    icd = [c for concept in order.get("reasonCode") or () for c in fhir.icd10_of(concept)]
    for ref in order.get("reasonReference") or ():
        cid = fhir.reference_id(ref, "Condition")
        if cid:
            try:
                icd += fhir.icd10_of(fhir.validate(await client.get(f"Condition/{cid}"), "Condition").get("code"))
            except fhir.FhirError as exc:
                log.warning("SMART launch context: %s", exc)
    out["icd10"] = list(dict.fromkeys(icd))
    out["provider"] = fhir.provider_of(order)
    enc_id = encounter_id or fhir.reference_id(order.get("encounter"), "Encounter")
    if isinstance(enc_id, str):
        try:
            out["site"] = fhir.site_of(fhir.validate(await client.get(f"Encounter/{enc_id}"), "Encounter"))
        except fhir.FhirError as exc:
            log.warning("SMART launch context: %s", exc)
    return out
