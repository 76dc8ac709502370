"""Claim lines in the service, on a real SQLite database with dictations made over the WebSocket:
the review queue and a dictation's detail list each line (its CPT and its own modifiers) and the
line a gap is about; a row stored before claim lines reads as one line per code; the statistics
group by imaging family as well as by code, with money at risk per family; `/api/codes` tells
the encounter form each code's family and side policy."""
from __future__ import annotations

import csv
import io

import pytest

from scribe.audit import audit_rows, read_manifest, run_audit
from scribe_server.store import Filters

from ..test_audit import good_cases, write_jsonl
from .conftest import ENCOUNTER, NOTE, dictate

UNSIGNED = NOTE.rsplit("\n", 1)[0]                          # SIGNATURE_MISSING (error)
KNEE_RIGHT = ("EXAM: Right knee, 3 views.\nIndication: right knee pain after a fall, rule out fracture.\n"
              "Technique: AP, lateral and sunrise views of the right knee.\nComparison: none.\n"
              "Findings: No fracture. Joint spaces preserved.\nImpression: No acute abnormality of the right knee.\n"
              "Ordered by Dr Lee.\nElectronically signed by Lee Park, MD")
KNEE_LEFT = KNEE_RIGHT.replace("Right", "Left").replace("right", "left")
KNEE_LEFT_UNSIGNED = KNEE_LEFT.rsplit("\n", 1)[0]
RT_LT = [{"cpt": "73562", "modifiers": ["RT"]}, {"cpt": "73562", "modifiers": ["LT"]}]
KNEE = {"icd10": [], "site": "office", "provider": "Dr Kim"}


@pytest.fixture
def practice(api):
    """Five finalized dictations:
    spine-1   Dr Lee  72100              clean (an info gap: ORDERING_PROVIDER_MISSING)
    spine-2   Dr Lee  72100 (26)         unsigned: SIGNATURE_MISSING (stored as cpt + modifiers)
    knee-1    Dr Kim  73562-RT, 73562-LT right knee only: LATERALITY_MISMATCH on line 2 (the LT line)
    knee-2    Dr Kim  73562              left knee, no side modifier: MODIFIER_REQUIRED (warning)
    knee-3    Dr Kim  73562-LT           left knee, unsigned: SIGNATURE_MISSING (every line at risk)
    """
    cases = [("spine-1", NOTE, ENCOUNTER), ("spine-2", UNSIGNED, {**ENCOUNTER, "modifiers": ["26"]}),
             ("knee-1", KNEE_RIGHT, {**KNEE, "lines": RT_LT}),
             ("knee-2", KNEE_LEFT, {**KNEE, "lines": [{"cpt": "73562", "modifiers": []}]}),
             ("knee-3", KNEE_LEFT_UNSIGNED, {**KNEE, "lines": [{"cpt": "73562", "modifiers": ["LT"]}]})]
    with api.ws() as ws:
        for did, text, enc in cases:
            answers = dictate(ws, text, enc, dictation_id=did)
            assert answers[-1]["type"] == "finalized", answers[-1]
    return api


def ok(api, path, role):
    r = api.get(path, role)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_review_queue_lists_each_line_and_the_line_a_gap_is_about(practice):
    queue = {i["dictation_id"]: i for i in ok(practice, "/api/review", "scribe")["items"]}
    assert {"spine-2", "knee-1", "knee-2", "knee-3"} <= set(queue)     # spine-1: an info gap only
    assert queue["knee-1"]["lines"] == RT_LT
    [mismatch] = [g for g in queue["knee-1"]["open_gaps"] if g["code"] == "LATERALITY_MISMATCH"]
    assert mismatch["line"] == 1 and mismatch["cpt"] == "73562"        # the LT line: the note images the right
    # one line: a gap about its code is about that line; a gap about the whole note names no line
    [required] = [g for g in queue["knee-2"]["open_gaps"] if g["code"] == "MODIFIER_REQUIRED"]
    assert required["line"] == 0
    [unsigned] = [g for g in queue["knee-3"]["open_gaps"] if g["code"] == "SIGNATURE_MISSING"]
    assert unsigned["line"] is None
    # stored as cpt + modifiers: one line per code, each with every modifier
    assert queue["spine-2"]["lines"] == [{"cpt": "72100", "modifiers": ["26"]}]


def test_a_dictations_detail_lists_its_lines_and_each_gaps_line(practice):
    detail = ok(practice, "/api/review/knee-1", "scribe")
    assert detail["lines"] == RT_LT
    [mismatch] = [g for g in detail["gaps"] if g["code"] == "LATERALITY_MISMATCH"]
    assert mismatch["line"] == 1 and "RT" in mismatch["fix"]
    # the physician's own view carries the same lines
    mine = ok(practice, "/api/dictations/knee-1", "physician")
    assert mine["lines"] == RT_LT and [g["line"] for g in mine["gaps"]] == [g["line"] for g in detail["gaps"]]


