"""A real `scribe serve` process on 127.0.0.1 for tests: start, kill -9, stop, the
first-start page tokens, and a `websockets` client."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from websockets.sync.client import connect


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


URL_LINE = re.compile(r"^\s+(\w+)\s+\((\w+)\): (http://\S+/(\w+)\?access_token=(\S+))$")


class Server:
    def __init__(self, tmp_path, db_url: str, env: dict | None = None):
        self.tmp_path, self.db_url, self.port = tmp_path, db_url, free_port()
        self.env = dict(env or {})          # extra SCRIBE_* settings of this server
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str, timeout: float = 90.0) -> None:
        env = {**os.environ, "SCRIBE_DATA_DIR": str(self.tmp_path), "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("SCRIBE_DB_URL", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "scribe.cli", "serve", "--port", str(self.port),
                                      "--db", self.db_url, *extra], env=env, stdout=subprocess.PIPE,
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

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 90.0) -> list[str]:
        """Wait until ``count`` lines of the server's output match ``pattern`` (a regex)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            self._drain()
            found = [line for line in self.output if rx.search(line)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline or (self.proc is not None and self.proc.poll() is not None):
                raise AssertionError(f"no {count} lines matching {pattern!r}:\n" + "".join(self.output))
            time.sleep(0.1)

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




def dictate_and_finalize(server: "Server", token: str, dictation_id: str, encounter: dict, text: str) -> list[dict]:
    """A physician dictates ``text`` line by line over the WebSocket and finalizes it; returns
    the gaps left open."""
    with server.ws(token) as ws:
        assert ask(ws, {"type": "start", "encounter": encounter, "dictation_id": dictation_id})["type"] == "state"
        for seq, line in enumerate(text.splitlines(keepends=True), 1):
            assert ask(ws, {"type": "segment", "seq": seq, "text": line, "final": True})["type"] == "state"
        done = ask(ws, {"type": "finalize"})
    assert done["type"] == "finalized", done
    return done["gaps"]
