"""All data access of the service (tokens, dictations and their events, the review queue,
statistics, the audit log) behind one class. Callers never write SQL.

Every method opens its own short transaction; the methods on the dictation hot path
(``append_event``, ``set_partial``) do one statement each plus the commit, so that a
state is acknowledged only once what it acknowledges is on disk.

On PostgreSQL several server processes may share the database (``scribe serve --workers
N``, or several servers): the hub then runs each change of a dictation inside
``dictation_tx``, which locks the dictation's row, hands that transaction to the hot path
methods (``conn=``) and, once it committed, tells the other processes (``notify_change``).
See ``server/hub.py`` and ``server/shared.py``.
"""
from __future__ import annotations

import contextlib
import hashlib
import secrets
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .config import DEFAULT_TOKEN_DAYS   # a new token's lifetime when the caller names none
from .claim_lines import line_of_gap, lines_of
from .db import (ROLES, api_tokens, audit_case_codes, audit_cases, audit_gaps, audit_log, audits, cds_cards,
                 dictation_codes, dictations, events, gap_actions, gaps, make_engine, migrate, token_epoch, utcnow,
                 web_sessions, ws_tickets)

TOKEN_PREFIX = "scr_"
SEVERITIES = ("error", "warning", "info")
DISMISS_REASONS = {
    "documented_elsewhere": "documented elsewhere in the record",
    "not_applicable": "the rule does not apply to this study",
    "false_positive": "the note does document it (checker mistake)",
    "payer_exception": "the payer does not require it",
    "other": "other (explain in the note)",
}
GROUPINGS = ("provider", "cpt", "family", "gap_code", "week")
AUDIT_GROUPINGS = ("provider", "cpt", "family", "gap_code")
UNKNOWN_FAMILY = "unknown"               # a stored code no family of the lexicons holds (any more)
RISK_SEVERITIES = ("error", "warning")   # gaps that make a dictation incomplete


TOKEN_OK, TOKEN_UNKNOWN, TOKEN_REVOKED, TOKEN_EXPIRED = "ok", "unknown", "revoked", "expired"
CHANGES_CHANNEL = "scribe_dictation"     # PostgreSQL NOTIFY channel: "ORIGIN:KEY" of each changed dictation


class DictationExists(Exception):
    """A ``start`` named a dictation id that is already taken."""


class AuditExists(Exception):
    """These audit results (their run id) are already loaded."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id, the account name and the role (and when the token
    expires, as read when it was checked)."""

    token_id: int | None
    name: str
    role: str
    expires_at: datetime | None = field(default=None, compare=False)
    address: str | None = field(default=None, compare=False)     # the client's address (for the audit log)


@dataclass(frozen=True)
class Filters:
    """Filters shared by the review queue and the statistics (all optional)."""

    provider: str | None = None
    cpt: str | None = None
    icd10: str | None = None
    gap_code: str | None = None
    severity: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None       # inclusive


# The statements of the dictation hot path, built once: building a statement and its cache key
# anew for each message cost about a fifth of a worker's CPU under load (the values are bound
# at execution).
_BUMP = (sa.update(dictations).where(dictations.c.id == sa.bindparam("d"))
         .values(version=dictations.c.version + 1))
_INSERT_EVENT = sa.insert(events).values(
    dictation_id=sa.bindparam("d"), n=sa.bindparam("n"), kind=sa.bindparam("kind"), seq=sa.bindparam("seq"),
    payload=sa.bindparam("payload", type_=events.c.payload.type), created_at=sa.bindparam("at"))
_INSERT_EVENT_BUMP = _INSERT_EVENT.add_cte(_BUMP.cte("bump"))     # PostgreSQL: one statement for both
_SET_PARTIAL = (sa.update(dictations).where(dictations.c.id == sa.bindparam("d"))
                .values(partial_seq=sa.bindparam("seq"), partial_text=sa.bindparam("text"),
                        version=dictations.c.version + 1))
_VERSION = sa.select(dictations.c.status, dictations.c.owner, dictations.c.version, dictations.c.partial_seq,
                     dictations.c.partial_text).where(dictations.c.id == sa.bindparam("d"))
_VERSION_LOCKED = _VERSION.with_for_update()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def week_of(moment: datetime) -> str:
    """The Monday of ``moment``'s ISO week, as YYYY-MM-DD."""
    return (moment.date() - timedelta(days=moment.weekday())).isoformat()


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds") + "Z"


