"""Admins: API tokens (list, create, revoke) and the audit log."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from .auth import Admin, AnyUser
from .deps import Limit, Offset, StoreDep
from .errors import ApiError
from .wire import AuditRow, Me, RotateIn, TokenCreated, TokenIn, TokenOut, TokenRotated

router = APIRouter(prefix="/api", tags=["accounts"])


@router.get("/me", response_model=Me)
def me(who: AnyUser):
    """The caller's account name and role (any valid token)."""
    return {"name": who.name, "role": who.role}


@router.get("/tokens", response_model=list[TokenOut], tags=["admin"])
def list_tokens(who: Admin, store: StoreDep):
    """Every token ever issued (names, roles, prefixes; never the token itself)."""
    return store.list_tokens()


@router.post("/tokens", response_model=TokenCreated, status_code=201, tags=["admin"])
def create_token(body: TokenIn, who: Admin, store: StoreDep, request: Request):
    """A new token; the response is the only place the token appears. It expires after
    ``days`` (default: the role's lifetime, admin 30 days, others 90)."""
    settings = request.app.state.settings
    lifetime = timedelta(days=body.days) if body.days else settings.token_lifetime(body.role)
    try:
        token, row = store.create_token(name=body.name, role=body.role, created_by=who.name, lifetime=lifetime)
    except ValueError as exc:
        raise ApiError(422, "BAD_REQUEST", str(exc)) from None
    store.audit(who, "create_token", detail=f"token {row['id']} ({row['role']}) for {row['name']}")
    return {**row, "token": token}


@router.delete("/tokens/{token_id}", response_model=TokenOut, tags=["admin"])
def revoke_token(token_id: int, who: Admin, store: StoreDep):
    """Revoke a token: it stops working at once; its open WebSocket connections are closed
    within a second (close code 4401)."""
    row = store.revoke_token(token_id)
    if row is None:
        raise ApiError(404, "NOT_FOUND", f"no token {token_id}")
    store.audit(who, "revoke_token", detail=f"token {token_id}")
    return row


@router.post("/tokens/{token_id}/rotate", response_model=TokenRotated, status_code=201, tags=["admin"])
def rotate_token(token_id: int, who: Admin, store: StoreDep, request: Request, body: RotateIn | None = None):
    """A new token for the same account and role (shown only here); the old one keeps
    working for ``grace_hours`` (default 12) so a running dictation is not cut off."""
    settings, body = request.app.state.settings, body or RotateIn()
    grace = timedelta(hours=settings.token_rotate_grace_hours if body.grace_hours is None else body.grace_hours)
    old = next((r for r in store.list_tokens() if r["id"] == token_id), None)
    if old is None:
        raise ApiError(404, "NOT_FOUND", f"no token {token_id}")
    lifetime = timedelta(days=body.days) if body.days else settings.token_lifetime(old["role"])
    try:
        rotated = store.rotate_token(token_id, grace=grace, lifetime=lifetime, created_by=who.name)
    except ValueError as exc:
        raise ApiError(409, "TOKEN_REVOKED", str(exc)) from None
    if rotated is None:     # deleted meanwhile
        raise ApiError(404, "NOT_FOUND", f"no token {token_id}")
    token, new, replaced = rotated
    store.audit(who, "rotate_token", detail=f"token {token_id} -> {new['id']}")
    return {**new, "token": token, "replaced": replaced}


@router.get("/audit", response_model=list[AuditRow], tags=["admin"])
def audit(who: Admin, store: StoreDep, limit: Limit = 100, offset: Offset = 0,
          dictation_id: Annotated[str | None, Query(description="only rows about this dictation")] = None,
          actor: Annotated[str | None, Query(description="only rows of this account (user)")] = None,
          action: Annotated[str | None, Query(description="e.g. read_note_text, resume_dictation")] = None):
    """Who read which note text, when and from where (and token and session changes),
    newest first; filter by dictation, by user (account name) and by action."""
    return store.list_audit(dictation_id=dictation_id, actor=actor, action=action, limit=limit, offset=offset)
