"""Several server processes on one PostgreSQL database (issue 12, the live service on N
workers): two real `scribe serve` processes on their own ports, sharing a throwaway
PostgreSQL on loopback, driven by real WebSocket clients; and `scribe serve --workers 2`
behind one port, with kill -9 of its workers."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from scribe import Encounter

from scribe_server.config import Settings
from scribe_server.store import Store

from ..live import Server, ask, free_port
from .conftest import ENCOUNTER, NOTE

pytestmark = pytest.mark.postgres
LINES = NOTE.splitlines(keepends=True)
CAP = 2          # open WebSockets per token, counted across both processes


def comparable(state: dict) -> dict:
    """A state without the marks that say how it reached this connection."""
    return {k: v for k, v in state.items() if k not in ("pushed", "watching")}


def batch(engine, text: str, encounter: dict = ENCOUNTER) -> dict:
    out = engine.check(text, Encounter.from_dict(encounter)).to_dict()
    return {k: out[k] for k in ("gaps", "facts", "indications", "supported_cpt")}


def analysed(state: dict) -> dict:
    return {k: state[k] for k in ("gaps", "facts", "indications", "supported_cpt")}


@pytest.fixture(scope="module")
def pair(postgres_server, tmp_path_factory):
    """Two `scribe serve` processes (A and B) on one PostgreSQL database."""
    url = postgres_server()
    setup = Store(Settings(db_url=url).database_url)
    setup.migrate()
    servers = [Server(tmp_path_factory.mktemp(name), url, env={"SCRIBE_MAX_CONNECTIONS_PER_TOKEN": str(CAP)})
               for name in ("a", "b")]
    try:
        with ThreadPoolExecutor(2) as starting:        # both build their engines at once
            for started in [starting.submit(server.start) for server in servers]:
                started.result()
        yield setup, servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()
        setup.dispose()


def physician(store: Store, name: str) -> str:
    return store.create_token(name=name, role="physician")[0]


def test_a_dictation_alternating_between_two_processes_ends_as_batch(pair, engine):
    store, a, b = pair
    token = physician(store, "dr_alternate")
    with a.ws(token) as wa, b.ws(token) as wb:
        assert ask(wa, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "alt"})["type"] == "state"
        assert ask(wb, {"type": "resume", "dictation_id": "alt"})["seq"] is None
        text, seq = "", 0
        for i, line in enumerate(LINES):
            here, there = (wa, wb) if i % 2 == 0 else (wb, wa)
            seq += 1        # a partial on one process, its final on the other
            state = ask(there, {"type": "segment", "seq": seq, "text": line[:15], "final": False})
            assert state["type"] == "state" and state["seq"] == seq and state["final_length"] == len(text)
            assert analysed(state) == batch(engine, text + line[:15])
            seq += 1
            text += line
            state = ask(here, {"type": "segment", "seq": seq, "text": line, "final": True})
            assert state["type"] == "state" and state["seq"] == seq and state["final_length"] == len(text)
            assert analysed(state) == batch(engine, text)
        # what the other process already applied is not applied again
        assert ask(wa, {"type": "segment", "seq": seq, "text": "again", "final": True})["code"] == "SEQ_REPEATED"
        assert ask(wb, {"type": "segment", "seq": seq - 1, "text": "late", "final": True})["code"] == "SEQ_OUT_OF_ORDER"
        state = ask(wb, {"type": "edit", "start": 0, "end": 4, "text": "Exam"})
        text = "Exam" + text[4:]
        assert analysed(state) == batch(engine, text)
        encounter = {**ENCOUNTER, "icd10": ["M54.59"]}
        state = ask(wa, {"type": "context", "encounter": encounter})
        assert analysed(state) == batch(engine, text, encounter)
        seq += 1
        state = ask(wb, {"type": "segment", "seq": seq, "text": " Dictated by Lee Park, MD.", "final": True})
        text += " Dictated by Lee Park, MD."
        assert analysed(state) == batch(engine, text, encounter)
        done = ask(wa, {"type": "finalize"})
        assert done == {"type": "finalized", "dictation_id": "alt", "seq": seq,
                        "gaps": batch(engine, text, encounter)["gaps"]}
        # finalized by A: B, which still holds the session, learns it from the database
        late = ask(wb, {"type": "segment", "seq": seq + 1, "text": "more", "final": True})
        assert late["code"] == "DICTATION_FINALIZED"
    key = store.find_dictation(owner="dr_alternate", ref="alt")
    assert store.dictation_row(key)["final_text"] == text


def test_a_watcher_on_one_process_receives_the_states_caused_on_the_other(pair):
    store, a, b = pair
    token = physician(store, "dr_watched")
    with a.ws(token) as speech, b.ws(token) as sidebar:
        started = ask(speech, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "watched"})
        watching = ask(sidebar, {"type": "watch", "dictation_id": "watched"})
        assert watching["watching"] is True and comparable(watching) == comparable({**started, "raised": [],
                                                                                     "resolved": []})
        messages = [{"type": "segment", "seq": 1, "text": "Lumbar spine three views. Indication low back", "final": False}]
        messages += [{"type": "segment", "seq": seq, "text": line, "final": True} for seq, line in enumerate(LINES, 2)]
        messages += [{"type": "edit", "start": 0, "end": 4, "text": "Exam"},
                     {"type": "context", "encounter": {**ENCOUNTER, "icd10": ["M54.59"]}},
                     {"type": "finalize"}]
        for message in messages:
            answer = ask(speech, message)
            assert answer["type"] in ("state", "finalized"), answer
            pushed = json.loads(sidebar.recv(timeout=30))
            assert pushed["pushed"] is True
            # the same state, raised and resolved included: B followed the same changes in order
            assert comparable(pushed) == answer


def test_two_processes_writing_one_dictation_at_once_lose_and_repeat_nothing(pair, engine):
    """A speech engine on A and a second client on B send segments of one dictation at the
    same time (odd seqs on A, even on B): each change is applied once, in seq order; a
    segment whose seq was overtaken is refused (SEQ_OUT_OF_ORDER), never half-applied."""
    store, a, b = pair
    token = physician(store, "dr_race")
    texts = {s: f"Finding {s}: normal alignment at L{s % 5 + 1}. " for s in range(1, 61)}
    answers: dict[int, dict] = {}
    with a.ws(token) as wa:
        ask(wa, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "race"})
        with b.ws(token) as wb:
            ask(wb, {"type": "resume", "dictation_id": "race"})
            go = threading.Barrier(2)

            def send(ws, seqs):
                go.wait()
                for s in seqs:
                    answers[s] = ask(ws, {"type": "segment", "seq": s, "text": texts[s], "final": True})

            threads = [threading.Thread(target=send, args=(wa, range(1, 61, 2))),
                       threading.Thread(target=send, args=(wb, range(2, 61, 2)))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
        applied = sorted(s for s, ans in answers.items() if ans["type"] == "state")
        refused = {ans.get("code") for ans in answers.values() if ans["type"] != "state"}
        assert len(answers) == 60 and refused <= {"SEQ_OUT_OF_ORDER"}, refused
        expected = ""
        for s in applied:       # each acknowledgement saw every earlier applied segment, and only those
            expected += texts[s]
            assert answers[s]["final_length"] == len(expected), s
        resumed = ask(wa, {"type": "resume", "dictation_id": "race"})
        assert resumed["final_length"] == len(expected) and resumed["seq"] == applied[-1]
        assert analysed(resumed) == batch(engine, expected)
        ask(wa, {"type": "finalize"})
    assert store.dictation_row(store.find_dictation(owner="dr_race", ref="race"))["final_text"] == expected


def _connect_refused(server: Server, token: str) -> dict:
    with server.ws(token) as ws:
        refusal = json.loads(ws.recv(timeout=10))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    return refusal


@contextlib.contextmanager
def _until_accepted(server: Server, token: str, seconds: float = 15.0):
    """A connection once the cap has room again (a closed or killed holder is noticed
    asynchronously, so the first attempts may still be refused)."""
    deadline = time.monotonic() + seconds
    while True:
        with server.ws(token) as ws:
            first = ask(ws, {"type": "start", "encounter": ENCOUNTER})
            if first["type"] == "state":
                yield ws
                return
        assert first["code"] == "TOO_MANY_CONNECTIONS" and time.monotonic() < deadline, first
        time.sleep(0.2)


def test_the_connection_cap_of_a_token_holds_across_processes(pair):
    store, a, b = pair
    token = physician(store, "dr_capped")
    with a.ws(token) as first, b.ws(token) as second:
        for ws in (first, second):
            assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
        for server in (a, b):     # the cap is 2 in all, not 2 per process
            assert _connect_refused(server, token)["code"] == "TOO_MANY_CONNECTIONS"
    with _until_accepted(a, token), _until_accepted(a, token):    # both places free again, wherever taken
        assert _connect_refused(b, token)["code"] == "TOO_MANY_CONNECTIONS"


def test_a_token_spread_over_both_processes_gets_at_most_cap_times_the_rate(pair):
    """The message rate is per connection (its bucket lives with it, in one process) and the
    per-token cap is counted across processes, so what one token sends is bounded by cap x
    rate however many processes it reaches."""
    store, a, b = pair
    token = physician(store, "dr_rated")
    burst, rate, sent = Settings().rate_burst, Settings().rate_per_second, 100
    with a.ws(token) as wa, b.ws(token) as wb:
        for ws in (wa, wb):
            assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
        assert _connect_refused(a, token)["code"] == "TOO_MANY_CONNECTIONS"     # no third bucket
        began = time.monotonic()
        for ws in (wa, wb):
            for _ in range(sent):
                ws.send("not json")         # cheap frames: whatever is not refused is answered INVALID_JSON
        codes = [[json.loads(ws.recv(timeout=30))["code"] for _ in range(sent)] for ws in (wa, wb)]
        elapsed = time.monotonic() - began
    for answered in codes:
        assert set(answered) <= {"INVALID_JSON", "RATE_LIMITED"}
        through = answered.count("INVALID_JSON")
        # the start spent one token of the burst; the bucket refills at ``rate`` meanwhile
        assert burst - 1 <= through <= burst + rate * elapsed + 1, (through, elapsed)
        assert answered.count("RATE_LIMITED") == sent - through


def test_a_ticket_asked_of_one_process_opens_a_websocket_on_the_other(pair):
    store, a, b = pair
    token = physician(store, "dr_ticket_pair")
    req = urllib.request.Request(a.base + "/api/ws-ticket", method="POST", data=b"",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        ticket = json.loads(r.read())["ticket"]
    with connect(f"ws://127.0.0.1:{b.port}/ws/dictation?ticket={ticket}", open_timeout=10) as ws:
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
    with connect(f"ws://127.0.0.1:{a.port}/ws/dictation?ticket={ticket}", open_timeout=10) as ws:   # spent
        assert json.loads(ws.recv(timeout=10))["code"] == "BAD_TOKEN"


def test_kill_9_of_the_process_holding_a_dictation_then_resume_on_the_other(pair, engine):
    store, a, b = pair
    token = physician(store, "dr_killed")
    with a.ws(token) as wa:
        ask(wa, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "kill-a"})
        text = ""
        for seq, line in enumerate(LINES[:4], 1):
            text += line
            ask(wa, {"type": "segment", "seq": seq, "text": line, "final": True})
        wa.send(json.dumps({"type": "edit", "start": 0, "end": 4, "text": "Exam"}))
        text = "Exam" + text[4:]
        before = json.loads(wa.recv(timeout=30))
        a.kill9()           # no shutdown: what A acknowledged must be in the database
        with pytest.raises(ConnectionClosed):
            ask(wa, {"type": "segment", "seq": 5, "text": LINES[4], "final": True})
    try:
        # A's connection slots died with it: B takes both places of the token at once
        with b.ws(token) as wb, _until_accepted(b, token):
            after = ask(wb, {"type": "resume", "dictation_id": "kill-a"})
            assert comparable(after) == {**before, "raised": [], "resolved": []}
            for seq, line in enumerate(LINES[4:], 5):
                text += line
                state = ask(wb, {"type": "segment", "seq": seq, "text": line, "final": True})
            assert analysed(state) == batch(engine, text)
            done = ask(wb, {"type": "finalize"})
            assert done["gaps"] == batch(engine, text)["gaps"]
    finally:
        a.port = free_port()
        a.start()           # for any test after this one


def _pids(server: Server, count: int) -> list[int]:
    lines = server.wait_for(r"scribe service ready \(process \d+", count)
    return [int(line.split("(process ")[1].split(",")[0]) for line in lines]


def test_serve_workers_behind_one_port_survive_kill_9_of_each_worker(postgres_server, tmp_path, engine):
    """`scribe serve --workers 2`: each worker is killed in turn mid-dictation; the client
    resumes through the same port (on a worker that did not hold the dictation) and the
    note ends as batch. The supervisor replaces each killed worker."""
    url = postgres_server()
    server = Server(tmp_path, url)
    server.start("--workers", "2")
    try:
        token = server.page_tokens()["physician"]
        first, second = _pids(server, 2)
        connections = contextlib.ExitStack()
        ws = connections.enter_context(server.ws(token))
        ask(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "workers"})
        text, seq, dropped = "", 0, 0
        lines = iter(LINES)
        for victim, ready in ((first, 3), (second, 4)):
            for line in (next(lines), next(lines)):
                seq += 1
                text += line
                assert ask(ws, {"type": "segment", "seq": seq, "text": line, "final": True})["type"] == "state"
            os.kill(victim, 9)
            line = next(lines)
            seq += 1
            try:
                state = ask(ws, {"type": "segment", "seq": seq, "text": line, "final": True})
            except ConnectionClosed:        # the dictation's worker died: resume through the same port
                dropped += 1
                ws = connections.enter_context(server.ws(token))
                assert ask(ws, {"type": "resume", "dictation_id": "workers"})["final_length"] == len(text)
                state = ask(ws, {"type": "segment", "seq": seq, "text": line, "final": True})
            text += line
            assert state["final_length"] == len(text)
            _pids(server, ready)            # the supervisor started a replacement
        assert dropped >= 1                 # the worker holding the connection was killed at least once
        for line in lines:
            seq += 1
            text += line
            state = ask(ws, {"type": "segment", "seq": seq, "text": line, "final": True})
        assert analysed(state) == batch(engine, text)
        assert ask(ws, {"type": "finalize"})["gaps"] == batch(engine, text)["gaps"]
        connections.close()
    finally:
        server.stop()


def test_serve_workers_refuses_sqlite(tmp_path):
    out = subprocess.run([sys.executable, "-m", "scribe.cli", "serve", "--workers", "2", "--db",
                          f"sqlite:///{tmp_path / 'one.sqlite'}", "--port", str(free_port())],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "SCRIBE_DATA_DIR": str(tmp_path)})
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "needs PostgreSQL" in out.stderr, out.stderr
