"""An EHR double on loopback for the integration tests: a real HTTP server (FastAPI under
uvicorn, in a thread) that plays the EHR's parts by their specifications, signing with
real keys, so scribe is driven over real HTTP with nothing of scribe's replaced.

* SMART App Launch 2.x authorization server: ``/fhir/.well-known/smart-configuration``,
  ``/auth/authorize`` (checks client, redirect URI, ``aud``, ``state``, ``launch`` and
  that the PKCE method is S256; signs the user in as the configured practitioner) and
  ``/auth/token`` (one use per code, the redirect URI and the PKCE verifier checked;
  an RS256 id_token with ``fhirUser``; ``patient``, ``encounter``, ``fhirContext``);
* its JWK Set (``/jwks``), which also signs the EHR's CDS Hooks JWTs (ES384);
* a FHIR R4 endpoint (``/fhir/{type}/{id}`` and searches by patient) over resources
  validated with ``fhir.resources`` when added, needing a token it issued;
* the EHR page whose link launches scribe (``/ehr``).

``behaviour`` switches the double's misbehaviours for the rejection tests
(``id_token_aud``, ``id_token_exp``, ``state``, ``expires_in``).
"""
from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
import uuid
from urllib.parse import parse_qs, urlencode

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from scribe_server import fhir as scribe_fhir

CPT = "http://www.ama-assn.org/go/cpt"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
CDS_FHIR_TOKEN = "cds-fhir-token-" + secrets.token_urlsafe(8)


