"""SMART launch state and CDS JWT ids live in the database: a launch begun before a restart of
`scribe serve` finishes after it; a state, an authorization code and a JWT are good once, also
across the restart; pending launches expire."""
from __future__ import annotations

from datetime import timedelta

import httpx
import sqlalchemy as sa

from scribe_server.db import smart_launches, smart_sessions, utcnow
from scribe_server.ehr_store import EhrStore
from scribe_server.store import Store

from .cases import document, hook_request, service_request
from .test_cds_hooks import LBP_NOTE, SIGN
from .test_smart_launch import order  # noqa: F401 - the launch fixture


def test_a_launch_and_its_replays_outlive_a_restart(scribe, double, order):  # noqa: F811
    client = httpx.Client(timeout=30)
    first = client.get(f"{scribe.base}/smart/launch", params={"iss": double.fhir_base, "launch": order})
    assert first.status_code == 302
    callback = client.get(first.headers["location"]).headers["location"]
    aud = f"{scribe.base}/cds-services/{SIGN}"
    jwt = double.cds_jwt(aud)
    body = hook_request("order-sign", [service_request("sr-1", "72120")], note=document("d", LBP_NOTE))
    assert httpx.post(aud, json=body, headers={"Authorization": f"Bearer {jwt}"}, timeout=30).status_code == 200

    scribe.restart()

    done = client.get(callback)
    assert done.status_code == 303 and done.headers["location"].startswith("/sidebar?"), done.text
    assert "cpt=72120" in done.headers["location"]
    again = client.get(callback)
    assert again.status_code == 400 and "data-code='CODE_REUSED'" in again.text
    replay = httpx.post(aud, json=body, headers={"Authorization": f"Bearer {jwt}"}, timeout=30)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "JWT_REPLAYED"
    # the EHR's token is in the database, not in the page, and only under the cookie's hash
    engine = sa.create_engine(scribe.db_url)
    with engine.connect() as conn:
        sessions = conn.execute(sa.select(smart_sessions.c.id_hash, smart_sessions.c.access_token)).all()
        used = conn.execute(sa.select(smart_launches.c.used_at).where(smart_launches.c.used_at.is_not(None))).all()
    engine.dispose()
    cookie = client.cookies.get("scribe_smart_session")
    assert cookie and all(cookie != h for h, _ in sessions) and used
    assert any(t in double.tokens for _, t in sessions)


def test_a_state_is_taken_once_and_expires(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.migrate()
    db = EhrStore(store)
    now = utcnow()
    for state in ("s-once", "s-late"):
        db.add_launch(state=state, iss="https://ehr/fhir", verifier="v" * 64, config={"token_endpoint": "t"},
                      standalone=False, seconds=600, now=now)
    taken = db.take_launch("s-once", now=now + timedelta(seconds=5))
    assert taken is not None and taken["verifier"] == "v" * 64 and taken["config"] == {"token_endpoint": "t"}
    assert db.take_launch("s-once", now=now + timedelta(seconds=6)) is None          # single use
    assert db.take_launch("s-late", now=now + timedelta(seconds=601)) is None        # expired
    assert db.take_launch("never-issued") is None
    assert db.use_code("c1") and not db.use_code("c1")
    assert db.claim_jti("https://ehr", "j1", (now + timedelta(minutes=2)).timestamp())
    assert not db.claim_jti("https://ehr", "j1", (now + timedelta(minutes=2)).timestamp())
    assert db.claim_jti("https://other-ehr", "j1", (now + timedelta(minutes=2)).timestamp())
    with store.engine.connect() as conn:
        states = conn.execute(sa.select(smart_launches.c.state_hash)).scalars().all()
    assert "s-once" not in states and all(len(h) == 64 for h in states)
    store.dispose()
