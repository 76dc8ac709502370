"""`scribe audit`: cases from JSONL, CSV or Parquet checked into Parquet results, the same
gaps as `scribe check --jsonl`, error rows for bad cases, one line and no work for an unusable
file, resume after a kill -9, a dead worker's partition redone and nothing counted twice,
bounded partitions for 1 MB notes, and one real Ray Data run in local mode."""
from __future__ import annotations

import csv
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scribe.audit import AuditError, committed, fee_table, read_results, run_audit, summary_table

ROOT = Path(__file__).resolve().parents[1]

SIGNED = ("EXAM: Lumbar spine, 3 views.\nIndication: low back pain after a fall from a step.\n"
          "Ordering physician: Ana Ruiz, MD.\nTechnique: AP, lateral and coned L5-S1 lateral views.\n"
          "Comparison: none.\nFindings: Normal alignment. Vertebral heights preserved. No fracture.\n"
          "Impression: No acute abnormality of the lumbar spine.\nElectronically signed by Lee Park, MD")
UNSIGNED = SIGNED.replace("Electronically signed by", "Dictated by")          # SIGNATURE_MISSING
FOUR_VIEWS = ("EXAM: Lumbar spine, 4 views.\nIndication: low back pain for two weeks.\n"
              "Ordering physician: Ana Ruiz, MD.\nTechnique: AP, lateral and both oblique views.\nComparison: none.\n"
              "Findings: Mild disc space narrowing at L4-L5. Pars intact. No fracture.\n"
              "Impression: Mild degenerative change at L4-L5.\nElectronically signed by Jae Kim, MD")
TWO_VIEWS = FOUR_VIEWS.replace("4 views", "radiographs").replace("Technique: AP, lateral and both oblique views",
                                                                 "Views: AP and lateral")  # VIEWS_MISMATCH


def good_cases(n: int = 8) -> list[dict]:
    """Cases with known outcomes, in the contract's fields (some with claim lines)."""
    base = [
        {"text": SIGNED, "cpt": ["72100"], "icd10": ["M54.50"], "provider": "Dr Lee", "date": "2025-03-04"},
        {"text": UNSIGNED, "cpt": ["72100"], "icd10": ["M54.50"], "provider": "Dr Lee", "date": "2025-03-05"},
        {"text": FOUR_VIEWS, "cpt": ["72110"], "icd10": ["M54.50"], "provider": "Dr Kim", "date": "2025-04-01"},
        {"text": TWO_VIEWS, "lines": [{"cpt": "72110", "modifiers": []}], "icd10": ["M54.50"], "provider": "Dr Kim",
         "date": "2025-04-02"},
    ]
    return [{"id": f"case-{i + 1}", **base[i % len(base)]} for i in range(n)]


def write_jsonl(path: Path, cases: list, extra_lines: tuple[str, ...] = ()) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for case in cases:
            f.write((case if isinstance(case, str) else json.dumps(case)) + "\n")
        for line in extra_lines:
            f.write(line + "\n")
    return path


def write_csv(path: Path, cases: list[dict]) -> Path:
    fields = ["id", "text", "cpt", "modifiers", "icd10", "site", "provider", "lines", "date"]
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for c in cases:
            w.writerow({k: (";".join(v) if k in ("cpt", "modifiers", "icd10") and isinstance(v, list)
                            else json.dumps(v) if k == "lines" else v) for k, v in c.items()})
    return path


def write_parquet(path: Path, cases: list[dict], row_group_size: int = 3) -> Path:
    line = pa.struct([("cpt", pa.string()), ("modifiers", pa.list_(pa.string()))])
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("cpt", pa.list_(pa.string())),
                        ("icd10", pa.list_(pa.string())), ("provider", pa.string()), ("lines", pa.list_(line)),
                        ("date", pa.date32())])
    from datetime import date

    rows = [{**{k: c.get(k) for k in schema.names}, "date": date.fromisoformat(c["date"])} for c in cases]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=row_group_size)
    return path


