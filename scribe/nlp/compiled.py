"""The engine's regular expressions, compiled once per Python build and kept on disk.

Python compiles a pattern in two pure-Python steps (parse, then code generation) before handing
the program to its C matcher; for the engine's few hundred patterns, several of them tries of
thousands of phrases, that costs about a third of a cold start. The program those steps produce
depends only on the pattern, the flags and the interpreter, so it is kept in the cache directory
(next to the ICD-10-CM term index) and given straight to the matcher on the next start. The cache
is keyed by the interpreter's version and its matcher's magic number; anything unexpected (another
interpreter, an unreadable or foreign file) falls back to ``re.compile``, so the patterns and their
matches are always those ``re`` would compile.
"""
from __future__ import annotations

import hashlib
import logging
import marshal
import re
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

try:   # CPython's matcher and compiler: present on CPython 3.11+, the only interpreter supported
    import _sre  # type: ignore[import-not-found]
    from re import _compiler, _parser  # type: ignore[attr-defined]
    _STAMP: tuple = (sys.implementation.name, sys.hexversion, _sre.MAGIC, _sre.CODESIZE)
except (ImportError, AttributeError):    # pragma: no cover - another interpreter: plain re.compile
    _sre = None
    _STAMP = ()

_programs: dict[tuple[str, int], tuple] | None = None   # loaded on first use
_added = False
_path: Path | None = None


def _cache_path() -> Path:
    from ..linkers.icd10 import default_cache_dir
    stamp = hashlib.sha256(repr(_STAMP).encode()).hexdigest()[:12]
    return default_cache_dir() / f"regex-programs-{stamp}.marshal"


def _load() -> dict[tuple[str, int], tuple]:
    global _programs, _path
    if _programs is None:
        _programs = {}
        _path = _cache_path()
        try:
            payload = marshal.loads(_path.read_bytes())
            if isinstance(payload, dict) and payload.get("stamp") == list(_STAMP):
                _programs = {(p, f): tuple(v) for p, f, *v in payload["programs"]}
        except (OSError, EOFError, ValueError, TypeError, KeyError):
            pass
    return _programs


def _program(pattern: str, flags: int) -> tuple:
    """What ``re``'s compiler hands the matcher for this pattern (its own steps, in order)."""
    parsed = _parser.parse(pattern, flags)
    code = _compiler._code(parsed, flags)
    groupindex = dict(parsed.state.groupdict)
    indexgroup = [None] * parsed.state.groups
    for name, i in groupindex.items():
        indexgroup[i] = name
    return (int(flags | parsed.state.flags), [int(c) for c in code], int(parsed.state.groups - 1),
            {str(k): int(v) for k, v in groupindex.items()}, tuple(indexgroup))


def compile(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)``, from the stored program when there is one."""
    global _added
    if _sre is None or flags & re.DEBUG:
        return re.compile(pattern, flags)
    programs = _load()
    key = (pattern, int(flags))
    stored = programs.get(key)
    if stored is None:
        try:
            stored = _program(pattern, int(flags))
        except (re.error, AttributeError, TypeError, ValueError, OverflowError):  # re itself decides
            return re.compile(pattern, flags)
        programs[key] = stored
        _added = True
    final_flags, code, groups, groupindex, indexgroup = stored
    try:
        return _sre.compile(pattern, final_flags, code, groups, groupindex, indexgroup)
    except (TypeError, ValueError, RuntimeError, OverflowError):  # pragma: no cover - refused program
        return re.compile(pattern, flags)


def save() -> None:
    """Write the programs compiled since the cache was read (once the engine is built)."""
    global _added
    if not _added or _programs is None or _path is None:
        return
    from ..linkers.icd10 import _write_atomically
    rows: list[Any] = [[p, f, *v] for (p, f), v in _programs.items()]
    try:
        _write_atomically(_path, {"stamp": list(_STAMP), "programs": rows})
        _added = False
    except (OSError, ValueError) as exc:
        log.warning("cannot keep the compiled patterns in %s (%s); they are compiled at every start",
                    _path.parent, exc)
