"""The engine's patterns kept compiled on disk behave as ``re`` compiles them, and a cache file
from elsewhere (another interpreter, a damaged write) is ignored, never trusted."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scribe.nlp import compiled

PATTERNS = [
    (r"(?<![\w/])(?:no(?:t|ne)?|without)(?![\w])", re.I),
    (r"\b(?P<r>[CTLS])\s*(?P<a>\d{1,2})\s*[-/]\s*(?P=r)?(?P<b>\d{1,2})\b", 0),
    (r"^\s*(?P<h>findings|impression)(?:\s*:|\s+colon\b)", re.I | re.M),
    (r"(?-i:[A-Z])\.?\s+(?:ordered|read)", re.I),
]
TEXTS = ["No fracture. Without contrast, not seen; none/no.", "Levels L4-5, C5/C6 and T12-L1 (l 4 - 5)",
         "FINDINGS: stable\n  Impression colon mild\nfindings - x", "Dr. R. ordered it; j read none"]


def _matches(rx: re.Pattern[str], text: str) -> list:
    return [(m.span(), m.groups(), m.groupdict()) for m in rx.finditer(text)]


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRIBE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(compiled, "_programs", None)
    monkeypatch.setattr(compiled, "_path", None)
    monkeypatch.setattr(compiled, "_added", False)
    return tmp_path


def test_a_stored_program_matches_as_re_compiles_it(fresh_cache):
    first = [compiled.compile(p, f) for p, f in PATTERNS]
    compiled.save()
    assert list(fresh_cache.glob("regex-programs-*.marshal"))
    compiled._programs = None            # the next start: read back from disk
    again = [compiled.compile(p, f) for p, f in PATTERNS]
    for (pattern, flags), a, b in zip(PATTERNS, first, again):
        plain = re.compile(pattern, flags)
        assert b.pattern == pattern and b.flags == plain.flags and b.groupindex == plain.groupindex
        for text in TEXTS:
            assert _matches(a, text) == _matches(b, text) == _matches(plain, text)


def test_a_damaged_or_foreign_cache_file_is_ignored(fresh_cache):
    compiled.compile(*PATTERNS[0])
    compiled.save()
    (path,) = fresh_cache.glob("regex-programs-*.marshal")
    for junk in (b"not marshal at all", __import__("marshal").dumps({"stamp": ["other", 1], "programs": [
            [PATTERNS[0][0], int(PATTERNS[0][1]), 0, [1, 2, 3], 0, {}, ()]]})):
        path.write_bytes(junk)
        compiled._programs = None
        rx = compiled.compile(*PATTERNS[0])
        assert _matches(rx, TEXTS[0]) == _matches(re.compile(*PATTERNS[0]), TEXTS[0])


def test_a_second_start_checks_a_note_as_the_first(tmp_path):
    """A cold process that compiles everything and one that reads the programs back give the same
    result for a note."""
    note = Path(__file__).resolve().parents[2] / "examples" / "lumbar_flexion_extension.txt"
    run = [sys.executable, "-m", "scribe.cli", "check", str(note), "--cpt", "72120", "--compact"]
    env = dict(os.environ, SCRIBE_CACHE_DIR=str(tmp_path))
    first = subprocess.run(run, capture_output=True, text=True, check=True, env=env).stdout
    assert list(tmp_path.glob("regex-programs-*.marshal"))
    second = subprocess.run(run, capture_output=True, text=True, check=True, env=env).stdout
    assert first == second and '"gaps"' in first
