"""The real thing: `scribe serve` (uvicorn) on 127.0.0.1 driven by a `websockets`
client, including kill -9 of the server, a restart, and resume."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from scribe import Encounter

from .conftest import ENCOUNTER, NOTE, free_port

URL_LINE = re.compile(r"^\s+(\w+)\s+\((\w+)\): (http://\S+/(\w+)\?access_token=(\S+))$")


class Server:
    def __init__(self, tmp_path, db_url: str):
        self.tmp_path, self.db_url, self.port = tmp_path, db_url, free_port()
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        env = {**os.environ, "SCRIBE_DATA_DIR": str(self.tmp_path), "PYTHONUNBUFFERED": "1"}
        env.pop("SCRIBE_DB_URL", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "scribe.cli", "serve", "--port", str(self.port),
                                      "--db", self.db_url], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        os.set_blocking(self.proc.stdout.fileno(), False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._drain()
            if self.proc.poll() is not None:
                raise AssertionError("scribe serve exited:\n" + "".join(self.output))
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        self._drain()
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("scribe serve did not answer /healthz:\n" + "".join(self.output))

    def _drain(self) -> None:
        try:
            chunk = self.proc.stdout.read()
        except (TypeError, OSError):
            chunk = None
        if chunk:
            self.output.extend(chunk.splitlines(keepends=True))

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._drain()
            self.proc.stdout.close()

    def page_tokens(self) -> dict[str, str]:
        """{role: token} from the first-start URLs printed by `scribe serve`."""
        found = {}
        for line in self.output:
            m = URL_LINE.match(line.rstrip("\n"))
            if m:
                found[m.group(2)] = m.group(5)
        return found

    def ws(self, token: str, **kw):
        return connect(f"ws://127.0.0.1:{self.port}/ws/dictation", additional_headers={"Authorization": f"Bearer {token}"},
                       open_timeout=10, **kw)


def ask(ws, message) -> dict:
    ws.send(message if isinstance(message, str) else json.dumps(message))
    return json.loads(ws.recv(timeout=30))


def http_get(url: str, token: str | None = None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    s = Server(tmp, f"sqlite:///{tmp / 'live.sqlite'}")
    s.start()
    yield s
    s.stop()


def test_first_start_prints_working_page_urls(server):
    tokens = server.page_tokens()
    assert set(tokens) == {"physician", "scribe", "manager"}, "".join(server.output)
    admin = [l for l in server.output if "admin token" in l]
    assert admin and admin[0].split()[-1].startswith("scr_")
    for role, token in tokens.items():
        assert http_get(server.base + "/api/me", token) == (200, {"name": "local", "role": role})
    with urllib.request.urlopen(server.base + "/sidebar?access_token=" + tokens["physician"], timeout=5) as r:
        assert r.status == 200


def test_websockets_client_dictation_and_limits(server, engine):
    token = server.page_tokens()["physician"]
    with server.ws(token) as ws:
        state = ask(ws, {"type": "start", "encounter": ENCOUNTER})
        assert state["type"] == "state"
        for seq, i in enumerate(range(0, len(NOTE), 60), 1):
            state = ask(ws, {"type": "segment", "seq": seq, "text": NOTE[i:i + 60], "final": True})
            assert state["type"] == "state" and state["seq"] == seq
        expected = engine.check(NOTE, Encounter.from_dict(ENCOUNTER)).to_dict()
        assert state["gaps"] == expected["gaps"] and state["facts"] == expected["facts"]
        assert ask(ws, "{not json")["code"] == "INVALID_JSON"
        ws.send(b"\x00\x01")
        assert json.loads(ws.recv(timeout=10))["code"] == "BINARY_FRAME"
        too_big = ask(ws, {"type": "segment", "seq": 99, "text": "x" * 70_000, "final": True})
        assert too_big["code"] == "MESSAGE_TOO_LARGE"
        done = ask(ws, {"type": "finalize"})
        assert done["type"] == "finalized" and done["gaps"] == expected["gaps"]
    with server.ws(token) as ws:                # beyond the transport limit (1 MiB) the socket closes
        ws.send(json.dumps({"type": "segment", "seq": 1, "text": "x" * 1_100_000, "final": True}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1009


def test_refused_without_token(server):
    with connect(f"ws://127.0.0.1:{server.port}/ws/dictation", open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["code"] == "UNAUTHENTICATED"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 4401


def test_kill_9_restart_and_resume(tmp_path, engine):
    server = Server(tmp_path, f"sqlite:///{tmp_path / 'kill.sqlite'}")
    server.start()
    try:
        token = server.page_tokens()["physician"]
        with server.ws(token) as ws:
            ask(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "kill-me"})
            for seq, i in enumerate(range(0, 250, 50), 1):
                ask(ws, {"type": "segment", "seq": seq, "text": NOTE[i:i + 50], "final": True})
            ask(ws, {"type": "edit", "start": 0, "end": 5, "text": "EXAMINATION:"})
            before = ask(ws, {"type": "segment", "seq": 6, "text": NOTE[250:270], "final": False})
            server.kill9()                       # no shutdown, no flush: the acknowledged work must be on disk
    finally:
        if server.proc.poll() is None:
            server.kill9()
    server.port = free_port()
    server.start()
    try:
        with server.ws(token) as ws:
            after = ask(ws, {"type": "resume", "dictation_id": "kill-me"})
            strip = lambda s: {k: v for k, v in s.items() if k not in ("raised", "resolved")}
            assert strip(after) == strip(before)
            ask(ws, {"type": "segment", "seq": 7, "text": NOTE[250:], "final": True})
            done = ask(ws, {"type": "finalize"})
        text = "EXAMINATION:" + NOTE[5:]
        assert done["gaps"] == engine.check(text, Encounter.from_dict(ENCOUNTER)).to_dict()["gaps"]
    finally:
        server.stop()
