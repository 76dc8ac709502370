"""One-time WebSocket tickets: a page asks ``POST /api/ws-ticket`` (with its session cookie
or token) and opens ``/ws/dictation?ticket=T``, so no token ever stands in a WebSocket
URL. A ticket is redeemed once, lives ``ws_ticket_seconds`` (30 s), is kept only as its
sha256 in this process's memory (a restart voids the few outstanding ones: the page asks
again) and stands for its token: a token revoked or expired meanwhile redeems nothing."""
from __future__ import annotations

import secrets
import threading
import time
from typing import Callable

from .store import TOKEN_UNKNOWN, Principal, Store, hash_token

TICKET_PREFIX = "wst_"
MAX_OUTSTANDING = 10_000            # unredeemed tickets kept at most (the oldest go first)


class TicketBook:
    def __init__(self, store: Store, *, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.store, self.seconds, self.clock = store, seconds, clock
        self._lock = threading.Lock()
        self._open: dict[str, tuple[Principal, float]] = {}     # hash -> (who, deadline)

    def issue(self, who: Principal) -> str:
        ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            if len(self._open) >= MAX_OUTSTANDING:
                self._prune(now)
                while len(self._open) >= MAX_OUTSTANDING:
                    self._open.pop(next(iter(self._open)))
            self._open[hash_token(ticket)] = (who, now + self.seconds)
        return ticket

    def redeem(self, ticket: str) -> tuple[Principal | None, str]:
        """(principal, token status) for a ticket not yet used nor past its deadline; using it
        spends it. An unknown, spent or stale ticket is (None, "unknown")."""
        with self._lock:
            entry = self._open.pop(hash_token(ticket), None)
        if entry is None or self.clock() > entry[1]:
            return None, TOKEN_UNKNOWN
        who = entry[0]
        assert who.token_id is not None     # tickets are issued to token holders only
        status, expires = self.store.token_states([who.token_id])[who.token_id]
        return Principal(who.token_id, who.name, who.role, expires), status

    def _prune(self, now: float) -> None:
        for key in [k for k, (_, deadline) in self._open.items() if deadline < now]:
            del self._open[key]
