"""Batch throughput on real notes: words per second and ms per note on one core,
start-up time and peak memory. Prints numbers; it is not a test.

    .venv/bin/python benchmarks/bench_batch.py [CORPUS.jsonl ...]

Defaults to the MTSamples spine corpora in ../shared/corpora when present (else the shipped
examples), each note checked as a 72100 study (the rules all run), and then to the extremity corpus
written for this benchmark (benchmarks/extremity_notes.jsonl, 54 invented limb notes, each checked
against its own codes). Every family is loaded, as in service. A corpus row with ``cpt`` is checked
with its own codes.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scribe import Encounter, build_engine

ROOT = Path(__file__).resolve().parents[1]


SPINE = Encounter(cpt=("72100",), icd10=("M54.50",))
EXTREMITY = ROOT / "benchmarks" / "extremity_notes.jsonl"


def load_notes(paths: list[Path]) -> list[tuple[str, Encounter]]:
    """Each note once (the corpus lists some documents under several specialties), with its codes."""
    notes: dict[str, Encounter] = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    enc = SPINE if "cpt" not in row else Encounter(
                        cpt=tuple(row["cpt"]), modifiers=tuple(row.get("modifiers", ())),
                        icd10=tuple(row.get("icd10", ())), site=row.get("site", "office"))
                    notes.setdefault(row["text"], enc)
    return list(notes.items())


def startup_seconds(example: Path) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "scribe.cli", "check", str(example), "--cpt", "72120"],
                       check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def startup_report() -> str:
    """Start-up on the shipped example, and on a note whose abbreviation definition makes
    the engine load spaCy's tokenizer and scispaCy's detector."""
    plain = startup_seconds(ROOT / "examples" / "lumbar_flexion_extension.txt")
    with tempfile.TemporaryDirectory() as tmp:
        note = Path(tmp) / "abbreviation.txt"
        note.write_text("Lumbar spine, flexion and extension views. Indication: lumbar spinal stenosis (LSS).\n"
                        "Findings: LSS at L4-5 without instability. Impression: stable.\n")
        tokens = startup_seconds(note)
    return f"{plain:.2f} s (a note that defines an abbreviation, so spaCy loads: {tokens:.2f} s)"


def throughput(engine, notes: list[tuple[str, Encounter]], label: str) -> None:
    words = sum(len(n.split()) for n, _ in notes)
    cold_t = time.perf_counter()
    for n, enc in notes:
        engine.check(n, enc)
    cold = time.perf_counter() - cold_t
    runs, cpu = [], []
    for _ in range(5):
        t, c = time.perf_counter(), time.process_time()
        for n, enc in notes:
            engine._cache.clear()  # no help from sentences seen in earlier notes
            engine.check(n, enc)
        runs.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    best = min(runs)
    print(f"[{label}] notes={len(notes)} words={words}; first pass {words / cold:,.0f} words/s")
    print(f"[{label}] throughput (one core, unique notes, sentence cache cleared before each note, best of 5): "
          f"{words / best:,.0f} words/s wall clock ({words / min(cpu):,.0f} per CPU second); "
          f"{1000 * best / len(notes):.2f} ms/note; median run {words / sorted(runs)[2]:,.0f} words/s")


def main() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    args = [Path(a) for a in sys.argv[1:]]
    spine = sorted((ROOT.parent / "shared" / "corpora").glob("*.jsonl"))
    t0 = time.perf_counter()
    engine = build_engine()
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine.warm()  # spaCy's tokenizer and scispaCy's detector, loaded on the first sentence that needs tokens
    warm = time.perf_counter() - t0
    print(f"engine build, every family loaded: {build:.2f} s (in process); spaCy tokenizer and abbreviation "
          f"detector, loaded on first need: {warm:.2f} s")
    if args:
        throughput(engine, load_notes(args), ", ".join(p.name for p in args))
    else:
        if spine:
            throughput(engine, load_notes(spine), "spine: " + ", ".join(p.name for p in spine))
        else:
            example = (ROOT / "examples" / "lumbar_flexion_extension.txt").read_text()
            throughput(engine, [(example, SPINE)], "examples")
        throughput(engine, load_notes([EXTREMITY]), "extremity: " + EXTREMITY.name)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"start-up of `scribe check` on a short note, term index built (best of 3): {startup_report()}")
    print(f"peak memory (RSS): {rss:.0f} MB")


if __name__ == "__main__":
    main()
