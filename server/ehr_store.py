"""What the EHR routes keep in the database (``server/db.py``): the cards the CDS Hooks service
answered and the EHR's feedback on them (into ``gap_actions``, the outcome table the dashboard
reads), SMART launch state and the ids of accepted CDS JWTs.

Everything a browser or an EHR could replay is single-use and expires: a launch's ``state``
(kept as sha256 with its PKCE verifier) is taken once, within ``launch_seconds``; an
authorization code is recorded (as sha256) when it is exchanged and refused afterwards; a
JWT's (iss, jti) is recorded until the JWT's ``exp``. Because all of it is in the database, a
launch begun before a restart of ``scribe serve`` finishes after it, and a replay is refused
across a restart. Expired rows are swept on the way (at most once a minute).
"""
from __future__ import annotations

import hashlib
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .db import cds_cards, cds_jwt_ids, gap_actions, smart_codes, smart_launches, smart_sessions, utcnow

SWEEP_SECONDS = 60.0


def digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


class EhrStore:
    def __init__(self, store):
        self.store = store
        self._swept = 0.0
        self._lock = threading.Lock()

    @property
    def engine(self) -> sa.Engine:
        return self.store.engine

    def _sweep(self, conn, now: datetime) -> None:
        with self._lock:
            if time.monotonic() - self._swept < SWEEP_SECONDS:
                return
            self._swept = time.monotonic()
        for table in (smart_launches, smart_codes, smart_sessions, cds_jwt_ids):
            conn.execute(sa.delete(table).where(table.c.expires_at < now))

    # -- CDS cards and feedback -----------------------------------------------------------------
    def record_cards(self, rows: Sequence[dict]) -> None:
        if rows:
            with self.store._write() as conn:
                conn.execute(sa.insert(cds_cards), list(rows))

    def record_feedback(self, *, service: str, client_iss: str, actor: str, items: Sequence[dict]) -> list[str]:
        """Store each item (``card_uuid``, ``outcome`` accepted/overridden, ``reason``, ``comment``,
        ``accepted``, ``at``) of a card this service answered to this client as an ``accept`` or
        ``override`` action; returns the uuids it did not know (nothing of theirs is stored)."""
        now = utcnow()
        with self.store._write() as conn:
            known = set(conn.execute(sa.select(cds_cards.c.uuid).where(
                cds_cards.c.uuid.in_([i["card_uuid"] for i in items]), cds_cards.c.service == service,
                cds_cards.c.client_iss == client_iss)).scalars())
            rows = [{"card_uuid": i["card_uuid"], "gap_id": None, "dictation_id": None,
                     "action": "accept" if i["outcome"] == "accepted" else "override",
                     "reason": i.get("reason"), "text": i.get("comment"),
                     "detail": (i.get("accepted") or None) if i["outcome"] == "accepted" else None,
                     "actor_token_id": None, "actor_name": actor[:100], "actor_role": "ehr",
                     "at": min(i.get("at") or now, now)}
                    for i in items if i["card_uuid"] in known]
            if rows:
                conn.execute(sa.insert(gap_actions), rows)
        return sorted({i["card_uuid"] for i in items} - known)

    # -- CDS JWT replay --------------------------------------------------------------------------
    def claim_jti(self, iss: str, jti: str, exp: float) -> bool:
        """True the first time (iss, jti) is seen; kept until the JWT's exp (and a minute's skew)."""
        now = utcnow()
        until = (datetime.fromtimestamp(exp, timezone.utc).replace(tzinfo=None) + timedelta(seconds=60)
                 if 0 < exp < 2**40 else now + timedelta(days=1))
        try:
            with self.store._write() as conn:
                self._sweep(conn, now)
                conn.execute(sa.insert(cds_jwt_ids).values(key_hash=digest("jti", iss, jti), expires_at=until))
        except IntegrityError:
            return False
        return True

    # -- SMART launch state ------------------------------------------------------------------------
    def add_launch(self, *, state: str, iss: str, verifier: str, config: dict, standalone: bool,
                   seconds: float, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self.store._write() as conn:
            self._sweep(conn, now)
            conn.execute(sa.insert(smart_launches).values(
                state_hash=digest("state", state), iss=iss, verifier=verifier, config=config, standalone=standalone,
                created_at=now, expires_at=now + timedelta(seconds=seconds)))

    def take_launch(self, state: str, *, now: datetime | None = None) -> dict | None:
        """The pending launch of ``state`` if it was issued, is unused and unexpired; it is then used."""
        now = now or utcnow()
        key = digest("state", state)
        with self.store._write() as conn:
            taken = conn.execute(sa.update(smart_launches)
                                 .where(smart_launches.c.state_hash == key, smart_launches.c.used_at.is_(None),
                                        smart_launches.c.expires_at > now)
                                 .values(used_at=now)).rowcount
            if taken != 1:
                return None
            row = conn.execute(sa.select(smart_launches).where(smart_launches.c.state_hash == key)).mappings().one()
        return dict(row)

    def use_code(self, code: str, *, seconds: float = 3600, now: datetime | None = None) -> bool:
        """True the first time an authorization code is presented (remembered ``seconds``)."""
        now = now or utcnow()
        try:
            with self.store._write() as conn:
                self._sweep(conn, now)
                conn.execute(sa.insert(smart_codes).values(code_hash=digest("code", code), used_at=now,
                                                           expires_at=now + timedelta(seconds=seconds)))
        except IntegrityError:
            return False
        return True

    def add_session(self, session_id: str, *, expires_in: float, **fields: Any) -> None:
        now = utcnow()
        with self.store._write() as conn:
            conn.execute(sa.insert(smart_sessions).values(id_hash=digest("session", session_id), created_at=now,
                                                          expires_at=now + timedelta(seconds=expires_in), **fields))

    def session(self, session_id: str, *, now: datetime | None = None) -> dict | None:
        """The launch session of a browser's cookie, unless it has expired."""
        now = now or utcnow()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(smart_sessions).where(
                smart_sessions.c.id_hash == digest("session", session_id),
                smart_sessions.c.expires_at > now)).mappings().first()
        return None if row is None else dict(row)
