"""The real thing: `scribe serve` (uvicorn) on 127.0.0.1 driven by a `websockets`
client, including kill -9 of the server, a restart, and resume."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from scribe import Encounter

from ..live import Server, ask, free_port, http_get
from .conftest import ENCOUNTER, NOTE


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


KNEES = ("EXAM: XR BOTH KNEES 2 VIEWS\nIndication: bilateral knee pain after a fall.\nOrdering: Dr. Ana Ruiz.\n"
         "Technique: AP and lateral of both knees.\nComparison: none.\nFindings: No fracture.\n"
         "Impression: No acute abnormality.\nElectronically signed by Lee Park, MD")
KNEE_LINES = [{"cpt": "73560", "modifiers": ["RT"]}, {"cpt": "73560", "modifiers": ["LT"]}]


def test_a_bad_claim_line_is_an_error_naming_it_and_the_dictation_goes_on(server, engine):
    """Issue 10, "Bad input", on the socket: a refused `start` opens nothing (a corrected one
    does), a refused `context` leaves the dictation on its encounter, and a corrected `context`
    then applies; the connection stays open throughout."""
    token = server.page_tokens()["physician"]
    with server.ws(token) as ws:
        refused = ask(ws, {"type": "start", "encounter": {"lines": [KNEE_LINES[0], {"cpt": "73599", "modifiers": ["LT"]}]}})
        assert (refused["type"], refused["code"], refused["line"], refused["cpt"]) == ("error", "UNKNOWN_CPT", 1, "73599")
        assert refused["message"].startswith("line 2 (lines[1]): CPT 73599 ")
        assert ask(ws, {"type": "segment", "seq": 1, "text": "x", "final": True})["type"] == "error"   # nothing open
        empty = ask(ws, {"type": "start", "encounter": {"lines": []}})
        assert empty["code"] == "CPT_MISSING" and "'lines' is empty" in empty["message"]
        state = ask(ws, {"type": "start", "encounter": {"lines": KNEE_LINES}})
        assert state["type"] == "state"
        state = ask(ws, {"type": "segment", "seq": 1, "text": KNEES, "final": True})
        assert state["type"] == "state" and state["gaps"] == []
        for bad, code, line in (
                ({"lines": [{"cpt": "73510", "modifiers": ["RT"]}]}, "DELETED_CPT", 0),
                ({"cpt": ["73560", "73562"], "lines": KNEE_LINES}, "BAD_ENCOUNTER", 1),
                ({"lines": [KNEE_LINES[0], {"cpt": ["73560", "73562"]}]}, "BAD_ENCOUNTER", 1)):
            answer = ask(ws, {"type": "context", "encounter": bad})
            assert (answer["type"], answer["code"], answer["line"]) == ("error", code, line), answer
            assert f"line {line + 1} (lines[{line}])" in answer["message"]
        # the dictation is still on its lines: one side billed now raises a mismatch, both again clears it
        one = ask(ws, {"type": "context", "encounter": {"lines": KNEE_LINES[:1]}})
        assert one["type"] == "state" and "LATERALITY_MISMATCH" in {g["code"] for g in one["raised"]}
        fixed = ask(ws, {"type": "context", "encounter": {"lines": KNEE_LINES}})
        assert fixed["type"] == "state" and fixed["gaps"] == [] and fixed["final_length"] == len(KNEES)
        expected = engine.check(KNEES, Encounter.from_dict({"lines": KNEE_LINES})).to_dict()
        done = ask(ws, {"type": "finalize"})
        assert done["type"] == "finalized" and done["gaps"] == expected["gaps"] == []


def test_post_api_check_answers_a_case_or_its_error_naming_the_line(server):
    token = server.page_tokens()["physician"]

    def post(case):
        req = urllib.request.Request(server.base + "/api/check", data=json.dumps(case).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, result = post({"id": "k", "text": KNEES, "lines": KNEE_LINES})
    assert status == 200 and result["id"] == "k" and result["gaps"] == []
    status, body = post({"id": "k", "text": KNEES, "lines": [KNEE_LINES[0], {"cpt": "73599", "modifiers": ["LT"]}]})
    assert status == 422 and (body["error"]["code"], body["error"]["line"], body["error"]["cpt"]) == ("UNKNOWN_CPT", 1, "73599")


def test_an_8_mib_frame_gets_message_too_large_and_the_dictation_goes_on(server):
    """Issue 13 item 9: a pasted 8 MiB note is answered, not a closed socket; only a frame
    over the transport cap (16 MiB by default) closes the connection, with 1009."""
    token = server.page_tokens()["physician"]
    with server.ws(token) as ws:
        ask(ws, {"type": "start", "encounter": ENCOUNTER, "dictation_id": "big-paste"})
        first = ask(ws, {"type": "segment", "seq": 1, "text": NOTE[:40], "final": True})
        assert first["final_length"] == 40
        huge = ask(ws, {"type": "segment", "seq": 2, "text": "x" * (8 * 1024 * 1024), "final": True})
        assert huge["type"] == "error" and huge["code"] == "MESSAGE_TOO_LARGE", huge
        assert "65536 bytes" in huge["message"]
        after = ask(ws, {"type": "segment", "seq": 2, "text": NOTE[40:], "final": True})
        assert after["type"] == "state" and after["seq"] == 2 and after["final_length"] == len(NOTE)
        assert ask(ws, {"type": "finalize"})["type"] == "finalized"
    with server.ws(token) as ws:                # beyond the transport cap the socket closes
        # The server refuses the frame by the length its header declares. Without
        # permessage-deflate (off by default) a client still pushing the 16 MiB body would
        # see the socket reset before it could read the close, so only the header and the
        # first bytes of the body are sent (a client frame: text, masked, 64-bit length).
        declared = 16 * 1024 * 1024 + 10
        ws.socket.sendall(bytes([0x81, 0x80 | 127]) + declared.to_bytes(8, "big") + b"\0\0\0\0"
                          + b'{"type": "segment"')
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
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


def _scribe_cli(*args):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "scribe.cli", *args], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "SCRIBE_DB_URL"})


def test_scribe_urls_prints_working_links_for_a_named_account(server):
    """Issue 13 item 10: after the first start, `scribe urls` gives an account's page links;
    a token is created only with --new-token (tokens are stored as hashes)."""
    where = ("--db", server.db_url, "--port", str(server.port))
    none_yet = _scribe_cli("urls", "--role", "physician", "--account", "dr_park", *where)
    assert none_yet.returncode == 2 and len(none_yet.stderr.strip().splitlines()) == 1
    assert "--new-token" in none_yet.stderr and "dr_park" in none_yet.stderr
    made = _scribe_cli("urls", "--role", "physician", "--account", "dr_park", "--new-token", *where)
    assert made.returncode == 0, made.stderr
    links = [line for line in made.stdout.splitlines() if "access_token=" in line]
    assert len(links) == 1 and f"{server.base}/sidebar?access_token=scr_" in links[0]
    link = links[0].split(": ", 1)[1]
    token = link.split("access_token=")[1]
    assert http_get(server.base + "/api/me", token) == (200, {"name": "dr_park", "role": "physician"})
    with urllib.request.urlopen(link, timeout=5) as r:
        assert r.status == 200 and b"dictation" in r.read()
    with server.ws(token) as ws:
        assert ask(ws, {"type": "start", "encounter": ENCOUNTER})["type"] == "state"
    again = _scribe_cli("urls", "--role", "physician", "--account", "dr_park", *where)   # no new token
    assert again.returncode == 0 and token not in again.stdout + again.stderr
    assert "/sidebar?access_token=TOKEN" in again.stdout and "--new-token" in again.stderr
    given = _scribe_cli("urls", "--role", "physician", "--account", "dr_park", "--token", token, *where)
    assert given.returncode == 0 and link in given.stdout
    wrong = _scribe_cli("urls", "--role", "scribe", "--account", "dr_park", "--token", token, *where)
    assert wrong.returncode == 2 and "belongs to dr_park (physician)" in wrong.stderr
    review = _scribe_cli("urls", "--role", "scribe", "--account", "local", "--new-token", *where)
    review_link = review.stdout.splitlines()[-1].split(": ", 1)[1]
    assert review_link.startswith(f"{server.base}/review?access_token=")
    assert http_get(server.base + "/api/review", review_link.split("access_token=")[1])[0] == 200


def test_restart_says_how_to_get_page_links(tmp_path):
    s = Server(tmp_path, f"sqlite:///{tmp_path / 'restart.sqlite'}")
    s.start()
    s.stop()
    first = "".join(s.output)
    s.output.clear()
    s.start()
    s.stop()
    assert "sidebar" in first and "scribe urls --role" not in first
    assert "scribe urls --role physician|scribe|manager [--account NAME] --new-token" in "".join(s.output)
