"""Live access: is the token behind an open WebSocket still valid?

A token can stop being valid while its socket is open: it is revoked (``scribe token
revoke``, ``DELETE /api/tokens/{id}``), its account is deleted (``scribe token revoke
--account``), or it expires (its own end, or the grace period after a rotation). That
may happen in another process sharing the database, so the truth is the database.

Cheaply: every such change bumps ``token_epoch`` in the same transaction. ``TokenGuard``
reads the epoch at most every ``EPOCH_CACHE_SECONDS`` (shared by all connections: one
tiny read per quarter second however many sockets are open) and re-reads a token's row
only when the epoch moved; expiry is a comparison with the time the row gave.

* ``check(who)`` runs before every message a connection handles: ``None`` when the
  token is still valid, else the error code (``TOKEN_REVOKED`` or ``TOKEN_EXPIRED``).
* ``sweep()`` runs every ``token_sweep_seconds`` (app lifespan) and returns the open
  connections whose token is no longer valid, so that idle sockets (a watcher, a page
  left open) are closed too.
"""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from .db import utcnow
from .store import TOKEN_EXPIRED, TOKEN_OK, Principal, Store

EPOCH_CACHE_SECONDS = 0.25          # a revocation is seen by the next message at most this late
CLOSE_CODE = 4401                   # the token is missing, unknown, revoked or expired
CODES = {"revoked": "TOKEN_REVOKED", "unknown": "TOKEN_REVOKED", "expired": "TOKEN_EXPIRED"}
MESSAGES = {"TOKEN_REVOKED": "the token was revoked; this connection is closed",
            "TOKEN_EXPIRED": "the token expired; this connection is closed (ask an admin for a new token)"}
REASONS = {"TOKEN_REVOKED": "token revoked", "TOKEN_EXPIRED": "token expired"}


@dataclass(eq=False)
class Watched:
    """An open connection the sweeper looks after."""

    who: Principal
    end: Callable[[str], None]      # called on the event loop with the error code
    id: int = field(default_factory=itertools.count(1).__next__)


class TokenGuard:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()
        self._epoch: int | None = None
        self._epoch_read = float("-inf")
        self._known: dict[int, tuple[int, str, datetime | None]] = {}   # token id -> (epoch, status, expires)
        self._open: dict[int, Watched] = {}
        self._swept_epoch: int | None = None

    # -- every message (worker threads) -----------------------------------------------------
    def check(self, who: Principal) -> str | None:
        if who.token_id is None:
            return None
        epoch = self._current_epoch()
        with self._lock:
            known = self._known.get(who.token_id)
        if known is None or known[0] != epoch:
            status, expires = self.store.token_states([who.token_id])[who.token_id]
            known = (epoch, status, expires)
            with self._lock:
                self._known[who.token_id] = known
        return self._verdict(known[1], known[2], who.expires_at)

    @staticmethod
    def _verdict(status: str, expires: datetime | None, own: datetime | None = None) -> str | None:
        """The error code of a token in ``status`` ending at ``expires`` (its row), for a
        connection whose credential ends at ``own`` (a session ends before its token may):
        None while both hold. A token's end only ever moves earlier (rotation), so the
        earlier of the two is the end."""
        if own is not None:
            expires = own if expires is None else min(expires, own)
        if status == TOKEN_OK and expires is not None and utcnow() >= expires:
            status = TOKEN_EXPIRED
        return None if status == TOKEN_OK else CODES[status]

    def _current_epoch(self, *, fresh: bool = False) -> int:
        now = self.clock()
        with self._lock:
            if not fresh and self._epoch is not None and now - self._epoch_read < EPOCH_CACHE_SECONDS:
                return self._epoch
        epoch = self.store.token_epoch()
        with self._lock:
            self._epoch, self._epoch_read = epoch, now
        return epoch

    # -- open connections (the sweeper) ------------------------------------------------------
    def watch(self, who: Principal, end: Callable[[str], None]) -> Watched:
        entry = Watched(who, end)
        with self._lock:
            self._open[entry.id] = entry
        return entry

    def unwatch(self, entry: Watched) -> None:
        with self._lock:
            self._open.pop(entry.id, None)

    def sweep(self) -> list[tuple[Watched, str]]:
        """(connection, error code) of every open connection whose token is no longer valid.
        Reads the database only when the epoch moved (one query for all open tokens)."""
        epoch = self._current_epoch(fresh=True)
        with self._lock:
            entries = list(self._open.values())
            moved, self._swept_epoch = epoch != self._swept_epoch, epoch
            if moved:
                self._known = {}
        ids = {e.who.token_id for e in entries if e.who.token_id is not None}
        if moved and ids:
            states = self.store.token_states(ids)
            with self._lock:
                for token_id, (status, expires) in states.items():
                    self._known[token_id] = (epoch, status, expires)
        with self._lock:
            known = dict(self._known)
        out = []
        for entry in entries:
            state = known.get(entry.who.token_id) if entry.who.token_id is not None else None
            status, expires = (state[1], state[2]) if state else (TOKEN_OK, entry.who.expires_at)
            code = self._verdict(status, expires, entry.who.expires_at)
            if code is not None:
                out.append((entry, code))
        return out
