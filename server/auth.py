"""Who is calling and what they may do.

A request carries one credential, and exactly one is looked at, in this order (the first
present decides; a later one never rescues a bad earlier one, so the weaker never wins):

1. ``Authorization: Bearer TOKEN`` (an API client, a speech engine; a malformed header is
   refused, never skipped);
2. ``?access_token=TOKEN`` (the contract's browser form, kept for API clients and links);
3. ``?ticket=T`` (WebSocket only): a one-time ticket from ``POST /api/ws-ticket``, valid
   ``ws_ticket_seconds`` (30 s), so a page never puts its token in a WebSocket URL;
4. the ``scribe_session`` cookie (HttpOnly, SameSite=Strict, Secure over HTTPS) a page
   gets by exchanging its URL token once at ``POST /api/session``.

Tokens (and session secrets, and tickets) are stored as sha256 hashes (they are 256-bit
random strings, so a slow hash adds nothing) and can be revoked. Every token expires
(``expires_at``: a lifetime per role, see ``server/config.py``) and can be rotated (a new
token for the same account; the old one keeps working for a grace period). A session or
ticket stands for its token: revoking or expiring the token ends them. The token's name
is the account: a physician's dictations belong to the name, so a replaced token keeps
access to them.

A request authenticated by the cookie alone that changes something (not GET/HEAD) must
come from the service's own pages: an ``Origin`` that is neither the service's nor a
configured one is refused (403 ORIGIN_NOT_ALLOWED), on top of SameSite=Strict.

Roles: ``physician`` dictates and reads their own notes; ``scribe`` works the review
queue; ``manager`` reads statistics (no note text); ``admin`` manages tokens and reads
the audit log. A missing, unknown or revoked credential is 401 (UNAUTHENTICATED,
BAD_TOKEN), an expired one 401 TOKEN_EXPIRED; a wrong role is 403.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Callable, Mapping

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, APIKeyQuery, HTTPBearer

from .errors import ApiError
from .store import TOKEN_EXPIRED, TOKEN_OK, TOKEN_UNKNOWN, Principal, Store, iso

SESSION_COOKIE = "scribe_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# declared for the OpenAPI page only: ``current_principal`` reads the request itself
bearer = HTTPBearer(auto_error=False, description="an API token from `scribe token create`")
query_token = APIKeyQuery(name="access_token", auto_error=False, description="the same token (links, API clients)")
session_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                              description="a page's session (POST /api/session exchanges a token for it)")


@dataclass(frozen=True)
class Credential:
    kind: str               # "header" | "query" | "ticket" | "cookie"
    value: str | None       # None: a malformed Authorization header (refused)


def credential_of(headers: Mapping[str, str], query: Mapping[str, str], cookies: Mapping[str, str], *,
                  tickets: bool = False) -> Credential | None:
    """The one credential of a request, by the precedence above; None when there is none."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        return Credential("header", value.strip() if scheme.lower() == "bearer" and value.strip() else None)
    if query.get("access_token"):
        return Credential("query", query["access_token"])
    if tickets and query.get("ticket"):
        return Credential("ticket", query["ticket"])
    if cookies.get(SESSION_COOKIE):
        return Credential("cookie", cookies[SESSION_COOKIE])
    return None


def resolve(store: Store, credential: Credential, *, tickets=None) -> tuple[Principal | None, str]:
    """(principal, status) of a credential; status as ``Store.token_status``."""
    if credential.value is None:
        return None, TOKEN_UNKNOWN
    if credential.kind == "cookie":
        return store.session_status(credential.value)
    if credential.kind == "ticket":
        return tickets.redeem(credential.value) if tickets is not None else (None, TOKEN_UNKNOWN)
    return store.token_status(credential.value)


def same_origin(origin: str, host: str | None) -> bool:
    """Whether ``Origin`` names the host the request was sent to (any scheme: a TLS proxy
    in front of the service changes it)."""
    _, sep, rest = origin.partition("://")
    if not (sep and host):
        return False
    return rest.rstrip("/").lower() == host.lower()


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """No ``Origin`` (not a browser), the service's own, or a configured one."""
    return origin is None or same_origin(origin, host) or origin.rstrip("/").lower() in allowed


def address_of(request_client) -> str | None:
    return getattr(request_client, "host", None)


def current_principal(request: Request, _b: Annotated[object, Depends(bearer)],
                      _q: Annotated[object, Depends(query_token)],
                      _c: Annotated[object, Depends(session_cookie)]) -> Principal:
    credential = credential_of(request.headers, request.query_params, request.cookies)
    if credential is None:
        raise ApiError(401, "UNAUTHENTICATED", "send an API token: 'Authorization: Bearer TOKEN' or ?access_token=")
    if credential.kind == "header" and credential.value is None:
        raise ApiError(401, "UNAUTHENTICATED", "the Authorization header must be 'Bearer TOKEN' (it is looked at "
                       "first: a query token or a cookie does not stand in for a malformed one)")
    if credential.kind == "cookie" and request.method not in SAFE_METHODS:
        settings = request.app.state.settings
        allowed = settings.ws_origin_list + [o.lower() for o in settings.allowed_origins]
        if not origin_allowed(request.headers.get("origin"), request.headers.get("host"), allowed):
            raise ApiError(403, "ORIGIN_NOT_ALLOWED", "a page of another site may not act with this session")
    who, status = resolve(request.app.state.store, credential)
    if status == TOKEN_EXPIRED:
        what = "session" if credential.kind == "cookie" else "token"
        raise ApiError(401, "TOKEN_EXPIRED", f"the {what} expired at {iso(who.expires_at if who else None)}; open the page's link "
                       "again, or ask an admin for a new token (scribe token rotate)")
    if who is None or status != TOKEN_OK:
        raise ApiError(401, "BAD_TOKEN", "the token is unknown or revoked")
    request.state.credential = credential.kind
    return dataclasses.replace(who, address=address_of(request.client))


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
