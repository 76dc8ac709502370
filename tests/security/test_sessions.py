"""No tokens in URLs (issue 14, item 3): a page's link token is exchanged once for an
HttpOnly, SameSite=Strict session cookie (Secure over HTTPS); the WebSocket opens with a
one-time ticket (or the cookie); exactly one credential decides, in the documented order
(header, query token, ticket, cookie), so a bad stronger credential is never rescued by a
weaker one; cookie-only requests that change something must come from the service's own
origin; revoking the token ends its sessions and tickets."""
from __future__ import annotations

import json
import time

import pytest
from websockets.sync.client import connect

from ..live import ask
from ..server.conftest import ENCOUNTER
from .conftest import closed_within, start_live


def session(live, token: str, **headers) -> tuple[str, str]:
    """(cookie value, the Set-Cookie header) of POST /api/session with ``token``."""
    status, h, body = live.request("POST", "/api/session", token, headers=headers or None)
    assert status == 200, body
    header = h["Set-Cookie"]
    value = header.split(";", 1)[0].split("=", 1)
    assert value[0] == "scribe_session"
    return value[1], header


def with_cookie(live, method: str, path: str, cookie: str, token: str | None = None, **headers):
    return live.request(method, path, token, headers={"Cookie": f"scribe_session={cookie}", **headers},
                        body=b"{}" if method == "POST" else None)


def ws_url(live, query: str = "") -> str:
    return f"ws://127.0.0.1:{live.server.port}/ws/dictation{query}"


def test_sessions_the_cookie_is_httponly_strict_and_secure_over_https(live):
    token, _ = live.token(name="dr_cookie")
    cookie, header = session(live, token)
    attributes = {a.strip().split("=")[0].lower() for a in header.split(";")[1:]}
    assert {"httponly", "path", "max-age"} <= attributes and "secure" not in attributes
    assert "samesite=strict" in header.lower().replace(" ", "")
    assert token not in header and len(cookie) >= 40
    # behind a TLS proxy (uvicorn trusts X-Forwarded-Proto from loopback) the cookie is Secure
    _, secure = session(live, token, **{"X-Forwarded-Proto": "https"})
    assert "secure" in {a.strip().lower() for a in secure.split(";")[1:]}
    status, _, body = with_cookie(live, "GET", "/api/me", cookie)
    assert status == 200 and json.loads(body) == {"name": "dr_cookie", "role": "physician"}
    # the session is at most the token's life: 12 h by default
    max_age = int(next(a for a in header.split(";") if a.strip().lower().startswith("max-age")).split("=")[1])
    assert 11 * 3600 < max_age <= 12 * 3600


def test_sessions_one_credential_decides_and_the_weaker_never_wins(live):
    doc, _ = live.token(name="dr_prec")
    sam, _ = live.token(role="scribe", name="sam_prec")
    cookie, _ = session(live, doc)
    me = lambda **kw: with_cookie(live, "GET", kw.pop("path", "/api/me"), cookie, **kw)  # noqa: E731
    # a valid header wins over the cookie of another account
    status, _, body = me(token=sam)
    assert status == 200 and json.loads(body)["name"] == "sam_prec"
    # a bad header is refused, the valid cookie does not rescue it
    assert me(token="scr_not-a-token")[0] == 401
    assert me(Authorization="Basic ZHI6cHc=")[0] == 401
    # a bad query token is refused too, whatever the cookie
    assert me(path="/api/me?access_token=scr_bad")[0] == 401
    # header beats the query token, in both directions
    status, _, body = live.request("GET", f"/api/me?access_token={sam}", doc)
    assert status == 200 and json.loads(body)["name"] == "dr_prec"
    assert live.request("GET", f"/api/me?access_token={sam}", "scr_bad")[0] == 401


def test_sessions_end_with_the_token_and_on_sign_out(live):
    doc, doc_id = live.token(name="dr_ends")
    cookie, _ = session(live, doc)
    other, _ = session(live, doc)
    assert with_cookie(live, "GET", "/api/me", cookie)[0] == 200
    status, headers, _ = with_cookie(live, "DELETE", "/api/session", other)
    assert status == 204 and "scribe_session=" in headers["Set-Cookie"] and "Max-Age=0" in headers["Set-Cookie"]
    assert with_cookie(live, "GET", "/api/me", other)[0] == 401
    assert live.scribe("token", "revoke", str(doc_id)).returncode == 0
    status, _, body = with_cookie(live, "GET", "/api/me", cookie)
    assert status == 401 and json.loads(body)["error"]["code"] == "BAD_TOKEN"


