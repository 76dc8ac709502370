"""Authentication of a CDS client (CDS Hooks 2.0, "Trusting CDS Clients").

Every service call and feedback POST carries ``Authorization: Bearer <JWT>`` signed by
the EHR. The JWT is accepted when:

* its ``alg`` is an asymmetric signature algorithm (``none`` and HMAC are refused);
* its ``iss`` is a configured CDS client (``server/ehr_config.py``) and, when the
  client names one, its ``sub`` is that client id;
* its key comes from that client's JWK Set: the URL of the ``jku`` header when it is on
  the client's ``jku`` allow-list (any other ``jku`` is refused before any fetch), else
  the client's configured ``jwks_url``; the set is cached and fetched again once when
  the ``kid`` is unknown (key rotation);
* the signature verifies (joserfc), ``aud`` is this service's URL, ``exp`` is in the
  future, ``iat`` is not in the future (60 s of clock skew either way) and the token
  lives at most ``jwt_max_lifetime_seconds``;
* its ``jti`` was not seen before from the same ``iss`` (replay), remembered until
  the token's ``exp`` in the database (``cds_jwt_ids``), so a restart does not forget it.

Any failure is an ``AuthError`` with a stable code; the route answers 401 and builds
nothing from the request.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .ehr_config import CdsClient, EhrConfig

log = logging.getLogger("scribe.server.cds.auth")
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"]
SKEW = 60
JWKS_TTL = 300.0
MAX_JWT_BYTES = 16 * 1024


class AuthError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class CdsCaller:
    iss: str
    sub: str | None
    jti: str
    tenant: str | None


class JwksCache:
    """JWK Sets by URL, kept ``JWKS_TTL`` seconds; refetched once for an unknown kid."""

    def __init__(self, timeout: float = 5.0, http: httpx.AsyncClient | None = None):
        self._sets: dict[str, tuple[float, KeySet]] = {}
        self._timeout = timeout
        self.http = http

    async def get(self, url: str, kid: str | None) -> KeySet:
        hit = self._sets.get(url)
        now = time.monotonic()
        if hit and now - hit[0] < JWKS_TTL and (kid is None or _has_kid(hit[1], kid)):
            return hit[1]
        try:
            if self.http is not None:
                response = await self.http.get(url, headers={"Accept": "application/json"}, timeout=self._timeout)
            else:
                async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
                    response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            key_set = KeySet.import_key_set(response.json())
        except (httpx.HTTPError, ValueError, JoseError) as exc:
            raise AuthError("JWKS_UNAVAILABLE", f"the JWK Set at {url} could not be read "
                            f"({type(exc).__name__})") from None
        self._sets[url] = (now, key_set)
        return key_set


def _has_kid(key_set: KeySet, kid: str) -> bool:
    return any(k.kid == kid for k in key_set.keys)


class ReplayCache:
    """(iss, jti) pairs seen, each until its token's exp."""

    def __init__(self):
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def claim(self, iss: str, jti: str, exp: float) -> bool:
        now = time.time()
        with self._lock:
            if len(self._seen) > 1000:
                self._seen = {k: v for k, v in self._seen.items() if v + SKEW > now}
            if (iss, jti) in self._seen:
                return False
            self._seen[(iss, jti)] = exp
            return True


class CdsAuthenticator:
    def __init__(self, config: EhrConfig, http: httpx.AsyncClient | None = None,
                 replay: Callable[[str, str, float], bool] | None = None):
        self.config = config
        self.jwks = JwksCache(config.fhir_timeout_seconds, http)
        # (iss, jti) seen: in the database when the service has one (a replay is refused after a
        # restart too), else in this process
        self.claim = replay or ReplayCache().claim

    async def verify(self, authorization: str | None, audience: str) -> CdsCaller:
        scheme, _, value = (authorization or "").partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise AuthError("UNAUTHENTICATED", "a CDS call needs 'Authorization: Bearer <JWT>' signed by the EHR")
        if len(value) > MAX_JWT_BYTES:
            raise AuthError("BAD_JWT", "the JWT is too large")
        try:
            unverified = jws.extract_compact(value.encode("ascii"))
            header = unverified.headers()
            claims = json.loads(unverified.payload)
        except (JoseError, ValueError, UnicodeError):
            raise AuthError("BAD_JWT", "the bearer token is not a compact JWS") from None
        if not isinstance(claims, dict):
            raise AuthError("BAD_JWT", "the JWT payload is not a JSON object")
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthError("BAD_JWT_ALG", f"JWT alg {alg!r} is not accepted (use an asymmetric signature, e.g. "
                            "RS384 or ES384)")
        iss = claims.get("iss")
        client = self.config.client_for(iss) if isinstance(iss, str) else None
        if client is None:
            raise AuthError("UNKNOWN_ISSUER", f"the JWT issuer {iss!r} is not a registered CDS client")
        url = self._jwks_url(client, header.get("jku"))
        key_set = await self.jwks.get(url, header.get("kid"))
        try:
            token = jwt.decode(value, key_set, algorithms=ALGORITHMS)
        except JoseError as exc:
            raise AuthError("BAD_SIGNATURE", f"the JWT signature does not verify ({exc.error})") from None
        claims = token.claims
        subject: dict[str, Any] = {"sub": {"essential": True, "value": client.sub}} if client.sub else {}
        registry = jwt.JWTClaimsRegistry(
            now=int(time.time()), leeway=SKEW,
            iss={"essential": True, "value": client.iss},
            aud={"essential": True, "value": audience},
            exp={"essential": True}, iat={"essential": True}, jti={"essential": True},
            **subject)
        try:
            registry.validate(claims)
        except JoseError as exc:
            code = "JWT_EXPIRED" if type(exc).__name__ == "ExpiredTokenError" else "BAD_CLAIMS"
            raise AuthError(code, f"the JWT claims do not hold ({exc.description or exc.error})") from None
        exp, iat = claims["exp"], claims["iat"]
        if not isinstance(exp, (int, float)) or not isinstance(iat, (int, float)):
            raise AuthError("BAD_CLAIMS", "exp and iat must be numbers")
        if iat > time.time() + SKEW:
            raise AuthError("BAD_CLAIMS", "the JWT was issued in the future (iat)")
        if exp - iat > self.config.jwt_max_lifetime_seconds:
            raise AuthError("BAD_CLAIMS", f"the JWT lives {int(exp - iat)} s; at most "
                            f"{self.config.jwt_max_lifetime_seconds} s are accepted")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise AuthError("BAD_CLAIMS", "jti must be a non-empty string")
        if not await asyncio.to_thread(self.claim, client.iss, jti, float(exp)):
            raise AuthError("JWT_REPLAYED", "this JWT (jti) was already used")
        return CdsCaller(iss=client.iss, sub=claims.get("sub"), jti=jti, tenant=claims.get("tenant"))

    @staticmethod
    def _jwks_url(client: CdsClient, jku) -> str:
        if jku is not None:
            if not isinstance(jku, str) or jku not in client.jku:
                raise AuthError("UNLISTED_JKU", f"the JWT's jku {jku!r} is not on the allow-list of {client.iss}")
            return jku
        if not client.jwks_url:
            raise AuthError("NO_JWKS", f"no JWK Set is configured for {client.iss} and the JWT names none (jku)")
        return client.jwks_url
