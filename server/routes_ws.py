"""``/ws/dictation``: moves frames between the socket and a ``protocol.Connection``.

Authentication happens before the first message: a missing or bad token gets an
``error`` frame (UNAUTHENTICATED / BAD_TOKEN / TOKEN_EXPIRED) and close code 4401; a
token without the physician role gets FORBIDDEN and 4403. It is checked again before
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
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from .access import CLOSE_CODE, REASONS
from .auth import token_of
from .protocol import Connection, dumps, error

log = logging.getLogger("scribe.server.ws")
router = APIRouter()


@router.websocket("/ws/dictation")
async def dictation_socket(ws: WebSocket) -> None:
    state, loop = ws.app.state, asyncio.get_running_loop()
    token = token_of(ws.headers.get("authorization"), ws.query_params.get("access_token"))
    who, status = (await loop.run_in_executor(state.executor, state.store.token_status, token) if token
                   else (None, "unknown"))
    await ws.accept()
    refusal = _refusal(token, who, status)
    if refusal is not None or who is None:   # _refusal refuses a missing principal
        refusal = refusal or _BAD_TOKEN
        await ws.send_text(dumps(error(*refusal[:2])))
        await ws.close(refusal[2])
        return
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


def _refusal(token, who, status: str) -> tuple[str, str, int] | None:
    if not token:
        return "UNAUTHENTICATED", "send a token: 'Authorization: Bearer TOKEN' or ?access_token=", 4401
    if status == "expired":
        return "TOKEN_EXPIRED", "the token expired; ask an admin for a new one", 4401
    if who is None or status != "ok":
        return _BAD_TOKEN
    if who.role != "physician":
        return "FORBIDDEN", f"dictation needs the physician role; the token is a {who.role}'s", 4403
    return None
