"""ICD-10-CM code set: validity, billability, hierarchy, and resolution of a base
code to the billable code the documented axis values support.

The code set is the official Tabular List shipped in ``simple-icd-10-cm``. Importing
that package parses a 10 MB XML file (2-3 s, ~200 MB), so the first use derives a
compact index (every code in Tabular pre-order, its description, parent and subtree
extent) and writes it to the cache directory (``SCRIBE_CACHE_DIR``, else
``$XDG_CACHE_HOME/scribe``, else ``~/.cache/scribe``) under a name keyed by the
package version and the names and sizes of its data files. Later start-ups read only
that file (tens of milliseconds) and never import the package.

The axis phrases used by :meth:`IcdCodeSet.resolve` live in
``lexicons/icd10_axes.json``; no clinical wording is kept in this module.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import marshal
import os
import re
import sys
import tempfile
import threading
import warnings
from array import array
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from ..errors import LexiconError

log = logging.getLogger(__name__)

PACKAGE = "simple_icd_10_cm"
FORMAT = 3                      # bump when the cache layout changes
DEFAULT = "_default"            # axis value naming the "unspecified" child
AXES_FILE = "icd10_axes.json"

# ICD-10-CM code shape: letter, two alphanumerics, optional dot and 1-4 alphanumerics.
# The second character is a digit everywhere except the April 2026 category QA0.
_SHAPE = re.compile(r"^[A-Z][0-9A-Z][0-9A-Z](?:\.[0-9A-Z]{1,4})?$")

Label = tuple[str, str]         # (axis, value)


def normalize(code: str) -> str:
    """Dotted upper-case form: ``"m545" -> "M54.5"``, ``"s32010a" -> "S32.010A"``.

    Surrounding white space is dropped; a code that already has a dot keeps it where
    it is (so a misplaced dot stays visible to :func:`is_well_formed`)."""
    text = code.strip().upper()
    if "." not in text and len(text) > 3:
        text = f"{text[:3]}.{text[3:]}"
    return text


def is_well_formed(code: str) -> bool:
    """True when ``code`` has the shape of an ICD-10-CM code (it may still not exist)."""
    return bool(_SHAPE.match(normalize(code)))


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where :meth:`IcdCodeSet.resolve` stopped.

    ``defaulted`` names the axes for which the walk took the child marked unspecified
    (no documented value, or one the code set does not distinguish)."""

    code: str
    description: str
    billable: bool
    defaulted: tuple[str, ...] = ()


# -- cache --------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """``$SCRIBE_CACHE_DIR``, else ``$XDG_CACHE_HOME/scribe``, else ``~/.cache/scribe``."""
    override = os.environ.get("SCRIBE_CACHE_DIR")
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scribe"


