"""The FastAPI application: ``create_app(settings)``.

The lifespan migrates the database, builds the engine once (about 2 s), and creates
the dictation hub and the worker threads; a background task drops idle sessions from
memory (they are rebuilt from the database on resume), another closes the sockets whose
token was revoked or expired (``server/access.py``). Every HTTP answer goes through the
hardening middleware (``server/hardening.py``: security headers, the body cap, CORS
only for configured origins).

On PostgreSQL the process may be one of several sharing the database (``scribe serve
--workers N`` runs ``worker_app`` in each of uvicorn's worker processes): the lifespan then
also listens for the other processes' dictation changes, counts connection caps and keeps
WebSocket tickets in the database (``server/shared.py``).
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

from fastapi import FastAPI, Request

from . import errors
from .config import Settings
from .claim_lines import code_families
from .db import safe_url
from .access import TokenGuard
from .hardening import BodyLimit, SecurityHeaders
from .hub import DictationHub
from .routes_ws import SocketCounts
from .tickets import TicketBook
from .store import Store

log = logging.getLogger("scribe.server")
DESCRIPTION = """Live documentation-gap checking for dictated spine imaging notes.

* **WebSocket** `/ws/dictation`: the streaming protocol (see the README, "Live dictation").
* **Physicians** read their dictations and the queries sent back to them.
* **Scribes** work the review queue: resolve (addendum, re-checked), dismiss, query.
* **Managers** read statistics (no note text).
* **Admins** manage API tokens and read the audit log.

Authenticate with `Authorization: Bearer TOKEN` or `?access_token=TOKEN` (the header wins when
both are sent); pages exchange their link's token for a session cookie at `POST /api/session`.
Errors are `{"error": {"code": "UPPER_WORD", "message": "..."}}`.
"""


def default_fees(engine) -> dict[str, float]:
    """{cpt: dollars} from the payments recorded in the engine's lexicons."""
    lexicons = getattr(engine, "lexicons", None)
    return {c.code: float(c.payment) for fam in getattr(lexicons, "families", ())
            for c in fam.codes if getattr(c, "payment", None) is not None}


def load_fees(settings: Settings, engine) -> Mapping[str, float]:
    if settings.fee_table is None:
        return default_fees(engine)
    data = json.loads(settings.fee_table.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, (int, float)) for v in data.values()):
        raise ValueError(f"{settings.fee_table} must be a JSON object {{cpt: dollars}}")
    return {str(k): float(v) for k, v in data.items()}