def test_sessions_cookie_writes_need_the_services_own_origin(live):
    sam, _ = live.token(role="scribe", name="sam_csrf")
    cookie, _ = session(live, sam)
    path = "/api/review/gaps/999999/dismiss"
    status, _, body = with_cookie(live, "POST", path, cookie, Origin="https://evil.example.com")
    assert status == 403 and json.loads(body)["error"]["code"] == "ORIGIN_NOT_ALLOWED"
    status, _, _ = with_cookie(live, "POST", path, cookie, Origin=live.server.base)
    assert status in (404, 422)                          # past authentication: the gap does not exist
    # a token in the header is not ambient: no Origin rule for it
    assert live.request("POST", path, sam, b"{}", headers={"Origin": "https://evil.example.com"})[0] in (404, 422)


def test_sessions_websocket_tickets_are_one_time_and_short(live):
    doc, doc_id = live.token(name="dr_ticket")
    status, body = live.json("POST", "/api/ws-ticket", doc)
    assert status == 200 and body["expires_in"] == 30 and doc not in body["ticket"]
    ticket = body["ticket"]
    with connect(ws_url(live, f"?ticket={ticket}"), open_timeout=10) as ws:
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
    with connect(ws_url(live, f"?ticket={ticket}"), open_timeout=10) as ws:     # spent
        closed, frames = closed_within(ws, 5.0)
    assert frames[0]["code"] == "BAD_TOKEN" and closed.rcvd.code == 4401
    # a ticket from the cookie session works the same; one from a scribe is refused
    cookie, _ = session(live, doc)
    status, _, raw = with_cookie(live, "POST", "/api/ws-ticket", cookie, Origin=live.server.base)
    assert status == 200
    with connect(ws_url(live, f"?ticket={json.loads(raw)['ticket']}"), open_timeout=10) as ws:
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
    sam, _ = live.token(role="scribe", name="sam_ticket")
    assert live.json("POST", "/api/ws-ticket", sam)[0] == 403
    # revoking the token voids its outstanding tickets
    waiting = live.json("POST", "/api/ws-ticket", doc)[1]["ticket"]
    assert live.scribe("token", "revoke", str(doc_id)).returncode == 0
    with connect(ws_url(live, f"?ticket={waiting}"), open_timeout=10) as ws:
        closed, frames = closed_within(ws, 5.0)
    assert frames[0]["code"] == "BAD_TOKEN" and closed.rcvd.code == 4401


@pytest.fixture(scope="module")
def brief_tickets(tmp_path_factory):
    live = start_live(tmp_path_factory.mktemp("tickets"), SCRIBE_WS_TICKET_SECONDS=1, SCRIBE_SESSION_HOURS=0.001)
    yield live
    live.server.stop()
    live.close()


def test_sessions_a_stale_ticket_is_refused(brief_tickets):
    live = brief_tickets
    doc, _ = live.token(name="dr_stale")
    ticket = live.json("POST", "/api/ws-ticket", doc)[1]["ticket"]
    time.sleep(1.3)
    with connect(ws_url(live, f"?ticket={ticket}"), open_timeout=10) as ws:
        closed, frames = closed_within(ws, 5.0)
    assert frames[0]["code"] == "BAD_TOKEN" and "ticket" in frames[0]["message"] and closed.rcvd.code == 4401


def test_sessions_a_session_ends_on_time_and_so_does_its_socket(brief_tickets):
    live = brief_tickets                                   # sessions of 3.6 s here
    doc, _ = live.token(name="dr_short_session")
    cookie, _ = session(live, doc)
    with connect(ws_url(live), additional_headers={"Cookie": f"scribe_session={cookie}"}, origin=live.server.base,
                 open_timeout=10) as ws:
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
        closed, _ = closed_within(ws, 8.0)
    assert closed is not None and closed.rcvd.code == 4401 and closed.rcvd.reason == "token expired"
    status, _, body = with_cookie(live, "GET", "/api/me", cookie)
    assert status == 401 and json.loads(body)["error"]["code"] == "TOKEN_EXPIRED"
    assert live.json("GET", "/api/me", doc)[0] == 200      # the token itself goes on


def test_sessions_websocket_with_the_cookie_from_the_page_origin(live):
    doc, _ = live.token(name="dr_ws_cookie")
    cookie, _ = session(live, doc)
    with connect(ws_url(live), additional_headers={"Cookie": f"scribe_session={cookie}"}, origin=live.server.base,
                 open_timeout=10) as ws:
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