def test_a_row_stored_before_claim_lines_reads_as_one_line_per_code(practice):
    store = practice.store
    key = store.create_dictation(dictation_id="old-1", owner="dr_lee", encounter={
        "cpt": ["72040", "72070"], "modifiers": ["26"], "icd10": [], "site": "facility", "provider": "Dr Old"})
    assert store.summary(store.dictation_row(key))["lines"] == [{"cpt": "72040", "modifiers": ["26"]},
                                                                 {"cpt": "72070", "modifiers": ["26"]}]
    listed = {d["dictation_id"]: d for d in ok(practice, "/api/dictations", "physician")}
    assert listed["old-1"]["lines"][1] == {"cpt": "72070", "modifiers": ["26"]}


def test_completeness_groups_by_family_as_well_as_by_code(practice):
    by_family = {r["key"]: (r["finalized"], r["clean"]) for r in
                 ok(practice, "/api/stats/clean-share?by=family", "manager")}
    assert by_family == {"spine": (2, 1), "knee_leg": (3, 0)}
    # a dictation of two lines of one code counts once, in its code and in its family
    by_cpt = {r["key"]: (r["finalized"], r["clean"]) for r in ok(practice, "/api/stats/clean-share?by=cpt", "manager")}
    assert by_cpt == {"72100": (2, 1), "73562": (3, 0)}
    r = practice.get("/api/stats/clean-share?by=family&format=csv", "manager")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(r.text)))[0] == ["family", "finalized", "clean", "share"]
    # the filters apply: Dr Lee's dictations are all spine
    assert [r["key"] for r in ok(practice, "/api/stats/clean-share?by=family&provider=Dr%20Lee", "manager")] == ["spine"]


def test_money_at_risk_per_family_adds_up_the_codes_of_the_family(practice):
    catalogue = ok(practice, "/api/codes", None)
    family_of = {c["cpt"]: c["family"] for c in catalogue["codes"]}
    fees = {c["cpt"]: c["payment"] for c in ok(practice, "/api/stats/fee-schedule", "manager")["codes"]}
    money = ok(practice, "/api/stats/money-at-risk?severity=error&severity=warning", "manager")
    families = {r["family"]: r for r in money["by_family"]}
    assert set(families) == {"spine", "knee_leg"}
    for name, row in families.items():
        codes = [r for r in money["by_cpt"] if family_of[r["cpt"]] == name]
        assert row["lines"] == sum(r["lines"] for r in codes)
        assert row["dollars"] == round(sum(r["dollars"] or 0 for r in codes), 2)
    # knee-1, knee-2 and knee-3 each put their 73562 line at risk; spine-2 its 72100 line
    assert families["knee_leg"]["lines"] == 3 and families["spine"]["lines"] == 1
    assert families["spine"]["dollars"] == fees["72100"]
    assert sum(r["dollars"] for r in money["by_family"]) == money["total_dollars"]
    rows = list(csv.reader(io.StringIO(practice.get(
        "/api/stats/money-at-risk?severity=error&severity=warning&format=csv&by=family", "manager").text)))
    assert rows[0] == ["family", "lines", "dollars", "unpriced_lines"]
    assert {r[0] for r in rows[1:]} == {"spine", "knee_leg"}


def test_the_code_catalogue_gives_each_codes_family_and_side_policy(api):
    r = api.get("/api/codes")                     # no token: codes hold no patient data
    assert r.status_code == 200
    body = r.json()
    codes = {c["cpt"]: c for c in body["codes"]}
    assert (codes["73562"]["family"], codes["73562"]["laterality"]) == ("knee_leg", "unilateral")
    assert codes["73565"]["laterality"] == "bilateral"            # both knees by definition
    assert (codes["72100"]["family"], codes["72100"]["laterality"]) == ("spine", "none")
    families = {f["family"]: f for f in body["families"]}
    assert {"RT", "LT"} <= set(families["knee_leg"]["laterality_modifiers"])
    assert families["wrist_hand"]["side_modifiers"]["F5"] == "right"


def test_an_audit_compares_with_live_dictations_by_family(practice, tmp_path):
    inp = write_jsonl(tmp_path / "cases.jsonl", good_cases(4))
    out = tmp_path / "results"
    run_audit(inp, out, progress=False, partition_rows=2)
    manifest = read_manifest(out)
    audit = practice.store.load_audit(run_id=manifest["run_id"], name="spring", source=manifest["input"]["path"],
                                      loaded_by="test", date_from=None, date_to=None, errors=0,
                                      partitions=audit_rows(out))
    body = ok(practice, f"/api/stats/audits/{audit['id']}/compare?by=family", "manager")
    rows = {r["key"]: r for r in body["rows"]}
    assert rows["spine"]["audit_cases"] == 4 and rows["spine"]["live_finalized"] == 2
    assert rows["knee_leg"]["audit_cases"] == 0 and rows["knee_leg"]["live_finalized"] == 3
    money = ok(practice, f"/api/stats/audits/{audit['id']}/money-at-risk?severity=error", "manager")
    assert [r["family"] for r in money["by_family"]] in ([], ["spine"])
    assert sum(r["lines"] for r in money["by_family"]) == money["total_lines"]
    # the store's own grouping agrees with the route's
    assert practice.store.audit_clean_share(audit["id"], Filters(), by="family",
                                            families=practice.app.state.families)[0]["key"] == "spine"
