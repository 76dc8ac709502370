"""Revocation ends live sessions (issue 14, item 1): after `scribe token revoke` (run in
another process sharing the database), `DELETE /api/tokens/{id}` or deleting the account
(`scribe token revoke --account`), every open WebSocket of the token is closed within a
second with 4401, and a message sent meanwhile is refused, not served."""
from __future__ import annotations

import contextlib
import time

import pytest
from websockets.exceptions import ConnectionClosed

from ..live import ask
from ..server.conftest import ENCOUNTER
from .conftest import closed_within, start_live

SEGMENT = "Lumbar spine, three views. Indication: low back pain after a fall. "


def open_dictation(stack, live, token, dictation_id):
    ws = stack.enter_context(live.server.ws(token))
    assert ask(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": dictation_id})["type"] == "state"
    assert ask(ws, {"type": "segment", "seq": 1, "text": SEGMENT, "final": True})["type"] == "state"
    return ws


def test_revocation_revoke_closes_dictating_and_watching_sockets_within_a_second(live):
    token, token_id = live.token(name="dr_revoked")
    stack = contextlib.ExitStack()
    dictating = open_dictation(stack, live, token, "rev-1")
    watcher = stack.enter_context(live.server.ws(token))
    assert ask(watcher, {"type": "watch", "dictation_id": "rev-1"})["watching"] is True
    done = live.scribe("token", "revoke", str(token_id))
    revoked_at = time.monotonic()
    assert done.returncode == 0, done.stderr
    for ws in (dictating, watcher):
        closed, frames = closed_within(ws, 1.0 - (time.monotonic() - revoked_at))
        assert closed is not None, "the socket was still open a second after the revocation"
        assert closed.rcvd.code == 4401 and closed.rcvd.reason == "token revoked"
        assert not [f for f in frames if f.get("type") == "state"], "a state was sent after the revocation"
    stack.close()


def test_revocation_delete_by_admin_api_closes_the_socket(live):
    admin, _ = live.token(role="admin", name="ada")
    token, token_id = live.token(name="dr_api_revoked")
    with contextlib.ExitStack() as stack:
        ws = open_dictation(stack, live, token, "rev-api")
        assert live.json("DELETE", f"/api/tokens/{token_id}", admin)[0] == 200
        closed, _ = closed_within(ws, 1.0)
        assert closed is not None and closed.rcvd.code == 4401


def test_revocation_deleting_the_account_closes_all_its_sockets_and_no_other(live):
    first, _ = live.token(name="dr_gone")
    second, _ = live.token(name="dr_gone")
    other, _ = live.token(name="dr_stays")
    with contextlib.ExitStack() as stack:
        gone = [open_dictation(stack, live, first, "acct-1"), open_dictation(stack, live, second, "acct-2")]
        stays = open_dictation(stack, live, other, "acct-3")
        done = live.scribe("token", "revoke", "--account", "dr_gone")
        assert done.returncode == 0 and "2 token(s) revoked" in done.stdout, done.stderr
        for ws in gone:
            closed, _ = closed_within(ws, 1.0)
            assert closed is not None and closed.rcvd.code == 4401
        answer = ask(stays, {"type": "segment", "seq": 2, "text": "Findings: normal alignment. ", "final": True})
        assert answer["type"] == "state" and answer["seq"] == 2
    assert live.json("GET", "/api/me", first)[0] == 401
    missing = live.scribe("token", "revoke", "--account", "nobody_at_all")
    assert missing.returncode == 2 and "no account nobody_at_all" in missing.stderr


@pytest.fixture(scope="module")
def no_sweeper(tmp_path_factory):
    """A server whose sweeper looks only once an hour: only the per-message check can act."""
    live = start_live(tmp_path_factory.mktemp("nosweep"), SCRIBE_TOKEN_SWEEP_SECONDS=3600)
    yield live
    live.server.stop()
    live.close()


def test_revocation_every_message_rechecks_the_token(no_sweeper):
    live = no_sweeper
    token, token_id = live.token(name="dr_busy")
    stack = contextlib.ExitStack()
    ws = open_dictation(stack, live, token, "busy-1")
    assert live.scribe("token", "revoke", str(token_id)).returncode == 0
    revoked_at, accepted, refusal = time.monotonic(), [], None
    seq = 1
    while time.monotonic() - revoked_at < 3.0:              # bounded: the check caches for a quarter second
        seq += 1
        answer = ask(ws, {"type": "segment", "seq": seq, "text": "Findings: normal. ", "final": True})
        if answer["type"] == "error":
            refusal = answer
            break
        accepted.append((seq, time.monotonic() - revoked_at))
        time.sleep(0.05)
    assert refusal is not None and refusal["code"] == "TOKEN_REVOKED", accepted
    assert all(after < 1.0 for _, after in accepted), accepted
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd.code == 4401
    stack.close()
    # the refused segment was not applied: the account's new token resumes at the last accepted one
    fresh, _ = live.token(name="dr_busy")
    with live.server.ws(fresh) as again:
        state = ask(again, {"type": "resume", "dictation_id": "busy-1"})
    assert state["seq"] == (accepted[-1][0] if accepted else 1)
