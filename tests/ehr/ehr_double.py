"""An EHR double on loopback for the integration tests, assembled from real protocol
implementations so that scribe meets peers it did not write:

* the authorization server is **authlib**'s OAuth 2.0 / OpenID Connect server (its Flask
  integration): the authorization code grant (RFC 6749) with PKCE (authlib's RFC 7636
  ``CodeChallenge``, S256 demanded at the authorize endpoint), client authentication
  (``none`` for a public client), single-use codes bound to client and redirect URI, bearer
  tokens (RFC 6750) and the id_token of OpenID Connect's code flow (authlib's ``OpenIDCode``,
  RS256, with ``fhirUser``). What SMART App Launch adds is two small extensions: ``aud`` must
  be the FHIR base and ``launch`` a launch the EHR started (or ``launch/patient`` for a
  standalone launch), and the token response carries ``patient``, ``encounter`` and
  ``fhirContext``;
* the FHIR R4 endpoint serves resources parsed into and serialised from **fhir.resources**
  models (R4B, as in scribe), behind authlib's ``ResourceProtector``: a bearer token the
  server issued, SMART scopes for the resource type (``patient/X.rs``, ``.read``, ``*``) and
  the token's patient compartment;
* the EHR's CDS Hooks client signs its JWTs with **joserfc** (ES384, a key of its JWK Set);
* the EHR page whose link launches scribe (``/ehr``).

It runs under werkzeug's threaded server in a thread of the test process. ``behaviour``
switches misbehaviours for the rejection tests: ``state`` (the redirect carries another
state), ``id_token_aud``, ``id_token_exp`` (seconds), ``expires_in`` (the access token's).
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError, OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from authlib.oauth2.rfc6750.token import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from fhir.resources.R4B import get_fhir_model_class
from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from markupsafe import escape
from werkzeug.serving import make_server

CPT = "http://www.ama-assn.org/go/cpt"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
FHIR_JSON = "application/fhir+json"


# -- the authorization server's models (in memory) -------------------------------------------------
@dataclass
class Client:
    client_id: str
    redirect_uris: tuple[str, ...]
    scope: str
    client_secret: str | None = None

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope):
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return self.client_secret is not None and secrets.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        if endpoint == "token":
            return method == ("client_secret_basic" if self.client_secret else "none")
        return True

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str
    code_challenge_method: str
    context: dict
    nonce: str | None = None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None


@dataclass
class Token:
    access_token: str
    client_id: str | None
    scope: str
    patient: str | None
    issued_at: int
    expires_in: int

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return self.issued_at + self.expires_in < time.time()

    def is_revoked(self):
        return False


# -- SMART's additions to the code grant ---------------------------------------------------------
class S256Challenge(CodeChallenge):
    """SMART App Launch 2.x: PKCE is required, and only with S256."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("SMART requires PKCE with code_challenge_method=S256")
        super().validate_code_challenge(grant, redirect_uri)


class SmartLaunch:
    """``aud`` is this FHIR server, ``launch`` one the EHR started; the launch context is bound to
    the code and returned beside the token."""

    def __init__(self, double: EhrDouble):
        self.double = double

    def __call__(self, grant):
        grant.register_hook("after_validate_authorization_request_payload", self.validate)
        grant.register_hook("after_create_token_response", self.add_context)

    def validate(self, grant, redirect_uri):
        data = grant.request.payload.data
        if data.get("aud") != self.double.fhir_base:
            raise InvalidRequestError("aud must be this EHR's FHIR base URL")
        scopes = set((grant.request.payload.scope or "").split())
        launch = data.get("launch")
        if launch is not None:
            if launch not in self.double.launches or "launch" not in scopes:
                raise InvalidRequestError("unknown launch, or the scope lacks 'launch'")
        elif "launch/patient" not in scopes:
            raise InvalidScopeError("a standalone launch asks for launch/patient")

    def add_context(self, grant, response):
        _, token, _ = response
        ctx = grant.request.authorization_code.context
        token["patient"] = ctx["patient"]
        if ctx.get("encounter"):
            token["encounter"] = ctx["encounter"]
        if ctx.get("service_request"):
            token["fhirContext"] = [{"reference": f"ServiceRequest/{ctx['service_request']}"}]
        self.double.tokens[token["access_token"]].patient = ctx["patient"]
        return token