class EhrDouble:
    def __init__(self, port: int, *, client_id: str, redirect_uri: str, practitioner: str = "Practitioner/pr1"):
        self.port, self.client_id, self.redirect_uri, self.practitioner = port, client_id, redirect_uri, practitioner
        self.rsa = RSAKey.generate_key(2048, parameters={"kid": "ehr-rsa-1", "use": "sig", "alg": "RS256"})
        self.ec = ECKey.generate_key("P-384", parameters={"kid": "ehr-ec-1", "use": "sig", "alg": "ES384"})
        self.keys = KeySet([self.rsa, self.ec])
        self.resources: dict[tuple[str, str], dict] = {}
        self.launches: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {CDS_FHIR_TOKEN: {"patient": None}}
        self.seen: list[dict] = []          # authorize requests as received
        self.fhir_reads: list[str] = []
        self.behaviour: dict = {}
        self.app = self._build()
        self._server: uvicorn.Server | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def fhir_base(self) -> str:
        return f"{self.base}/fhir"

    @property
    def issuer(self) -> str:
        return f"{self.base}/auth"

    @property
    def jwks_url(self) -> str:
        return f"{self.base}/jwks"

    # -- data ------------------------------------------------------------------------------
    def add(self, resource: dict) -> dict:
        scribe_fhir.validate(resource)
        self.resources[(resource["resourceType"], resource["id"])] = resource
        return resource

    def add_launch(self, *, patient: str, encounter: str | None, service_request: str | None) -> str:
        launch = "launch-" + secrets.token_urlsafe(8)
        self.launches[launch] = {"patient": patient, "encounter": encounter, "service_request": service_request}
        return launch

    # -- CDS client side ----------------------------------------------------------------------
    def cds_jwt(self, aud: str, *, header: dict | None = None, key=None, **claims) -> str:
        now = int(time.time())
        payload = {"iss": self.base, "sub": "ehr-cds-client", "aud": aud, "exp": now + 120, "iat": now,
                   "jti": str(uuid.uuid4())}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        head = {"alg": "ES384", "typ": "JWT", "kid": "ehr-ec-1", "jku": self.jwks_url}
        head.update(header or {})
        head = {k: v for k, v in head.items() if v is not None}
        return jwt.encode(head, payload, key or self.keys, algorithms=[head["alg"]])

    # -- server -----------------------------------------------------------------------------
    def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        thread = threading.Thread(target=self._server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the EHR double did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True

    def _id_token(self, aud: str, fhir_user: str, exp_in: int) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": fhir_user.split("/")[-1], "aud": aud, "iat": now, "exp": now + exp_in,
                  "fhirUser": f"{self.fhir_base}/{fhir_user}"}
        return jwt.encode({"alg": "RS256", "kid": "ehr-rsa-1", "typ": "JWT"}, claims, self.keys, algorithms=["RS256"])

    def _build(self) -> FastAPI:
        app = FastAPI()
        double = self

        @app.get("/jwks")
        def jwks():
            return double.keys.as_dict(private=False)

        @app.get("/fhir/.well-known/smart-configuration")
        def smart_configuration():
            return {"issuer": double.issuer, "jwks_uri": double.jwks_url,
                    "authorization_endpoint": f"{double.issuer}/authorize",
                    "token_endpoint": f"{double.issuer}/token",
                    "grant_types_supported": ["authorization_code"],
                    "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
                    "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient", "patient/*.rs"],
                    "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                    "capabilities": ["launch-ehr", "launch-standalone", "client-public", "context-ehr-patient",
                                     "context-ehr-encounter", "context-standalone-patient", "sso-openid-connect",
                                     "permission-patient", "permission-v2"]}

        @app.get("/auth/authorize")
        def authorize(request: Request):
            q = dict(request.query_params)
            double.seen.append(q)
            problems = []
            if q.get("response_type") != "code":
                problems.append("response_type")
            if q.get("client_id") != double.client_id:
                problems.append("client_id")
            if q.get("redirect_uri") != double.redirect_uri:
                problems.append("redirect_uri")
            if q.get("aud") != double.fhir_base:
                problems.append("aud")
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                problems.append("pkce")
            if not q.get("state"):
                problems.append("state")
            launch = q.get("launch")
            scopes = set((q.get("scope") or "").split())
            if launch is not None and (launch not in double.launches or "launch" not in scopes):
                problems.append("launch")
            if problems:
                return PlainTextResponse("bad authorize request: " + ", ".join(problems), status_code=400)
            context = double.launches.get(launch) if launch else \
                {"patient": "pat1", "encounter": None, "service_request": None}
            code = secrets.token_urlsafe(16)
            double.codes[code] = {"challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"],
                                  "client_id": q["client_id"], "scope": q.get("scope"), "context": context,
                                  "used": False}
            state = double.behaviour.get("state", q["state"])
            return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': state})}", status_code=302)

        @app.post("/auth/token")
        async def token(request: Request):
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            grant_type, code, redirect_uri = form.get("grant_type"), form.get("code", ""), form.get("redirect_uri")
            code_verifier, client_id = form.get("code_verifier", ""), form.get("client_id")
            grant = double.codes.get(code)
            if grant_type != "authorization_code" or grant is None or grant["used"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            grant["used"] = True
            if redirect_uri != grant["redirect_uri"] or client_id != grant["client_id"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            digest = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
            if digest != grant["challenge"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
            access = "at-" + secrets.token_urlsafe(24)
            ctx = grant["context"]
            double.tokens[access] = {"patient": ctx["patient"]}
            out = {"access_token": access, "token_type": "Bearer",
                   "expires_in": double.behaviour.get("expires_in", 3600),
                   "scope": grant["scope"], "patient": ctx["patient"],
                   "id_token": double._id_token(double.behaviour.get("id_token_aud", client_id), double.practitioner,
                                                double.behaviour.get("id_token_exp", 300))}
            if ctx.get("encounter"):
                out["encounter"] = ctx["encounter"]
            if ctx.get("service_request"):
                out["fhirContext"] = [{"reference": f"ServiceRequest/{ctx['service_request']}"}]
            return out

        def authorized(request: Request) -> bool:
            scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
            return scheme.lower() == "bearer" and value in double.tokens

        @app.get("/fhir/{rtype}/{rid}")
        def read(rtype: str, rid: str, request: Request):
            double.fhir_reads.append(f"{rtype}/{rid}")
            if not authorized(request):
                return JSONResponse({"resourceType": "OperationOutcome"}, status_code=401)
            res = double.resources.get((rtype, rid))
            if res is None:
                return JSONResponse({"resourceType": "OperationOutcome"}, status_code=404)
            if rtype == "Binary" and res.get("contentType"):
                return PlainTextResponse(base64.b64decode(res["data"]), media_type=res["contentType"])
            return res

        @app.get("/fhir/{rtype}")
        def search(rtype: str, request: Request):
            double.fhir_reads.append(f"{rtype}?{request.url.query}")
            if not authorized(request):
                return JSONResponse({"resourceType": "OperationOutcome"}, status_code=401)
            q = request.query_params
            found = [r for (t, _), r in double.resources.items() if t == rtype]
            if q.get("_id"):
                ids = set(q["_id"].split(","))
                found = [r for r in found if r["id"] in ids]
            if q.get("patient"):
                found = [r for r in found if (r.get("subject") or {}).get("reference") == f"Patient/{q['patient']}"]
            if rtype == "DocumentReference":
                found = sorted(found, key=lambda r: r.get("date", ""), reverse=True)[:int(q.get("_count", "50"))]
            return {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                    "entry": [{"fullUrl": f"{double.fhir_base}/{rtype}/{r['id']}", "resource": r} for r in found]}

        @app.get("/ehr", response_class=HTMLResponse)
        def ehr_page(launch: str, scribe: str):
            href = f"{scribe}/smart/launch?{urlencode({'iss': double.fhir_base, 'launch': launch})}"
            return (f"<!doctype html><html><head><title>EHR double</title></head><body><h1>Order entry</h1>"
                    f"<a id='open-scribe' href='{html.escape(href)}'>Open scribe</a></body></html>")

        return app
