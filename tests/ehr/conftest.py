"""The EHR tests' peers: the EHR double (``ehr_double.py``) and a real ``scribe serve``
registered with it (``SCRIBE_EHR_CONFIG``), both on 127.0.0.1, started once per session."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from ..live import Server, free_port
from .ehr_double import EhrDouble

CLIENT_ID = "scribe-test-client"


@pytest.fixture(scope="session")
def ehr_pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ehr")
    scribe = Server(tmp, f"sqlite:///{tmp / 'ehr.sqlite'}")
    double = EhrDouble(free_port(), client_id=CLIENT_ID, redirect_uri=f"{scribe.base}/smart/callback")
    double.start()
    config = {"public_url": scribe.base,
              "cds_clients": [{"iss": double.base, "jwks_url": double.jwks_url, "jku": [double.jwks_url],
                               "sub": "ehr-cds-client", "fhir_servers": [double.fhir_base]}],
              "smart": {"client_id": CLIENT_ID, "issuers": [double.fhir_base],
                        "accounts": {"Practitioner/pr1": "dr_lee"}},
              "max_attachment_bytes": 1024 * 1024}
    path = tmp / "ehr.json"
    path.write_text(json.dumps(config))

    def start():
        old = os.environ.get("SCRIBE_EHR_CONFIG")
        os.environ["SCRIBE_EHR_CONFIG"] = str(path)
        try:
            scribe.start()
        finally:
            if old is None:
                os.environ.pop("SCRIBE_EHR_CONFIG", None)
            else:
                os.environ["SCRIBE_EHR_CONFIG"] = old

    def restart():
        """Stop `scribe serve` and start it again on the same port and database."""
        scribe.stop()
        start()

    start()
    scribe.restart = restart
    yield scribe, double
    scribe.stop()
    double.stop()


@pytest.fixture
def scribe(ehr_pair):
    return ehr_pair[0]


@pytest.fixture
def double(ehr_pair):
    ehr_pair[1].behaviour.clear()
    return ehr_pair[1]


@pytest.fixture
def make_token(scribe):
    """make_token(role, name) -> a new API token of the session's `scribe serve` (its CLI)."""

    def run(role: str, name: str) -> str:
        out = subprocess.run([sys.executable, "-m", "scribe.cli", "token", "create", "--role", role, "--name", name,
                              "--db", scribe.db_url], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "SCRIBE_DATA_DIR": str(scribe.tmp_path)})
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]

    return run


@pytest.fixture
def call(scribe, double):
    """call(service_id, body, **jwt_claims) -> httpx.Response, signed by the EHR double."""

    def run(service_id: str, body: dict, *, token: str | None = None, path: str = "", **claims):
        url = f"{scribe.base}/cds-services/{service_id}{path}"
        jwt_token = token if token is not None else double.cds_jwt(f"{scribe.base}/cds-services/{service_id}", **claims)
        return httpx.post(url, json=body, headers={"Authorization": f"Bearer {jwt_token}"}, timeout=30)

    return run
