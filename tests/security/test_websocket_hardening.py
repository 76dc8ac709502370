"""WebSocket hardening (issue 14, item 6): a browser WebSocket's ``Origin`` must be the
service's own or a configured one (``SCRIBE_WS_ORIGINS``), so a page of another site
cannot ride a user's cookie or a URL token (cross-site WebSocket hijacking: 4003
ORIGIN_NOT_ALLOWED, nothing served); open connections are capped per token and per
client address (4429 TOO_MANY_CONNECTIONS), and a closed connection frees its place."""
from __future__ import annotations

import contextlib
import time

import pytest
from websockets.sync.client import connect

from ..live import ask
from ..server.conftest import ENCOUNTER
from .conftest import closed_within, start_live
from .test_sessions import session, ws_url

EVIL = "https://evil.example.com"


def refused(ws) -> tuple[int, dict]:
    closed, frames = closed_within(ws, 5.0)
    assert closed is not None and len(frames) == 1, frames
    return closed.rcvd.code, frames[0]


def test_websocket_cross_site_origin_is_refused_with_any_credential(live):
    doc, _ = live.token(name="dr_origin")
    cookie, _ = session(live, doc)
    ticket = live.json("POST", "/api/ws-ticket", doc)[1]["ticket"]
    attempts = [(f"?access_token={doc}", {}), ("", {"Cookie": f"scribe_session={cookie}"}),
                (f"?ticket={ticket}", {}), ("", {"Authorization": f"Bearer {doc}"})]
    for query, headers in attempts:
        with connect(ws_url(live, query), additional_headers=headers, origin=EVIL, open_timeout=10) as ws:
            code, frame = refused(ws)
        assert code == 4003 and frame["code"] == "ORIGIN_NOT_ALLOWED", (query, headers)
    # the ticket was not spent by the refused attempt? It was never looked at: still good once
    with connect(ws_url(live, f"?ticket={ticket}"), origin=live.server.base, open_timeout=10) as ws:
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
    # same origin (any scheme, as behind a TLS proxy) and no Origin at all (not a browser) are fine
    for origin in (live.server.base, live.server.base.replace("http://", "https://"), None):
        with connect(ws_url(live, f"?access_token={doc}"), origin=origin, open_timeout=10) as ws:
            assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    live = start_live(tmp_path_factory.mktemp("capped"), SCRIBE_MAX_CONNECTIONS_PER_TOKEN=2,
                      SCRIBE_MAX_CONNECTIONS_PER_ADDRESS=3, SCRIBE_WS_ORIGINS="https://ehr.example.org")
    yield live
    live.server.stop()
    live.close()


def test_websocket_configured_origin_is_allowed(capped):
    doc, _ = capped.token(name="dr_ehr")
    with connect(ws_url(capped, f"?access_token={doc}"), origin="https://ehr.example.org", open_timeout=10) as ws:
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
    with connect(ws_url(capped, f"?access_token={doc}"), origin=EVIL, open_timeout=10) as ws:
        assert refused(ws)[0] == 4003


def test_websocket_connections_are_capped_per_token_and_per_address(capped):
    first, _ = capped.token(name="dr_cap_a")
    second, _ = capped.token(name="dr_cap_b")
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(capped.server.ws(first)) for _ in range(2)]
        for ws in held:
            assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
        with capped.server.ws(first) as ws:                       # a third on the token
            code, frame = refused(ws)
        assert code == 4429 and frame["code"] == "TOO_MANY_CONNECTIONS"
        assert "SCRIBE_MAX_CONNECTIONS_PER_TOKEN" in frame["message"]
        third = stack.enter_context(capped.server.ws(second))     # the address's third
        assert ask(third, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
        with capped.server.ws(second) as ws:                      # the address's fourth
            code, frame = refused(ws)
        assert code == 4429 and "SCRIBE_MAX_CONNECTIONS_PER_ADDRESS" in frame["message"]
        with connect(ws_url(capped), open_timeout=10) as ws:      # unauthenticated ones count too
            code, frame = refused(ws)
        assert code == 4429
        held[0].close()
        closed_within(held[0], 0.5)
    time.sleep(0.5)                                               # the server sees the closes
    # every place is free again
    with capped.server.ws(first) as a, capped.server.ws(first) as b:
        for ws in (a, b):
            assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