class SmartOpenIDCode(OpenIDCode):
    def __init__(self, double: EhrDouble):
        super().__init__(require_nonce=False)
        self.double = double

    def exists_nonce(self, nonce, request):
        return any(c.nonce == nonce for c in self.double.codes.values())

    def resolve_client_private_key(self, client):
        return self.double.rsa

    def get_client_algorithm(self, client):
        return "RS256"

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": self.double.rsa.kid, "typ": "JWT"}

    def get_client_claims(self, client):
        b = self.double.behaviour
        return {"iss": self.double.issuer, "aud": [b.get("id_token_aud", client.get_client_id())],
                "exp": int(time.time()) + b.get("id_token_exp", 300)}

    def generate_user_info(self, user, scope):
        return {"sub": user.split("/")[-1], "fhirUser": f"{self.double.fhir_base}/{user}"}


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic"]
    double: EhrDouble        # set on the subclass the double registers

    def save_authorization_code(self, code, req):
        data = req.payload.data
        launch = data.get("launch")
        context = self.double.launches[launch] if launch else {"patient": self.double.standalone_patient,
                                                               "encounter": None, "service_request": None}
        self.double.codes[code] = Code(code=code, client_id=req.client.get_client_id(),
                                       redirect_uri=req.payload.redirect_uri, scope=req.payload.scope, user=req.user,
                                       code_challenge=data["code_challenge"],
                                       code_challenge_method=data["code_challenge_method"], context=dict(context),
                                       nonce=data.get("nonce"))

    def query_authorization_code(self, code, client):
        found = self.double.codes.get(code)
        return found if found and found.client_id == client.get_client_id() else None

    def delete_authorization_code(self, authorization_code):
        self.double.codes.pop(authorization_code.code, None)
        self.double.exchanged.append(authorization_code.code)

    def authenticate_user(self, authorization_code):
        return authorization_code.user


class SmartScopes(BearerTokenValidator):
    """A token this server issued, unexpired, whose SMART scopes allow reading the resource type."""

    def __init__(self, double: EhrDouble):
        super().__init__()
        self.double = double

    def authenticate_token(self, token_string):
        return self.double.tokens.get(token_string)

    @staticmethod
    def scope_insufficient(token_scopes, required_scopes):
        granted = set((token_scopes or "").split())
        for rtype in required_scopes or ():
            ok = any(f"{ctx}/{t}.{p}" in granted for ctx in ("patient", "user", "system") for t in (rtype, "*")
                     for p in ("rs", "r", "read", "*"))
            if not ok:
                return True
        return False


