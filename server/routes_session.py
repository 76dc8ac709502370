"""Browser sessions: a page opened with ``?access_token=`` exchanges the token once for an
HttpOnly session cookie and removes the token from the address bar; its WebSocket opens
with a one-time ticket. See ``server/auth.py`` for which credential wins."""
from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from .auth import SESSION_COOKIE, AnyUser, Physician
from .db import utcnow
from .deps import StoreDep
from .store import iso
from .wire import SessionOut, TicketOut

router = APIRouter(prefix="/api", tags=["sessions (pages)"])


@router.post("/session", response_model=SessionOut)
def open_session(who: AnyUser, store: StoreDep, request: Request, response: Response):
    """Exchange the caller's token for a session cookie (``scribe_session``: HttpOnly,
    SameSite=Strict, Secure over HTTPS, Path=/), valid ``SCRIBE_SESSION_HOURS`` (12) and
    never past the token's expiry; revoking the token ends it."""
    settings = request.app.state.settings
    assert who.token_id is not None     # a request's principal always holds a token
    secret, ends = store.create_web_session(who.token_id, lifetime=timedelta(hours=settings.session_hours))
    seconds = max(1, int((ends - utcnow()).total_seconds()))
    response.set_cookie(SESSION_COOKIE, secret, max_age=seconds, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    store.audit(who, "open_session", detail=f"token {who.token_id}")
    return {"name": who.name, "role": who.role, "expires_at": iso(ends)}


@router.delete("/session", status_code=204)
def close_session(store: StoreDep, request: Request):
    """End the page's session (sign out): the cookie is cleared and its secret forgotten."""
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        store.end_web_session(secret)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


@router.post("/ws-ticket", response_model=TicketOut)
def ws_ticket(who: Physician, request: Request):
    """A one-time ticket for ``/ws/dictation?ticket=T`` (valid 30 s, one connection)."""
    book = request.app.state.tickets
    return {"ticket": book.issue(who), "expires_in": book.seconds}

