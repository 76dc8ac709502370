"""How a practice registers its EHR with scribe: one JSON file (``SCRIBE_EHR_CONFIG``).

```json
{
  "public_url": "https://scribe.example.org",
  "cds_clients": [
    {"iss": "https://ehr.example.org", "jwks_url": "https://ehr.example.org/jwks",
     "jku": ["https://ehr.example.org/jwks"], "sub": "scribe-cds"}
  ],
  "smart": {
    "client_id": "scribe", "issuers": ["https://ehr.example.org/fhir"],
    "accounts": {"Practitioner/p1": "dr_lee"}, "auto_accounts": false
  }
}
```

``public_url`` is the address the EHR calls: the ``aud`` a CDS client's JWT must carry
(``{public_url}/cds-services/{id}``), the base of the rule pages cards link to and of the
SMART redirect URI (``{public_url}/smart/callback``). ``cds_clients`` is the allow-list of
CDS clients: a JWT is accepted only from a listed ``iss``, verified against that
client's JWK Set (its ``jwks_url``, or the ``jku`` header when that URL is in the
client's ``jku`` list; any other ``jku`` is refused). ``smart.accounts`` maps the
``fhirUser`` of a launch (``Practitioner/ID`` or its absolute URL) to a scribe account;
with ``auto_accounts`` an unmapped user gets the account ``ehr-<resource type>-<id>``.
"""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_SCOPES = ("launch openid fhirUser patient/ServiceRequest.rs patient/DocumentReference.rs "
                  "patient/Condition.rs patient/Encounter.rs")
STANDALONE_SCOPES = ("launch/patient openid fhirUser patient/ServiceRequest.rs patient/DocumentReference.rs "
                     "patient/Condition.rs patient/Encounter.rs")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CdsClient(_Strict):
    iss: str = Field(description="the EHR's issuer, as in its JWTs' iss claim")
    jwks_url: str | None = Field(None, description="the EHR's JWK Set; used when a JWT carries no jku")
    jku: tuple[str, ...] = Field((), description="JWK Set URLs a JWT may name in its jku header")
    sub: str | None = Field(None, description="when set, a JWT's sub must equal it (the client id)")
    fhir_servers: tuple[str, ...] = Field((), description="when set, a call's fhirServer must start with one of "
                                          "these (scribe reads no other server with the call's token)")
    tenant: str | None = None


class SmartClient(_Strict):
    client_id: str
    client_secret: str | None = Field(None, description="for a confidential client (HTTP Basic at the token "
                                      "endpoint); a public client proves itself with PKCE only")
    issuers: tuple[str, ...] = Field(description="FHIR base URLs (iss) scribe may be launched from")
    scope: str = DEFAULT_SCOPES
    standalone_scope: str = STANDALONE_SCOPES
    accounts: dict[str, str] = {}
    auto_accounts: bool = False
    session_hours: float = Field(12.0, gt=0, le=24, description="lifetime of the sidebar token a launch mints")

    @field_validator("issuers")
    @classmethod
    def _issuers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.rstrip("/") for v in value)


class EhrConfig(_Strict):
    public_url: str = ""
    cds_clients: tuple[CdsClient, ...] = ()
    smart: SmartClient | None = None
    jwt_max_lifetime_seconds: int = Field(300, ge=1, description="a CDS JWT living longer is refused")
    fhir_timeout_seconds: float = Field(5.0, gt=0)
    max_attachment_bytes: int = Field(2 * 1024 * 1024, ge=1024, description="larger notes are not read")

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return value.rstrip("/")

    def client_for(self, iss: str) -> CdsClient | None:
        return next((c for c in self.cds_clients if c.iss == iss), None)

    @classmethod
    def load(cls, path: Path | None) -> "EhrConfig":
        if path is None:
            return cls()
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
