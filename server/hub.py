"""Live dictations: the engine's session objects, kept in memory and made durable.

The hub owns one ``scribe.session.DictationSession`` per open dictation it has seen
recently. Every change goes: session (validates and analyses; raises ``InputError``
without changing anything) -> database (the event, committed) -> the caller sends the
state. If the commit fails the in-memory session is ahead of the database, so it is
dropped and rebuilt from the events on next use: nothing unacknowledged survives and
nothing acknowledged is lost.

Rebuilding (after a restart, or after an idle session left memory) replays the event
log on a string (segments append, edits replace, context sets the encounter) and
hands the result to a fresh session in one call, so a resume costs one batch check of
the note, not one analysis per stored event. The session's own guarantee (streaming
equals batch) makes that state the same as the one before the drop. A partial
segment is not an event; the newest one is kept on the dictation row.

All methods are synchronous and thread-safe: connections call them from worker
threads. Messages on one dictation are serialized by its lock.

Several processes on one PostgreSQL database (``scribe serve --workers N``, or several
servers; ``shared``): any process may receive any message of any dictation, so a cached
session may be behind. Each change then runs in one transaction that locks the
dictation's row (``Store.dictation_tx``, which also reads the row's ``version``, a count
of its changes): a session behind that version is first brought up to the database (the
events after the last one it holds are applied to it, then the newest partial; a change
of status elsewhere, finalize or discard, is answered as such), then
the message is applied, stored and, at commit, announced (NOTIFY). Two processes
receiving messages of one dictation at the same moment therefore apply them one after
the other, each on the state the other left: no segment is lost or applied twice, and
seq order is checked against what the database holds. A read (resume, watch) brings the
session up to date the same way without the lock. Watchers of a dictation changed by
another process hear of it through ``refresh`` (``server/shared.py`` listens), which
brings the session up to date and pushes one state per change.
"""
from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from scribe import Encounter, InputError
from sqlalchemy.exc import SQLAlchemyError

from .store import DictationExists, Principal, Store

log = logging.getLogger("scribe.server.hub")
DICTATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
MAX_SEQ = 2 ** 53 - 1       # what a database integer and a JavaScript number both hold exactly
RESERVED_IDS = frozenset({"facets", "dismiss-reasons", "gaps", "open"})   # words of /api/review/... paths


class ProtocolError(Exception):
    """A message that cannot be applied; becomes an ``error`` answer."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(eq=False)
class Live:
    id: str                           # the service's key
    owner: str
    ref: str                          # the owner's id for it (what the wire shows)
    session: Any                      # scribe.session.DictationSession
    n: int                            # number of the last stored event
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)
    attached: int = 0
    valid: bool = True                # False once dropped from the hub
    version: int = 1                  # the dictation row's version the session reflects


def replay(events: list[dict], partial_seq: int | None, partial_text: str | None) -> dict:
    """What a dictation's events amount to: encounter, final text, last seq, partial."""
    encounter: dict | None = None
    text, last_final = "", None
    for event in events:
        kind, payload = event["kind"], event["payload"]
        if kind in ("start", "context"):
            encounter = payload["encounter"]
        elif kind == "segment":
            text += payload["text"]
            last_final = event["seq"]
        elif kind == "edit":
            text = text[:payload["start"]] + payload["text"] + text[payload["end"]:]
    partial = None
    if partial_seq is not None and (last_final is None or partial_seq > last_final):
        partial = (partial_seq, partial_text or "")
    return {"encounter": encounter, "text": text, "last_final_seq": last_final, "partial": partial,
            "n": events[-1]["n"] if events else 0}