def encounter_codes(encounter: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for kind, key in (("cpt", "cpt"), ("icd10", "icd10"), ("modifier", "modifiers")):
        out += [(kind, code) for code in dict.fromkeys(encounter.get(key) or ())]
    return out


def priced_lines(fees: Mapping[str, float], severities: Sequence[str], per_cpt: Iterable[tuple[str, int]],
                 **per: Iterable[tuple[str, str, int]]) -> dict:
    """Money at risk from line counts: ``per_cpt`` is (cpt, lines); each ``per`` table (by gap code,
    provider, month...) is (key, cpt, lines). ``fees`` ({cpt: dollars}) prices the lines; a line of a
    code without a fee is counted as unpriced."""
    def price(cpt: str, n: int) -> float | None:
        fee = fees.get(cpt)
        return None if fee is None else round(float(fee) * n, 2)

    by_cpt: list[dict[str, Any]] = [{"cpt": cpt, "lines": n, "fee": fees.get(cpt), "dollars": price(cpt, n)}
                                    for cpt, n in sorted(per_cpt)]

    def totals(name: str, rows) -> list[dict]:
        out: dict[str, dict[str, Any]] = {}
        for key, cpt, n in rows:
            row = out.setdefault(key, {name: key, "lines": 0, "dollars": 0.0, "unpriced_lines": 0})
            row["lines"] += n
            dollars = price(cpt, n)
            if dollars is None:
                row["unpriced_lines"] += n
            else:
                row["dollars"] = round(row["dollars"] + dollars, 2)
        return sorted(out.values(), key=lambda r: (-r["dollars"], str(r[name])))

    tables = {f"by_{name}": totals(name, rows) for name, rows in per.items()}
    if "by_month" in tables:
        tables["by_month"].sort(key=lambda r: str(r["month"]))
    return {"severities": list(severities),
            "total_dollars": round(sum(r["dollars"] or 0 for r in by_cpt), 2),
            "total_lines": sum(r["lines"] for r in by_cpt),
            "unpriced_lines": sum(r["lines"] for r in by_cpt if r["dollars"] is None),
            "by_cpt": by_cpt, **tables}


def family_rows(per_cpt: Iterable[Sequence[Any]], families: Mapping[str, str]) -> list[tuple[str, str, int]]:
    """(cpt, lines) counts as (family, cpt, lines): the money-at-risk table by family."""
    return [(families.get(cpt, UNKNOWN_FAMILY), cpt, n) for cpt, n in per_cpt]


class Store:
    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL"):
        self.url = url
        self.engine = make_engine(url, sqlite_synchronous=sqlite_synchronous)
        # SQLite has one writer at a time; threads that collide sleep in its busy handler
        # (1, 2, 5 ... 100 ms), so this process queues its own writes instead.
        self._writer = threading.Lock() if url.startswith("sqlite") else contextlib.nullcontext()

    @contextlib.contextmanager
    def _write(self):
        with self._writer, self.engine.begin() as conn:
            yield conn

    @property
    def shared(self) -> bool:
        """True when other processes may write the same dictations (PostgreSQL)."""
        return self.engine.dialect.name == "postgresql"

    def migrate(self) -> None:
        migrate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- tokens -----------------------------------------------------------------------------
    def create_token(self, *, name: str, role: str, created_by: str | None = None,
                     lifetime: timedelta | None = None) -> tuple[str, dict]:
        """A new token (shown only now) that expires after ``lifetime`` (default: the role's)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        name = name.strip()
        if not name or len(name) > 100:
            raise ValueError("the name must be 1-100 characters")
        lifetime = timedelta(days=DEFAULT_TOKEN_DAYS[role]) if lifetime is None else lifetime
        if lifetime <= timedelta(0):
            raise ValueError("a token's lifetime must be positive")
        with self._write() as conn:
            return self._insert_token(conn, name=name, role=role, created_by=created_by, lifetime=lifetime)

    @staticmethod
    def _insert_token(conn, *, name: str, role: str, created_by: str | None,
                      lifetime: timedelta) -> tuple[str, dict]:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        row = {"name": name, "role": role, "token_hash": hash_token(token), "prefix": token[:12],
               "created_at": now, "created_by": created_by, "expires_at": now + lifetime}
        row["id"] = conn.execute(sa.insert(api_tokens).values(row).returning(api_tokens.c.id)).scalar_one()
        return token, Store._token_out(row)

    def principal_for(self, token: str) -> Principal | None:
        """The caller of a valid token (known, not revoked, not expired), else None."""
        who, status = self.token_status(token)
        return who if status == TOKEN_OK else None

    def token_status(self, token: str | None) -> tuple[Principal | None, str]:
        """(principal, "ok") for a valid token; (principal or None, "unknown" | "revoked" |
        "expired") otherwise."""
        if not token or not token.startswith(TOKEN_PREFIX):
            return None, TOKEN_UNKNOWN
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.role,
                                         api_tokens.c.revoked_at, api_tokens.c.expires_at)
                               .where(api_tokens.c.token_hash == hash_token(token))).first()
        if row is None:
            return None, TOKEN_UNKNOWN
        who = Principal(row.id, row.name, row.role, row.expires_at)
        return who, self._status(row.revoked_at, row.expires_at)

    def token_by_id(self, token_id: int) -> tuple[Principal | None, str]:
        """Like ``token_status`` for a token known by its id (a redeemed ticket's)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.role,
                                         api_tokens.c.revoked_at, api_tokens.c.expires_at)
                               .where(api_tokens.c.id == token_id)).first()
        if row is None:
            return None, TOKEN_UNKNOWN
        return Principal(row.id, row.name, row.role, row.expires_at), self._status(row.revoked_at, row.expires_at)

    @staticmethod
    def _status(revoked_at: datetime | None, expires_at: datetime | None, now: datetime | None = None) -> str:
        if revoked_at is not None:
            return TOKEN_REVOKED
        if expires_at is not None and (now or utcnow()) >= expires_at:
            return TOKEN_EXPIRED
        return TOKEN_OK

    def token_states(self, token_ids: Iterable[int]) -> dict[int, tuple[str, datetime | None]]:
        """{token id: (status, expires_at)} of the given tokens; a token whose row is gone
        counts as revoked."""
        ids = sorted(set(token_ids))
        out: dict[int, tuple[str, datetime | None]] = dict.fromkeys(ids, (TOKEN_REVOKED, None))
        if not ids:
            return out
        now = utcnow()
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(api_tokens.c.id, api_tokens.c.revoked_at, api_tokens.c.expires_at)
                                    .where(api_tokens.c.id.in_(ids))):
                out[row.id] = (self._status(row.revoked_at, row.expires_at, now), row.expires_at)
        return out

    def token_epoch(self) -> int:
        """The counter every revocation, rotation and account deletion bumps."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(token_epoch.c.epoch).where(token_epoch.c.id == 1)).scalar_one_or_none() or 0

    @staticmethod
    def _bump_epoch(conn) -> None:
        conn.execute(sa.update(token_epoch).where(token_epoch.c.id == 1).values(epoch=token_epoch.c.epoch + 1))

    def list_tokens(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(api_tokens).order_by(api_tokens.c.id)).mappings().all()
        return [self._token_out(r) for r in rows]

    def revoke_token(self, token_id: int) -> dict | None:
        with self._write() as conn:
            done = conn.execute(sa.update(api_tokens).where(api_tokens.c.id == token_id,
                                                            api_tokens.c.revoked_at.is_(None))
                                .values(revoked_at=utcnow())).rowcount
            if done:
                self._bump_epoch(conn)
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()
        return None if row is None else self._token_out(row)

    def revoke_account(self, name: str) -> list[dict]:
        """Delete an account: revoke every token of ``name`` (its dictations stay: they are
        medical records). Returns the tokens it revoked."""
        with self._write() as conn:
            ids = conn.execute(sa.select(api_tokens.c.id).where(api_tokens.c.name == name,
                                                                api_tokens.c.revoked_at.is_(None))).scalars().all()
            if ids:
                conn.execute(sa.update(api_tokens).where(api_tokens.c.id.in_(ids)).values(revoked_at=utcnow()))
                self._bump_epoch(conn)
            rows = conn.execute(sa.select(api_tokens).where(api_tokens.c.id.in_(ids))
                                .order_by(api_tokens.c.id)).mappings().all() if ids else []
        return [self._token_out(r) for r in rows]

    def rotate_token(self, token_id: int, *, grace: timedelta, lifetime: timedelta | None = None,
                     created_by: str | None = None) -> tuple[str, dict, dict] | None:
        """A new token for the same account and role; the old one keeps working for
        ``grace`` (never longer than it would have) so a running dictation is not cut off.
        Returns (new token, new row, old row), or None when there is no such token; a
        revoked token cannot be rotated (ValueError)."""
        with self._write() as conn:
            old = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()
            if old is None:
                return None
            if old["revoked_at"] is not None:
                raise ValueError(f"token {token_id} is revoked; create a new token instead")
            life = timedelta(days=DEFAULT_TOKEN_DAYS[old["role"]]) if lifetime is None else lifetime
            token, new = self._insert_token(conn, name=old["name"], role=old["role"], created_by=created_by,
                                            lifetime=life)
            ends = utcnow() + grace
            if old["expires_at"] is not None:
                ends = min(ends, old["expires_at"])
            conn.execute(sa.update(api_tokens).where(api_tokens.c.id == token_id)
                         .values(expires_at=ends, rotated_to=new["id"]))
            self._bump_epoch(conn)
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()
        return token, new, self._token_out(row)

    # -- browser sessions (a page's URL token exchanged for an HttpOnly cookie) ---------------
    def create_web_session(self, token_id: int, *, lifetime: timedelta) -> tuple[str, datetime]:
        """A session secret (shown only now; stored as sha256) standing for the token, ending
        after ``lifetime`` or when the token does, whichever comes first."""
        secret = secrets.token_urlsafe(32)
        now = utcnow()
        with self._write() as conn:
            token_ends = conn.execute(sa.select(api_tokens.c.expires_at).where(api_tokens.c.id == token_id)
                                      ).scalar_one_or_none()
            ends = now + lifetime if token_ends is None else min(now + lifetime, token_ends)
            conn.execute(sa.delete(web_sessions).where(web_sessions.c.expires_at < now))   # housekeeping
            conn.execute(sa.insert(web_sessions).values(secret_hash=hash_token(secret), token_id=token_id,
                                                        created_at=now, expires_at=ends))
        return secret, ends

    def session_status(self, secret: str | None) -> tuple[Principal | None, str]:
        """Like ``token_status`` for a session secret: the token's principal and status (a
        revoked or expired token ends its sessions), "expired" once the session ended."""
        if not secret or len(secret) > 100:
            return None, TOKEN_UNKNOWN
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.role,
                                         api_tokens.c.revoked_at, api_tokens.c.expires_at,
                                         web_sessions.c.expires_at.label("session_ends"))
                               .join(api_tokens, api_tokens.c.id == web_sessions.c.token_id)
                               .where(web_sessions.c.secret_hash == hash_token(secret))).first()
        if row is None:
            return None, TOKEN_UNKNOWN
        ends = row.session_ends if row.expires_at is None else min(row.session_ends, row.expires_at)
        who = Principal(row.id, row.name, row.role, ends)
        return who, self._status(row.revoked_at, ends)

    def end_web_session(self, secret: str) -> None:
        with self._write() as conn:
            conn.execute(sa.delete(web_sessions).where(web_sessions.c.secret_hash == hash_token(secret)))

    def count_tokens(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(api_tokens)).scalar_one()

    @staticmethod
    def _token_out(row: Mapping[Any, Any]) -> dict:
        return {"id": row["id"], "name": row["name"], "role": row["role"], "prefix": row["prefix"],
                "created_at": iso(row["created_at"]), "created_by": row["created_by"],
                "revoked_at": iso(row.get("revoked_at")), "expires_at": iso(row.get("expires_at")),
                "rotated_to": row.get("rotated_to"),
                "active": Store._status(row.get("revoked_at"), row.get("expires_at")) == TOKEN_OK}

    # -- dictations: the hot path -------------------------------------------------------------
    def create_dictation(self, *, dictation_id: str, owner: str, encounter: dict) -> str:
        """The dictation row, its codes and event 1 (``start``), in one transaction; returns
        the service's key of the dictation. ``dictation_id`` is the owner's id for it (its
        ``ref``): taken by the same owner, DictationExists; taken by another owner, the
        dictation gets a key of its own and nothing tells the caller (issue 14, item 4)."""
        for key in (dictation_id, None, None):
            key = key or f"{dictation_id[:47]}.{secrets.token_hex(8)}"
            now = utcnow()
            try:
                with self._write() as conn:
                    conn.execute(sa.insert(dictations).values(
                        id=key, ref=dictation_id, owner=owner, provider=encounter.get("provider") or owner,
                        encounter=encounter, status="open", created_at=now, updated_at=now, version=1))
                    self._write_codes(conn, key, encounter)
                    conn.execute(sa.insert(events).values(dictation_id=key, n=1, kind="start", seq=None,
                                                          payload={"encounter": encounter}, created_at=now))
                return key
            except IntegrityError:
                if self.find_dictation(owner=owner, ref=dictation_id) is not None:
                    raise DictationExists(dictation_id) from None
        raise DictationExists(dictation_id)

    def find_dictation(self, *, owner: str, ref: str) -> str | None:
        """The key of ``owner``'s dictation ``ref``, or None (another owner's counts as none)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(dictations.c.id).where(dictations.c.owner == owner,
                                                                 dictations.c.ref == ref)).scalar_one_or_none()

    def append_event(self, *, dictation_id: str, n: int, kind: str, seq: int | None, payload: dict,
                     owner: str | None = None, conn=None) -> None:
        """Event ``n`` of a dictation; a ``context`` event also updates the current encounter.
        With ``conn`` (a ``dictation_tx``) it is written in that transaction."""
        if conn is None:
            with self._write() as own:
                self._append(own, dictation_id, n, kind, seq, payload, owner)
        else:
            self._append(conn, dictation_id, n, kind, seq, payload, owner)

    def _append(self, conn, dictation_id: str, n: int, kind: str, seq: int | None, payload: dict,
                owner: str | None) -> None:
        now = utcnow()
        values = {"d": dictation_id, "n": n, "kind": kind, "seq": seq, "payload": payload, "at": now}
        if kind == "context":
            encounter = payload["encounter"]
            conn.execute(_INSERT_EVENT, values)
            conn.execute(sa.update(dictations).where(dictations.c.id == dictation_id).values(
                encounter=encounter, provider=encounter.get("provider") or owner, updated_at=now,
                version=dictations.c.version + 1))
            conn.execute(sa.delete(dictation_codes).where(dictation_codes.c.dictation_id == dictation_id))
            self._write_codes(conn, dictation_id, encounter)
        elif conn.dialect.name == "postgresql":     # one statement: WITH bump AS (UPDATE ...) INSERT ...
            conn.execute(_INSERT_EVENT_BUMP, values)
        else:
            conn.execute(_INSERT_EVENT, values)
            conn.execute(_BUMP, {"d": dictation_id})

    def set_partial(self, *, dictation_id: str, seq: int, text: str, conn=None) -> None:
        values = {"d": dictation_id, "seq": seq, "text": text}
        if conn is None:
            with self._write() as own:
                own.execute(_SET_PARTIAL, values)
        else:
            conn.execute(_SET_PARTIAL, values)

    # -- several processes on one database (PostgreSQL) ------------------------------------------
    @contextlib.contextmanager
    def dictation_tx(self, dictation_id: str, *, lock: bool):
        """A transaction on one dictation: yields (connection, its row's ``status``, ``owner``,
        ``version``, ``partial_seq`` and ``partial_text``; None when there is no such
        dictation). With ``lock`` the row is locked until commit (``SELECT ... FOR UPDATE``),
        so the changes of one dictation are applied one at a time whichever process receives
        them; a statement that waited for the lock reads the row as the other left it."""
        with self.engine.begin() as conn:
            row = conn.execute(_VERSION_LOCKED if lock else _VERSION, {"d": dictation_id}).mappings().first()
            yield conn, (None if row is None else dict(row))

    @staticmethod
    def events_after(conn, dictation_id: str, n: int) -> list[dict]:
        """The dictation's events after event ``n``, in order."""
        rows = conn.execute(sa.select(events.c.n, events.c.kind, events.c.seq, events.c.payload)
                            .where(events.c.dictation_id == dictation_id, events.c.n > n)
                            .order_by(events.c.n)).mappings().all()
        return [dict(e) for e in rows]

    def notify_change(self, dictation_id: str, origin: str) -> None:
        """Tell the other processes that ``dictation_id`` changed (call it after the change
        committed); ``origin`` names this process, which ignores its own notifications.

        A transaction of its own, committed without waiting for the disk: PostgreSQL holds one
        lock for every notifying transaction from its commit until the commit is flushed, so
        a NOTIFY in the transaction of the change would line every change of every dictation
        up behind one disk flush at a time. The notification itself needs no durability
        (what it announces is already committed; a lost one is caught up by the next)."""
        with self.engine.begin() as conn:
            conn.execute(sa.select(sa.func.set_config("synchronous_commit", "off", True),
                                   sa.func.pg_notify(CHANGES_CHANNEL, f"{origin}:{dictation_id}")))

    def issue_ticket(self, ticket_hash: str, *, token_id: int, expires_at: datetime) -> None:
        """A one-time WebSocket ticket any process can redeem (expired ones are cleared)."""
        with self._write() as conn:
            conn.execute(sa.delete(ws_tickets).where(ws_tickets.c.expires_at < utcnow()))
            conn.execute(sa.insert(ws_tickets).values(ticket_hash=ticket_hash, token_id=token_id,
                                                      expires_at=expires_at))

    def redeem_ticket(self, ticket_hash: str) -> int | None:
        """The token id of a ticket not yet used nor past its deadline; using it deletes it
        (one statement: two processes redeeming the same ticket cannot both succeed)."""
        with self._write() as conn:
            row = conn.execute(sa.delete(ws_tickets).where(ws_tickets.c.ticket_hash == ticket_hash)
                               .returning(ws_tickets.c.token_id, ws_tickets.c.expires_at)).first()
        if row is None or utcnow() > row.expires_at:
            return None
        return row.token_id

    @staticmethod
    def _write_codes(conn, dictation_id: str, encounter: Mapping[str, Any]) -> None:
        rows = [{"dictation_id": dictation_id, "kind": k, "code": c} for k, c in encounter_codes(encounter)]
        if rows:
            conn.execute(sa.insert(dictation_codes), rows)

    def load(self, dictation_id: str) -> tuple[dict, list[dict]] | None:
        """The dictation row and its events in order, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(dictations).where(dictations.c.id == dictation_id)).mappings().first()
            if row is None:
                return None
            evs = conn.execute(sa.select(events.c.n, events.c.kind, events.c.seq, events.c.payload)
                               .where(events.c.dictation_id == dictation_id).order_by(events.c.n)).mappings().all()
        return dict(row), [dict(e) for e in evs]

    def dictation_row(self, dictation_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(dictations).where(dictations.c.id == dictation_id)).mappings().first()
        return None if row is None else dict(row)

    def finalize(self, *, dictation_id: str, n: int, final_text: str, open_gaps: Sequence[Mapping[str, Any]],
                 last_seq: int | None, conn=None) -> datetime:
        """Event ``n`` (finalize), the text snapshot, the open gaps as rows: one transaction
        (``conn``'s, when given)."""
        now = utcnow()
        counts = {s: sum(1 for g in open_gaps if g["severity"] == s) for s in SEVERITIES}
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(self._write())
            conn.execute(sa.insert(events).values(dictation_id=dictation_id, n=n, kind="finalize", seq=last_seq,
                                                  payload={"open_gaps": len(open_gaps)}, created_at=now))
            conn.execute(sa.update(dictations).where(dictations.c.id == dictation_id).values(
                status="finalized", finalized_at=now, finalized_week=week_of(now), updated_at=now,
                version=dictations.c.version + 1,
                final_text=final_text, partial_seq=None, partial_text=None, open_errors=counts["error"],
                open_warnings=counts["warning"], open_infos=counts["info"],
                clean=counts["error"] == 0 and counts["warning"] == 0))
            if open_gaps:
                conn.execute(sa.insert(gaps), [self._gap_row(dictation_id, g, now) for g in open_gaps])
        return now

    @staticmethod
    def _gap_row(dictation_id: str, gap: Mapping[str, Any], now: datetime) -> dict:
        return {"dictation_id": dictation_id, "code": gap["code"], "severity": gap["severity"],
                "rule_id": gap.get("rule_id") or "", "cpt": gap.get("cpt"), "icd10": gap.get("icd10"),
                "message": gap.get("message") or "", "fix": gap.get("fix") or "", "source": gap.get("source") or "",
                "evidence": gap.get("evidence") or [], "status": "open", "queried": False, "updated_at": now}

    # -- open dictations: reopen, discard, the ones left open ---------------------------------
    def open_dictations(self, *, owner: str | None = None, idle_before: datetime | None = None,
                        words: int = 12, limit: int = 100) -> list[dict]:
        """Open dictations that hold text (final or pending partial), newest activity first, each
        with its first ``words`` words (note text: callers audit the read). ``owner``: only that
        physician's; ``idle_before``: only those with no change since that time (left open)."""
        from .hub import replay      # the event log's meaning lives in the hub

        last = (sa.select(events.c.dictation_id, sa.func.max(events.c.created_at).label("last_at"))
                .group_by(events.c.dictation_id).subquery("last"))
        q = (sa.select(dictations, last.c.last_at).join(last, last.c.dictation_id == dictations.c.id)
             .where(dictations.c.status == "open"))
        if owner is not None:
            q = q.where(dictations.c.owner == owner)
        if idle_before is not None:
            q = q.where(last.c.last_at < idle_before)
        q = q.order_by(last.c.last_at.desc(), dictations.c.id).limit(limit)
        out = []
        with self.engine.connect() as conn:
            for row in conn.execute(q).mappings().all():
                evs = conn.execute(sa.select(events.c.n, events.c.kind, events.c.seq, events.c.payload)
                                   .where(events.c.dictation_id == row["id"]).order_by(events.c.n)).mappings().all()
                r = replay([dict(e) for e in evs], row["partial_seq"], row["partial_text"])
                text = r["text"] + (r["partial"][1] if r["partial"] else "")
                if not text.strip():
                    continue          # opened and left empty: nothing to reopen or lose
                first = text.split()
                out.append({**self.summary(row), "last_activity_at": iso(row["last_at"]),
                            "first_words": " ".join(first[:words]) + (" \u2026" if len(first) > words else ""),
                            "characters": len(text)})
        return out

    def discard(self, *, dictation_id: str, owner: str) -> bool:
        """Discard an open dictation of ``owner`` (status ``discarded``; its events stay, as
        a record); False when there is no such open dictation."""
        now = utcnow()
        with self._write() as conn:
            done = conn.execute(sa.update(dictations).where(dictations.c.id == dictation_id,
                                                            dictations.c.owner == owner,
                                                            dictations.c.status == "open")
                                .values(status="discarded", updated_at=now, partial_seq=None,
                                        partial_text=None, version=dictations.c.version + 1)).rowcount
            if done:
                n = conn.execute(sa.select(sa.func.max(events.c.n)).where(events.c.dictation_id == dictation_id)
                                 ).scalar_one() or 0
                conn.execute(sa.insert(events).values(dictation_id=dictation_id, n=n + 1, kind="discard", seq=None,
                                                      payload={}, created_at=now))
        return bool(done)

    # -- dictations: reading -----------------------------------------------------------------
    def list_dictations(self, *, owner: str | None, status: str | None, limit: int, offset: int) -> list[dict]:
        q = sa.select(dictations.c.id, dictations.c.ref, dictations.c.owner, dictations.c.provider,
                      dictations.c.encounter, dictations.c.status, dictations.c.created_at, dictations.c.updated_at,
                      dictations.c.finalized_at, dictations.c.open_errors, dictations.c.open_warnings,
                      dictations.c.open_infos)
        if owner is not None:
            q = q.where(dictations.c.owner == owner)
        if status:
            q = q.where(dictations.c.status == status)
        q = q.order_by(dictations.c.created_at.desc(), dictations.c.id.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [self.summary(r) for r in rows]

    def count_dictations(self, *, not_prefixed: str | None = None) -> int:
        """How many dictations exist (whose id does not start with ``not_prefixed``)."""
        q = sa.select(sa.func.count()).select_from(dictations)
        if not_prefixed:
            q = q.where(~dictations.c.id.startswith(not_prefixed, autoescape=True))
        with self.engine.connect() as conn:
            return conn.execute(q).scalar_one()

    @staticmethod
    def summary(r: Mapping[Any, Any]) -> dict:
        out = {"dictation_id": r["id"], "ref": r.get("ref") or r["id"], "owner": r["owner"], "provider": r["provider"],
               "encounter": r["encounter"], "lines": lines_of(r["encounter"]),
               "status": r["status"], "created_at": iso(r["created_at"]), "updated_at": iso(r["updated_at"]),
               "finalized_at": iso(r["finalized_at"])}
        if r["status"] == "finalized":
            out["open_at_finalize"] = {"error": r["open_errors"], "warning": r["open_warnings"],
                                       "info": r["open_infos"]}
        return out

    def gaps_of(self, dictation_id: str) -> list[dict]:
        """The dictation's gaps (as stored at finalize) with their current status and actions."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(gaps).where(gaps.c.dictation_id == dictation_id)
                                .order_by(gaps.c.id)).mappings().all()
            acts = conn.execute(sa.select(gap_actions).where(gap_actions.c.dictation_id == dictation_id)
                                .order_by(gap_actions.c.id)).mappings().all()
        by_gap: dict[int, list[dict]] = defaultdict(list)
        for a in acts:
            by_gap[a["gap_id"]].append(self._action_out(a))
        return [self._gap_out(g, by_gap.get(g["id"], [])) for g in rows]

    def addenda(self, dictation_id: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(gap_actions).where(gap_actions.c.dictation_id == dictation_id,
                                                             gap_actions.c.action == "resolve",
                                                             gap_actions.c.text.is_not(None))
                                .order_by(gap_actions.c.id)).mappings().all()
        return [{"gap_id": a["gap_id"], "text": a["text"], "by": a["actor_name"], "at": iso(a["at"])} for a in rows]

    @staticmethod
    def _gap_out(g: Mapping[Any, Any], actions: list[dict]) -> dict:
        out = {"id": g["id"], "code": g["code"], "severity": g["severity"], "rule_id": g["rule_id"],
               "message": g["message"], "fix": g["fix"], "source": g["source"], "evidence": g["evidence"],
               "status": g["status"], "queried": g["queried"], "actions": actions}
        for key in ("cpt", "icd10"):
            if g[key]:
                out[key] = g[key]
        return out

    @staticmethod
    def _action_out(a: Mapping[Any, Any]) -> dict:
        return {"id": a["id"], "gap_id": a["gap_id"], "action": a["action"], "reason": a["reason"],
                "text": a["text"], "by": a["actor_name"], "role": a["actor_role"], "at": iso(a["at"])}

    def gap(self, gap_id: int) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(gaps).where(gaps.c.id == gap_id)).mappings().first()
        return None if row is None else dict(row)

    def queries_for(self, owner: str) -> list[dict]:
        """Pending queries to the physician ``owner``: the gap and the question, no note text."""
        q = (sa.select(gap_actions.c.id, gap_actions.c.gap_id, gap_actions.c.dictation_id, gap_actions.c.text,
                       gap_actions.c.actor_name, gap_actions.c.at, gaps.c.code, gaps.c.severity, gaps.c.message)
             .join(gaps, gaps.c.id == gap_actions.c.gap_id)
             .join(dictations, dictations.c.id == gap_actions.c.dictation_id)
             .where(dictations.c.owner == owner, gap_actions.c.action == "query", gaps.c.queried.is_(True),
                    gaps.c.status == "open")
             .order_by(gap_actions.c.at.desc(), gap_actions.c.id.desc()))
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [{"query_id": r["id"], "gap_id": r["gap_id"], "dictation_id": r["dictation_id"],
                 "question": r["text"], "by": r["actor_name"], "at": iso(r["at"]), "gap_code": r["code"],
                 "severity": r["severity"], "gap_message": r["message"]} for r in rows]

    def answer_query(self, *, query_id: int, actor: Principal, text: str) -> dict | None:
        """The physician ``actor`` answers query ``query_id`` about a gap of their own dictation:
        an ``answer`` action on the gap (its reason names the query), the gap no longer marked
        queried (it stays open for the scribe). None when there is no such pending query."""
        now = utcnow()
        with self._write() as conn:
            q = conn.execute(sa.select(gap_actions.c.gap_id, gap_actions.c.dictation_id)
                             .join(gaps, gaps.c.id == gap_actions.c.gap_id)
                             .join(dictations, dictations.c.id == gap_actions.c.dictation_id)
                             .where(gap_actions.c.id == query_id, gap_actions.c.action == "query",
                                    dictations.c.owner == actor.name)).first()
            if q is None:
                return None
            answered = conn.execute(sa.select(gap_actions.c.id).where(gap_actions.c.action == "answer",
                                                                      gap_actions.c.reason == f"query:{query_id}")
                                    ).first()
            done = conn.execute(sa.update(gaps).where(gaps.c.id == q.gap_id, gaps.c.status == "open",
                                                      gaps.c.queried.is_(True))
                                .values(queried=False, updated_at=now)).rowcount
            if answered is not None or not done:
                return None
            conn.execute(sa.insert(gap_actions).values(
                gap_id=q.gap_id, dictation_id=q.dictation_id, action="answer", reason=f"query:{query_id}", text=text,
                actor_token_id=actor.token_id, actor_name=actor.name, actor_role=actor.role, at=now))
        return {"query_id": query_id, "gap_id": q.gap_id, "dictation_id": q.dictation_id, "answer": text,
                "at": iso(now)}

    # -- review actions ----------------------------------------------------------------------
    def record_action(self, *, gap_id: int, dictation_id: str, action: str, actor: Principal,
                      reason: str | None = None, text: str | None = None,
                      also_resolved: Iterable[int] = ()) -> dict | None:
        """Store the action and the gap's new status; None when the gap is no longer open
        (a concurrent action won: the status check and the update are one statement)."""
        now = utcnow()
        changes: dict[str, dict[str, Any]] = {"resolve": {"status": "resolved", "queried": False},
                                              "dismiss": {"status": "dismissed", "queried": False},
                                              "query": {"queried": True}}
        new = changes[action]
        with self._write() as conn:
            done = conn.execute(sa.update(gaps).where(gaps.c.id == gap_id, gaps.c.status == "open")
                                .values(updated_at=now, **new)).rowcount
            if not done:
                return None
            rows = [{"gap_id": gap_id, "dictation_id": dictation_id, "action": action, "reason": reason, "text": text,
                     "actor_token_id": actor.token_id, "actor_name": actor.name, "actor_role": actor.role, "at": now}]
            for other in also_resolved:
                hit = conn.execute(sa.update(gaps).where(gaps.c.id == other, gaps.c.status == "open")
                                   .values(updated_at=now, status="resolved", queried=False)).rowcount
                if hit:
                    rows.append({**rows[0], "gap_id": other, "text": None, "reason": f"addendum:{gap_id}"})
            conn.execute(sa.insert(gap_actions), rows)
        return {"gap_id": gap_id, "action": action, "at": iso(now)}

    # -- review queue ------------------------------------------------------------------------
    def _gap_match(self, f: Filters, *, open_only: bool):
        cond = [gaps.c.dictation_id == dictations.c.id]
        if open_only:
            cond.append(gaps.c.status == "open")
        if f.gap_code:
            cond.append(gaps.c.code == f.gap_code)
        if f.severity:
            cond.append(gaps.c.severity.in_(f.severity))
        return sa.exists().where(*cond).correlate(dictations)

    @staticmethod
    def _dictation_filters(f: Filters) -> list:
        cond = [dictations.c.status == "finalized"]
        if f.provider:
            cond.append(dictations.c.provider == f.provider)
        for kind, code in (("cpt", f.cpt), ("icd10", f.icd10)):
            if code:
                # correlated on dictations only: callers also select from dictation_codes and gaps
                cond.append(sa.exists().where(dictation_codes.c.dictation_id == dictations.c.id,
                                              dictation_codes.c.kind == kind, dictation_codes.c.code == code)
                            .correlate(dictations))
        if f.date_from:
            cond.append(dictations.c.finalized_at >= datetime.combine(f.date_from, datetime.min.time()))
        if f.date_to:
            cond.append(dictations.c.finalized_at < datetime.combine(f.date_to + timedelta(days=1),
                                                                     datetime.min.time()))
        return cond

    def review_queue(self, f: Filters, *, limit: int, offset: int) -> dict:
        """Finalized dictations with at least one open gap matching ``f``, newest first."""
        where = self._dictation_filters(f) + [self._gap_match(f, open_only=True)]
        page = (sa.select(dictations.c.id, dictations.c.owner, dictations.c.provider, dictations.c.encounter,
                          dictations.c.finalized_at)
                .where(*where).order_by(dictations.c.finalized_at.desc(), dictations.c.id.desc())
                .limit(limit).offset(offset))
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(dictations).where(*where)).scalar_one()
            rows = conn.execute(page).mappings().all()
            ids = [r["id"] for r in rows]
            open_gaps = conn.execute(
                sa.select(gaps.c.id, gaps.c.dictation_id, gaps.c.code, gaps.c.severity, gaps.c.cpt, gaps.c.queried,
                          gaps.c.message)
                .where(gaps.c.dictation_id.in_(ids), gaps.c.status == "open").order_by(gaps.c.id)
            ).mappings().all() if ids else []
            answered = set(conn.execute(
                sa.select(gap_actions.c.gap_id).where(gap_actions.c.dictation_id.in_(ids),
                                                      gap_actions.c.action == "answer")).scalars()) if ids else set()
        lines = {r["id"]: lines_of(r["encounter"]) for r in rows}
        by_dictation: dict[str, list[dict]] = defaultdict(list)
        for g in open_gaps:
            by_dictation[g["dictation_id"]].append({"id": g["id"], "code": g["code"], "severity": g["severity"],
                                                    "cpt": g["cpt"], "line": line_of_gap(dict(g), lines[g["dictation_id"]]),
                                                    "queried": g["queried"], "answered": g["id"] in answered})
        items = [{"dictation_id": r["id"], "owner": r["owner"], "provider": r["provider"],
                  "encounter": r["encounter"], "lines": lines[r["id"]], "finalized_at": iso(r["finalized_at"]),
                  "open_gaps": by_dictation[r["id"]]} for r in rows]
        return {"total": total, "limit": limit, "offset": offset, "items": items}

    def in_review_queue(self, dictation_id: str, *, worked_by: str | None = None) -> bool:
        """Whether the review queue shows the dictation (finalized, at least one open gap), or
        ``worked_by`` acted on one of its gaps (the scribe who closed its last gap still sees
        the outcome): what a scribe may read."""
        where = self._dictation_filters(Filters()) + [self._gap_match(Filters(), open_only=True)]
        shown = sa.and_(*where)
        if worked_by:
            shown = sa.or_(shown, sa.exists().where(gap_actions.c.dictation_id == dictations.c.id,
                                                    gap_actions.c.actor_name == worked_by).correlate(dictations))
        with self.engine.connect() as conn:
            return conn.execute(sa.select(dictations.c.id).where(dictations.c.id == dictation_id, shown)
                                ).first() is not None

    # -- statistics (aggregates only: no note text, no evidence, no messages) ----------------
    def _is_clean(self, *, ignore_dismissed: bool):
        """A finalized dictation is clean when no error/warning gap was open at finalization;
        with ``ignore_dismissed`` a gap a reviewer dismissed (the checker was wrong, or the
        rule did not apply) does not count against it. A gap closed by an addendum does:
        the note was incomplete as dictated."""
        if not ignore_dismissed:
            return dictations.c.clean.is_(True)
        return ~sa.exists().where(gaps.c.dictation_id == dictations.c.id, gaps.c.severity.in_(RISK_SEVERITIES),
                                  gaps.c.status != "dismissed").correlate(dictations)

    def clean_share(self, f: Filters, *, by: str, ignore_dismissed: bool = False,
                    families: Mapping[str, str] | None = None) -> list[dict]:
        """Share of finalized dictations with no error/warning gap open at finalization,
        grouped by provider, CPT code, family (``families``: {cpt: family}; a dictation counts
        once in each family its codes belong to) or week; by gap code it is the share of
        dictations finalized without that (error/warning) gap open."""
        if by not in GROUPINGS:
            raise ValueError(f"'by' must be one of {', '.join(GROUPINGS)}")
        where = self._dictation_filters(f)
        is_clean = sa.case((self._is_clean(ignore_dismissed=ignore_dismissed), 1), else_=0)
        clean = sa.func.sum(is_clean)
        if by == "family":
            with self.engine.connect() as conn:
                coded = conn.execute(sa.select(dictations.c.id, dictation_codes.c.code, is_clean)
                                     .join(dictations, dictations.c.id == dictation_codes.c.dictation_id)
                                     .where(*where, dictation_codes.c.kind == "cpt")).all()
            return self._family_shares(coded, families or {})
        with self.engine.connect() as conn:
            if by == "gap_code":
                total = conn.execute(sa.select(sa.func.count()).select_from(dictations).where(*where)).scalar_one()
                with_gap = sa.func.count(sa.distinct(gaps.c.dictation_id))
                counted: list[sa.ColumnElement[bool]] = [gaps.c.severity.in_(RISK_SEVERITIES)]
                if ignore_dismissed:
                    counted.append(gaps.c.status != "dismissed")
                rows = conn.execute(
                    sa.select(gaps.c.code, with_gap).join(dictations, dictations.c.id == gaps.c.dictation_id)
                    .where(*where, *counted).group_by(gaps.c.code).order_by(gaps.c.code)).all()
                return [self._share(code, total, total - n) for code, n in rows]
            if by == "cpt":
                key = dictation_codes.c.code
                q = (sa.select(key, sa.func.count(), clean)
                     .join(dictations, dictations.c.id == dictation_codes.c.dictation_id)
                     .where(*where, dictation_codes.c.kind == "cpt"))
            else:
                key = dictations.c.provider if by == "provider" else dictations.c.finalized_week
                q = sa.select(key, sa.func.count(), clean).where(*where)
            rows = conn.execute(q.group_by(key).order_by(key)).all()
        return [self._share(k, n, int(c or 0)) for k, n, c in rows]

    @classmethod
    def _family_shares(cls, rows: Iterable[Sequence[Any]], families: Mapping[str, str]) -> list[dict]:
        """(case, CPT code, clean 0/1) rows folded into one share per family, each case once."""
        cases: dict[str, dict[Any, int]] = defaultdict(dict)
        for case, code, clean in rows:
            cases[families.get(code, UNKNOWN_FAMILY)][case] = int(clean or 0)
        return [cls._share(fam, len(seen), sum(seen.values())) for fam, seen in sorted(cases.items())]

    @staticmethod
    def _share(key: str, finalized: int, clean: int) -> dict:
        return {"key": key, "finalized": finalized, "clean": clean,
                "share": round(clean / finalized, 4) if finalized else None}

    def dismissal_rates(self, f: Filters) -> list[dict]:
        """Per gap code: gaps stored at finalization, how many were dismissed, and why."""
        where = self._dictation_filters(f)
        dismissed = sa.func.sum(sa.case((gaps.c.status == "dismissed", 1), else_=0))
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(gaps.c.code, sa.func.count(), dismissed)
                                .join(dictations, dictations.c.id == gaps.c.dictation_id)
                                .where(*where).group_by(gaps.c.code).order_by(gaps.c.code)).all()
            reasons = conn.execute(sa.select(gaps.c.code, gap_actions.c.reason, sa.func.count())
                                   .join(gaps, gaps.c.id == gap_actions.c.gap_id)
                                   .join(dictations, dictations.c.id == gaps.c.dictation_id)
                                   .where(*where, gap_actions.c.action == "dismiss")
                                   .group_by(gaps.c.code, gap_actions.c.reason)).all()
        by_code: dict[str, dict[str, int]] = defaultdict(dict)
        for code, reason, n in reasons:
            by_code[code][reason] = n
        return [{"gap_code": code, "gaps": n, "dismissed": int(d or 0),
                 "rate": round(int(d or 0) / n, 4) if n else None, "reasons": by_code.get(code, {})}
                for code, n, d in rows]

    def rule_outcomes(self, f: Filters) -> list[dict]:
        """Per rule, side by side: the review queue (gaps stored at finalization, how many
        reviewers dismissed, why) and order time (cards the CDS Hooks service answered, how
        many the EHR reported accepted or overridden, why). Both come from ``gap_actions``,
        in one vocabulary of reasons. The order-time side honours the dates (``issued_at``),
        provider, CPT (the card's code), gap code and severity filters."""
        where = self._dictation_filters(f)
        if f.gap_code:
            where.append(gaps.c.code == f.gap_code)
        if f.severity:
            where.append(gaps.c.severity.in_(f.severity))
        dismissed = sa.func.sum(sa.case((gaps.c.status == "dismissed", 1), else_=0))
        cards_where = []
        if f.provider:
            cards_where.append(cds_cards.c.provider == f.provider)
        if f.cpt:
            cards_where.append(cds_cards.c.cpt == f.cpt)
        if f.gap_code:
            cards_where.append(cds_cards.c.code == f.gap_code)
        if f.severity:
            cards_where.append(cds_cards.c.severity.in_(f.severity))
        if f.date_from:
            cards_where.append(cds_cards.c.issued_at >= datetime.combine(f.date_from, datetime.min.time()))
        if f.date_to:
            cards_where.append(cds_cards.c.issued_at < datetime.combine(f.date_to + timedelta(days=1),
                                                                        datetime.min.time()))
        # the EHR may report on a card more than once: its latest word counts
        latest = (sa.select(gap_actions.c.card_uuid, sa.func.max(gap_actions.c.id).label("last"))
                  .where(gap_actions.c.card_uuid.is_not(None), gap_actions.c.action.in_(("accept", "override")))
                  .group_by(gap_actions.c.card_uuid).subquery())
        with self.engine.connect() as conn:
            review = conn.execute(sa.select(gaps.c.rule_id, gaps.c.code, sa.func.count(), dismissed)
                                  .join(dictations, dictations.c.id == gaps.c.dictation_id)
                                  .where(*where).group_by(gaps.c.rule_id, gaps.c.code)).all()
            review_reasons = conn.execute(
                sa.select(gaps.c.rule_id, gap_actions.c.reason, sa.func.count())
                .join(gaps, gaps.c.id == gap_actions.c.gap_id)
                .join(dictations, dictations.c.id == gaps.c.dictation_id)
                .where(*where, gap_actions.c.action == "dismiss", gaps.c.status == "dismissed")
                .group_by(gaps.c.rule_id, gap_actions.c.reason)).all()
            issued = conn.execute(sa.select(cds_cards.c.rule_id, cds_cards.c.code, sa.func.count())
                                  .where(*cards_where).group_by(cds_cards.c.rule_id, cds_cards.c.code)).all()
            answered = conn.execute(
                sa.select(cds_cards.c.rule_id, gap_actions.c.action, gap_actions.c.reason, sa.func.count())
                .join(latest, latest.c.card_uuid == cds_cards.c.uuid)
                .join(gap_actions, gap_actions.c.id == latest.c.last)
                .where(*cards_where)
                .group_by(cds_cards.c.rule_id, gap_actions.c.action, gap_actions.c.reason)).all()
        out: dict[str, dict] = {}

        def row(rule: str, code: str) -> dict:
            return out.setdefault(rule, {
                "rule_id": rule, "gap_code": code,
                "review": {"gaps": 0, "dismissed": 0, "rate": None, "reasons": {}},
                "order_time": {"cards": 0, "accepted": 0, "overridden": 0, "unanswered": 0, "override_rate": None,
                               "reasons": {}}})

        for rule, code, n, d in review:
            r = row(rule, code)["review"]
            r["gaps"], r["dismissed"] = n, int(d or 0)
            r["rate"] = round(r["dismissed"] / n, 4) if n else None
        for rule, reason, n in review_reasons:
            if rule in out:
                reasons = out[rule]["review"]["reasons"]
                reasons[reason or "other"] = reasons.get(reason or "other", 0) + n
        for rule, code, n in issued:
            row(rule, code)["order_time"]["cards"] = n
        for rule, action, reason, n in answered:
            if rule not in out:
                continue
            o = out[rule]["order_time"]
            if action == "accept":
                o["accepted"] += n
            else:
                o["overridden"] += n
                o["reasons"][reason or "unstated"] = o["reasons"].get(reason or "unstated", 0) + n
        for r in out.values():
            o = r["order_time"]
            told = o["accepted"] + o["overridden"]
            o["unanswered"] = o["cards"] - told
            o["override_rate"] = round(o["overridden"] / told, 4) if told else None
        return sorted(out.values(), key=lambda r: r["rule_id"])

    def _month(self, column):
        """``column`` (a naive UTC timestamp) as YYYY-MM, in the backend's SQL."""
        if self.engine.dialect.name == "sqlite":
            return sa.func.strftime("%Y-%m", column)
        return sa.func.to_char(column, "YYYY-MM")

    def money_at_risk(self, fees: Mapping[str, float], f: Filters,
                      severities: Sequence[str] = ("error",), *, families: Mapping[str, str] | None = None) -> dict:
        """Dollars of the CPT lines that carry a gap still open (not resolved or dismissed).

        A gap naming a CPT code puts that line at risk; a gap naming none puts every CPT
        line of its dictation at risk; a line counts once however many gaps it has (once
        per gap code in ``by_gap_code``). SQL counts the (dictation, CPT) lines per code
        and per provider, month (of finalization, UTC) or gap code; ``fees`` ({cpt:
        dollars}) prices them. A line whose code has no fee is counted as unpriced. With a
        CPT filter only the lines of that code count.
        """
        where = self._dictation_filters(f) + [gaps.c.status == "open", gaps.c.severity.in_(tuple(severities))]
        if f.gap_code:
            where.append(gaps.c.code == f.gap_code)
        extra = (dictations.c.provider.label("provider"), self._month(dictations.c.finalized_at).label("month"))
        named = (sa.select(gaps.c.dictation_id, gaps.c.cpt.label("cpt"), gaps.c.code, *extra)
                 .join(dictations, dictations.c.id == gaps.c.dictation_id).where(*where, gaps.c.cpt.is_not(None)))
        whole = (sa.select(gaps.c.dictation_id, dictation_codes.c.code.label("cpt"), gaps.c.code, *extra)
                 .join(dictations, dictations.c.id == gaps.c.dictation_id)
                 .join(dictation_codes, sa.and_(dictation_codes.c.dictation_id == gaps.c.dictation_id,
                                                dictation_codes.c.kind == "cpt"))
                 .where(*where, gaps.c.cpt.is_(None)))
        if f.cpt:       # only the lines of that code
            named, whole = named.where(gaps.c.cpt == f.cpt), whole.where(dictation_codes.c.code == f.cpt)
        pairs = sa.union_all(named, whole).subquery("pairs")
        lines = sa.func.count(sa.distinct(pairs.c.dictation_id))

        def per(*keys):
            return conn.execute(sa.select(*keys, pairs.c.cpt, lines).group_by(*keys, pairs.c.cpt)).all()

        with self.engine.connect() as conn:
            per_cpt = conn.execute(sa.select(pairs.c.cpt, lines).group_by(pairs.c.cpt)).all()
            per_gap, per_provider, per_month = per(pairs.c.code), per(pairs.c.provider), per(pairs.c.month)

        return priced_lines(fees, severities, per_cpt, gap_code=per_gap, provider=per_provider, month=per_month,
                            family=family_rows(per_cpt, families or {}))

    def facets(self, f: Filters = Filters(), *, open_only: bool) -> dict:
        """The providers, CPT codes and gap codes that occur among finalized dictations
        (with ``open_only``: those in the review queue), and the first and last
        finalization time, for filter menus. Codes and names only."""
        where = self._dictation_filters(f)
        gap_cond = [gaps.c.dictation_id == dictations.c.id]
        if open_only:
            gap_cond.append(gaps.c.status == "open")
            where.append(sa.exists().where(*gap_cond).correlate(dictations))
        with self.engine.connect() as conn:
            providers = conn.execute(sa.select(dictations.c.provider).where(*where).distinct()
                                     .order_by(dictations.c.provider)).scalars().all()
            cpts = conn.execute(sa.select(dictation_codes.c.code)
                                .join(dictations, dictations.c.id == dictation_codes.c.dictation_id)
                                .where(*where, dictation_codes.c.kind == "cpt").distinct()
                                .order_by(dictation_codes.c.code)).scalars().all()
            codes = conn.execute(sa.select(gaps.c.code).join(dictations, dictations.c.id == gaps.c.dictation_id)
                                 .where(*where, *gap_cond[1:]).distinct().order_by(gaps.c.code)).scalars().all()
            first, last = conn.execute(sa.select(sa.func.min(dictations.c.finalized_at),
                                                 sa.func.max(dictations.c.finalized_at)).where(*where)).one()
        return {"providers": list(providers), "cpt": list(cpts), "gap_codes": list(codes),
                "severities": list(SEVERITIES), "first_finalized_at": iso(first), "last_finalized_at": iso(last)}

    # -- retrospective audits (`scribe audit` results, loaded by `scribe audit-load`) ----------
    # Their own tables: an audit's cases are never counted with live dictations; every query
    # names one audit. Aggregates only: no note text, message or evidence is loaded.
    def load_audit(self, *, run_id: str, name: str, source: str, loaded_by: str, date_from: date | None,
                   date_to: date | None, errors: int, partitions: Iterable[tuple[list[dict], list[dict]]],
                   replace: bool = False) -> dict:
        """Load an audit's cases and gaps in one transaction (all or nothing). ``partitions``
        yields (cases, gaps) row lists; a case row has row, case_id, provider, service_date,
        clean, open_errors/warnings/infos, cpt and icd10 (lists); a gap row has row, code,
        severity, rule_id, cpt, line, icd10. ``run_id`` (the results' manifest) is loaded once
        unless ``replace``. Returns the audit's row."""
        now = utcnow()
        with self._write() as conn:
            existing = conn.execute(sa.select(audits.c.id).where(audits.c.run_id == run_id)).scalar()
            if existing is not None:
                if not replace:
                    raise AuditExists(existing)
                conn.execute(sa.delete(audits).where(audits.c.id == existing))
            audit_id = conn.execute(sa.insert(audits).values(
                run_id=run_id, name=name, source=source, date_from=date_from, date_to=date_to, loaded_at=now,
                loaded_by=loaded_by, cases=0, errors=errors, clean=0).returning(audits.c.id)).scalar_one()
            cases = clean = 0
            first, last = date_from, date_to
            for case_rows, gap_rows in partitions:
                if case_rows:
                    conn.execute(sa.insert(audit_cases), [
                        {"audit_id": audit_id, "row": c["row"], "case_id": c["case_id"], "provider": c["provider"] or "",
                         "service_date": c["service_date"], "clean": c["clean"], "open_errors": c["open_errors"],
                         "open_warnings": c["open_warnings"], "open_infos": c["open_infos"]} for c in case_rows])
                    codes = [{"audit_id": audit_id, "row": c["row"], "kind": kind, "code": code}
                             for c in case_rows for kind in ("cpt", "icd10") for code in dict.fromkeys(c[kind])]
                    if codes:
                        conn.execute(sa.insert(audit_case_codes), codes)
                    cases += len(case_rows)
                    clean += sum(1 for c in case_rows if c["clean"])
                    dates = [c["service_date"] for c in case_rows if c["service_date"] is not None]
                    if dates and date_from is None:
                        first = min(dates) if first is None else min(first, min(dates))
                    if dates and date_to is None:
                        last = max(dates) if last is None else max(last, max(dates))
                if gap_rows:
                    conn.execute(sa.insert(audit_gaps), [{"audit_id": audit_id, **g} for g in gap_rows])
            conn.execute(sa.update(audits).where(audits.c.id == audit_id).values(
                cases=cases, clean=clean, date_from=first, date_to=last))
        found = self.audit_run(audit_id)
        assert found is not None
        return found

    @staticmethod
    def _audit_out(r: Mapping[Any, Any]) -> dict:
        return {"id": r["id"], "name": r["name"], "source": r["source"],
                "date_from": r["date_from"].isoformat() if r["date_from"] else None,
                "date_to": r["date_to"].isoformat() if r["date_to"] else None,
                "loaded_at": iso(r["loaded_at"]), "loaded_by": r["loaded_by"], "cases": r["cases"],
                "errors": r["errors"], "clean": r["clean"],
                "share": round(r["clean"] / r["cases"], 4) if r["cases"] else None}

    def audit_runs(self) -> list[dict]:
        """Every loaded audit, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(audits).order_by(audits.c.loaded_at.desc(), audits.c.id.desc())).mappings()
            return [self._audit_out(r) for r in rows]

    def audit_run(self, audit_id: int) -> dict | None:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(audits).where(audits.c.id == audit_id)).mappings().first()
        return None if r is None else self._audit_out(r)

    def delete_audit(self, audit_id: int) -> bool:
        with self._write() as conn:
            return bool(conn.execute(sa.delete(audits).where(audits.c.id == audit_id)).rowcount)

    def _audit_filters(self, audit_id: int, f: Filters) -> list:
        cond = [audit_cases.c.audit_id == audit_id]
        if f.provider:
            cond.append(audit_cases.c.provider == f.provider)
        for kind, code in (("cpt", f.cpt), ("icd10", f.icd10)):
            if code:
                cond.append(sa.exists().where(audit_case_codes.c.audit_id == audit_cases.c.audit_id,
                                              audit_case_codes.c.row == audit_cases.c.row,
                                              audit_case_codes.c.kind == kind, audit_case_codes.c.code == code)
                            .correlate(audit_cases))
        return cond

    def audit_clean_share(self, audit_id: int, f: Filters, *, by: str,
                          families: Mapping[str, str] | None = None) -> list[dict]:
        """An audit's completeness (cases with no error/warning gap) by provider, CPT code or
        family (``families``: {cpt: family}; a case counts once per family); by gap code, the
        share of its cases without that (error/warning) gap. ``f``'s provider and codes apply;
        its dates do not (an audit has its own date range)."""
        if by not in AUDIT_GROUPINGS:
            raise ValueError(f"'by' must be one of {', '.join(AUDIT_GROUPINGS)}")
        where = self._audit_filters(audit_id, f)
        is_clean = sa.case((audit_cases.c.clean.is_(True), 1), else_=0)
        clean = sa.func.sum(is_clean)
        if by == "family":
            with self.engine.connect() as conn:
                coded = conn.execute(sa.select(audit_cases.c.row, audit_case_codes.c.code, is_clean)
                                     .join(audit_cases, sa.and_(audit_cases.c.audit_id == audit_case_codes.c.audit_id,
                                                                audit_cases.c.row == audit_case_codes.c.row))
                                     .where(*where, audit_case_codes.c.kind == "cpt")).all()
            return self._family_shares(coded, families or {})
        with self.engine.connect() as conn:
            if by == "gap_code":
                total = conn.execute(sa.select(sa.func.count()).select_from(audit_cases).where(*where)).scalar_one()
                with_gap = sa.func.count(sa.distinct(audit_gaps.c.row))
                rows = conn.execute(
                    sa.select(audit_gaps.c.code, with_gap)
                    .join(audit_cases, sa.and_(audit_cases.c.audit_id == audit_gaps.c.audit_id,
                                               audit_cases.c.row == audit_gaps.c.row))
                    .where(*where, audit_gaps.c.severity.in_(RISK_SEVERITIES))
                    .group_by(audit_gaps.c.code).order_by(audit_gaps.c.code)).all()
                return [self._share(code, total, total - n) for code, n in rows]
            if by == "cpt":
                key = audit_case_codes.c.code
                q = (sa.select(key, sa.func.count(), clean)
                     .join(audit_cases, sa.and_(audit_cases.c.audit_id == audit_case_codes.c.audit_id,
                                                audit_cases.c.row == audit_case_codes.c.row))
                     .where(*where, audit_case_codes.c.kind == "cpt"))
            else:
                key = audit_cases.c.provider
                q = sa.select(key, sa.func.count(), clean).where(*where)
            rows = conn.execute(q.group_by(key).order_by(key)).all()
        return [self._share(k, n, int(c or 0)) for k, n, c in rows]

    def audit_money_at_risk(self, audit_id: int, fees: Mapping[str, float], f: Filters,
                            severities: Sequence[str] = ("error",), *,
                            families: Mapping[str, str] | None = None) -> dict:
        """An audit's money at risk, counted as for live dictations (``money_at_risk``): a gap
        naming a CPT code puts that line at risk, one naming none every CPT line of its case; a
        line counts once (once per gap code in ``by_gap_code``); months are the cases' dates."""
        where = self._audit_filters(audit_id, f) + [audit_gaps.c.severity.in_(tuple(severities))]
        if f.gap_code:
            where.append(audit_gaps.c.code == f.gap_code)
        on_case = sa.and_(audit_cases.c.audit_id == audit_gaps.c.audit_id, audit_cases.c.row == audit_gaps.c.row)
        extra = (audit_cases.c.provider.label("provider"), self._month(audit_cases.c.service_date).label("month"))
        named = (sa.select(audit_gaps.c.row, audit_gaps.c.cpt.label("cpt"), audit_gaps.c.code, *extra)
                 .join(audit_cases, on_case).where(*where, audit_gaps.c.cpt.is_not(None)))
        whole = (sa.select(audit_gaps.c.row, audit_case_codes.c.code.label("cpt"), audit_gaps.c.code, *extra)
                 .join(audit_cases, on_case)
                 .join(audit_case_codes, sa.and_(audit_case_codes.c.audit_id == audit_gaps.c.audit_id,
                                                 audit_case_codes.c.row == audit_gaps.c.row,
                                                 audit_case_codes.c.kind == "cpt"))
                 .where(*where, audit_gaps.c.cpt.is_(None)))
        if f.cpt:
            named, whole = named.where(audit_gaps.c.cpt == f.cpt), whole.where(audit_case_codes.c.code == f.cpt)
        pairs = sa.union_all(named, whole).subquery("pairs")
        lines = sa.func.count(sa.distinct(pairs.c.row))
        with self.engine.connect() as conn:
            def per(*keys):
                return conn.execute(sa.select(*keys, pairs.c.cpt, lines).group_by(*keys, pairs.c.cpt)).all()

            per_cpt = conn.execute(sa.select(pairs.c.cpt, lines).group_by(pairs.c.cpt)).all()
            per_gap, per_provider = per(pairs.c.code), per(pairs.c.provider)
            per_month = [(m or "undated", cpt, n) for m, cpt, n in per(pairs.c.month)]
        return priced_lines(fees, severities, per_cpt, gap_code=per_gap, provider=per_provider, month=per_month,
                            family=family_rows(per_cpt, families or {}))

    # -- demo data ---------------------------------------------------------------------------
    def backdate(self, dictation_id: str, *, finalized_at: datetime, reviewed_at: datetime | None = None,
                 dictated_minutes: float = 6.0) -> None:
        """Demo data only (``scribe serve --demo``): move a finalized dictation back in
        time: its events over the ``dictated_minutes`` before ``finalized_at``, its review
        actions to ``reviewed_at`` (default: an hour after finalization)."""
        reviewed_at = reviewed_at or finalized_at + timedelta(hours=1)
        started = finalized_at - timedelta(minutes=dictated_minutes)
        with self._write() as conn:
            numbers = conn.execute(sa.select(events.c.n).where(events.c.dictation_id == dictation_id)
                                   .order_by(events.c.n)).scalars().all()
            for i, n in enumerate(numbers):
                at = started + (finalized_at - started) * (i / max(1, len(numbers) - 1))
                conn.execute(sa.update(events).where(events.c.dictation_id == dictation_id, events.c.n == n)
                             .values(created_at=at))
            acted = conn.execute(sa.select(gap_actions.c.id).where(gap_actions.c.dictation_id == dictation_id)
                                 ).first() is not None
            conn.execute(sa.update(dictations).where(dictations.c.id == dictation_id).values(
                created_at=started, finalized_at=finalized_at, finalized_week=week_of(finalized_at),
                updated_at=reviewed_at if acted else finalized_at))
            conn.execute(sa.update(gaps).where(gaps.c.dictation_id == dictation_id, gaps.c.status == "open",
                                               gaps.c.queried.is_(False)).values(updated_at=finalized_at))
            conn.execute(sa.update(gaps).where(gaps.c.dictation_id == dictation_id,
                                               sa.or_(gaps.c.status != "open", gaps.c.queried.is_(True)))
                         .values(updated_at=reviewed_at))
            conn.execute(sa.update(gap_actions).where(gap_actions.c.dictation_id == dictation_id)
                         .values(at=reviewed_at))

    # -- audit -------------------------------------------------------------------------------
    def audit_each(self, actor: Principal, action: str, dictation_ids: Iterable[str]) -> None:
        """One audit row per dictation (a list that shows note text), in one transaction."""
        now = utcnow()
        rows = [{"at": now, "actor_token_id": actor.token_id, "actor_name": actor.name, "actor_role": actor.role,
                 "action": action, "dictation_id": d, "detail": None} for d in dictation_ids]
        if rows:
            with self._write() as conn:
                conn.execute(sa.insert(audit_log), rows)

    def audit(self, actor: Principal, action: str, *, dictation_id: str | None = None,
              detail: str | None = None) -> None:
        row = {"at": utcnow(), "actor_token_id": actor.token_id, "actor_name": actor.name,
               "actor_role": actor.role, "action": action, "dictation_id": dictation_id,
               "detail": (detail or None) and detail[:200], "address": (actor.address or None) and actor.address[:64]}
        with self._write() as conn:
            conn.execute(sa.insert(audit_log).values(row))

    def list_audit(self, *, dictation_id: str | None = None, actor: str | None = None, action: str | None = None,
                   limit: int = 100, offset: int = 0) -> list[dict]:
        q = sa.select(audit_log)
        if dictation_id:
            q = q.where(audit_log.c.dictation_id == dictation_id)
        if actor:
            q = q.where(audit_log.c.actor_name == actor)
        if action:
            q = q.where(audit_log.c.action == action)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(audit_log.c.id.desc()).limit(limit).offset(offset)).mappings().all()
        return [{"id": r["id"], "at": iso(r["at"]), "actor": r["actor_name"], "role": r["actor_role"],
                 "token_id": r["actor_token_id"], "action": r["action"], "dictation_id": r["dictation_id"],
                 "detail": r["detail"], "address": r["address"]} for r in rows]
