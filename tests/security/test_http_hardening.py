"""HTTP hardening (issue 14, item 5, in part): every answer of every route carries
``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``, every API
answer ``Cache-Control: no-store``; a request body over the cap gets 413 before the
server reads it (authenticated or not); CORS is closed unless origins are configured.
The routes come from the app's own route table, so a new route is checked too."""
from __future__ import annotations

import json
import re
import select
import socket
import time

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from scribe_server.app import create_app
from scribe_server.config import Settings

from .conftest import start_live

ROLES = ("physician", "scribe", "manager", "admin")
SAMPLE_PARAMS = {"token_id": "999999", "gap_id": "999999", "dictation_id": "no-such-dictation"}


def route_table() -> list[tuple[str, str]]:
    """(method, path) of every HTTP route the app declares, path parameters filled in."""
    app = create_app(Settings(db_url="sqlite:///:memory:"))
    out = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if isinstance(route, Mount):                     # the static files
            out.append(("GET", route.path + "/sidebar.js"))
            out.append(("GET", route.path + "/no-such-file.js"))
            continue
        if not ctx.methods:                              # the WebSocket
            continue
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE_PARAMS.get(m.group(1), "x"), ctx.path)
        out += [(method, path) for method in sorted(ctx.methods) if method != "HEAD"]
    return out


def test_hardening_route_table_is_enumerated():
    routes = route_table()
    assert len(routes) >= 30
    for expected in (("GET", "/api/me"), ("POST", "/api/tokens"), ("GET", "/sidebar"), ("GET", "/docs"),
                     ("GET", "/static/sidebar.js"), ("POST", "/api/review/gaps/999999/resolve")):
        assert expected in routes


def test_hardening_every_route_carries_the_security_headers(live):
    tokens = {role: live.token(role=role, name=f"hdr_{role}")[0] for role in ROLES}
    seen = set()
    for method, path in route_table() + [("GET", "/no-such-page"), ("PUT", "/api/me")]:
        for role in (None, *ROLES):
            body = b"{}" if method in ("POST", "PUT") else None
            status, headers, _ = live.request(method, path, tokens.get(role), body)
            where = f"{method} {path} as {role or 'nobody'} -> {status}"
            seen.add(status)
            assert headers.get("X-Content-Type-Options") == "nosniff", where
            assert headers.get("Referrer-Policy") == "no-referrer", where
            if path.startswith("/api/"):
                assert headers.get("Cache-Control") == "no-store", where
    assert {200, 401, 403, 404} <= seen            # answers of every kind were checked


def test_hardening_phi_answers_are_not_stored(live):
    token, _ = live.token(name="dr_cache")
    with live.server.ws(token) as ws:
        ws.send(json.dumps({"type": "start", "dictation_id": "cache-1", "encounter": {"cpt": ["72100"],
                            "site": "office"}}))
        ws.recv(timeout=30)
        ws.send(json.dumps({"type": "segment", "seq": 1, "text": "Lumbar spine, two views. ", "final": True}))
        ws.recv(timeout=30)
    status, headers, body = live.request("GET", "/api/dictations/cache-1", token)
    assert status == 200 and b"Lumbar spine" in body
    assert headers["Cache-Control"] == "no-store"


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])


def read_status(sock: socket.socket, seconds: float = 10.0) -> tuple[int, bytes]:
    data, deadline = b"", time.monotonic() + seconds
    sock.setblocking(True)
    sock.settimeout(seconds)
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(head.split()[1]), rest


def test_hardening_oversized_unauthenticated_post_is_refused_unread(live):
    """100 MB streamed (chunked, no Content-Length) by a client without a token: the server
    answers 413 after the cap and stops reading; its memory does not grow with the body."""
    pid, total, chunk = live.server.proc.pid, 100 * 1024 * 1024, b"x" * 65536
    before = rss_kib(pid)
    sock = socket.create_connection(("127.0.0.1", live.server.port), timeout=10)
    sock.sendall(b"POST /api/review/gaps/1/resolve HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    sock.setblocking(False)
    sent, answer, framed = 0, b"", b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    deadline = time.monotonic() + 60
    while sent < total and time.monotonic() < deadline:
        readable, writable, _ = select.select([sock], [sock], [], 1.0)
        if readable:
            break                                      # the server answered before the body ended
        if writable:
            try:
                sent += sock.send(framed)
            except (BlockingIOError, InterruptedError):
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
    try:
        status, body = read_status(sock)
    finally:
        sock.close()
    assert status == 413 and json.loads(body)["error"]["code"] == "BODY_TOO_LARGE"
    assert sent < total // 4, f"the server read {sent} bytes of the body"
    assert rss_kib(pid) - before < 30 * 1024


def test_hardening_declared_oversized_body_is_refused_before_it_is_sent(live):
    admin, _ = live.token(role="admin", name="ada_big")
    with socket.create_connection(("127.0.0.1", live.server.port), timeout=10) as sock:
        sock.sendall(b"POST /api/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + admin.encode() + b"\r\nContent-Length: 104857600\r\n\r\n{")
        status, body = read_status(sock)
    assert status == 413 and json.loads(body)["error"]["code"] == "BODY_TOO_LARGE"
    # a body within the cap is still read and served
    status, made = live.json("POST", "/api/tokens", admin, {"name": "small", "role": "scribe"})
    assert status == 201 and made["token"].startswith("scr_")


def preflight(live, origin: str):
    return live.request("OPTIONS", "/api/me", headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                                                         "Access-Control-Request-Headers": "authorization"})


@pytest.fixture(scope="module")
def with_cors(tmp_path_factory):
    live = start_live(tmp_path_factory.mktemp("cors"), SCRIBE_CORS_ORIGINS="https://ehr.example.org")
    yield live
    live.server.stop()
    live.close()


def test_hardening_cors_is_closed_unless_configured(live, with_cors):
    token, _ = live.token(name="dr_cors")
    for server in (live, with_cors):
        _, headers, _ = preflight(server, "https://evil.example.com")
        assert "Access-Control-Allow-Origin" not in headers
        _, headers, _ = server.request("GET", "/api/me", token, headers={"Origin": "https://evil.example.com"})
        assert "Access-Control-Allow-Origin" not in headers
    status, headers, _ = preflight(with_cors, "https://ehr.example.org")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://ehr.example.org"
    assert headers.get("X-Content-Type-Options") == "nosniff"
    other, _ = with_cors.token(name="dr_cors")
    _, headers, _ = with_cors.request("GET", "/api/me", other, headers={"Origin": "https://ehr.example.org"})
    assert headers["Access-Control-Allow-Origin"] == "https://ehr.example.org"
