"""``/ws/dictation``: moves frames between the socket and a ``protocol.Connection``.

Before anything else: a browser ``Origin`` that is neither the service's own nor in
``SCRIBE_WS_ORIGINS`` gets ORIGIN_NOT_ALLOWED and close 4003 (no credential is even looked
at); an address or token over its open-connection cap (``SCRIBE_MAX_CONNECTIONS_PER_*``,
counted across the processes sharing a PostgreSQL database: ``server/shared.py``)
gets TOO_MANY_CONNECTIONS and 4429. Authentication (one credential, in the order of
``server/auth.py``: header, ``access_token``, one-time ``ticket``, session cookie) happens
before the first message: a missing or bad one gets an ``error`` frame (UNAUTHENTICATED /
BAD_TOKEN / TOKEN_EXPIRED) and close code 4401; a token without the physician role gets
FORBIDDEN and 4403. It is checked again before
every message, and the lifespan's sweeper closes idle sockets: once the token is revoked
(or its account deleted) or expires, the next message is answered TOKEN_REVOKED /
TOKEN_EXPIRED and the socket is closed with 4401 (``server/access.py``). Each frame is prechecked on the event loop
(rate, binary, size) and otherwise handled in a worker thread; the answer is sent
before the next frame is read, so answers come in the order of the messages. A
connection that sent ``watch`` also receives, in between, the states other connections
cause on that dictation (``"pushed": true``).
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from .access import CLOSE_CODE, REASONS
from .auth import credential_of, origin_allowed, resolve
from .protocol import Connection, dumps, error
from .shared import CapsUnavailable, SharedSocketCounts

log = logging.getLogger("scribe.server.ws")
router = APIRouter()


@router.websocket("/ws/dictation")
async def dictation_socket(ws: WebSocket) -> None:
    state, s = ws.app.state, ws.app.state.settings
    counts: SocketCounts | SharedSocketCounts = state.sockets
    address = ws.client.host if ws.client else "unknown"
    await ws.accept()
    if not origin_allowed(ws.headers.get("origin"), ws.headers.get("host"), s.ws_origin_list):
        await _refuse(ws, "ORIGIN_NOT_ALLOWED", "a page of another site may not open this WebSocket "
                      "(allowed: the service's own pages and SCRIBE_WS_ORIGINS)", ORIGIN_CLOSE)
        return
    placed = await _acquire(ws, counts, "address", address, s.max_connections_per_address)
    if placed is None:
        return
    if not placed:
        await _refuse(ws, "TOO_MANY_CONNECTIONS", f"this address has {s.max_connections_per_address} open "
                      "connections (SCRIBE_MAX_CONNECTIONS_PER_ADDRESS); close one first", CROWDED_CLOSE)
        return
    try:
        credential = credential_of(ws.headers, ws.query_params, ws.cookies, tickets=True)
        who, status = (await asyncio.get_running_loop().run_in_executor(
            state.executor, lambda: resolve(state.store, credential, tickets=state.tickets))
            if credential is not None else (None, "unknown"))
        refusal = _refusal(credential, who, status)
        if refusal is not None or who is None:   # _refusal refuses a missing principal
            await _refuse(ws, *(refusal or _BAD_TOKEN))
            return
        placed = await _acquire(ws, counts, "token", who.token_id, s.max_connections_per_token)
        if placed is None:
            return
        if not placed:
            await _refuse(ws, "TOO_MANY_CONNECTIONS", f"this token has {s.max_connections_per_token} open "
                          "connections (SCRIBE_MAX_CONNECTIONS_PER_TOKEN); close one first", CROWDED_CLOSE)
            return
        try:
            await _serve(ws, dataclasses.replace(who, address=address))
        finally:
            await counts.release("token", who.token_id)
    finally:
        await counts.release("address", address)


async def _acquire(ws: WebSocket, counts, kind: str, key: object, limit: int) -> bool | None:
    """True: a place under the cap was taken; False: the cap is full; None: the caps cannot
    be counted (the shared database is unreachable) and the connection was refused with
    STORAGE_UNAVAILABLE and 1011."""
    try:
        return await counts.acquire(kind, key, limit)
    except CapsUnavailable:
        await _refuse(ws, "STORAGE_UNAVAILABLE", "the database is unavailable; connect again later", 1011)
        return None


async def _refuse(ws: WebSocket, code: str, message: str, close_code: int) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await ws.send_text(dumps(error(code, message)))
        await ws.close(close_code)


class SocketCounts:
    """Open WebSockets per client address and per token (touched on the event loop only).
    Several processes on one database count together instead (``shared.SharedSocketCounts``,
    the same ``acquire``/``release``)."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, object], int] = {}

    async def acquire(self, kind: str, key: object, limit: int) -> bool:
        return self.take(kind, key, limit)

    async def release(self, kind: str, key: object) -> None:
        self.give_back(kind, key)

    def take(self, kind: str, key: object, limit: int) -> bool:
        held = self._open.get((kind, key), 0)
        if held >= limit:
            return False
        self._open[(kind, key)] = held + 1
        return True

    def give_back(self, kind: str, key: object) -> None:
        held = self._open.get((kind, key), 0) - 1
        if held > 0:
            self._open[(kind, key)] = held
        else:
            self._open.pop((kind, key), None)

    def held(self, kind: str, key: object) -> int:
        return self._open.get((kind, key), 0)


