"""Very long notes: a sentence dictated over and over (a stuck recogniser, a pasted loop) and a
run-on transcript with no punctuation at all. They must finish and read like the same note said
once; no timing is asserted here (benchmarks/bench_batch.py prints the cost per 1,000 words)."""
from __future__ import annotations

from tests.conftest import gap_codes

HEAD = "Lumbar spine, AP and lateral views, 2 views.\nIndication: low back pain after lifting.\nComparison: none.\n"
LOOPED = "Impression: mild degenerative disc change at L4-L5 without instability. "
TAIL = "\nOrdering physician: Dr. Ruth Abara.\nElectronically signed by Dr. Tomas Lind.\n"


def test_an_impression_repeated_thousands_of_times_reads_as_said_once(check):
    once = check(HEAD + "Findings: alignment maintained.\n" + LOOPED + TAIL, cpt=["72100"], icd10=["M54.50"])
    looped = check(HEAD + "Findings: alignment maintained.\n" + LOOPED * 4000 + TAIL, cpt=["72100"], icd10=["M54.50"])
    assert gap_codes(looped) == gap_codes(once)
    assert looped["facts"]["levels"] == once["facts"]["levels"] == ["L4-L5"]
    assert {i["concept"] for i in looped["indications"]} == {i["concept"] for i in once["indications"]}
    assert looped["facts"]["signed"] and "impression" in looped["facts"]["sections"]


# raw recogniser output: lower case, no punctuation, no section words between the repeats, so the
# loop stays one sentence of tens of thousands of words
RUN_ON = "no fracture or subluxation mild narrowing at l4 l5 history of prostate cancer and leg pain "


def _read(result) -> tuple:
    return (gap_codes(result), result["facts"], {(i["concept"], i["assertion"]) for i in result["indications"]})


def test_an_unpunctuated_run_on_transcript_reads_as_said_once(check):
    head = "x ray lumbar spine two views ap and lateral indication low back pain findings "
    once = check(head + RUN_ON, cpt=["72100"], icd10=["M54.50"])
    text = head + RUN_ON * 1500
    assert len(text) > 100_000
    looped = check(text, cpt=["72100"], icd10=["M54.50"])
    assert _read(looped) == _read(once)
    assert looped["facts"]["views"] == 2 and looped["facts"]["levels"] == ["L4-L5"]
    assert ("vertebral_fracture", "negated") in _read(looped)[2]
    assert ("low_back_pain", "present") in _read(looped)[2]
