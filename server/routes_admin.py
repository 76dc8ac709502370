"""Admins: API tokens (list, create, revoke) and the audit log."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from .auth import Admin, AnyUser
from .deps import Limit, Offset, StoreDep
from .errors import ApiError
from .wire import AuditRow, Me, TokenCreated, TokenIn, TokenOut

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
def create_token(body: TokenIn, who: Admin, store: StoreDep):
    """A new token; the response is the only place the token appears."""
    try:
        token, row = store.create_token(name=body.name, role=body.role, created_by=who.name)
    except ValueError as exc:
        raise ApiError(422, "BAD_REQUEST", str(exc)) from None
    store.audit(who, "create_token", detail=f"token {row['id']} ({row['role']}) for {row['name']}")
    return {**row, "token": token}


@router.delete("/tokens/{token_id}", response_model=TokenOut, tags=["admin"])
def revoke_token(token_id: int, who: Admin, store: StoreDep):
    """Revoke a token: it stops working at once (open WebSocket connections keep running
    until they close)."""
    row = store.revoke_token(token_id)
    if row is None:
        raise ApiError(404, "NOT_FOUND", f"no token {token_id}")
    store.audit(who, "revoke_token", detail=f"token {token_id}")
    return row


@router.get("/audit", response_model=list[AuditRow], tags=["admin"])
def audit(who: Admin, store: StoreDep, limit: Limit = 100, offset: Offset = 0,
          dictation_id: Annotated[str | None, Query(description="only reads of this dictation")] = None):
    """Who read which note text (and token changes), newest first."""
    return store.list_audit(dictation_id=dictation_id, limit=limit, offset=offset)
