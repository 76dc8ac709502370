"""`scribe token ...` commands, the light import of the service CLI, settings, and
logging that keeps note text and tokens out of the logs."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from scribe_server.config import Settings
from scribe_server.logsafe import PhiSafeFilter
from scribe_server.store import Store

from .conftest import ENCOUNTER, NOTE, dictate


def scribe(*args, env=None):
    return subprocess.run([sys.executable, "-m", "scribe.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_token_create_list_revoke(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    made = scribe("token", "create", "--role", "scribe", "--name", "sam", "--db", url)
    assert made.returncode == 0, made.stderr
    token = made.stdout.splitlines()[-1]
    assert token.startswith("scr_") and made.stdout.strip() == token
    via_env = scribe("token", "create", "--role", "admin", "--name", "ada", env={"SCRIBE_DB_URL": url})
    assert via_env.returncode == 0
    store = Store(url)
    assert store.principal_for(token).role == "scribe" and store.count_tokens() == 2
    listed = scribe("token", "list", "--db", url)
    assert "sam" in listed.stdout and "ada" in listed.stdout and token not in listed.stdout
    assert scribe("token", "revoke", "1", "--db", url).returncode == 0
    assert store.principal_for(token) is None
    missing = scribe("token", "revoke", "42", "--db", url)
    assert missing.returncode == 2 and "no token 42" in missing.stderr
    bad_role = scribe("token", "create", "--role", "root", "--name", "x", "--db", url)
    assert bad_role.returncode == 2
    store.dispose()


def test_unreachable_database_is_one_line(tmp_path):
    r = scribe("token", "create", "--role", "admin", "--name", "x", "--db",
               "postgresql://nobody:secret@127.0.0.1:1/none")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "cannot open the database" in r.stderr and "secret" not in r.stderr


def test_batch_check_does_not_import_the_web_stack():
    code = ("import sys, scribe.cli; scribe.cli.build_parser(); "
            "print(sorted(m for m in ('fastapi', 'sqlalchemy', 'uvicorn', 'alembic') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "[]", r.stderr


def test_settings_from_environment_and_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRIBE_DB_URL", "postgresql://u@127.0.0.1/db")
    monkeypatch.setenv("SCRIBE_RATE_PER_SECOND", "7.5")
    s = Settings.load()
    assert s.database_url == "postgresql+psycopg://u@127.0.0.1/db" and s.rate_per_second == 7.5
    assert Settings.load(db_url=f"sqlite:///{tmp_path}/x.db").database_url.startswith("sqlite")
    monkeypatch.delenv("SCRIBE_DB_URL")
    monkeypatch.setenv("SCRIBE_DATA_DIR", str(tmp_path))
    assert Settings.load().database_url == f"sqlite:///{tmp_path / 'scribe.sqlite'}"
    monkeypatch.setenv("SCRIBE_MAX_MESSAGE_BYTES", "12")
    with pytest.raises(ValueError):
        Settings.load()


def test_note_text_never_reaches_the_logs(api, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    with api.ws() as ws:
        dictate(ws, NOTE, dictation_id="logged")
        ws.send_json({"type": "start", "encounter": ENCOUNTER})
        ws.receive_json()
        monkeypatch.setattr(api.app.state.hub, "segment", lambda *a, **k: {}["Electronically signed by Lee Park"])
        ws.send_json({"type": "segment", "seq": 1, "text": "Electronically signed by Lee Park", "final": True})
        assert ws.receive_json()["code"] == "INTERNAL_ERROR"
    api.get("/api/dictations/logged", "physician")
    logged = caplog.text
    assert "logged" in logged and "internal error" in logged
    for fragment in ("Lumbar spine", "Normal alignment", "Lee Park", api.tokens["physician"]):
        assert fragment not in logged


def test_safe_filter_drops_tracebacks_and_masks_tokens():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "GET %s", ("/sidebar?access_token=scr_abc&x=1",),
                               None)
    try:
        raise ValueError("the patient has a secret")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert PhiSafeFilter(debug=False).filter(record)
    text = logging.Formatter().format(record)
    assert "secret" not in text and "scr_abc" not in text and "ValueError" in text and "access_token=***" in text


def test_transport_cap_follows_the_message_limit(monkeypatch):
    """The hard frame cap (close with 1009) is at least 16 MiB and 4x SCRIBE_MAX_MESSAGE_BYTES,
    and an explicit SCRIBE_TRANSPORT_MAX_BYTES never drops below the message limit."""
    for name in ("SCRIBE_MAX_MESSAGE_BYTES", "SCRIBE_TRANSPORT_MAX_BYTES"):
        monkeypatch.delenv(name, raising=False)
    assert Settings.load().frame_cap == 16 * 1024 * 1024
    monkeypatch.setenv("SCRIBE_MAX_MESSAGE_BYTES", str(8 * 1024 * 1024))
    assert Settings.load().frame_cap == 32 * 1024 * 1024
    monkeypatch.setenv("SCRIBE_TRANSPORT_MAX_BYTES", "65536")
    assert Settings.load().frame_cap == 8 * 1024 * 1024