# -- the double --------------------------------------------------------------------------------------
class EhrDouble:
    def __init__(self, port: int, *, client_id: str, redirect_uri: str, practitioner: str = "Practitioner/pr1"):
        self.port, self.client_id, self.redirect_uri, self.practitioner = port, client_id, redirect_uri, practitioner
        self.rsa = RSAKey.generate_key(2048, parameters={"kid": "ehr-rsa-1", "use": "sig", "alg": "RS256"})
        self.ec = ECKey.generate_key("P-384", parameters={"kid": "ehr-ec-1", "use": "sig", "alg": "ES384"})
        self.keys = KeySet([self.rsa, self.ec])
        self.resources: dict[tuple[str, str], object] = {}       # fhir.resources models
        self.launches: dict[str, dict] = {}
        self.codes: dict[str, Code] = {}
        self.exchanged: list[str] = []
        self.tokens: dict[str, Token] = {}
        self.seen: list[dict] = []           # authorize requests as received
        self.fhir_reads: list[str] = []
        self.behaviour: dict = {}
        self.standalone_patient = "pat1"
        self.clients = {client_id: Client(client_id, (redirect_uri,), scope=(
            "launch launch/patient openid fhirUser patient/ServiceRequest.rs patient/DocumentReference.rs "
            "patient/Condition.rs patient/Encounter.rs patient/ServiceRequest.read patient/DocumentReference.read "
            "patient/Condition.read patient/Encounter.read"))}
        self.app = self._build()
        # the token the EHR hands a CDS service in fhirAuthorization (issued by the same server)
        self.cds_fhir_token = self.issue_token(scope="user/*.rs", patient=None, client_id=None)
        self._server = None

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
        """Store a resource as its fhir.resources model (an invalid one raises here)."""
        model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        self.resources[(resource["resourceType"], resource["id"])] = model
        return resource

    def add_launch(self, *, patient: str, encounter: str | None, service_request: str | None) -> str:
        launch = "launch-" + secrets.token_urlsafe(8)
        self.launches[launch] = {"patient": patient, "encounter": encounter, "service_request": service_request}
        return launch

    def issue_token(self, *, scope: str, patient: str | None, client_id: str | None, expires_in: int = 3600) -> str:
        value = "at-" + secrets.token_urlsafe(24)
        self.tokens[value] = Token(value, client_id, scope, patient, int(time.time()), expires_in)
        return value

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
        logging.getLogger("werkzeug").setLevel(logging.WARNING)      # no line per request
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()

    def _build(self) -> Flask:
        app = Flask("ehr-double")
        double = self

        class Server(AuthorizationServer):
            def create_bearer_token_generator(self, config):
                def access(client, grant_type, user, scope):
                    return "at-" + secrets.token_urlsafe(24)

                return BearerTokenGenerator(access, None, lambda client, grant_type: double.behaviour.get(
                    "expires_in", 3600))

        def save_token(token, req):
            double.tokens[token["access_token"]] = Token(token["access_token"], req.client.get_client_id(),
                                                         token.get("scope", ""), None, int(time.time()),
                                                         int(token.get("expires_in", 0)))

        server = Server(app, query_client=self.clients.get, save_token=save_token)
        grant = type("SmartCodeGrant", (CodeGrant,), {"double": self})
        server.register_grant(grant, [S256Challenge(required=True), SmartOpenIDCode(self), SmartLaunch(self)])
        protect = ResourceProtector()
        protect.register_token_validator(SmartScopes(self))

        @app.get("/jwks")
        def jwks():
            return jsonify(double.keys.as_dict(private=False))

        @app.get("/fhir/.well-known/smart-configuration")
        def smart_configuration():
            return jsonify({
                "issuer": double.issuer, "jwks_uri": double.jwks_url,
                "authorization_endpoint": f"{double.issuer}/authorize", "token_endpoint": f"{double.issuer}/token",
                "grant_types_supported": ["authorization_code"],
                "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
                "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient", "patient/*.rs"],
                "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                "capabilities": ["launch-ehr", "launch-standalone", "client-public", "context-ehr-patient",
                                 "context-ehr-encounter", "context-standalone-patient", "sso-openid-connect",
                                 "permission-patient", "permission-v2"]})

        @app.get("/auth/authorize")
        def authorize():
            double.seen.append(dict(request.args))
            try:
                grant = server.get_consent_grant(end_user=double.practitioner)
            except OAuth2Error as error:
                # an invalid client or redirect URI is never redirected to (RFC 6749 4.1.2.1)
                return Response(f"bad authorize request: {error.error}: {error.description}", status=400,
                                mimetype="text/plain")
            # the user is signed in to the EHR, which launched the app: consent is the EHR's policy
            response = server.create_authorization_response(grant_user=double.practitioner, grant=grant)
            if "state" in double.behaviour and response.status_code == 302:
                parts = urlsplit(response.headers["Location"])
                query = [(k, double.behaviour["state"] if k == "state" else v) for k, v in parse_qsl(parts.query)]
                response.headers["Location"] = urlunsplit(parts._replace(query=urlencode(query)))
            return response

        @app.post("/auth/token")
        def token():
            return server.create_token_response()

        def read_allowed(rtype: str):
            """The bearer token of the request (401/403 from authlib's ResourceProtector otherwise)."""
            return protect.acquire_token([rtype])

        def fhir_json(model, status=200):
            return Response(model.model_dump_json(), status=status, mimetype=FHIR_JSON)

        def outcome(status: int, code: str, text: str):
            model = get_fhir_model_class("OperationOutcome").model_validate(
                {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code,
                                                                "diagnostics": text}]})
            return fhir_json(model, status)

        def in_compartment(token: Token, model) -> bool:
            subject = getattr(model, "subject", None)
            return token.patient is None or (subject is not None and subject.reference == f"Patient/{token.patient}")

        @app.get("/fhir/<rtype>/<rid>")
        def read(rtype: str, rid: str):
            double.fhir_reads.append(f"{rtype}/{rid}")
            try:
                tok = read_allowed(rtype)
            except OAuth2Error as error:
                return outcome(error.status_code or 401, "security", error.error)
            model = double.resources.get((rtype, rid))
            if model is None or (rtype != "Binary" and not in_compartment(tok, model)):
                return outcome(404, "not-found", f"{rtype}/{rid}")
            if rtype == "Binary" and model.contentType:
                return Response(model.data, mimetype=model.contentType)
            return fhir_json(model)

        @app.get("/fhir/<rtype>")
        def search(rtype: str):
            double.fhir_reads.append(f"{rtype}?{request.query_string.decode()}")
            try:
                tok = read_allowed(rtype)
            except (OAuth2Error, InsufficientScopeError) as error:
                return outcome(getattr(error, "status_code", 401) or 401, "security", error.error)
            q = request.args
            if tok.patient and q.get("patient") not in (None, tok.patient):
                return outcome(403, "forbidden", "outside the token's patient")
            found = [m for (t, _), m in double.resources.items() if t == rtype and in_compartment(tok, m)]
            if q.get("_id"):
                ids = set(q["_id"].split(","))
                found = [m for m in found if m.id in ids]
            if q.get("patient"):
                found = [m for m in found if getattr(m, "subject", None) is not None
                         and m.subject.reference == f"Patient/{q['patient']}"]
            if q.get("status"):
                wanted = set(q["status"].split(","))
                found = [m for m in found if getattr(m, "status", None) in wanted]
            if rtype == "DocumentReference":
                found = sorted(found, key=lambda m: str(m.date or ""), reverse=True)[:int(q.get("_count", "50"))]
            bundle = get_fhir_model_class("Bundle").model_validate({
                "resourceType": "Bundle", "type": "searchset", "total": len(found),
                "entry": [{"fullUrl": f"{double.fhir_base}/{rtype}/{m.id}", "resource": m.model_dump(),
                           "search": {"mode": "match"}} for m in found]})
            return fhir_json(bundle)

        @app.get("/ehr")
        def ehr_page():
            href = f"{request.args['scribe']}/smart/launch?" + urlencode(
                {"iss": double.fhir_base, "launch": request.args["launch"]})
            return (f"<!doctype html><html><head><title>EHR double</title></head><body><h1>Order entry</h1>"
                    f"<a id='open-scribe' href='{escape(href)}'>Open scribe</a></body></html>")

        return app
