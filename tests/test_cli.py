"""The `scribe check` command as a user runs it: real subprocesses, real files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTE = ("EXAM: Lumbar spine, 2 views.\nOrdering physician: Jo Bell, MD\nIndication: low back pain for 8 weeks.\n"
        "Technique: AP and lateral views.\nComparison: none.\nFindings: Normal alignment. No fracture.\n"
        "Impression: Normal lumbar spine.\nElectronically signed by Ana Ruiz, MD 01/02/2026\n")


def scribe(*args, stdin=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "scribe.cli", *args], capture_output=True, text=True,
                          input=stdin, timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"})


@pytest.fixture
def note(tmp_path) -> Path:
    path = tmp_path / "note.txt"
    path.write_text(NOTE, encoding="utf-8")
    return path


def test_cli_check_clean_note_has_no_gaps(note):
    out = scribe("check", str(note), "--cpt", "72100", "--icd10", "M54.50")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["gaps"] == []
    assert result["facts"]["views"] == 2 and result["supported_cpt"][0] == "72100"
    assert all(result[k] is not None for k in ("indications", "facts", "supported_cpt"))


def test_cli_check_reports_gap_with_evidence_fix_and_source(note):
    out = scribe("check", str(note), "--cpt", "72110")
    gap = next(g for g in json.loads(out.stdout)["gaps"] if g["code"] == "VIEWS_MISMATCH")
    assert gap["severity"] == "error" and gap["cpt"] == "72110"
    assert "72100" in gap["fix"] and gap["source"]
    for ev in gap["evidence"]:
        assert NOTE[ev["start"]:ev["end"]] == ev["text"]


def test_cli_jsonl_one_result_per_case_with_id(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(json.dumps(c) for c in [
        {"id": "a", "text": NOTE, "cpt": ["72100"]},
        {"id": "b", "text": NOTE, "cpt": ["72040"], "site": "facility"},
        {"id": "c", "text": "   ", "cpt": ["72100"]},
    ]) + "\n")
    out = scribe("check", "--jsonl", str(cases))
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in lines] == ["a", "b", "c"]
    assert {g["code"] for g in lines[1]["gaps"]} >= {"REGION_MISMATCH", "MODIFIER_REQUIRED"}
    assert lines[2]["error"]["code"] == "EMPTY_NOTE"


@pytest.mark.parametrize("args,reason", [
    (["--cpt", "71046"], "not a code scribe checks"),
    (["--cpt", "72010"], "deleted"),
    (["--cpt", "72100", "--icd10", "12.345"], "malformed"),
])
def test_cli_unusable_input_exits_2_with_one_line(note, args, reason):
    out = scribe("check", str(note), *args)
    assert out.returncode == 2
    assert reason in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


def test_cli_missing_file_empty_note_and_bad_bytes_exit_2(tmp_path):
    assert scribe("check", str(tmp_path / "nope.txt"), "--cpt", "72100").returncode == 2
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n\t ")
    out = scribe("check", str(empty), "--cpt", "72100")
    assert out.returncode == 2 and "empty" in out.stderr
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00bad\x80")
    out = scribe("check", str(binary), "--cpt", "72100")
    assert out.returncode == 2 and "UTF-8" in out.stderr


def test_cli_large_note_control_chars_and_foreign_text_still_check(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text((NOTE + "\x07\x1b[0m\n") * 3600, encoding="utf-8")  # ~1 MB with control characters
    assert big.stat().st_size > 900_000
    out = scribe("check", str(big), "--cpt", "72100", "--compact", timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["facts"]["views"] == 2
    foreign = tmp_path / "fr.txt"
    foreign.write_text("Radiographie du rachis lombaire. Pas de fracture. Alignement normal.", encoding="utf-8")
    out = scribe("check", str(foreign), "--cpt", "72100")
    assert out.returncode == 0
    assert {"VIEWS_NOT_DOCUMENTED", "SIGNATURE_MISSING"} <= {g["code"] for g in json.loads(out.stdout)["gaps"]}


def test_check_explain_traces_each_gap_and_indication(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("Lumbar spine two views, AP and lateral.\nIndication: lumbar discitis suspected.\n"
                    "Impression: normal.\nDictated by Dr. Omar Sato", encoding="utf-8")
    out = scribe("check", str(note), "--cpt", "72100", "--explain", "--compact")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["gaps"] and all(g["trace"]["rule"] == g["rule_id"] and g["trace"]["source"] for g in result["gaps"])
    signature = next(g for g in result["gaps"] if g["code"] == "SIGNATURE_MISSING")
    assert "signature" in signature["trace"]["looked_for"]
    discitis = next(i for i in result["indications"] if "discitis" in i["text"].lower())
    assert discitis["trace"]["entry"] == "M46.46" and discitis["trace"]["trigger"]["text"].lower() == "suspected"
    plain = scribe("check", str(note), "--cpt", "72100", "--compact")
    assert plain.returncode == 0 and "trace" not in plain.stdout


def test_cli_check_without_a_cpt_exits_2_and_a_jsonl_case_without_one_is_an_error_line(note, tmp_path):
    """Issue 13 item 4: no study code means nothing is checked against a code: say so."""
    out = scribe("check", str(note), "--icd10", "M54.50")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "scribe: choose the study code: give --cpt CODE (e.g. --cpt 72100; repeat it for several codes) or "
        "--line CODE:MODIFIERS"]
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(json.dumps(c) for c in [
        {"id": "no-code", "text": NOTE},
        {"id": "empty-code", "text": NOTE, "cpt": [], "lines": []},
        {"id": "by-line", "text": NOTE, "lines": [{"cpt": "72100", "modifiers": []}]},
        {"id": "coded", "text": NOTE, "cpt": ["72100"]},
    ]) + "\n")
    out = scribe("check", "--jsonl", str(cases))
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in lines] == ["no-code", "empty-code", "by-line", "coded"]
    for r in lines[:2]:
        assert r["error"]["code"] == "CPT_MISSING" and "choose the study code" in r["error"]["message"]
    assert lines[2]["gaps"] == lines[3]["gaps"] == []