async def _serve(ws: WebSocket, who) -> None:
    state, loop = ws.app.state, asyncio.get_running_loop()
    s = state.settings
    pushed: asyncio.Queue[dict] = asyncio.Queue(maxsize=PUSH_BACKLOG)
    sending = asyncio.Lock()            # answers and pushed states share the socket

    def push(message: dict) -> None:    # called from worker threads
        loop.call_soon_threadsafe(_offer, pushed, message)

    conn = Connection(state.hub, who, max_bytes=s.max_message_bytes, rate=s.rate_per_second, burst=s.rate_burst,
                      push=push, check=state.guard.check)

    async def close_ended() -> None:
        async with sending:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await ws.close(CLOSE_CODE, REASONS[conn.ended or ""])

    closing: list[asyncio.Task] = []

    def end(code: str) -> None:         # the sweeper found the token revoked or expired
        if conn.ended is None:
            conn.ended = code
            log.info("a connection of token %s closed: %s", who.token_id, REASONS[code])
            closing.append(asyncio.create_task(close_ended()))   # kept referenced until done

    watched = state.guard.watch(who, end)
    pusher = asyncio.create_task(_send_pushed(ws, pushed, sending, conn))
    try:
        while True:
            frame = await ws.receive()
            if frame["type"] == "websocket.disconnect":
                break
            text = frame.get("text")
            was_ended = conn.ended
            refused = conn.precheck(text, frame.get("bytes"))
            # precheck refuses every frame without text
            answer = dumps(refused) if refused else await loop.run_in_executor(state.executor, conn.handle, text or "")
            async with sending:
                await ws.send_text(answer)
            if conn.ended is not None and was_ended is None:
                await close_ended()
    except (WebSocketDisconnect, RuntimeError):      # RuntimeError: the sweeper closed the socket under us
        pass
    finally:
        state.guard.unwatch(watched)
        conn.close()
        pusher.cancel()


ORIGIN_CLOSE = 4003      # the page's Origin is not allowed (cross-site WebSocket hijacking)
CROWDED_CLOSE = 4429     # too many open connections for this token or address
PUSH_BACKLOG = 256      # pushed states a slow watcher may lag behind; older ones are dropped


def _offer(queue: asyncio.Queue, message: dict) -> None:
    """Queue a pushed message; a watcher that lags behind loses the oldest (each state is
    complete, so only the newest matters)."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(message)


async def _send_pushed(ws: WebSocket, queue: asyncio.Queue, sending: asyncio.Lock, conn: Connection) -> None:
    try:
        while True:
            message = await queue.get()
            if conn.ended is not None:                  # the token is no longer valid: nothing more
                continue
            async with sending:
                await ws.send_text(dumps(message))
    except (WebSocketDisconnect, RuntimeError):     # the socket closed under us
        pass


_BAD_TOKEN = ("BAD_TOKEN", "the token is unknown or revoked", 4401)


def _refusal(credential, who, status: str) -> tuple[str, str, int] | None:
    if credential is None:
        return "UNAUTHENTICATED", "send a token: 'Authorization: Bearer TOKEN', ?access_token= or ?ticket=", 4401
    if credential.value is None:
        return "UNAUTHENTICATED", "the Authorization header must be 'Bearer TOKEN'", 4401
    if status == "expired":
        return "TOKEN_EXPIRED", "the token expired; ask an admin for a new one", 4401
    if who is None or status != "ok":
        what = "ticket is unknown, used or stale" if credential.kind == "ticket" else "token is unknown or revoked"
        return "BAD_TOKEN", f"the {what}", 4401
    if who.role != "physician":
        return "FORBIDDEN", f"dictation needs the physician role; the token is a {who.role}'s", 4403
    return None