def scribe(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SCRIBE_FEE_TABLE"}
    return subprocess.run([sys.executable, "-m", "scribe.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def audit(inp: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    done = scribe("audit", str(inp), "--out", str(out), "--no-progress", *extra)
    assert done.returncode == 0, done.stderr
    return done


def audit_here(inp: Path, out: Path, **options):
    """The same audit in this process (the engine is built once for the test session)."""
    return run_audit(inp, out, progress=False, **options)


def rows_of(out: Path, table: str) -> list[dict]:
    return read_results(out, table).sort_by("row").to_pylist()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> tuple[Path, Path]:
    """A JSONL file of good cases and bad rows, audited once with the local engine."""
    tmp = tmp_path_factory.mktemp("audit")
    cases = good_cases(8)
    bad = [json.dumps({"id": "no-text", "cpt": ["72100"]}),                       # missing text
           json.dumps({"id": "unknown-cpt", "text": SIGNED, "cpt": ["99999"]}),   # unknown code
           json.dumps({"id": "bad-icd", "text": SIGNED, "cpt": ["72100"], "icd10": ["NOT A CODE"]}),
           "this line is not JSON",
           json.dumps({"id": "no-cpt", "text": SIGNED}),
           json.dumps({"id": "bad-date", "text": SIGNED, "cpt": ["72100"], "date": "last spring"})]
    inp = write_jsonl(tmp / "cases.jsonl", cases[:4] + bad[:3] + cases[4:] + bad[3:])
    out = tmp / "results"
    audit(inp, out, "--partition-rows", "3")
    return inp, out


def test_audit_gaps_equal_check_jsonl(mixed):
    inp, out = mixed
    checked = scribe("check", "--jsonl", str(inp))
    assert checked.returncode == 0, checked.stderr
    want, got = [], []
    for line in checked.stdout.splitlines():
        result = json.loads(line)
        for g in result.get("gaps", ()):
            want.append((result["id"], g["code"], g["severity"], g["rule_id"], g.get("cpt"), g.get("line"),
                         g.get("icd10"), g["fix"], [(e["start"], e["end"]) for e in g["evidence"]]))
    for g in rows_of(out, "gaps"):
        got.append((g["id"], g["code"], g["severity"], g["rule_id"], g["cpt"], g["line"], g["icd10"], g["fix"],
                    [(e["start"], e["end"]) for e in g["evidence"]]))
    assert sorted(got, key=repr) == sorted(want, key=repr)
    assert {g[1] for g in got} >= {"SIGNATURE_MISSING", "VIEWS_MISMATCH"}


def test_audit_case_rows_carry_counts_supported_cpt_and_facts(mixed):
    _inp, out = mixed
    cases = {c["id"]: c for c in rows_of(out, "cases")}
    assert sorted(cases) == sorted(f"case-{i}" for i in range(1, 9))
    signed, unsigned = cases["case-1"], cases["case-2"]
    assert signed["clean"] and signed["errors_open"] == 0 and signed["supported_cpt"] == ["72100"]
    assert signed["views"] == 3 and signed["signed"] is True and json.loads(signed["facts"])["views"] == 3
    assert not unsigned["clean"] and unsigned["errors_open"] >= 1 and unsigned["signed"] is False
    assert signed["provider"] == "Dr Lee" and str(signed["date"]) == "2025-03-04" and signed["cpt"] == ["72100"]
    assert cases["case-4"]["cpt"] == ["72110"]            # from the claim lines


def test_audit_bad_rows_are_error_rows_and_the_audit_goes_on(mixed):
    _inp, out = mixed
    errors = {(e["id"], e["code"]) for e in rows_of(out, "errors")}
    assert errors == {("no-text", "BAD_NOTE"), ("unknown-cpt", "UNKNOWN_CPT"), ("bad-icd", "INVALID_ICD10"),
                      (None, "BAD_CASE"), ("no-cpt", "CPT_MISSING"), ("bad-date", "BAD_DATE")}
    bad_json = next(e for e in rows_of(out, "errors") if e["code"] == "BAD_CASE")
    assert bad_json["row"] == 12 and "line 12" in bad_json["message"]       # the file's line number
    assert len(rows_of(out, "cases")) == 8


def test_audit_summary_table_prices_money_at_risk_with_the_fee_table(tmp_path):
    inp = write_jsonl(tmp_path / "c.jsonl", good_cases(4))
    out = summary_table(audit_here(inp, tmp_path / "r"))
    fees = fee_table()
    assert "completeness: 50.0% (2 of 4 cases have no error or warning gap)" in out
    sig = next(line for line in out.splitlines() if line.startswith("SIGNATURE_MISSING"))
    assert sig.split()[1:5] == ["error", "1", "1", "25.0%"] and f"${fees['72100']:,.2f}" in sig
    views = next(line for line in out.splitlines() if line.startswith("VIEWS_MISMATCH"))
    assert f"${fees['72110']:,.2f}" in views
    assert f"${fees['72100'] + fees['72110']:,.2f} on 2 lines" in out
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["cases"] == 4 and summary["clean"] == 2 and summary["dates"] == ["2025-03-04", "2025-04-02"]


def test_audit_reads_csv_and_parquet_like_jsonl(tmp_path):
    cases = good_cases(7)
    results = {}
    for name, write in (("jsonl", write_jsonl), ("csv", write_csv), ("parquet", write_parquet)):
        inp = write(tmp_path / f"cases.{name}", cases)
        audit_here(inp, tmp_path / name, partition_rows=2)
        results[name] = (rows_of(tmp_path / name, "gaps"), rows_of(tmp_path / name, "cases"))
    assert results["csv"] == results["jsonl"]
    assert results["parquet"] == results["jsonl"]
    assert len(results["jsonl"][1]) == 7


@pytest.mark.parametrize("make, says", [
    (lambda d: d / "missing.jsonl", "cannot read"),
    (lambda d: d, "is a directory"),
    (lambda d: write_jsonl(d / "x.jsonl", [{"id": "1", "note": "no text field", "cpt": ["72100"]}]), "schema mismatch"),
    (lambda d: write_jsonl(d / "x.jsonl", ["id,text,cpt"]), "is not JSON"),
    (lambda d: (d / "x.csv").write_text("id,note,cpt\n1,hello,72100\n") and d / "x.csv", "schema mismatch"),
    (lambda d: pq.write_table(pa.table({"id": ["1"], "text": ["x"], "cpt": [72100]}), d / "x.parquet") or d / "x.parquet",
     "column 'cpt' is int64"),
    (lambda d: (d / "x.parquet").write_bytes(b"PAR1 not really parquet") and d / "x.parquet", "as Parquet"),
])
def test_audit_unusable_input_stops_with_one_line_before_any_work(tmp_path, make, says):
    inp = make(tmp_path)
    out = tmp_path / "results"
    done = scribe("audit", str(inp), "--out", str(out), "--no-progress")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and says in done.stderr and "Traceback" not in done.stderr
    assert not (out / "manifest.json").exists()


def test_audit_killed_mid_run_resumes_and_counts_nothing_twice(tmp_path):
    cases = good_cases(240)
    inp = write_jsonl(tmp_path / "cases.jsonl", cases)
    reference = tmp_path / "reference"
    audit_here(inp, reference, partition_rows=6)

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "scribe.cli", "audit", str(inp), "--out", str(out), "--no-progress",
                             "--partition-rows", "6"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(committed(out)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, "the audit finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    done_before = len(committed(out))
    assert 3 <= done_before < 40 and not (out / "summary.json").exists()

    again = audit(inp, out, "--partition-rows", "6")
    assert f"({done_before} already done before this run)" in again.stdout
    assert rows_of(out, "gaps") == rows_of(reference, "gaps")
    assert rows_of(out, "cases") == rows_of(reference, "cases")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cases"] == 240 and summary["by_code"] == json.loads((reference / "summary.json").read_text())["by_code"]


def test_audit_redoes_the_partition_of_a_worker_that_died_and_skips_the_rest(tmp_path):
    inp = write_jsonl(tmp_path / "cases.jsonl", good_cases(12))
    out = tmp_path / "r"
    audit_here(inp, out, partition_rows=4)
    before = committed(out)
    gaps_before = rows_of(out, "gaps")
    # the worker of partition 1 died after writing its gaps half-way, before its commit marker
    (out / "_committed" / "part-00001.json").unlink()
    gaps_file = out / "gaps" / "part-00001.parquet"
    gaps_file.write_bytes(gaps_file.read_bytes()[:40])
    (out / "cases" / ".part-00001.parquet.0123.tmp").write_bytes(b"half")
    again = audit_here(inp, out, partition_rows=4)
    assert again.skipped == 2
    after = committed(out)
    assert after[0] == before[0] and after[2] == before[2]          # untouched
    assert after[1]["committed_at"] >= before[1]["committed_at"] and after[1]["cases"] == 4
    assert rows_of(out, "gaps") == gaps_before
    assert not list((out / "cases").glob(".*.tmp"))
    assert json.loads((out / "summary.json").read_text())["cases"] == 12


def test_audit_refuses_results_of_another_input(tmp_path):
    inp = write_jsonl(tmp_path / "cases.jsonl", good_cases(3))
    audit_here(inp, tmp_path / "r")
    write_jsonl(inp, good_cases(5))
    with pytest.raises(AuditError, match="holds an audit of another input file"):
        audit_here(inp, tmp_path / "r")
    with pytest.raises(AuditError, match="another partition size"):
        write_jsonl(inp, good_cases(3))
        audit_here(inp, tmp_path / "r2")
        audit_here(inp, tmp_path / "r2", partition_rows=2)


def megabyte_note(seed: int) -> str:
    """A report whose findings run to about a megabyte, in sentences that differ."""
    words = "alignment marrow signal soft tissues endplates facets pedicles canal foramina cord conus sacrum".split()
    findings = " ".join(f"The {words[i % 13]} {words[(i * 7 + seed) % 13]} appear unremarkable on image {i} of series "
                        f"{i % 9}." for i in range(16_000))
    return SIGNED.replace("Findings:", "Findings: " + findings)


def test_audit_of_megabyte_notes_keeps_partitions_and_memory_bounded(tmp_path):
    big = [{"id": f"big-{i}", "text": megabyte_note(i), "cpt": ["72100"]} for i in range(2)]
    assert all(len(c["text"]) > 1_000_000 for c in big)
    inp = write_jsonl(tmp_path / "big.jsonl", big + good_cases(4))
    out = tmp_path / "r"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    audit(inp, out, "--partition-mb", "1.5")
    peak_mb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    manifest = json.loads((out / "manifest.json").read_text())
    parts = manifest["partitions"]
    assert [p["rows"] for p in parts] == [1, 5]                   # the two megabyte notes never share a partition
    assert all(p["end"] - p["start"] <= 1.5 * 2**20 for p in parts)
    cases = {c["id"]: c for c in rows_of(out, "cases")}
    assert len(cases) == 6 and cases["big-0"]["words"] > 150_000 and cases["big-0"]["signed"] is True
    assert peak_mb < 1500, f"peak RSS {peak_mb:.0f} MB"


def test_audit_with_ray_data_in_local_mode_equals_the_local_engine(mixed, tmp_path):
    pytest.importorskip("ray.data")
    inp, local = mixed
    out = tmp_path / "ray"
    done = audit(inp, out, "--engine", "ray", "--workers", "2", "--partition-rows", "3")
    assert "checked 8 cases" in done.stdout
    assert rows_of(out, "gaps") == rows_of(local, "gaps")
    assert rows_of(out, "cases") == rows_of(local, "cases")
    assert rows_of(out, "errors") == rows_of(local, "errors")
    assert {m["worker"].split(":")[1] for m in committed(out).values()} != {str(os.getpid())}   # Ray's actors wrote them