def _package_dir() -> Path:
    """The installed package folder, found without importing (and so parsing) it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{PACKAGE} is not installed (pip install simple-icd-10-cm)")
    return Path(next(iter(spec.submodule_search_locations)))


def _package_version(package_dir: Path) -> str:
    """Version from the ``*.dist-info`` folder name (importlib.metadata costs ~30 ms)."""
    prefix = f"{PACKAGE}-"
    for entry in os.scandir(package_dir.parent):
        if entry.name.startswith(prefix) and entry.name.endswith((".dist-info", ".egg-info")):
            return entry.name[len(prefix):].rsplit(".", 1)[0]
    from importlib import metadata

    return metadata.version(PACKAGE)


def source_fingerprint() -> dict[str, Any]:
    """What the cached index is derived from; any change means a rebuild."""
    package_dir = _package_dir()
    data = package_dir / "data"
    files = sorted((e.name, e.stat().st_size) for e in os.scandir(data)
                   if e.is_file() and not e.name.startswith("_") and not e.name.endswith((".py", ".pyc")))
    module = package_dir / f"{PACKAGE}.py"
    return {
        "format": FORMAT,
        "package": PACKAGE,
        "version": _package_version(package_dir),
        "data_files": [list(f) for f in files],
        "module_size": module.stat().st_size if module.exists() else None,
        "marshal": marshal.version,
        "python": list(sys.version_info[:2]),
        "byteorder": sys.byteorder,
    }


def _cache_path(directory: Path, fingerprint: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]
    return directory / f"icd10cm-{fingerprint['version']}-{digest}.marshal"


def _build_payload(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Import the package (slow) and flatten its tree into plain, marshal-able data.

    Codes are stored in Tabular pre-order, so a code's subtree is the index range
    ``[i + 1, end[i])``; chapters and blocks (``"13"``, ``"M50-M54"``) are left out,
    which makes categories the roots."""
    with warnings.catch_warnings():  # its importlib.resources calls are deprecated in 3.11+
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm  # parses the XML: 2-3 s, ~200 MB, once per code-set release

    is_code = cm.is_category_or_subcategory
    codes: list[str] = []
    descriptions: list[str] = []
    inclusions: list[str] = []
    parents = array("i")
    ends = array("i")

    def visit(code: str, parent: int) -> None:
        index = len(codes)
        codes.append(code)
        descriptions.append(cm.get_description(code))
        # the Tabular's inclusion terms: other names of the condition a code stands for
        inclusions.append("\x1f".join(t.replace("\n", " ") for t in cm.get_inclusion_term(code)))
        parents.append(parent)
        ends.append(0)
        for child in cm.get_children(code):
            if is_code(child) and child != code:
                visit(child, index)
        ends[index] = len(codes)

    seen: set[str] = set()
    for code in cm.get_all_codes(with_dots=True):
        # a category that is also a one-category block ("B99") is listed twice
        if code not in seen and cm.is_category(code):
            seen.add(code)
            visit(code, -1)
    offsets = array("i", [0])
    for text in descriptions:
        offsets.append(offsets[-1] + len(text))
    return {
        "fingerprint": fingerprint,
        "codes": "\n".join(codes),
        "descriptions": "".join(descriptions),
        "offsets": offsets.tobytes(),
        "inclusions": "\n".join(inclusions),
        "parents": parents.tobytes(),
        "ends": ends.tobytes(),
    }


