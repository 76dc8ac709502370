"""Several server processes on one PostgreSQL database: what they share besides the tables.

``scribe serve --workers N`` runs N processes behind one port (uvicorn's workers; several
``scribe serve`` on one database work the same way). Each keeps its own dictation
sessions in memory; the database is the truth (``server/hub.py``: every change of a
dictation locks its row, brings the session up to date and is announced at commit). This
module holds the three things that would otherwise live in one process's memory:

* ``Notifier`` and ``ChangeListener``: after each committed change the hub sends
  ``NOTIFY scribe_dictation, 'ORIGIN:KEY'`` on a connection of its own (autocommit, without
  waiting for the disk: see ``Store.notify_change``), and one connection per process
  ``LISTEN``s on that channel and hands each change made by
  another process to ``DictationHub.refresh`` (which pushes states to this process's
  watchers of that dictation). No broker: PostgreSQL delivers a notification only after
  its transaction committed. After a lost connection it reconnects and refreshes every
  watched dictation, in case a notification was missed meanwhile.
* ``SharedSocketCounts``: the open-connection caps per token and per client address
  (``SCRIBE_MAX_CONNECTIONS_PER_*``) counted across processes with PostgreSQL advisory
  locks: cap ``L`` for a key is ``L`` lock slots, an open WebSocket holds one slot, and
  a connection is refused when every slot is held (by this process or another). The
  locks belong to one database session per process, so a process that dies, kill -9
  included, gives its slots back with its connection: no count is left behind.
* ``SharedTicketBook``: one-time WebSocket tickets in the ``ws_tickets`` table, so a ticket
  asked of one process opens a WebSocket on another.

The per-connection message rate (``SCRIBE_RATE_PER_SECOND``) needs nothing shared: a
WebSocket lives in one process, and its bucket with it.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import queue
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Callable

import sqlalchemy as sa

from .db import utcnow
from .store import CHANGES_CHANNEL, TOKEN_UNKNOWN, Principal, Store, hash_token
from .tickets import TICKET_PREFIX

log = logging.getLogger("scribe.server.shared")
SLOT_BITS = 16                      # lock slots per key: caps above 65,536 count as 65,536
MAX_SLOTS = 1 << SLOT_BITS
RECONNECT_SECONDS = (0.5, 1, 2, 5)  # the listener's waits between attempts, then every 5 s


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as psycopg itself takes it (``postgresql+psycopg://`` -> ``postgresql://``)."""
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _connect(url: str):
    import psycopg

    return psycopg.connect(libpq_url(url), autocommit=True, application_name="scribe")


class Notifier:
    """Announces committed changes (``NOTIFY``) from a thread and a connection of its own.

    ``notifier(key)`` only queues the key: the message that made the change is answered
    without waiting for the announcement, and the keys queued meanwhile go out together,
    in one statement (one round trip however many)."""

    BATCH = 500

    def __init__(self, url: str, origin: str):
        self.url, self.origin = url, origin
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="scribe-notifier", daemon=True)
        self._thread.start()

    def __call__(self, dictation_id: str) -> None:
        self._queue.put(dictation_id)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        conn: Any = None
        while True:
            keys = [self._queue.get()]
            while len(keys) < self.BATCH:
                try:
                    keys.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = None in keys
            payloads = list(dict.fromkeys(f"{self.origin}:{k}" for k in keys if k is not None))
            if payloads:
                try:
                    if conn is None or conn.closed:
                        conn = _connect(self.url)
                        # what is announced is committed already: the announcement need not wait for the disk
                        conn.execute("SET synchronous_commit TO off")
                    conn.execute("SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p", (CHANGES_CHANNEL, payloads))
                except Exception as exc:  # noqa: BLE001 - the changes stand; remote watchers get the next ones
                    log.error("could not notify the other processes of %d changes: %s", len(payloads),
                              type(exc).__name__)
                    if conn is not None and not conn.closed:
                        conn.close()
                    conn = None
            if stop:
                if conn is not None and not conn.closed:
                    conn.close()
                return


