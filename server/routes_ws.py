"""``/ws/dictation``: moves frames between the socket and a ``protocol.Connection``.

Authentication happens before the first message: a missing or bad token gets an
``error`` frame (UNAUTHENTICATED / BAD_TOKEN) and close code 4401; a token without the
physician role gets FORBIDDEN and 4403. Each frame is prechecked on the event loop
(rate, binary, size) and otherwise handled in a worker thread; the answer is sent
before the next frame is read, so answers come in the order of the messages. A
connection that sent ``watch`` also receives, in between, the states other connections
cause on that dictation (``"pushed": true``).
"""
from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from .auth import token_of
from .protocol import Connection, dumps, error

log = logging.getLogger("scribe.server.ws")
router = APIRouter()


@router.websocket("/ws/dictation")
async def dictation_socket(ws: WebSocket) -> None:
    state, loop = ws.app.state, asyncio.get_running_loop()
    token = token_of(ws.headers.get("authorization"), ws.query_params.get("access_token"))
    who = await loop.run_in_executor(state.executor, state.store.principal_for, token) if token else None
    await ws.accept()
    refusal = _refusal(token, who)
    if refusal is not None:
        await ws.send_text(dumps(error(*refusal[:2])))
        await ws.close(refusal[2])
        return
    s = state.settings
    pushed: asyncio.Queue[dict] = asyncio.Queue(maxsize=PUSH_BACKLOG)
    sending = asyncio.Lock()            # answers and pushed states share the socket

    def push(message: dict) -> None:    # called from worker threads
        loop.call_soon_threadsafe(_offer, pushed, message)

    conn = Connection(state.hub, who, max_bytes=s.max_message_bytes, rate=s.rate_per_second, burst=s.rate_burst,
                      push=push)
    pusher = asyncio.create_task(_send_pushed(ws, pushed, sending))
    try:
        while True:
            frame = await ws.receive()
            if frame["type"] == "websocket.disconnect":
                break
            text = frame.get("text")
            refused = conn.precheck(text, frame.get("bytes"))
            answer = dumps(refused) if refused else await loop.run_in_executor(state.executor, conn.handle, text)
            async with sending:
                await ws.send_text(answer)
    except WebSocketDisconnect:
        pass
    finally:
        conn.close()
        pusher.cancel()


PUSH_BACKLOG = 256      # pushed states a slow watcher may lag behind; older ones are dropped


def _offer(queue: asyncio.Queue, message: dict) -> None:
    """Queue a pushed message; a watcher that lags behind loses the oldest (each state is
    complete, so only the newest matters)."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(message)


async def _send_pushed(ws: WebSocket, queue: asyncio.Queue, sending: asyncio.Lock) -> None:
    try:
        while True:
            message = await queue.get()
            async with sending:
                await ws.send_text(dumps(message))
    except (WebSocketDisconnect, RuntimeError):     # the socket closed under us
        pass


def _refusal(token, who) -> tuple[str, str, int] | None:
    if not token:
        return "UNAUTHENTICATED", "send a token: 'Authorization: Bearer TOKEN' or ?access_token=", 4401
    if who is None:
        return "BAD_TOKEN", "the token is unknown or revoked", 4401
    if who.role != "physician":
        return "FORBIDDEN", f"dictation needs the physician role; the token is a {who.role}'s", 4403
    return None
