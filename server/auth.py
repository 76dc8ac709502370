"""Who is calling and what they may do.

A request carries an API token as ``Authorization: Bearer TOKEN`` or, for browsers and
WebSockets, as the ``access_token`` query parameter. Tokens are stored as sha256
hashes (they are 256-bit random strings, so a slow hash adds nothing) and can be
revoked. Every token expires (``expires_at``: a lifetime per role, see
``server/config.py``) and can be rotated (a new token for the same account; the old one
keeps working for a grace period). The token's name is the account: a physician's
dictations belong to the name, so a replaced token keeps access to them.

Roles: ``physician`` dictates and reads their own notes; ``scribe`` works the review
queue; ``manager`` reads statistics (no note text); ``admin`` manages tokens and reads
the audit log. A missing, unknown or revoked token is 401 (UNAUTHENTICATED, BAD_TOKEN),
an expired one 401 TOKEN_EXPIRED; a wrong role is 403.
"""
from __future__ import annotations

from typing import Annotated, Callable

from fastapi import Depends, Request
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from .errors import ApiError
from .store import TOKEN_EXPIRED, TOKEN_OK, Principal, Store, iso

bearer = HTTPBearer(auto_error=False, description="an API token from `scribe token create`")
query_token = APIKeyQuery(name="access_token", auto_error=False, description="the same token, for browser pages")


def token_of(authorization: str | None, access_token: str | None) -> str | None:
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return access_token or None


def authenticate(store: Store, token: str | None) -> Principal | None:
    return store.principal_for(token) if token else None


def current_principal(request: Request,
                      credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
                      access_token: Annotated[str | None, Depends(query_token)]) -> Principal:
    token = credentials.credentials if credentials else access_token
    if not token:
        raise ApiError(401, "UNAUTHENTICATED", "send an API token: 'Authorization: Bearer TOKEN' or ?access_token=")
    who, status = request.app.state.store.token_status(token)
    if status == TOKEN_EXPIRED:
        raise ApiError(401, "TOKEN_EXPIRED", f"the token expired at {iso(who.expires_at)}; ask an admin for a new "
                       "one (scribe token rotate)")
    if who is None or status != TOKEN_OK:
        raise ApiError(401, "BAD_TOKEN", "the token is unknown or revoked")
    return who


def require(*roles: str) -> Callable[..., Principal]:
    def check(who: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if who.role not in roles:
            raise ApiError(403, "FORBIDDEN", f"this needs the {' or '.join(roles)} role; the token is a {who.role}'s")
        return who

    return check


AnyUser = Annotated[Principal, Depends(current_principal)]
Physician = Annotated[Principal, Depends(require("physician"))]
Scribe = Annotated[Principal, Depends(require("scribe"))]
Manager = Annotated[Principal, Depends(require("manager"))]
Admin = Annotated[Principal, Depends(require("admin"))]
