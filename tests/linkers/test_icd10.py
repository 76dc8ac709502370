"""ICD-10-CM code set (scribe.linkers.icd10): the answers a coder would check.

The session fixture builds the derived index once into a temporary cache directory
(the only place this test module imports simple_icd_10_cm: ~3 s); every other test
reads that index.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from scribe.errors import LexiconError
from scribe.linkers import icd10
from scribe.linkers.icd10 import AxisLexicon, IcdCodeSet, Resolution, is_well_formed, normalize

ROOT = Path(__file__).resolve().parents[2]
AXES = ROOT / "lexicons" / "icd10_axes.json"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("icd10-cache")


@pytest.fixture(scope="session")
def code_set(cache_dir) -> IcdCodeSet:
    built = IcdCodeSet.load(cache_dir, axes_path=AXES)
    assert built.origin == "built"
    return built


@pytest.fixture(scope="session")
def lexicon() -> AxisLexicon:
    return AxisLexicon.from_file(AXES)


# -- normalisation and shape ---------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("m545", "M54.5"),
    ("m5450", "M54.50"),
    ("M54.50", "M54.50"),
    (" m54.50 ", "M54.50"),
    ("s32010a", "S32.010A"),
    ("m532x6", "M53.2X6"),
    ("m54", "M54"),
    ("M54.5.0", "M54.5.0"),      # a misplaced dot is kept, so it stays malformed
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("code, ok", [
    ("M54.50", True),
    ("m5450", True),
    ("S32.010A", True),
    ("M53.2X6", True),
    ("M54", True),
    ("QA0.0101", True),          # April 2026: category QA0 has a letter in 2nd position
    ("M5", False),
    ("12345", False),
    ("M54.5.0", False),
    ("", False),
    ("M54.", False),
    ("M54.50000", False),
    ("M50-M54", False),
    ("M54_50", False),
])
def test_is_well_formed(code, ok):
    assert is_well_formed(code) is ok


def test_every_code_in_the_set_is_well_formed(code_set):
    assert all(is_well_formed(code) for code in code_set)


# -- existence and billability ---------------------------------------------------------------
@pytest.mark.parametrize("code, exists, billable", [
    ("M54.5", True, False),      # low back pain became a header on 2021-10-01 (FY2022)
    ("m545", True, False),
    ("M54.50", True, True),
    ("M54.51", True, True),
    ("M54", True, False),
    ("M54.9", True, True),
    ("M47.16", True, True),
    ("m4716", True, True),
    ("M51.36", True, False),     # split by pain pattern in FY2025
    ("M51.369", True, True),
    ("S32.010", True, False),    # needs its 7th character
    ("S32.010A", True, True),
    ("s32010d", True, True),
    ("M48.50XA", True, True),
    ("Z98.1", True, True),
    ("B99", True, False),        # a category that is also a one-category block
    ("QA0.0101", True, True),
    ("M99.99", False, False),
    ("M54.52", False, False),
    ("S32.010Z", False, False),  # no such 7th character
    ("M48.50A", False, False),   # 7th character without its X placeholder
    ("M50-M54", False, False),   # a block, not a code
    ("13", False, False),        # a chapter, not a code
    ("", False, False),
])
def test_exists_and_billable(code_set, code, exists, billable):
    assert code_set.exists(code) is exists
    assert code_set.is_billable(code) is billable
    assert (code in code_set) is exists


def test_size_of_the_code_set(code_set):
    billable = sum(code_set.is_billable(code) for code in code_set)
    assert len(code_set) > 95_000
    assert 70_000 < billable < len(code_set)


# -- hierarchy ----------------------------------------------------------------------------
def test_low_back_pain_header_and_its_billable_children(code_set):
    assert code_set.description("M54.5") == "Low back pain"
    assert code_set.children("m545") == ("M54.50", "M54.51", "M54.59")
    assert "M54.50" in code_set.billable_descendants("M54.5")
    assert code_set.description("M54.50") == "Low back pain, unspecified"


@pytest.mark.parametrize("code, parent, ancestors", [
    ("M54.50", "M54.5", ("M54.5", "M54")),
    ("S32.010D", "S32.010", ("S32.010", "S32.01", "S32.0", "S32")),
    ("M53.2X6", "M53.2X", ("M53.2X", "M53.2", "M53")),
    ("M54", None, ()),           # a category's parent is a block, which is not a code
    ("B99.8", "B99", ("B99",)),
    ("M99.99", None, ()),
])
def test_parent_and_ancestors(code_set, code, parent, ancestors):
    assert code_set.parent(code) == parent
    assert code_set.ancestors(code) == ancestors


def test_children_and_descendants(code_set):
    assert code_set.children("M53.2") == ("M53.2X",)
    assert code_set.children("S32.010") == tuple(f"S32.010{c}" for c in "ABDGKS")
    assert code_set.children("M54.50") == ()
    assert code_set.billable_descendants("M54.50") == []
    assert code_set.billable_descendants("M53.2") == [f"M53.2X{i}" for i in range(1, 10)]
    assert len(code_set.billable_descendants("S32.0")) == 6 * 5 * 6   # vertebra x type x encounter
    assert code_set.children("M99.99") == ()
    assert code_set.billable_descendants("M99.99") == []
    assert code_set.description("M99.99") is None


# -- axis phrases ------------------------------------------------------------------------------
def _values(lexicon, description, axis):
    return {value for a, value in lexicon.labels(description) if a == axis}


@pytest.mark.parametrize("description, axis, values", [
    ("Spondylosis without myelopathy or radiculopathy, thoracic region", "region", {"thoracic"}),
    ("Spondylosis without myelopathy or radiculopathy, cervicothoracic region", "region", {"cervicothoracic"}),
    ("Spondylosis without myelopathy or radiculopathy, thoracolumbar region", "region", {"thoracolumbar"}),
    ("Spondylolisthesis, lumbosacral region", "region", {"lumbosacral"}),
    ("Spondylolisthesis, lumbar region", "region", {"lumbar"}),
    ("Spondylolisthesis, sacral and sacrococcygeal region", "region", {"sacral"}),
    ("Spondylolisthesis, multiple sites in spine", "region", {"multiple"}),
    ("Spondylolisthesis, site unspecified", "region", {"_default"}),
    ("Other cervical disc displacement, mid-cervical region", "region", set()),
    ("Other cervical disc displacement, high cervical region", "region", set()),
    ("Other cervical disc displacement, mid-cervical region", "disc_level", {"C4-C5", "C5-C6", "C6-C7"}),
    ("Lumbago with sciatica, right side", "laterality", {"right"}),
    ("Lumbago with sciatica, unspecified side", "laterality", {"_default"}),
    ("Lumbago with sciatica, unspecified side", "specificity", set()),
    ("Fracture of first lumbar vertebra", "vertebra", {"L1"}),
    ("Fracture of first lumbar vertebra", "region", set()),
    ("Fracture of T5-T6 vertebra", "vertebra", {"T5", "T6"}),
    ("Unstable burst fracture of first lumbar vertebra", "fracture_type", {"unstable_burst", "burst"}),
    ("Stable burst fracture of first lumbar vertebra", "fracture_type", {"stable_burst", "burst"}),
    ("Other nondisplaced fracture of first cervical vertebra", "displacement", {"nondisplaced"}),
    ("Spinal stenosis, lumbar region without neurogenic claudication", "claudication", {"without"}),
    ("Spinal stenosis, lumbar region with neurogenic claudication", "claudication", {"with"}),
    ("Sprain of ligaments of cervical spine, initial encounter", "encounter", {"initial"}),
    ("Wedge compression fracture of first lumbar vertebra, initial encounter for open fracture",
     "encounter", {"initial_open"}),
    ("Pain in thoracic spine", "region", set()),
])
def test_phrases_match_whole_phrases_only(lexicon, description, axis, values):
    assert _values(lexicon, description, axis) == values


@pytest.mark.parametrize("word, wrong", [
    ("cervicothoracic region", {"thoracic", "cervical"}),
    ("thoracolumbar region", {"thoracic", "lumbar"}),
    ("lumbosacral region", {"lumbar", "sacral"}),
    ("mid-cervical region", {"cervical"}),
])
def test_no_description_in_the_code_set_confuses_regions(code_set, lexicon, word, wrong):
    hits = [code for code in code_set if word in (code_set.description(code) or "").lower()]
    assert hits
    for code in hits:
        assert not _values(lexicon, code_set.description(code), "region") & wrong, code


def test_every_lexicon_phrase_occurs_in_the_code_set(code_set, lexicon):
    found: set[str] = set()
    for code in code_set:
        found.update(lexicon.phrases(code_set.description(code)))
    doc = json.loads(AXES.read_text(encoding="utf-8"))
    wanted = {p for axis in doc["axes"].values() for phrases in axis["values"].values() for p in phrases}
    assert wanted - found == set()


def test_required_axes_and_values_are_shipped(lexicon):
    axes = lexicon.axes
    assert {"region", "laterality", "vertebra", "fracture_type", "encounter"} <= set(axes)
    assert set(axes["region"]) >= {"occipito_atlanto_axial", "cervical", "cervicothoracic", "thoracic",
                                   "thoracolumbar", "lumbar", "lumbosacral", "sacral", "multiple", "_default"}
    assert set(axes["vertebra"]) >= {f"C{n}" for n in range(1, 8)} | {f"T{n}" for n in range(1, 13)} | \
        {f"L{n}" for n in range(1, 6)} | {"_default"}
    assert "_default" not in axes["encounter"]       # there is no unspecified 7th character
    assert all(lexicon.sources[axis] for axis in axes)


def test_a_bad_axis_file_is_a_lexicon_error(tmp_path):
    bad = tmp_path / "icd10_axes.json"
    bad.write_text(json.dumps({"axes": {"region": {"values": {"lumbar": ["Lumbar region"]}}}}))
    with pytest.raises(LexiconError):
        AxisLexicon.from_file(bad)
    bad.write_text("{")
    with pytest.raises(LexiconError):
        AxisLexicon.from_file(bad)


# -- resolution ----------------------------------------------------------------------------------
L1_WEDGE = {"vertebra": "L1", "fracture_type": "wedge_compression"}


@pytest.mark.parametrize("base, axes, code, billable, defaulted", [
    ("M43.1", {"region": "lumbar"}, "M43.16", True, ()),
    ("M43.1", {"region": "lumbosacral"}, "M43.17", True, ()),
    ("M43.1", {"region": "multiple"}, "M43.19", True, ()),
    ("M43.1", {}, "M43.10", True, ("region",)),
    ("m431", {"region": "lumbar"}, "M43.16", True, ()),
    ("M53.2X", {"region": "lumbar"}, "M53.2X6", True, ()),
    ("M53.2", {"region": "lumbar"}, "M53.2X6", True, ()),            # single child M53.2X is walked through
    ("M47.81", {"region": "thoracic"}, "M47.814", True, ()),          # not M47.813 cervicothoracic
    ("M47.81", {"region": "cervicothoracic"}, "M47.813", True, ()),
    ("M47.81", {"region": "thoracolumbar"}, "M47.815", True, ()),
    ("M47.81", {"region": "lumbar"}, "M47.816", True, ()),            # not M47.817 lumbosacral
    ("M47.81", {"region": "occipito_atlanto_axial"}, "M47.811", True, ()),
    ("M54.1", {"region": "sacral"}, "M54.18", True, ()),
    ("M45", {"region": "lumbar"}, "M45.6", True, ()),                 # "Ankylosing spondylitis lumbar region"
    ("M45", {}, "M45.9", True, ("region",)),                          # "of unspecified sites in spine"
    ("M41.12", {"region": "thoracolumbar"}, "M41.125", True, ()),
    ("M54.4", {"laterality": "right"}, "M54.41", True, ()),
    ("M54.4", {"laterality": "left"}, "M54.42", True, ()),
    ("M54.4", {}, "M54.40", True, ("laterality",)),
    ("M54.3", {"laterality": "left"}, "M54.32", True, ()),
    ("M25.55", {}, "M25.559", True, ("laterality",)),
    ("M54.5", {}, "M54.50", True, ("specificity",)),
    ("M48.0", {"region": "lumbar", "claudication": "with"}, "M48.062", True, ()),
    ("M48.0", {"region": "lumbar", "claudication": "without"}, "M48.061", True, ()),
    ("M48.0", {"region": "cervical", "claudication": "with"}, "M48.02", True, ()),
    ("M50.2", {"region": "cervical"}, "M50.20", True, ("disc_level",)),
    ("M50.2", {"disc_level": "C5-C6"}, "M50.222", True, ()),
    ("M50.1", {"disc_level": "C3-C4"}, "M50.11", True, ()),
    ("M51.3", {"region": "lumbar"}, "M51.369", True, ("disc_pain",)),
    ("M51.3", {"region": "lumbar", "disc_pain": "back_and_leg"}, "M51.362", True, ()),
    # vertebral fractures: vertebra -> fracture type -> 7th character
    ("S32.0", {**L1_WEDGE, "encounter": "subsequent_routine"}, "S32.010D", True, ()),
    ("S32.0", {**L1_WEDGE, "encounter": "initial"}, "S32.010A", True, ()),
    ("S32.0", {**L1_WEDGE, "encounter": "initial_open"}, "S32.010B", True, ()),
    ("S32.0", {**L1_WEDGE, "encounter": "nonunion"}, "S32.010K", True, ()),
    ("S32.0", {**L1_WEDGE, "encounter": "sequela"}, "S32.010S", True, ()),
    ("S32.0", {"vertebra": "L4", "fracture_type": "stable_burst", "encounter": "subsequent_delayed"},
     "S32.041G", True, ()),
    ("S32.0", {"encounter": "initial"}, "S32.009A", True, ("vertebra", "fracture_type")),
    ("S22.0", {"vertebra": "T12", "fracture_type": "wedge_compression", "encounter": "initial"},
     "S22.080A", True, ()),
    ("S22.0", {"vertebra": "T7", "fracture_type": "other", "encounter": "initial"}, "S22.068A", True, ()),
    ("S12", {"vertebra": "C2", "encounter": "initial"}, "S12.100A", True, ("fracture_type", "displacement")),
    ("S12", {"encounter": "initial"}, "S12.9XXA", True, ("vertebra",)),
    ("M48.5", {"region": "lumbar", "encounter": "initial"}, "M48.56XA", True, ()),
    ("S13.4", {"encounter": "subsequent_routine"}, "S13.4XXD", True, ()),
    # no match: the walk stops and the code is not billable
    ("S32.0", L1_WEDGE, "S32.010", False, ()),                         # no encounter: no unspecified 7th char
    ("M48.5", {"region": "lumbar"}, "M48.56", False, ()),
    ("S13.4", {}, "S13.4", False, ()),
    ("M48.0", {"region": "lumbar"}, "M48.06", False, ()),              # claudication not documented
    ("S32.0", {"vertebra": "L1", "fracture_type": "burst", "encounter": "initial"}, "S32.01", False, ()),
    ("M79.60", {"laterality": "right"}, "M79.60", False, ()),          # right arm or right leg?
    # already billable
    ("M54.50", {"region": "lumbar"}, "M54.50", True, ()),
])
def test_resolve(code_set, base, axes, code, billable, defaulted):
    result = code_set.resolve(base, axes)
    assert (result.code, result.billable, result.defaulted) == (code, billable, defaulted)
    assert result.description == code_set.description(code)
    assert code_set.is_billable(result.code) is billable


def test_resolve_ignores_empty_axis_values(code_set):
    assert code_set.resolve("M54.4", {"laterality": ""}).code == "M54.40"


def test_resolve_is_cached_and_frozen(code_set):
    first = code_set.resolve("M43.1", {"region": "lumbar"})
    assert code_set.resolve("m43.1", {"region": "lumbar"}) is first
    with pytest.raises(AttributeError):
        first.code = "M43.17"     # type: ignore[misc]
    assert isinstance(first, Resolution)


@pytest.mark.parametrize("base, axes, error", [
    ("M99.99", {}, KeyError),
    ("M50-M54", {}, KeyError),
    ("M43.1", {"regoin": "lumbar"}, ValueError),
])
def test_resolve_errors(code_set, base, axes, error):
    with pytest.raises(error):
        code_set.resolve(base, axes)


# -- cache -------------------------------------------------------------------------------------
SAMPLE = ["M54.5", "M54.50", "S32.010D", "M53.2X", "B99", "QA0.0101", "M99.99", "Z98.1", "M48.50XA"]


def _answers(cs: IcdCodeSet, code: str):
    return (cs.exists(code), cs.is_billable(code), cs.description(code), cs.parent(code),
            cs.children(code), cs.ancestors(code), cs.billable_descendants(code))


def test_cache_round_trip(code_set, cache_dir):
    files = list(cache_dir.iterdir())
    assert [f.suffix for f in files] == [".marshal"]               # no temp file left behind
    again = IcdCodeSet.load(cache_dir, axes_path=AXES)
    assert again.origin == "cache"
    assert list(again) == list(code_set)
    assert [again.description(c) for c in again] == [code_set.description(c) for c in code_set]
    for code in SAMPLE:
        assert _answers(again, code) == _answers(code_set, code)
    assert again.resolve("S32.0", {**L1_WEDGE, "encounter": "initial"}) == \
        code_set.resolve("S32.0", {**L1_WEDGE, "encounter": "initial"})


def test_a_second_load_reads_only_the_cache(code_set, cache_dir):
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from scribe.linkers.icd10 import IcdCodeSet
        start = time.perf_counter()
        cs = IcdCodeSet.load(Path({str(cache_dir)!r}))
        took = time.perf_counter() - start
        assert cs.origin == "cache", cs.origin
        assert cs.is_billable("M54.50") and not cs.is_billable("M54.5")
        assert "simple_icd_10_cm" not in sys.modules
        print(f"{{took:.3f}}")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) < 1.0      # measured ~0.06 s; generous for slow CI


def test_a_changed_package_rebuilds(code_set, cache_dir, tmp_path, monkeypatch):
    real = icd10.source_fingerprint()
    payload = icd10._read_cache(icd10._cache_path(cache_dir, real), real)
    upgraded = {**real, "version": "9.9.9"}
    monkeypatch.setattr(icd10, "source_fingerprint", lambda: upgraded)
    built: list[dict] = []
    monkeypatch.setattr(icd10, "_build_payload", lambda fp: built.append(fp) or {**payload, "fingerprint": fp})
    fresh = IcdCodeSet.load(cache_dir)
    assert fresh.origin == "built" and built == [upgraded]
    assert icd10._cache_path(cache_dir, upgraded) != icd10._cache_path(cache_dir, real)
    assert IcdCodeSet.load(cache_dir).origin == "cache"
    assert len(built) == 1


def test_a_damaged_cache_is_rebuilt(code_set, cache_dir, tmp_path, monkeypatch, caplog):
    real = icd10.source_fingerprint()
    payload = icd10._read_cache(icd10._cache_path(cache_dir, real), real)
    monkeypatch.setattr(icd10, "_build_payload", lambda fp: payload)
    icd10._cache_path(tmp_path, real).write_bytes(b"not marshal data")
    assert IcdCodeSet.load(tmp_path).origin == "built"
    assert "unreadable" in caplog.text
    assert IcdCodeSet.load(tmp_path).origin == "cache"


def test_an_unwritable_cache_dir_falls_back_to_memory(code_set, cache_dir, tmp_path, monkeypatch, caplog):
    real = icd10.source_fingerprint()
    payload = icd10._read_cache(icd10._cache_path(cache_dir, real), real)
    monkeypatch.setattr(icd10, "_build_payload", lambda fp: payload)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with caplog.at_level("WARNING", logger=icd10.__name__):
        cs = IcdCodeSet.load(blocker / "cache")        # cannot create a folder inside a file
    assert cs.origin == "memory"
    assert cs.is_billable("M54.50")
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_get_code_set_is_one_instance_across_threads(code_set, cache_dir, monkeypatch):
    monkeypatch.setenv("SCRIBE_CACHE_DIR", str(cache_dir))
    monkeypatch.setattr(icd10, "_CODE_SET", None)
    barrier = threading.Barrier(8)
    seen: list[IcdCodeSet] = []

    def worker():
        barrier.wait()
        seen.append(icd10.get_code_set())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and all(cs is seen[0] for cs in seen)
    assert seen[0].origin == "cache"


def test_every_concept_base_code_is_in_the_code_set(code_set):
    """A concept whose base code the code set lacks would link its mentions to nothing."""
    from scribe.lexicons import load_lexicons

    missing = []
    for concept in load_lexicons().concepts:
        if concept.icd is None:
            continue
        bases = [concept.icd.base, concept.icd.historical_base, *(concept.icd.base_by_region or {}).values()]
        missing += [(concept.concept, b) for b in bases if b and not code_set.exists(b)]
    assert missing == []
