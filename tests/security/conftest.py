"""Fixtures of the security tests: a real `scribe serve` on 127.0.0.1 with its own SQLite
file, tokens made in the same database from this (another) process, and the `scribe`
command run as a subprocess (revocation from another process sharing the database)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed

from scribe_server.store import Store

from ..live import Server


class Live:
    """A started server, its database URL and a store on the same file."""

    def __init__(self, server: Server, url: str):
        self.server, self.url = server, url
        self.store = Store(url)

    def token(self, role: str = "physician", name: str = "dr_lee", **kw) -> tuple[str, int]:
        token, row = self.store.create_token(name=name, role=role, **kw)
        return token, row["id"]

    def scribe(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        """`scribe ARGS --db URL` in its own process."""
        return subprocess.run([sys.executable, "-m", "scribe.cli", *args, "--db", self.url], capture_output=True,
                              text=True, timeout=120, env={**os.environ, **(env or {})})

    def request(self, method: str, path: str, token: str | None = None, body: bytes | None = None,
                headers: dict | None = None):
        """(status, headers, body bytes) of one HTTP request; never raises on an error status."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.server.base + path, data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def json(self, method: str, path: str, token: str | None = None, payload=None):
        status, _, body = self.request(method, path, token, None if payload is None else json.dumps(payload).encode())
        return status, json.loads(body) if body else None

    def close(self) -> None:
        self.store.dispose()


def start_live(tmp_path, **env) -> Live:
    url = f"sqlite:///{tmp_path / 'security.sqlite'}"
    setup = Store(url)
    setup.migrate()
    setup.dispose()
    server = Server(tmp_path, url)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        server.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Live(server, url)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One server per test module (default settings)."""
    live = start_live(tmp_path_factory.mktemp("security"))
    yield live
    live.server.stop()
    live.close()


def closed_within(ws, seconds: float) -> tuple[ConnectionClosed | None, list[dict]]:
    """Wait up to ``seconds`` for the server to close ``ws``; returns the close (None if it
    stayed open) and any frames received meanwhile."""
    frames, deadline = [], time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None, frames
        try:
            frames.append(json.loads(ws.recv(timeout=left)))
        except TimeoutError:
            return None, frames
        except ConnectionClosed as closed:
            return closed, frames
