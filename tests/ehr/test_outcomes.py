"""Order-time feedback and review-queue dismissals land in one outcome table (``gap_actions``)
and the manager sees them side by side per rule (``/api/stats/rule-outcomes``, the dashboard):
a dictation of Dr Outcome finalized with DX_NOT_SUPPORTING that a reviewer dismissed, and an
order of Dr Outcome signed in the EHR whose card for the same rule the physician overrode."""
from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys

import httpx
import pytest

from ..live import dictate_and_finalize
from .cases import document, hook_request, service_request
from .test_cds_hooks import LBP_NOTE, SIGN

PROVIDER = "Dr Outcome"
SIGNED_NOTE = ("XR LUMBAR SPINE FLEXION AND EXTENSION\nOrdering physician: Dr Outcome\nHistory: chronic low back pain "
               "for four months.\nTechnique: lateral views in flexion and extension, 2 views.\nComparison: none.\n"
               "Findings: normal alignment without translation.\nImpression: no instability.\n"
               "Electronically signed by Lee Park, MD\n")


def _db_file(scribe) -> str:
    return scribe.db_url.removeprefix("sqlite:///")


@pytest.fixture(scope="module")
def outcomes(ehr_pair):
    """The review queue's dismissal and the EHR's override of one rule, by Dr Outcome."""
    scribe, double = ehr_pair

    def token(role: str, name: str) -> str:
        out = subprocess.run([sys.executable, "-m", "scribe.cli", "token", "create", "--role", role, "--name", name,
                              "--db", scribe.db_url], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]

    physician, reviewer, manager = token("physician", "dr_outcome"), token("scribe", "rev"), token("manager", "mgr_o")
    encounter = {"cpt": ["72120"], "icd10": ["M54.50"], "site": "office", "provider": PROVIDER, "modifiers": []}
    gaps = dictate_and_finalize(scribe, physician, "outcome-1", encounter, SIGNED_NOTE)
    assert any(g["code"] == "DX_NOT_SUPPORTING" for g in gaps), [g["code"] for g in gaps]
    auth = {"Authorization": f"Bearer {reviewer}"}
    detail = httpx.get(f"{scribe.base}/api/review/outcome-1", headers=auth, timeout=30).json()
    gap = next(g for g in detail["gaps"] if g["code"] == "DX_NOT_SUPPORTING")
    r = httpx.post(f"{scribe.base}/api/review/gaps/{gap['id']}/dismiss", headers=auth, timeout=30,
                   json={"reason": "payer_exception", "note": "this payer takes pain for a dynamic study"})
    assert r.status_code == 200, r.text

    body = hook_request("order-sign", [service_request("sr-o1", "72120", icd10=["M54.50"], requester=PROVIDER)],
                        note=document("doc-o1", LBP_NOTE))
    aud = f"{scribe.base}/cds-services/{SIGN}"
    cards = httpx.post(aud, json=body, headers={"Authorization": f"Bearer {double.cds_jwt(aud)}"}, timeout=30)
    cards = cards.json()["cards"]
    by_code = {c["extension"]["org.scribe.gap"]["code"]: c for c in cards}
    assert {"DX_NOT_SUPPORTING", "INDICATION_NOT_SPECIFIC"} <= set(by_code)
    override, accept = by_code["DX_NOT_SUPPORTING"], by_code["INDICATION_NOT_SPECIFIC"]
    feedback = {"feedback": [
        {"card": override["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-08T09:00:00Z",
         "overrideReason": {"reason": {"system": override["overrideReasons"][0]["system"], "code": "payer_exception"},
                            "userComment": "payer takes M54.50"}},
        {"card": accept["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-08T09:00:00Z",
         "overrideReason": {"reason": {"code": "other"}}},
        # the EHR's later word on the same card wins: accepted after all
        {"card": accept["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-12-08T09:00:05Z",
         "acceptedSuggestions": [{"id": "s-1"}]}]}
    r = httpx.post(f"{aud}/feedback", json=feedback, headers={"Authorization": f"Bearer {double.cds_jwt(aud)}"},
                   timeout=30)
    assert r.status_code == 200 and r.json()["recorded"] == 3, r.text
    return {"scribe": scribe, "manager": manager, "override": override, "accept": accept,
            "rule": override["source"]["topic"]["code"], "accept_rule": accept["source"]["topic"]["code"]}


def _get(o, path, **params):
    return httpx.get(f"{o['scribe'].base}{path}", params={"provider": PROVIDER, **params},
                     headers={"Authorization": f"Bearer {o['manager']}"}, timeout=30)


def test_feedback_is_stored_in_the_review_queues_outcome_table(outcomes):
    with sqlite3.connect(_db_file(outcomes["scribe"])) as conn:
        rows = conn.execute("SELECT action, reason, text, actor_role, gap_id, dictation_id FROM gap_actions "
                            "WHERE card_uuid = ?", (outcomes["override"]["uuid"],)).fetchall()
        dismissed = conn.execute("SELECT action, reason FROM gap_actions WHERE dictation_id = 'outcome-1' AND "
                                 "action = 'dismiss'").fetchall()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert rows == [("override", "payer_exception", "payer takes M54.50", "ehr", None, None)]
    assert dismissed == [("dismiss", "payer_exception")]
    assert "cds_feedback" not in tables


def test_rule_outcomes_put_order_time_overrides_beside_review_dismissals(outcomes):
    r = _get(outcomes, "/api/stats/rule-outcomes")
    assert r.status_code == 200, r.text
    by_rule = {row["rule_id"]: row for row in r.json()}
    row = by_rule[outcomes["rule"]]
    assert row["gap_code"] == "DX_NOT_SUPPORTING" and row["page"] == f"/rules/{outcomes['rule']}" and row["title"]
    assert row["review"] == {"gaps": 1, "dismissed": 1, "rate": 1.0, "reasons": {"payer_exception": 1}}
    assert row["order_time"] == {"cards": 1, "accepted": 0, "overridden": 1, "unanswered": 0, "override_rate": 1.0,
                                 "reasons": {"payer_exception": 1}}
    accepted = by_rule[outcomes["accept_rule"]]["order_time"]
    assert accepted["accepted"] == 1 and accepted["overridden"] == 0 and accepted["override_rate"] == 0.0
    # the order-time half alone, as before
    alone = {x["rule_id"]: x for x in _get(outcomes, "/api/stats/order-time").json()}
    assert alone[outcomes["rule"]]["override_rate"] == 1.0 and alone[outcomes["rule"]]["reasons"] == {"payer_exception": 1}
    # nobody else's numbers: another provider's filter sees none of these
    other = _get(outcomes, "/api/stats/rule-outcomes", provider="Dr Nobody").json()
    assert other == []


def test_rule_outcomes_csv_and_role(outcomes):
    r = _get(outcomes, "/api/stats/rule-outcomes", format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = {row["rule_id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    row = rows[outcomes["rule"]]
    assert row["review_dismissal_rate"] == "1.0" and row["order_override_rate"] == "1.0"
    assert row["dismissed:payer_exception"] == "1" and row["overridden:payer_exception"] == "1"
    unauth = httpx.get(f"{outcomes['scribe'].base}/api/stats/rule-outcomes", timeout=30)
    assert unauth.status_code == 401