def _write_atomically(path: Path, payload: dict[Any, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            marshal.dump(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)    # mkstemp makes it 0600; the index is public data
        os.replace(tmp, path)   # atomic: readers see the old file or the whole new one
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _read_cache(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    try:
        payload = marshal.loads(path.read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, EOFError, ValueError, TypeError) as exc:
        log.warning("ICD-10-CM cache %s is unreadable (%s); rebuilding it", path, exc)
        return None
    if not isinstance(payload, dict) or payload.get("fingerprint") != fingerprint:
        log.warning("ICD-10-CM cache %s does not match the installed code set; rebuilding it", path)
        return None
    return payload


# -- axis lexicon -------------------------------------------------------------------------
class AxisLexicon:
    """``lexicons/icd10_axes.json``: axis value -> phrases of ICD-10-CM descriptions.

    :meth:`phrases` finds the phrases in a description as whole phrases (not preceded
    or followed by a letter, digit or hyphen), leftmost then longest first, without
    overlaps; :meth:`labels_of` gives the (axis, value) labels a phrase stands for
    (several when values share a phrase, e.g. T5 and T6: "t5-t6 vertebra"). Axis
    order in the file is priority order when several children are "unspecified"."""

    def __init__(self, axes: dict[str, dict[str, list[str]]], sources: dict[str, str] | None = None,
                 note_cues: dict[str, dict[str, list[str]]] | None = None):
        self.axes = axes
        self.sources = sources or {}
        # the words a note uses for an axis value: one pattern per axis, longest phrase first
        self.note_cues: dict[str, tuple[re.Pattern[str], dict[str, str]]] = {}
        for axis, cues in (note_cues or {}).items():
            value_of = {phrase: value for value, phrases in cues.items() for phrase in phrases}
            alternatives = "|".join(re.escape(p) for p in sorted(value_of, key=lambda p: (-len(p), p)))
            self.note_cues[axis] = (re.compile(rf"(?<![a-z0-9-])(?:{alternatives})(?![a-z0-9-])"), value_of)
        by_phrase: dict[str, set[Label]] = {}
        for axis, values in axes.items():
            for value, phrases in values.items():
                for phrase in phrases:
                    by_phrase.setdefault(phrase.lower(), set()).add((axis, value))
        self._labels = {phrase: frozenset(labels) for phrase, labels in by_phrase.items()}
        alternatives = "|".join(re.escape(p) for p in sorted(self._labels, key=lambda p: (-len(p), p)))
        self._regex = re.compile(rf"(?<![a-z0-9-])(?:{alternatives})(?![a-z0-9-])")
        self.phrases = lru_cache(maxsize=16384)(self._phrases_uncached)

    @classmethod
    def from_file(cls, path: Path) -> AxisLexicon:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise LexiconError(f"{path.name}: {exc}") from None
        axes: dict[str, dict[str, list[str]]] = {}
        sources: dict[str, str] = {}
        note_cues: dict[str, dict[str, list[str]]] = {}
        for axis, entry in (doc.get("axes") or {}).items() if isinstance(doc, dict) else ():
            values = entry.get("values") if isinstance(entry, dict) else None
            if not isinstance(values, dict) or not values:
                raise LexiconError(f"{path.name}: axis {axis!r} needs a non-empty 'values' object")
            _check_phrases(path, axis, values)
            cues = entry.get("note_cues", {})
            if not isinstance(cues, dict):
                raise LexiconError(f"{path.name}: {axis}.note_cues must be an object of value -> phrases")
            _check_phrases(path, axis + ".note_cues", cues)
            unknown = set(cues) - set(values)
            if unknown:
                raise LexiconError(f"{path.name}: {axis}.note_cues names values the axis does not have: {sorted(unknown)}")
            axes[axis] = values
            sources[axis] = str(entry.get("source", ""))
            if cues:
                note_cues[axis] = cues
        if not axes:
            raise LexiconError(f"{path.name}: no 'axes'")
        return cls(axes, sources, note_cues)

    def note_value(self, axis: str, clause: str, at: int) -> str | None:
        """The value of ``axis`` the words of a note's ``clause`` (lower case) give, the cue
        nearest offset ``at`` (the mention) first."""
        cues = self.note_cues.get(axis)
        if cues is None:
            return None
        rx, value_of = cues
        found = [(abs(m.start() - at) if m.start() >= at else max(0, at - m.end()), -len(m.group()), value_of[m.group()])
                 for m in rx.finditer(clause)]
        return min(found)[2] if found else None

    def _phrases_uncached(self, description: str) -> Counter[str]:
        return Counter(m.group() for m in self._regex.finditer(description.lower()))

    def labels_of(self, phrase: str) -> frozenset[Label]:
        return self._labels[phrase]

    def labels(self, description: str) -> set[Label]:
        """All (axis, value) labels the phrases of ``description`` stand for."""
        return {label for phrase in self.phrases(description) for label in self._labels[phrase]}


def _check_phrases(path: Path, where: str, values) -> None:
    for value, phrases in values.items():
        if (not isinstance(phrases, list) or not phrases
                or not all(isinstance(p, str) and p.strip() and p == p.lower() for p in phrases)):
            raise LexiconError(f"{path.name}: {where}.{value} must be a non-empty list of lower-case phrases")


def _default_axes_path() -> Path:
    from ..lexicons import lexicon_root  # deferred: pulls in pydantic

    return lexicon_root() / AXES_FILE


# -- code set -----------------------------------------------------------------------------
class IcdCodeSet:
    """The ICD-10-CM Tabular List as a compact, read-only index.

    Every method accepts a code with or without its dot, in any case. Codes are the
    Tabular's categories, subcategories and 7th-character codes; chapters and blocks
    ("M50-M54") are not codes. Unknown codes give ``None``/empty answers, not errors."""

    def __init__(self, payload: dict[str, Any], *, origin: str, axes_path: Path | None = None):
        self.fingerprint: dict[str, Any] = payload["fingerprint"]
        self.origin = origin    # "cache" (read), "built" (built and cached) or "memory" (not cached)
        self._codes: list[str] = payload["codes"].split("\n")
        self._index: dict[str, int] = {code: i for i, code in enumerate(self._codes)}
        self._text: str = payload["descriptions"]
        self._inclusions: str = payload["inclusions"]
        self._inclusion_list: list[str] | None = None
        self._offsets = array("i")
        self._parents = array("i")
        self._ends = array("i")
        self._offsets.frombytes(payload["offsets"])
        self._parents.frombytes(payload["parents"])
        self._ends.frombytes(payload["ends"])
        n = len(self._codes)
        if not (len(self._offsets) == n + 1 and len(self._parents) == n == len(self._ends)):
            raise ValueError("inconsistent ICD-10-CM index")
        self._axes_path = axes_path
        self._axes: AxisLexicon | None = None
        self._axes_lock = threading.Lock()
        self._resolve = lru_cache(maxsize=8192)(self._resolve_uncached)

    @classmethod
    def load(cls, cache_dir: Path | None = None, *, axes_path: Path | None = None) -> IcdCodeSet:
        """Read the cached index, building (and caching) it first if needed.

        An unwritable cache directory is not an error: the index is built in memory
        (with a warning) and rebuilt on the next start."""
        directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        fingerprint = source_fingerprint()
        path = _cache_path(directory, fingerprint)
        payload = _read_cache(path, fingerprint)
        if payload is not None:
            try:
                return cls(payload, origin="cache", axes_path=axes_path)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                log.warning("ICD-10-CM cache %s is damaged (%s); rebuilding it", path, exc)
        payload = _build_payload(fingerprint)
        origin = "built"
        try:
            _write_atomically(path, payload)
        except OSError as exc:
            origin = "memory"
            log.warning("cannot write the ICD-10-CM cache in %s (%s); using an in-memory index, "
                        "rebuilt at every start (set SCRIBE_CACHE_DIR to a writable folder)", directory, exc)
        return cls(payload, origin=origin, axes_path=axes_path)

    # -- internals ----------------------------------------------------------------------------
    def _find(self, code: str) -> int | None:
        return self._index.get(normalize(code))

    def _description(self, i: int) -> str:
        return self._text[self._offsets[i]:self._offsets[i + 1]]

    def _children(self, i: int) -> Iterator[int]:
        j, end = i + 1, self._ends[i]
        while j < end:
            yield j
            j = self._ends[j]

    def _is_leaf(self, i: int) -> bool:
        return self._ends[i] == i + 1

    # -- look-ups -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._codes)

    def __iter__(self) -> Iterator[str]:
        """Every code, in Tabular order."""
        return iter(self._codes)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.exists(code)

    def exists(self, code: str) -> bool:
        """A category, subcategory or 7th-character code of the Tabular (headers included)."""
        return self._find(code) is not None

    def is_billable(self, code: str) -> bool:
        """Exists and has no children (a valid code for a claim)."""
        i = self._find(code)
        return i is not None and self._is_leaf(i)

    def inclusion_terms(self, code: str) -> tuple[str, ...]:
        """The Tabular's inclusion terms of ``code`` (other names of its condition)."""
        i = self._find(code)
        if i is None:
            return ()
        if self._inclusion_list is None:
            self._inclusion_list = self._inclusions.split("\n")
        entry = self._inclusion_list[i]
        return tuple(entry.split("\x1f")) if entry else ()

    def description(self, code: str) -> str | None:
        i = self._find(code)
        return None if i is None else self._description(i)

    def parent(self, code: str) -> str | None:
        """The code one level up; ``None`` for a category (its parent is a block) or an unknown code."""
        i = self._find(code)
        if i is None or self._parents[i] < 0:
            return None
        return self._codes[self._parents[i]]

    def children(self, code: str) -> tuple[str, ...]:
        i = self._find(code)
        return () if i is None else tuple(self._codes[j] for j in self._children(i))

    def ancestors(self, code: str) -> tuple[str, ...]:
        """Parent first, category last."""
        out: list[str] = []
        i = self._find(code)
        while i is not None and self._parents[i] >= 0:
            i = self._parents[i]
            out.append(self._codes[i])
        return tuple(out)

    def descendants(self, code: str) -> list[str]:
        """Every code below ``code``, in Tabular order."""
        i = self._find(code)
        if i is None:
            return []
        return [self._codes[j] for j in range(i + 1, self._ends[i])]

    def billable_descendants(self, code: str) -> list[str]:
        """The billable codes below ``code``, in Tabular order (``[]`` for a billable or unknown code)."""
        i = self._find(code)
        if i is None:
            return []
        return [self._codes[j] for j in range(i + 1, self._ends[i]) if self._is_leaf(j)]

    # -- resolution -------------------------------------------------------------------------------
    @property
    def axes(self) -> AxisLexicon:
        """The axis lexicon, read on first use."""
        if self._axes is None:
            with self._axes_lock:
                if self._axes is None:
                    self._axes = AxisLexicon.from_file(self._axes_path or _default_axes_path())
        return self._axes

    def resolve(self, base: str, axes: dict[str, str]) -> Resolution:
        """Walk down from ``base`` to a billable code, choosing at each level by the
        documented axis values (``{"region": "lumbar", "encounter": "initial"}``).

        At each level the phrases of ``lexicons/icd10_axes.json`` are found in the
        children's descriptions; only the phrases a child adds to its parent's
        description, and labels not every sibling shares, tell children apart. A
        single child is always taken. Otherwise the child naming the most documented
        values wins; with none (or a tie), the child marked unspecified by an axis's
        ``_default`` phrases is taken (axes tried in lexicon order; two children
        marked for the same axis is a tie) and that axis is recorded in
        ``Resolution.defaulted``; failing that the walk stops (the returned code is
        then not billable, e.g. a fracture with no documented encounter).

        Raises ``KeyError`` for a base code not in the code set and ``ValueError`` for
        an axis the lexicon does not define. Results are cached."""
        code = normalize(base)
        if code not in self._index:
            raise KeyError(f"ICD-10-CM code {base!r} is not in the code set")
        documented = frozenset((axis, value) for axis, value in axes.items() if value)
        unknown = {axis for axis, _ in documented} - set(self.axes.axes)
        if unknown:
            raise ValueError(f"unknown ICD-10-CM axes {sorted(unknown)} (see {AXES_FILE})")
        return self._resolve(code, documented)

    def _resolve_uncached(self, code: str, documented: frozenset[Label]) -> Resolution:
        wanted = dict(documented)
        i = self._index[code]
        defaulted: list[str] = []
        while not self._is_leaf(i):
            step = self._choose(i, wanted)
            if step is None:
                break
            i, axes_defaulted = step
            defaulted.extend(a for a in axes_defaulted if a not in defaulted)
        return Resolution(self._codes[i], self._description(i), self._is_leaf(i), tuple(defaulted))

    def _choose(self, i: int, wanted: dict[str, str]) -> tuple[int, list[str]] | None:
        """The child of ``i`` to walk into and the axes it defaults, or ``None`` to stop."""
        kids = list(self._children(i))
        if len(kids) == 1:
            return kids[0], []
        telling = self._telling_labels(i, kids)
        scores = [sum((axis, value) in labels for axis, value in wanted.items()) for labels in telling]
        best = max(scores)
        pool = [n for n, score in enumerate(scores) if score == best]
        if best == 0 or len(pool) > 1:
            chosen = self._unspecified(pool, telling)
            if chosen is None:
                return None
            pool = [chosen]
        n = pool[0]
        axes_defaulted = [axis for axis in self.axes.axes if (axis, DEFAULT) in telling[n]
                          and (axis, wanted.get(axis)) not in telling[n]]
        return kids[n], axes_defaulted

    def _telling_labels(self, i: int, kids: list[int]) -> list[set[Label]]:
        """Per child, the labels that set it apart: those of the phrases it adds to its
        parent's description, except phrases that only restate a parent phrase
        ("T7-T8 thoracic vertebra" under "T7-T8 vertebra") and labels every sibling has."""
        lexicon = self.axes
        inherited = lexicon.phrases(self._description(i))
        restated = {lexicon.labels_of(phrase) for phrase in inherited}
        telling: list[set[Label]] = []
        for k in kids:
            added = lexicon.phrases(self._description(k)) - inherited
            telling.append({label for phrase in added if lexicon.labels_of(phrase) not in restated
                            for label in lexicon.labels_of(phrase)})
        shared = set.intersection(*telling)
        return [labels - shared for labels in telling]

    def _unspecified(self, pool: list[int], telling: list[set[Label]]) -> int | None:
        """The one child of ``pool`` marked unspecified, trying axes in lexicon order."""
        for axis in self.axes.axes:
            marked = [n for n in pool if (axis, DEFAULT) in telling[n]]
            if marked:
                return marked[0] if len(marked) == 1 else None
        return None


_CODE_SET: IcdCodeSet | None = None
_CODE_SET_LOCK = threading.Lock()


def get_code_set() -> IcdCodeSet:
    """The process-wide code set, loaded on first use (thread-safe)."""
    global _CODE_SET
    if _CODE_SET is None:
        with _CODE_SET_LOCK:
            if _CODE_SET is None:
                _CODE_SET = IcdCodeSet.load()
    return _CODE_SET