class ChangeListener:
    """A thread that hears the other processes' dictation changes (PostgreSQL LISTEN)."""

    def __init__(self, url: str, origin: str, on_change: Callable[[str], None], on_reconnect: Callable[[], None]):
        self.url, self.origin = url, origin
        self.on_change, self.on_reconnect = on_change, on_reconnect
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scribe-listener", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            log.warning("the change listener is not connected yet; watchers of dictations changed by other "
                        "processes get their states once it is")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                with _connect(self.url) as conn:
                    conn.execute(f"LISTEN {CHANGES_CHANNEL}")
                    if attempt:        # notifications may have been missed while away
                        self.on_reconnect()
                    attempt = 0
                    self._ready.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            origin, _, key = note.payload.partition(":")
                            if origin != self.origin and key:
                                self.on_change(key)
            except Exception as exc:  # noqa: BLE001 - keep listening: reconnect after a pause
                if self._stop.is_set():
                    return
                wait = RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)]
                log.error("change listener lost its database connection (%s); again in %g s", type(exc).__name__, wait)
                attempt += 1
                self._stop.wait(wait)


def slot_base(kind: str, key: object) -> int:
    """The first advisory-lock key of the slots of (kind, key): 47 bits of a hash, then the slot."""
    digest = hashlib.blake2b(f"scribe-cap:{kind}:{key}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> (64 - 47)) << SLOT_BITS


class CapsUnavailable(Exception):
    """The database that counts the connection caps cannot be reached."""


class SharedSocketCounts:
    """Open WebSockets per token and per address, across processes (advisory-lock slots).

    ``acquire``/``release`` (``routes_ws.SocketCounts``' interface) are awaited on the event
    loop; the lock queries run on a thread of their own, on the one database session that
    holds this process's slots."""

    def __init__(self, url: str):
        self.url = url
        self._conn = None
        self._held: dict[tuple[str, object], list[int]] = {}     # (kind, key) -> slots this process holds
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="scribe-caps")

    async def acquire(self, kind: str, key: object, limit: int) -> bool:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._take, kind, key, limit)

    async def release(self, kind: str, key: object) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._give_back, kind, key)

    def held(self, kind: str, key: object) -> int:
        """Slots this process holds for (kind, key)."""
        return len(self._held.get((kind, key), ()))

    def close(self) -> None:
        self._thread.submit(self._close).result(timeout=10)
        self._thread.shutdown(wait=True)

    # -- on the caps thread ----------------------------------------------------------------
    def _session(self):
        if self._conn is None or self._conn.closed:
            if self._held:     # the old session's locks died with it: what this process held is gone
                log.error("the connection-cap session was lost; its %d slots were released",
                          sum(map(len, self._held.values())))
                self._held.clear()
            self._conn = _connect(self.url)
        return self._conn

    def _take(self, kind: str, key: object, limit: int) -> bool:
        try:
            session = self._session()
            held = self._held.setdefault((kind, key), [])
            # CASE keeps the order: a slot this session holds is never locked again (advisory locks
            # are re-entrant within a session, which would count one connection twice)
            row = session.execute(
                "SELECT s FROM generate_series(0, %s) AS s "
                "WHERE CASE WHEN s = ANY(%s) THEN false ELSE pg_try_advisory_lock(%s + s) END LIMIT 1",
                (min(limit, MAX_SLOTS) - 1, held, slot_base(kind, key))).fetchone()
        except Exception as exc:  # noqa: BLE001 - refused as such by the caller
            log.error("connection caps unavailable: %s", type(exc).__name__)
            raise CapsUnavailable() from None
        if row is None:
            if not held:
                self._held.pop((kind, key), None)
            return False
        held.append(row[0])
        return True

    def _give_back(self, kind: str, key: object) -> None:
        held = self._held.get((kind, key))
        if not held:
            return
        slot = held.pop()
        if not held:
            del self._held[(kind, key)]
        try:
            self._session().execute("SELECT pg_advisory_unlock(%s)", (slot_base(kind, key) + slot,))
        except Exception as exc:  # noqa: BLE001 - when the session is gone, the lock went with it
            log.error("could not release a connection slot: %s", type(exc).__name__)

    def _close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._held.clear()


class SharedTicketBook:
    """``tickets.TicketBook`` with the tickets in the database (any process redeems them)."""

    def __init__(self, store: Store, *, seconds: float):
        self.store, self.seconds = store, seconds

    def issue(self, who: Principal) -> str:
        assert who.token_id is not None     # tickets are issued to token holders only
        ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
        self.store.issue_ticket(hash_token(ticket), token_id=who.token_id,
                                expires_at=utcnow() + timedelta(seconds=self.seconds))
        return ticket

    def redeem(self, ticket: str) -> tuple[Principal | None, str]:
        """(principal, token status) for a ticket not yet used nor past its deadline; using it
        spends it. An unknown, spent or stale ticket is (None, "unknown")."""
        token_id = self.store.redeem_ticket(hash_token(ticket))
        if token_id is None:
            return None, TOKEN_UNKNOWN
        return self.store.token_by_id(token_id)
