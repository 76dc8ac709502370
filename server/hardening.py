"""The HTTP surface's defences, as plain ASGI middleware (they see every answer, the
errors and the static files included, and never buffer a body).

* ``SecurityHeaders``: every response carries ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: no-referrer`` (a page URL may still carry a token); every ``/api/``
  answer carries ``Cache-Control: no-store`` (they carry note text, evidence or names);
  every answer but the OpenAPI pages carries a Content-Security-Policy that allows only
  the service's own scripts, styles and connections (no inline script: the pages keep
  theirs in ``server/static/*.js``), and ``frame-ancestors 'self'`` plus the configured
  EHR origins (``SCRIBE_FRAME_ANCESTORS``). ``/docs`` and ``/redoc`` (FastAPI's pages, with
  inline script and a CDN) carry only the ``frame-ancestors`` part.
* ``BodyLimit``: a request body over ``max_bytes`` is refused with 413 before the
  application reads it, whoever sends it (authentication comes after the body in
  FastAPI, so an unauthenticated client could otherwise make the server buffer a body
  of any size): at once when ``Content-Length`` says so, else as soon as the streamed
  chunks pass the limit. The connection is then closed, so the rest is never read.

CORS is FastAPI's ``CORSMiddleware``, added only when ``SCRIBE_CORS_ORIGINS`` names
origins (``server/app.py``): without it no cross-origin page may read an answer.
"""
from __future__ import annotations

import orjson
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
NO_STORE_PREFIX = "/api/"
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
               "font-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'")
OPENAPI_PAGES = ("/docs", "/redoc")


def content_security_policy(path: str, frame_ancestors: list[str]) -> str:
    framing = "frame-ancestors " + " ".join(["'self'", *frame_ancestors])
    if path.startswith(OPENAPI_PAGES):
        return framing
    return f"{PAGE_POLICY}; {framing}"


def _error(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, frame_ancestors: list[str] | None = None):
        self.app = app
        self.frame_ancestors = list(frame_ancestors or ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = scope["path"].startswith(NO_STORE_PREFIX)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers[name] = value
                if no_store:
                    headers["Cache-Control"] = "no-store"
                headers["Content-Security-Policy"] = content_security_policy(scope["path"], self.frame_ancestors)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:     # an unhandled error still answers with the headers
                await _answer(send_with_headers, 500, _error("INTERNAL_ERROR", "the server failed on this request"))
            raise


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _answer(send, 400, _error("BAD_REQUEST", "Content-Length is not a number"), close=True)
                return
            if length > self.max_bytes:
                await self._refuse(send)
                return
        received, refused, started = 0, False, False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await self._refuse(send)
                    return {"type": "http.disconnect"}      # the application stops reading
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:         # the 413 is the answer; whatever the application says is dropped
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _refuse(self, send: Send) -> None:
        await _answer(send, 413, _error("BODY_TOO_LARGE", f"a request body may have at most {self.max_bytes} bytes"),
                      close=True)


async def _answer(send: Send, status: int, body: bytes, *, close: bool = False) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:           # the unread rest of the body is never read: the connection ends here
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
