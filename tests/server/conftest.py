"""Fixtures of the service tests: databases (SQLite file and a throwaway PostgreSQL on
loopback), the app with a TestClient, tokens per role, and a helper to drive a dictation."""
from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():   # starlette's notice about httpx2 (not installed) is noise here
    warnings.simplefilter("ignore")
    import fastapi.testclient  # noqa: F401

from scribe_server.config import Settings
from scribe_server.store import Store

PG_BIN_DIRS = ("/usr/local/bin", "/usr/lib/postgresql/15/bin")
ROLES = ("physician", "scribe", "manager", "admin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in PG_BIN_DIRS:
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return None


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL 15 cluster in a temp dir on 127.0.0.1 (as the postgres user when root);
    yields a function making a fresh database URL. Skips when the binaries are absent."""
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found on PATH or in /usr/local/bin: "
                    "PostgreSQL persistence tests skipped")
    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="scribe-pg-"))
    if as_root:
        shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", free_port()
    try:
        subprocess.run(prefix + [initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-t", "60", "-o",
                                 f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
                                 "-c synchronous_commit=off -c full_page_writes=off", "start"],
                       check=True, capture_output=True, timeout=90)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"could not start a throwaway PostgreSQL: {exc}")
    import psycopg

    counter = itertools.count(1)

    def new_database() -> str:
        name = f"scribe_test_{next(counter)}"
        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{port}/{name}"

    try:
        yield new_database
    finally:
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh, empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'scribe.sqlite'}"
    return request.getfixturevalue("postgres_server")()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'scribe.sqlite'}"


@pytest.fixture
def store(db_url):
    s = Store(Settings(db_url=db_url).database_url)
    s.migrate()
    yield s
    s.dispose()


def make_tokens(store: Store) -> dict[str, str]:
    """A token per role (account names: dr_lee, sam_scribe, max_manager, ada_admin) and a
    second physician (dr_other)."""
    names = {"physician": "dr_lee", "scribe": "sam_scribe", "manager": "max_manager", "admin": "ada_admin"}
    tokens = {role: store.create_token(name=names[role], role=role)[0] for role in ROLES}
    tokens["other_physician"] = store.create_token(name="dr_other", role="physician")[0]
    return tokens


class Api:
    """A TestClient with the tokens of each role."""

    def __init__(self, client, tokens, app):
        self.client, self.tokens, self.app = client, tokens, app

    def headers(self, role: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, path, role=None, **kw):
        return self.client.get(path, headers=self.headers(role) if role else None, **kw)

    def post(self, path, role=None, **kw):
        return self.client.post(path, headers=self.headers(role) if role else None, **kw)

    def delete(self, path, role=None, **kw):
        return self.client.delete(path, headers=self.headers(role) if role else None, **kw)

    def ws(self, role="physician", **kw):
        return self.client.websocket_connect("/ws/dictation", headers=self.headers(role), **kw)

    @property
    def store(self) -> Store:
        return self.app.state.store


def make_api(url: str, engine, **settings):
    from fastapi.testclient import TestClient

    from scribe_server.app import create_app

    setup = Store(Settings(db_url=url).database_url)
    setup.migrate()
    tokens = make_tokens(setup)
    setup.dispose()
    app = create_app(Settings(db_url=url, **settings), engine=engine)
    return TestClient(app), tokens, app


@pytest.fixture
def api(sqlite_url, engine):
    client, tokens, app = make_api(sqlite_url, engine)
    with client:
        yield Api(client, tokens, app)


@pytest.fixture
def api_any_db(db_url, engine):
    client, tokens, app = make_api(db_url, engine)
    with client:
        yield Api(client, tokens, app)


ENCOUNTER = {"cpt": ["72100"], "icd10": ["M54.50"], "site": "office", "provider": "Dr Lee"}
NOTE = ("EXAM: Lumbar spine, 3 views.\nIndication: low back pain after a fall, rule out fracture.\n"
        "Technique: AP, lateral and coned lateral views.\nComparison: none.\nFindings: Normal alignment. "
        "No fracture.\nImpression: No acute abnormality.\nElectronically signed by Lee Park, MD")


def dictate(ws, text: str, encounter: dict = ENCOUNTER, *, pieces: int = 4, finalize: bool = True,
            dictation_id: str | None = None) -> list[dict]:
    """Start, send ``text`` as final segments (with a partial before each), optionally
    finalize; returns every answer."""
    start = {"type": "start", "encounter": encounter}
    if dictation_id:
        start["dictation_id"] = dictation_id
    ws.send_json(start)
    answers = [ws.receive_json()]
    step = max(1, len(text) // pieces + 1)
    seq = 0
    for i in range(0, len(text), step):
        seq += 1
        ws.send_json({"type": "segment", "seq": seq, "text": text[i:i + step][:10], "final": False})
        answers.append(ws.receive_json())
        seq += 1
        ws.send_json({"type": "segment", "seq": seq, "text": text[i:i + step], "final": True})
        answers.append(ws.receive_json())
    if finalize:
        ws.send_json({"type": "finalize"})
        answers.append(ws.receive_json())
    return answers