def create_app(settings: Settings | None = None, *, engine: Any = None) -> FastAPI:
    settings = settings or Settings.load()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        store = Store(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        await asyncio.to_thread(store.migrate)
        scribe_engine = engine
        if scribe_engine is None:
            from scribe import build_engine

            scribe_engine = await asyncio.to_thread(build_engine)
        # a live answer never waits for the tokenizer to load (the engine loads it on first need)
        await asyncio.to_thread(scribe_engine.warm)
        # The engine's object graph (spaCy, lexicons, the ICD-10-CM index) lives as long as the
        # process: moved out of the collector's reach, full collections stop scanning it, which
        # keeps them from adding tens of milliseconds to a live answer.
        gc.collect()
        gc.freeze()
        executor = ThreadPoolExecutor(settings.worker_threads, thread_name_prefix="scribe-worker")
        app.state.settings = settings
        app.state.store = store
        app.state.engine = scribe_engine
        app.state.fees = load_fees(settings, scribe_engine)
        app.state.families = code_families(scribe_engine)    # {cpt: family}, for the statistics
        app.state.executor = executor
        app.state.hub = hub = DictationHub(scribe_engine, store, idle_seconds=settings.idle_evict_seconds,
                                           max_cached=settings.max_cached_sessions,
                                           origin=f"{os.getpid():x}{os.urandom(3).hex()}")
        app.state.guard = guard = TokenGuard(store)
        listener = None
        if hub.shared:      # other processes may serve the same dictations (server/shared.py)
            from .shared import ChangeListener, Notifier, SharedSocketCounts, SharedTicketBook

            app.state.tickets = SharedTicketBook(store, seconds=settings.ws_ticket_seconds)
            app.state.sockets = SharedSocketCounts(settings.database_url)
            hub.notify = notifier = Notifier(settings.database_url, hub.origin)
            def missed() -> None:       # the listener was away: bring every watched dictation up to date
                executor.submit(hub.refresh_watched)

            listener = ChangeListener(settings.database_url, hub.origin, on_change=hub.follow(executor),
                                      on_reconnect=missed)
            await asyncio.to_thread(listener.start)
        else:
            app.state.tickets = TicketBook(store, seconds=settings.ws_ticket_seconds)
            app.state.sockets = SocketCounts()
        evictor = asyncio.create_task(_evict_forever(hub, min(60.0, settings.idle_evict_seconds)))
        sweeper = asyncio.create_task(_sweep_forever(guard, settings.token_sweep_seconds))
        freezer = asyncio.create_task(_freeze_forever(settings.gc_freeze_seconds, settings.gc_full_minutes))
        log.info("scribe service ready (process %d, database %s%s)", os.getpid(), safe_url(settings.database_url),
                 ", shared with other processes" if hub.shared else "")
        try:
            yield
        finally:
            evictor.cancel()
            sweeper.cancel()
            freezer.cancel()
            if listener is not None:
                await asyncio.to_thread(listener.stop)
                await asyncio.to_thread(app.state.sockets.close)
                notifier.close()
            executor.shutdown(wait=True, cancel_futures=False)
            store.dispose()

    app = FastAPI(title="scribe", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    errors.install(app)
    # innermost first: the body cap, then CORS (only when origins are configured), then the
    # headers every answer carries (the 413 and CORS preflights included)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.allowed_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.allowed_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"],
                           max_age=600)
    app.add_middleware(SecurityHeaders, frame_ancestors=settings.frame_ancestor_list)

    @app.middleware("http")
    async def _access_log(request: Request, call_next):
        """Method, path (never the query: it may hold a token), status, milliseconds."""
        start = time.perf_counter()
        response = await call_next(request)
        log.info("%s %s %d %.1f ms", request.method, request.url.path, response.status_code,
                 1000 * (time.perf_counter() - start))
        return response

    from . import (routes_admin, routes_check, routes_dictations, routes_pages, routes_review, routes_rules,
                   routes_session, routes_stats, routes_ws)

    for module in (routes_pages, routes_ws, routes_session, routes_admin, routes_dictations, routes_review,
                   routes_stats, routes_rules, routes_check):
        app.include_router(module.router)
    from . import cds, fhir_io, smart   # the EHR integration (README, "Inside the EHR"); rule pages: routes_rules

    for router in (cds.router, cds.stats_router, smart.router, fhir_io.router):
        app.include_router(router)
    return app


def worker_app() -> FastAPI:
    """The application of one worker process of ``scribe serve --workers N`` (uvicorn calls
    it in each worker): settings from the environment the command set, the PHI-safe logging
    configured in this process too."""
    from .logsafe import configure_logging

    settings = Settings.load()
    configure_logging(settings.log_level)
    return create_app(settings)


async def _sweep_forever(guard: TokenGuard, every: float) -> None:
    """Close the open sockets whose token was revoked (here or by another process) or
    expired, idle ones included."""
    while True:
        await asyncio.sleep(every)
        try:
            for connection, code in await asyncio.to_thread(guard.sweep):
                connection.end(code)
        except Exception as exc:  # noqa: BLE001 - keep sweeping
            log.error("token sweep failed: %s", type(exc).__name__)


async def _freeze_forever(every: float, full_minutes: float) -> None:
    """Keep the cyclic garbage collector's pauses short as sessions accumulate.

    CPython's oldest generation is collected by looking at every object in it, and the
    open dictations (their sentences, facts, indications, states) are hundreds of thousands
    of objects: measured with 1,000 open dictations on two workers, those collections
    stopped a worker for 150-700 ms, the largest part of the p99. Every ``every`` seconds
    what survived until then is frozen (``gc.freeze``: out of the collector's reach, freed
    as usual by reference counting when dropped), so a collection looks only at what was
    made since. What the service drops holds almost no reference cycles (after 300 dictations of
    20 segments, half of them finalized, a full collection found 985 unreachable objects), and the few it would keep are reclaimed
    by one full collection every ``full_minutes`` (everything unfrozen, collected, frozen
    again; a pause of the old kind, logged)."""
    if every <= 0:
        return
    last_full = time.monotonic()
    while True:
        await asyncio.sleep(every)
        if full_minutes > 0 and time.monotonic() - last_full >= 60 * full_minutes:
            started = time.perf_counter()
            gc.unfreeze()
            found = gc.collect()
            last_full = time.monotonic()
            log.info("full garbage collection: %d unreachable objects, %.0f ms", found,
                     1000 * (time.perf_counter() - started))
        gc.freeze()


async def _evict_forever(hub: DictationHub, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            dropped = await asyncio.to_thread(hub.evict_idle)
            if dropped:
                log.info("%d idle dictation sessions left memory", dropped)
        except Exception as exc:  # noqa: BLE001 - keep evicting
            log.error("eviction failed: %s", type(exc).__name__)