class DictationHub:
    def __init__(self, engine, store: Store, *, idle_seconds: float = 1800.0, max_cached: int = 5000,
                 shared: bool | None = None, origin: str | None = None):
        self.engine = engine
        self.store = store
        self.idle_seconds = idle_seconds
        self.max_cached = max_cached
        # other processes write the same dictations: check and lock each change in the database
        self.shared = store.shared if shared is None else shared
        self.origin = origin or uuid.uuid4().hex[:12]   # this process, in notifications
        # how a committed change is announced to the other processes (server/shared.py's Notifier
        # in the service; by default a transaction of the store's)
        self.notify: Callable[[str], None] = lambda key: store.notify_change(key, self.origin)
        self._cache: dict[str, Live] = {}
        self._watchers: dict[str, set[Callable[[dict], None]]] = {}   # dictation id -> push callbacks
        self._lock = threading.Lock()           # guards _cache
        self._rebuild_lock = threading.Lock()   # one rebuild at a time (rare: after restart/eviction)

    # -- opening ----------------------------------------------------------------------------
    def start(self, who: Principal, encounter: Any, dictation_id: Any = None) -> tuple[str, str, dict]:
        """Open a dictation; returns (key, the owner's id for it, state). The id is the
        owner's: another owner's dictation of the same id is neither touched nor revealed."""
        if dictation_id is None:
            dictation_id = uuid.uuid4().hex
        elif not isinstance(dictation_id, str) or not DICTATION_ID.match(dictation_id):
            raise ProtocolError("BAD_DICTATION_ID", "'dictation_id' must be 1-64 letters, digits or . _ : - "
                                "(starting with a letter or digit)")
        elif dictation_id.lower() in RESERVED_IDS:
            raise ProtocolError("BAD_DICTATION_ID", f"'{dictation_id}' is reserved; choose another dictation id")
        # InputError on bad codes, naming the claim line at fault
        session = self.engine.new_session(Encounter.from_dict(encounter, validate=self.engine.validate_encounter))
        stored = session.encounter.to_dict()
        try:
            key = self.store.create_dictation(dictation_id=dictation_id, owner=who.name, encounter=stored)
        except DictationExists:
            raise ProtocolError("DICTATION_EXISTS", f"dictation {dictation_id} already exists; "
                                "use 'resume' to reattach to it") from None
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None
        live = Live(id=key, owner=who.name, ref=dictation_id, session=session, n=1, version=1)
        self._put(live)
        log.info("dictation %s started by token %s", key, who.token_id)
        return key, dictation_id, session.state()

    def resume(self, who: Principal, dictation_id: Any, *, action: str = "resume_dictation") -> tuple[str, dict]:
        """Reattach to the caller's dictation ``dictation_id`` (their id for it); returns
        (key, state). The read of its state (note text, evidence) is audited."""
        if not isinstance(dictation_id, str) or not dictation_id:
            raise ProtocolError("BAD_MESSAGE", f"'{action.split('_')[0]}' needs a 'dictation_id' string")
        key = self.key_of(who, dictation_id)
        state = self._with_live(who, key, lambda live, _tx: live.session.state(), write=False)
        try:
            self.store.audit(who, action, dictation_id=key)
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None
        return key, state

    def key_of(self, who: Principal, ref: str) -> str:
        """The key of the caller's dictation ``ref``; DICTATION_NOT_FOUND for an unknown id
        and for another owner's, alike."""
        with self._lock:
            for live in self._cache.values():
                if live.ref == ref and live.owner == who.name:
                    return live.id
        if len(ref) > 64:
            raise _not_found(ref)
        try:
            key = self.store.find_dictation(owner=who.name, ref=ref)
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None
        if key is None:
            raise _not_found(ref)
        return key

    # -- changes ----------------------------------------------------------------------------
    def segment(self, who: Principal, dictation_id: str, seq: Any, text: Any, final: Any) -> dict:
        if isinstance(seq, int) and not isinstance(seq, bool) and abs(seq) > MAX_SEQ:
            raise ProtocolError("BAD_SEGMENT", f"'seq' must be an integer of at most {MAX_SEQ} (2^53 - 1)")

        def apply(live: Live, tx) -> dict:
            state = live.session.segment(seq, text, final)
            if final:
                self._persist(live, "segment", seq, {"text": text}, tx)
            else:
                self._persist_partial(live, seq, text, tx)
            return state

        return self._with_live(who, dictation_id, apply)

    def edit(self, who: Principal, dictation_id: str, start: Any, end: Any, text: Any) -> dict:
        def apply(live: Live, tx) -> dict:
            state = live.session.edit(start, end, text)
            self._persist(live, "edit", None, {"start": start, "end": end, "text": text}, tx)
            return state

        return self._with_live(who, dictation_id, apply)

    def context(self, who: Principal, dictation_id: str, encounter: Any) -> dict:
        def apply(live: Live, tx) -> dict:
            # an InputError leaves the session on its previous encounter
            state = live.session.set_encounter(Encounter.from_dict(encounter, validate=self.engine.validate_encounter))
            self._persist(live, "context", None, {"encounter": live.session.encounter.to_dict()}, tx)
            return state

        return self._with_live(who, dictation_id, apply)

    def finalize(self, who: Principal, dictation_id: str) -> dict:
        """Store the outcome: the gaps open on the final text (a pending partial is dropped)."""
        def apply(live: Live, tx) -> dict:
            session = live.session
            gaps = self.outcome(session)
            try:
                self.store.finalize(dictation_id=live.id, n=live.n + 1, final_text=session.final_text,
                                    open_gaps=gaps, last_seq=session.last_seq, conn=tx)
            except SQLAlchemyError as exc:
                self._drop(live)
                raise _storage_error(exc) from None
            self._drop(live)
            log.info("dictation %s finalized with %d open gaps", live.id, len(gaps))
            return {"dictation_id": live.ref, "seq": session.last_seq, "gaps": gaps}

        return self._with_live(who, dictation_id, apply)

    def outcome(self, session) -> list[dict]:
        """The gaps open on the session's final text (a pending partial does not count)."""
        if session.partial:
            final_only = self.engine.new_session(session.encounter)
            state = (final_only.segment(session.last_seq, session.final_text, True)
                     if session.final_text else final_only.state())
        else:
            state = session.state()
        return state["gaps"]

    # -- watchers ---------------------------------------------------------------------------
    def watch(self, who: Principal, dictation_id: Any, push: Callable[[dict], None]) -> tuple[str, dict]:
        """Register ``push`` to receive every state of the dictation that another connection
        causes (e.g. a speech engine feeding the dictation the sidebar shows); returns
        (key, the current state). Only the dictation's owner may watch it (audited)."""
        key, state = self.resume(who, dictation_id, action="watch_dictation")
        with self._lock:
            self._watchers.setdefault(key, set()).add(push)
        return key, state

    def unwatch(self, dictation_id: str, push: Callable[[dict], None]) -> None:
        with self._lock:
            pushes = self._watchers.get(dictation_id)
            if pushes is not None:
                pushes.discard(push)
                if not pushes:
                    del self._watchers[dictation_id]

    def publish(self, dictation_id: str, message: dict, *, exclude: Callable[[dict], None] | None = None) -> None:
        """Hand ``message`` to the dictation's watchers (never blocks: each push only queues)."""
        with self._lock:
            pushes = [p for p in self._watchers.get(dictation_id, ()) if p is not exclude]
        for push in pushes:
            try:
                push(message)
            except Exception as exc:  # noqa: BLE001 - a gone watcher must not fail the writer
                log.warning("push to a watcher failed: %s", type(exc).__name__)

    # -- connections ------------------------------------------------------------------------
    def attach(self, dictation_id: str, delta: int) -> None:
        with self._lock:
            live = self._cache.get(dictation_id)
            if live is not None:
                live.attached = max(0, live.attached + delta)
                live.last_used = time.monotonic()

    def evict_idle(self, now: float | None = None) -> int:
        """Drop sessions no connection uses that were idle too long (or too many): they
        are rebuilt from the database when resumed."""
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = sorted((lv for lv in self._cache.values() if lv.attached == 0), key=lambda lv: lv.last_used)
            excess = max(0, len(self._cache) - self.max_cached)
            victims = [lv for i, lv in enumerate(idle) if i < excess or now - lv.last_used > self.idle_seconds]
        for live in victims:
            with live.lock:
                self._drop(live)
        return len(victims)

    def forget(self, dictation_id: str) -> None:
        """Drop a session whose state is in doubt; the next message rebuilds it."""
        with self._lock:
            live = self._cache.pop(dictation_id, None)
        if live is not None:
            live.valid = False

    def cached(self) -> int:
        return len(self._cache)

    # -- internals ----------------------------------------------------------------------------
    def traces(self, who: Principal, dictation_id: str) -> dict:
        """Why each open gap was raised and how each indication was read (the ``explain`` flag)."""
        def trace(live: Live, _tx) -> dict:
            from dataclasses import replace

            session = live.session
            result = self.engine.explain(replace(session.result()), session.text)
            return {"gaps": result.gap_traces or [], "indications": result.indication_traces or []}
        return self._with_live(who, dictation_id, trace, write=False)

    def _with_live(self, who: Principal, dictation_id: str, fn: Callable[[Live, Any], dict], *,
                   write: bool = True) -> dict:
        """``fn(live, tx)`` on the dictation's session, under its lock; ``tx`` is the database
        transaction of the change in shared mode (else None)."""
        for _ in range(5):
            live = self._get(who, dictation_id)
            with live.lock:
                if not live.valid:        # dropped while we waited: fetch again
                    continue
                live.last_used = time.monotonic()
                if not self.shared:
                    return fn(live, None)
                try:
                    with self.store.dictation_tx(live.id, lock=write) as (tx, row):
                        self._catch_up(live, tx, row)
                        if not live.valid:     # rebuilt during the catch-up: use the new one
                            continue
                        result = fn(live, tx)
                except SQLAlchemyError as exc:
                    self._drop(live)           # the session may be ahead of the database
                    raise _storage_error(exc) from None
                if write:
                    self._announce(live.id)
                return result
        raise ProtocolError("BUSY", "the dictation is being reloaded; send the message again")

    # -- several processes (shared mode) --------------------------------------------------------
    def _announce(self, dictation_id: str) -> None:
        """The change committed: the other processes' watchers of the dictation hear of it."""
        try:
            self.notify(dictation_id)
        except Exception as exc:  # noqa: BLE001 - the change stands; a remote watcher gets it with the next one
            log.error("could not notify the other processes of a change: %s", type(exc).__name__)

    def _catch_up(self, live: Live, tx, row: dict | None) -> list[dict]:
        """Bring ``live`` up to the database (``row``: ``Store.dictation_tx``'s); returns the
        states of the changes it applied. A dictation finalized or discarded elsewhere leaves
        the cache and is answered as such."""
        if row is None:
            self._drop(live)
            raise _not_found(live.ref)
        if row["status"] != "open":
            self._drop(live)
            raise _closed(live.ref, row["status"])
        if row["version"] == live.version:
            return []
        states: list[dict] = []
        try:
            if row["version"] < live.version:
                raise _Diverged()
            session = live.session
            for event in self.store.events_after(tx, live.id, live.n):
                kind, payload = event["kind"], event["payload"]
                if kind == "segment":
                    states.append(session.segment(event["seq"], payload["text"], True))
                elif kind == "edit":
                    states.append(session.edit(payload["start"], payload["end"], payload["text"]))
                elif kind == "context":
                    states.append(session.set_encounter(Encounter.from_dict(payload["encounter"])))
                live.n = event["n"]
            seq = row["partial_seq"]      # the newest partial, unless a final segment came after it
            if seq is not None and (session.last_seq is None or seq > session.last_seq):
                states.append(session.segment(seq, row["partial_text"] or "", False))
            live.version = row["version"]
        except (InputError, _Diverged):   # cannot happen for changes the database accepted in order: rebuild
            self._drop(live)
            self._put(self._rebuild(live.id, owner=live.owner))
            log.warning("dictation %s rebuilt: its session could not follow the database", live.id)
            return []
        log.debug("dictation %s caught up to event %d", live.id, live.n)
        return states

    def refresh(self, dictation_id: str) -> None:
        """Another process changed ``dictation_id``: when this process has watchers on it,
        bring its session up to date and push them a state per change (or ``finalized``)."""
        with self._lock:
            if not self._watchers.get(dictation_id):
                return
            live = self._cache.get(dictation_id)
        messages: list[dict] = []
        try:
            if live is None:      # left memory while watched: rebuilt, and its state pushed
                try:
                    with self._rebuild_lock:
                        live = self._cache.get(dictation_id) or self._rebuild(dictation_id)
                        self._put(live)
                    messages.append(self._pushed(live, live.session.state()))
                except ProtocolError as exc:
                    if exc.code != "DICTATION_FINALIZED":
                        raise
                    messages.append(self._finalized_from_store(dictation_id))
            else:
                with live.lock:
                    if live.valid:
                        with self.store.dictation_tx(live.id, lock=False) as (tx, row):
                            try:
                                messages += [self._pushed(live, st) for st in self._catch_up(live, tx, row)]
                            except ProtocolError as exc:
                                if exc.code != "DICTATION_FINALIZED":
                                    raise
                                messages.append(self._finalized_elsewhere(live, tx))
        except ProtocolError as exc:      # discarded, gone, or not rebuildable: nothing to push
            log.info("watched dictation %s: %s", dictation_id, exc.code)
            return
        except SQLAlchemyError as exc:
            log.error("database error while following dictation %s: %s", dictation_id, type(exc).__name__)
            return
        for message in messages:
            self.publish(dictation_id, message)

    def follow(self, executor) -> Callable[[str], None]:
        """The listener's callback: ``refresh`` the dictation in ``executor``, at most one
        pending refresh per dictation (a burst of notifications costs one catch-up)."""
        pending: set[str] = set()
        guard = threading.Lock()

        def run(key: str) -> None:
            with guard:
                pending.discard(key)
            self.refresh(key)

        def on_change(key: str) -> None:
            with self._lock:
                if key not in self._watchers:
                    return
            with guard:
                if key in pending:
                    return
                pending.add(key)
            executor.submit(run, key)

        return on_change

    def refresh_watched(self) -> None:
        """After notifications may have been missed (the listener reconnected)."""
        with self._lock:
            keys = list(self._watchers)
        for key in keys:
            self.refresh(key)

    def _pushed(self, live: Live, state: dict) -> dict:
        return {"type": "state", "dictation_id": live.ref, **state, "pushed": True}

    def _finalized_elsewhere(self, live: Live, tx) -> dict:
        """The ``finalized`` push of a dictation another process finalized: its session brought
        to the final events, its outcome computed here (the finalize event holds the seq)."""
        session, last_seq = live.session, live.session.last_seq
        for event in self.store.events_after(tx, live.id, live.n):
            kind, payload = event["kind"], event["payload"]
            if kind == "segment":
                session.segment(event["seq"], payload["text"], True)
            elif kind == "edit":
                session.edit(payload["start"], payload["end"], payload["text"])
            elif kind == "context":
                session.set_encounter(Encounter.from_dict(payload["encounter"]))
            elif kind == "finalize":
                last_seq = event["seq"]
                break
        return {"type": "finalized", "dictation_id": live.ref, "seq": last_seq, "gaps": self.outcome(session),
                "pushed": True}

    def _finalized_from_store(self, dictation_id: str) -> dict:
        """The same from the stored final text, for a dictation this process no longer held."""
        loaded = self.store.load(dictation_id)
        if loaded is None:
            raise _not_found(dictation_id)
        row, events = loaded
        last_seq = next((e["seq"] for e in reversed(events) if e["kind"] == "finalize"), None)
        session = self.engine.new_session(Encounter.from_dict(row["encounter"]))
        text = row["final_text"] or ""
        gaps = (session.segment(last_seq if last_seq is not None else 0, text, True) if text else session.state())["gaps"]
        return {"type": "finalized", "dictation_id": row.get("ref") or dictation_id, "seq": last_seq, "gaps": gaps,
                "pushed": True}

    def _get(self, who: Principal, dictation_id: str) -> Live:
        live = self._cache.get(dictation_id)
        if live is None:
            with self._rebuild_lock:
                live = self._cache.get(dictation_id)
                if live is None:
                    live = self._rebuild(dictation_id, owner=who.name)
                    self._put(live)
        if live.owner != who.name:
            raise _not_found(dictation_id)
        return live

    def _rebuild(self, dictation_id: str, *, owner: str | None = None) -> Live:
        """The dictation's session from its events (``owner``: only if it is theirs)."""
        try:
            loaded = self.store.load(dictation_id)
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from None
        if loaded is None or (owner is not None and loaded[0]["owner"] != owner):
            raise _not_found(dictation_id)
        row, events = loaded
        if row["status"] != "open":
            raise _closed(dictation_id, row["status"])
        r = replay(events, row["partial_seq"], row["partial_text"])
        try:
            session = self.engine.new_session(Encounter.from_dict(r["encounter"]))
            if r["last_final_seq"] is not None:
                session.segment(r["last_final_seq"], r["text"], True)
            elif r["text"]:
                session.edit(0, 0, r["text"])       # text that arrived only through edits
            if r["partial"] is not None:
                session.segment(r["partial"][0], r["partial"][1], False)
        except InputError as exc:     # e.g. the lexicons changed and a stored code is now unknown
            raise ProtocolError("RESUME_FAILED", f"dictation {dictation_id} cannot be rebuilt: {exc.message}") from None
        log.info("dictation %s rebuilt from %d events", dictation_id, len(events))
        return Live(id=dictation_id, owner=row["owner"], ref=row.get("ref") or dictation_id, session=session, n=r["n"],
                    version=row["version"])

    def _persist(self, live: Live, kind: str, seq: int | None, payload: dict, tx=None) -> None:
        try:
            self.store.append_event(dictation_id=live.id, n=live.n + 1, kind=kind, seq=seq, payload=payload,
                                    owner=live.owner, conn=tx)
        except SQLAlchemyError as exc:
            self._drop(live)      # the session is ahead of the database: forget it
            raise _storage_error(exc) from None
        live.n += 1
        live.version += 1

    def _persist_partial(self, live: Live, seq: int, text: str, tx=None) -> None:
        try:
            self.store.set_partial(dictation_id=live.id, seq=seq, text=text, conn=tx)
        except SQLAlchemyError as exc:
            self._drop(live)
            raise _storage_error(exc) from None
        live.version += 1

    def _put(self, live: Live) -> None:
        with self._lock:
            self._cache[live.id] = live

    def _drop(self, live: Live) -> None:
        live.valid = False
        with self._lock:
            if self._cache.get(live.id) is live:
                del self._cache[live.id]


class _Diverged(Exception):
    """The session holds changes the database does not (it must be rebuilt)."""


def _closed(dictation_id: str, status: str) -> ProtocolError:
    if status == "discarded":
        return ProtocolError("DICTATION_DISCARDED", f"dictation {dictation_id} was discarded; start a new dictation")
    return ProtocolError("DICTATION_FINALIZED", f"dictation {dictation_id} is finalized; start a new dictation")


def _not_found(dictation_id: str) -> ProtocolError:
    return ProtocolError("DICTATION_NOT_FOUND", f"no dictation {dictation_id[:64]} of yours exists")


def _storage_error(exc: Exception) -> ProtocolError:
    log.error("database error: %s", type(exc).__name__)
    return ProtocolError("STORAGE_UNAVAILABLE", "the database did not accept the change; it was not applied, "
                         "send it again")
