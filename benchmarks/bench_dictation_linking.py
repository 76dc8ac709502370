"""Cost of the composed mechanisms: dictation normalisation, the whole-code-set term index and
linking, on raw speech without punctuation at 1 KB, 100 KB and 1 MB (must stay linear), and
the term index's build time, size on disk and in memory.

    .venv/bin/python benchmarks/bench_dictation_linking.py

Prints numbers; asserts nothing (timed tests flake; these are for the README)."""
from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scribe import Encounter, build_engine  # noqa: E402
from scribe.linkers.terms import TermIndex  # noqa: E402

# own wording, no punctuation, spoken marks and corrections, as a recogniser emits it
SPEECH = ("um x ray of the lumbar spine three views scratch that four views comma ap lateral and both obliques "
          "indication low back pain with left leg pain and numbness after a fall no fever no urinary retention "
          "history of prostate cancer findings mild narrowing at l four l five correction l five s one no fracture "
          "impression mild degenerative change signed doctor lena ortiz ")


def per_thousand_words(fn, text: str, repeat: int = 3) -> float:
    best = min(_timed(fn, text) for _ in range(repeat))
    return best * 1000 / (len(text.split()) / 1000)


def _timed(fn, text: str) -> float:
    t0 = time.perf_counter()
    fn(text)
    return time.perf_counter() - t0


def main() -> None:
    engine = build_engine()
    encounter = Encounter(cpt=("72110",), icd10=("M54.50",))
    engine.check(SPEECH, encounter)   # warm caches and lazy loads

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        tracemalloc.start()
        index = TermIndex.load(engine.codeset, engine.lexicons.icd_terms, cache_dir=tmp)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        build = time.perf_counter() - t0
        disk = sum(f.stat().st_size for f in Path(tmp).iterdir())
        t0 = time.perf_counter()
        TermIndex.load(engine.codeset, engine.lexicons.icd_terms, cache_dir=tmp)
        load = time.perf_counter() - t0
    print(f"term index: {len(index.entries):,} terms, {len(index.vocabulary):,} words; build {build:.2f} s, "
          f"load from cache {load * 1000:.0f} ms; {disk / 1e6:.1f} MB on disk; "
          f"{peak / 1e6:.0f} MB allocated while building")

    note = SPEECH * 3
    n = 200
    t0 = time.perf_counter()
    for i in range(n):
        engine._term_cache.clear()
        engine.terms.find(note + f" {i}")
    per_note = (time.perf_counter() - t0) / n
    print(f"term linking: {per_note * 1000:.2f} ms per {len(note.split())}-word note (cache cleared)")

    print("size     normalise ms/1000 words   term lookup ms/1000 words   whole check ms/1000 words")
    for size in (1_000, 100_000, 1_000_000):
        # each repetition differs (a visit number), so no sentence is answered from a cache
        text = "".join(f"visit {i} {SPEECH}" for i in range(size // len(SPEECH) + 1))[:size]
        norm = per_thousand_words(engine.dictation.normalize, text)
        terms = per_thousand_words(engine.terms.find, text, repeat=1 if size > 100_000 else 3)

        def check(t: str) -> None:
            engine._cache.clear()
            engine._term_cache.clear()
            engine.check(t, encounter)

        whole = per_thousand_words(check, text, repeat=1 if size > 100_000 else 3)
        print(f"{size / 1000:>5.0f} KB  {norm:>24.2f}   {terms:>25.2f}   {whole:>25.2f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB (pid {os.getpid()})")


if __name__ == "__main__":
    main()
