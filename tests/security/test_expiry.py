"""Tokens expire (issue 14, item 2): a lifetime per role (admin 30 days, others 90,
configurable), shown by `scribe token list`; an expired token gets 401 TOKEN_EXPIRED
(and its open sockets close with 4401); `scribe token rotate` issues a new token for the
same account while the old one keeps working for a grace period, so a running dictation
is not cut off. Tokens older than the migration get an expiry too."""
from __future__ import annotations

import contextlib
import time
from datetime import datetime, timedelta

import sqlalchemy as sa

from scribe_server import db
from scribe_server.store import Store, hash_token

from ..live import Server, ask
from ..server.conftest import ENCOUNTER
from .conftest import closed_within, start_live


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.rstrip("Z"))


def lifetime(row: dict) -> timedelta:
    return parse(row["expires_at"]) - parse(row["created_at"])


def wait_for(predicate, seconds: float = 6.0):
    """Poll ``predicate`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    return predicate()


def test_expiry_defaults_per_role_are_listed(live):
    for role, name in (("admin", "exp_admin"), ("physician", "exp_doc")):
        made = live.scribe("token", "create", "--role", role, "--name", name)
        assert made.returncode == 0, made.stderr
    admin = live.scribe("token", "create", "--role", "admin", "--name", "lister").stdout.splitlines()[-1]
    status, rows = live.json("GET", "/api/tokens", admin)
    assert status == 200
    by_name = {r["name"]: r for r in rows}
    assert abs(lifetime(by_name["exp_admin"]) - timedelta(days=30)) < timedelta(minutes=1)
    assert abs(lifetime(by_name["exp_doc"]) - timedelta(days=90)) < timedelta(minutes=1)
    custom = live.scribe("token", "create", "--role", "scribe", "--name", "exp_short", "--expires", "12h")
    assert custom.returncode == 0
    configured = live.scribe("token", "create", "--role", "manager", "--name", "exp_conf",
                             env={"SCRIBE_TOKEN_DAYS_MANAGER": "7"})
    assert configured.returncode == 0
    listing = live.scribe("token", "list")
    assert listing.returncode == 0 and "expires" in listing.stdout.splitlines()[0]
    rows = {r["name"]: r for r in live.json("GET", "/api/tokens", admin)[1]}
    assert abs(lifetime(rows["exp_short"]) - timedelta(hours=12)) < timedelta(minutes=1)
    assert abs(lifetime(rows["exp_conf"]) - timedelta(days=7)) < timedelta(minutes=1)
    for name in ("exp_admin", "exp_doc", "exp_short", "exp_conf"):
        line = next(l for l in listing.stdout.splitlines() if f" {name} " in l)
        assert rows[name]["expires_at"] in line and "active" in line


def test_expiry_expired_token_gets_its_own_401_and_its_socket_closes(live):
    made = live.scribe("token", "create", "--role", "physician", "--name", "dr_brief", "--expires", "3s")
    token = made.stdout.splitlines()[-1]
    assert live.json("GET", "/api/me", token) == (200, {"name": "dr_brief", "role": "physician"})
    with live.server.ws(token) as ws:
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
        closed, frames = closed_within(ws, 8.0)          # idle: the sweeper closes it when the token expires
        assert closed is not None and closed.rcvd.code == 4401 and closed.rcvd.reason == "token expired", frames
    status, body = live.json("GET", "/api/me", token)
    assert status == 401 and body["error"]["code"] == "TOKEN_EXPIRED" and "expired" in body["error"]["message"]
    with live.server.ws(token) as ws:
        refusal = closed_within(ws, 5.0)
    assert refusal[1][0]["code"] == "TOKEN_EXPIRED" and refusal[0].rcvd.code == 4401
    listing = live.scribe("token", "list").stdout
    assert "expired" in next(l for l in listing.splitlines() if " dr_brief " in l)


def test_expiry_rotation_keeps_a_running_dictation_then_ends_the_old_token(live):
    old, old_id = live.token(name="dr_rotating")
    with contextlib.ExitStack() as stack:
        ws = stack.enter_context(live.server.ws(old))
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "rot-1"})["type"] == "state"
        assert ask(ws, {"type": "segment", "seq": 1, "text": "Lumbar spine, two views. ", "final": True})["seq"] == 1
        rotated = live.scribe("token", "rotate", str(old_id), "--grace", "3s")
        assert rotated.returncode == 0, rotated.stderr
        new = rotated.stdout.splitlines()[-1]
        assert new.startswith("scr_") and new != old
        # the running dictation goes on with the old token during the grace period
        time.sleep(0.5)                                   # past the guard's cache: the rotation is seen
        answer = ask(ws, {"type": "segment", "seq": 2, "text": "Indication: low back pain. ", "final": True})
        assert answer["type"] == "state" and answer["seq"] == 2
        assert live.json("GET", "/api/me", old)[0] == 200
        # the new token reaches the same account's dictation
        fresh = stack.enter_context(live.server.ws(new))
        assert ask(fresh, {"type": "resume", "dictation_id": "rot-1"})["seq"] == 2
        # after the grace period the old token's socket is closed and the token refused
        closed, _ = closed_within(ws, 8.0)
        assert closed is not None and closed.rcvd.code == 4401 and closed.rcvd.reason == "token expired"
        assert live.json("GET", "/api/me", old)[1]["error"]["code"] == "TOKEN_EXPIRED"
        answer = ask(fresh, {"type": "segment", "seq": 3, "text": "Findings: normal alignment. ", "final": True})
        assert answer["type"] == "state" and answer["seq"] == 3
        assert ask(fresh, {"type": "finalize"})["type"] == "finalized"
    line = next(l for l in live.scribe("token", "list").stdout.splitlines() if l.split()[0] == str(old_id))
    assert "rotated to" in line and "expired" in line
    revoked = live.scribe("token", "revoke", str(old_id))
    assert revoked.returncode == 0
    again = live.scribe("token", "rotate", str(old_id))
    assert again.returncode == 2 and "revoked" in again.stderr


def test_expiry_admin_api_rotates_with_a_grace_period(live):
    admin, _ = live.token(role="admin", name="ada_rot")
    _, target = live.token(role="scribe", name="sam_rot")
    status, body = live.json("POST", f"/api/tokens/{target}/rotate", admin, {"grace_hours": 1})
    assert status == 201 and body["token"].startswith("scr_") and body["name"] == "sam_rot"
    assert body["replaced"]["id"] == target and body["replaced"]["rotated_to"] == body["id"]
    left = parse(body["replaced"]["expires_at"]) - db.utcnow()
    assert timedelta(minutes=55) < left <= timedelta(hours=1)
    assert live.json("POST", "/api/tokens/999999/rotate", admin, {})[0] == 404


def test_expiry_tokens_from_before_the_migration_get_an_expiry(tmp_path):
    """A database at revision 0001 with a token created years ago: after the upgrade
    (done by `scribe serve` at start) it carries an expiry and works until then."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    store = Store(url)
    with store.engine.begin() as conn:
        command.upgrade(db.alembic_config(conn), "0001")
        token = "scr_" + "a" * 43
        conn.execute(sa.text("INSERT INTO api_tokens (name, role, token_hash, prefix, created_at) "
                             "VALUES ('old_admin', 'admin', :h, :p, :c)"),
                     {"h": hash_token(token), "p": token[:12], "c": datetime(2019, 1, 1)})
    store.dispose()
    server = Server(tmp_path, url)
    server.start()
    try:
        from .conftest import Live

        live = Live(server, url)
        status, rows = live.json("GET", "/api/tokens", token)
        assert status == 200
        row = rows[0]
        assert row["name"] == "old_admin" and row["active"] is True
        left = parse(row["expires_at"]) - db.utcnow()
        assert timedelta(days=29) < left <= timedelta(days=30)
        live.close()
    finally:
        server.stop()
