"""Retrospective audits in the service: `scribe audit-load` puts `scribe audit` results into the
database as an audit of its own (source, date range), the statistics of live dictations do not
change, and `/api/stats/audits/...` (manager only) compares the audit with live completeness
and prices its money at risk; on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from scribe.audit import audit_rows, read_manifest, run_audit
from scribe_server.store import AuditExists

from ..test_audit import SIGNED, UNSIGNED, good_cases, write_jsonl

LIVE = [("live-1", SIGNED), ("live-2", UNSIGNED), ("live-3", UNSIGNED)]      # 1 of 3 complete
ENCOUNTER = {"cpt": ["72100"], "icd10": ["M54.50"], "site": "office", "provider": "Dr Lee"}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """`scribe audit` results of 8 cases: 4 complete, 2 SIGNATURE_MISSING (Dr Lee, 72100),
    2 VIEWS_MISMATCH (Dr Kim, 72110), dated 2025-03-04 to 2025-04-02, and one bad row."""
    tmp = tmp_path_factory.mktemp("audit-results")
    inp = write_jsonl(tmp / "last-year.jsonl", good_cases(8) + [{"id": "x", "text": SIGNED, "cpt": ["99999"]}])
    out = tmp / "results"
    run_audit(inp, out, progress=False, partition_rows=3)
    return out


def load(store, results, **kw):
    manifest = read_manifest(results)
    return store.load_audit(run_id=manifest["run_id"], name="last year", source=manifest["input"]["path"],
                            loaded_by="test", date_from=None, date_to=None, errors=1,
                            partitions=audit_rows(results), **kw)


def dictate_live(api):
    from .conftest import dictate

    with api.ws() as ws:
        for did, text in LIVE:
            assert dictate(ws, text, ENCOUNTER, dictation_id=did)[-1]["type"] == "finalized"


def test_audit_load_command_loads_once_with_its_source_and_dates(results, sqlite_url):
    def run(*args):
        env = {**os.environ, "SCRIBE_DATA_DIR": str(results.parent)}
        return subprocess.run([sys.executable, "-m", "scribe.cli", "audit-load", str(results), "--db", sqlite_url,
                               *args], capture_output=True, text=True, timeout=120, env=env)

    first = run("--name", "2025 spine audit")
    assert first.returncode == 0, first.stderr
    assert "loaded audit 1 '2025 spine audit': 8 cases (1 rows not checked), 2025-03-04 to 2025-04-02, " \
           "completeness 50.0%" in first.stdout
    again = run()
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "already loaded as audit 1; --replace loads them again" in again.stderr
    replaced = run("--replace", "--from", "2025-01-01", "--to", "2025-12-31")
    assert replaced.returncode == 0 and "2025-01-01 to 2025-12-31" in replaced.stdout
    unfinished = results.parent / "not-an-audit"
    unfinished.mkdir()
    bad = subprocess.run([sys.executable, "-m", "scribe.cli", "audit-load", str(unfinished), "--db", sqlite_url],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "holds no finished audit" in bad.stderr


def test_an_audit_is_never_counted_with_live_dictations(api_any_db, results):
    api = api_any_db
    dictate_live(api)
    before = {p: api.get(p, "manager").json() for p in (
        "/api/stats/clean-share?by=provider", "/api/stats/clean-share?by=gap_code", "/api/stats/money-at-risk",
        "/api/stats/facets", "/api/stats/dismissals")}
    audit = load(api.store, results)
    assert {k: audit[k] for k in ("cases", "clean", "errors", "date_from", "date_to")} == {
        "cases": 8, "clean": 4, "errors": 1, "date_from": "2025-03-04", "date_to": "2025-04-02"}
    for path, body in before.items():
        assert api.get(path, "manager").json() == body, path
    with pytest.raises(AuditExists):
        load(api.store, results)


def test_the_dashboard_api_compares_an_audit_with_live_completeness(api_any_db, results):
    api = api_any_db
    dictate_live(api)
    audit = load(api.store, results)
    listed = api.get("/api/stats/audits", "manager").json()
    assert [(a["id"], a["name"], a["share"], a["date_from"]) for a in listed] == [(audit["id"], "last year", 0.5,
                                                                                   "2025-03-04")]
    assert listed[0]["source"].endswith("last-year.jsonl")
    for role in ("physician", "scribe", "admin"):
        assert api.get("/api/stats/audits", role).status_code == 403
        assert api.get(f"/api/stats/audits/{audit['id']}/compare", role).status_code == 403

    body = api.get(f"/api/stats/audits/{audit['id']}/compare?by=gap_code", "manager").json()
    assert body["audit"]["cases"] == 8 and body["audit"]["share"] == 0.5
    assert (body["live"]["finalized"], body["live"]["clean"], body["live"]["share"]) == (3, 1, 0.3333)
    rows = {r["key"]: r for r in body["rows"]}
    sig = rows["SIGNATURE_MISSING"]
    assert (sig["audit_cases"], sig["audit_clean"], sig["audit_share"]) == (8, 6, 0.75)
    assert (sig["live_finalized"], sig["live_clean"], sig["live_share"]) == (3, 1, 0.3333)
    assert sig["difference"] == round(0.3333 - 0.75, 4)
    views = rows["VIEWS_MISMATCH"]
    assert (views["audit_share"], views["live_finalized"], views["live_share"]) == (0.75, 0, None)

    by_provider = {r["key"]: r for r in api.get(f"/api/stats/audits/{audit['id']}/compare?by=provider",
                                                "manager").json()["rows"]}
    assert (by_provider["Dr Kim"]["audit_share"], by_provider["Dr Kim"]["live_finalized"]) == (0.5, 0)
    assert (by_provider["Dr Lee"]["audit_share"], by_provider["Dr Lee"]["live_share"]) == (0.5, 0.3333)
    lee = api.get(f"/api/stats/audits/{audit['id']}/compare?by=cpt&provider=Dr%20Lee", "manager").json()
    assert [(r["key"], r["audit_cases"], r["live_finalized"]) for r in lee["rows"]] == [("72100", 4, 3)]
    future = api.get(f"/api/stats/audits/{audit['id']}/compare?date_from=2100-01-01&date_to=2100-12-31",
                     "manager").json()
    assert future["live"]["finalized"] == 0 and future["audit"]["cases"] == 8      # dates choose live dictations only

    r = api.get(f"/api/stats/audits/{audit['id']}/compare?by=gap_code&format=csv", "manager")
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0] == ["gap_code", "audit_cases", "audit_clean", "audit_share", "live_finalized", "live_clean",
                        "live_share", "difference"]
    assert ["SIGNATURE_MISSING", "8", "6", "0.75", "3", "1", "0.3333", str(round(0.3333 - 0.75, 4))] in table
    assert api.get("/api/stats/audits/999/compare", "manager").status_code == 404


def test_an_audits_money_at_risk_is_priced_like_the_summary(api_any_db, results):
    api = api_any_db
    audit = load(api.store, results)
    fees = {c["cpt"]: c["payment"] for c in api.get("/api/stats/fee-schedule", "manager").json()["codes"]}
    money = api.get(f"/api/stats/audits/{audit['id']}/money-at-risk?severity=error&severity=warning",
                    "manager").json()
    summary = json.loads((results / "summary.json").read_text())
    assert money["total_dollars"] == summary["money"]["dollars"] == round(2 * fees["72100"] + 2 * fees["72110"], 2)
    assert {r["gap_code"]: r["dollars"] for r in money["by_gap_code"]} == {
        code: row["money"]["dollars"] for code, row in summary["by_code"].items() if row["money"]["lines"]}
    assert {r["month"] for r in money["by_month"]} == {"2025-03", "2025-04"}
    assert {r["provider"]: r["lines"] for r in money["by_provider"]} == {"Dr Lee": 2, "Dr Kim": 2}
