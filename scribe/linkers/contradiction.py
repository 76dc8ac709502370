"""A suggested code must not contradict the note (issue 13 item 7).

ICD-10-CM descriptions often exclude something in so many words: M51.369 is disc degeneration of
the lumbar region "without mention of lumbar back pain or lower extremity pain". When the note
documents (as present) a condition such a clause names, the code contradicts the note and is not
suggested; a sibling code (same parent, billable) that does not contradict it takes its place,
the one whose own "with ..." words the note documents best.

One general rule on the description's wording, no list of codes: a ``without [mention of] X or
Y`` clause is split into its conditions (X, Y); a condition is documented when a present
indication's words (its text and its code's description) hold the condition's last word (its
head, e.g. "pain") and all but at most one of its other content words.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Iterable, Sequence

from ..types import CodeCandidate, Indication

WITHOUT = re.compile(r"\bwithout (?:mention of )?(.+?)(?=[,;(]| with\b|$)", re.I)
WITH = re.compile(r"\bwith (?!mention\b)(.+?)(?=[,;(]| without\b|$)", re.I)
SPLIT = re.compile(r"\s+(?:or|and)\s+|,\s*", re.I)
WORD = re.compile(r"[a-z]+")
FILLER = frozenset({"of", "the", "a", "an", "in", "on", "to", "unspecified", "other", "region", "site", "only",
                    "mention", "specified", "not", "elsewhere", "classified"})


def _words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w not in FILLER}


def _conditions(description: str, pattern: re.Pattern) -> list[list[str]]:
    out = []
    for clause in pattern.findall(description):
        for part in SPLIT.split(clause):
            words = [w for w in WORD.findall(part.lower()) if w not in FILLER]
            if words:
                out.append(words)
    return out


def _documented(condition: list[str], documented: Sequence[set[str]]) -> bool:
    head, rest = condition[-1], set(condition[:-1])
    return any(head in d and len(rest - d) <= (1 if len(rest) >= 2 or len(condition) >= 3 else 0)
               and len(set(condition) & d) >= min(2, len(condition)) for d in documented)


def contradicts(description: str, documented: Sequence[set[str]]) -> bool:
    """Does a "without ..." clause of ``description`` name a documented condition?"""
    if "without" not in description.lower():
        return False
    return any(_documented(c, documented) for c in _conditions(description, WITHOUT))


def _support(description: str, documented: Sequence[set[str]]) -> int:
    return sum(_documented(c, documented) for c in _conditions(description, WITH))


def without_contradictions(indications: list[Indication], codeset) -> list[Indication]:
    """The indications with every suggested code that contradicts the note removed (replaced by
    the best non-contradicting billable sibling when none is left)."""
    present = [(k, i) for k, i in enumerate(indications) if i.assertion == "present"]
    if not present or not any("without" in c.description.lower() for i in indications for c in i.icd10):
        return indications
    # The tests read each documented word set only through any(...), so a word set said by many
    # indications counts once: a note that repeats a sentence costs its distinct word sets, not
    # the square of its indications. Each set keeps the indications that say it, since the one
    # being checked (and any sharing its span) must not count as its own evidence.
    owners: dict[frozenset[str], list[int]] = {}
    for k, i in present:
        owners.setdefault(frozenset(_words(i.text) | _described(i)), []).append(k)
    verdicts: dict[tuple[str, frozenset[frozenset[str]]], bool] = {}
    out = list(indications)
    for k, ind in enumerate(indications):
        if not any("without" in c.description.lower() for c in ind.icd10):
            continue
        chosen = frozenset(d for d, js in owners.items()
                           if any(j != k and not _same_span(indications[j], ind) for j in js))
        documented = [set(d) for d in chosen]
        keep = tuple(c for c in ind.icd10 if not _contradicts_cached(c.description, chosen, documented, verdicts))
        if len(keep) == len(ind.icd10):
            continue
        if not keep:
            keep = _siblings(ind.icd10[0], codeset, documented)
        if keep:
            out[k] = replace(ind, icd10=keep)
    return out


def _contradicts_cached(description: str, chosen: frozenset[frozenset[str]], documented: Sequence[set[str]],
                        verdicts: dict[tuple[str, frozenset[frozenset[str]]], bool]) -> bool:
    key = (description, chosen)
    if key not in verdicts:
        verdicts[key] = contradicts(description, documented)
    return verdicts[key]


def _described(ind: Indication) -> set[str]:
    """The words of the indication's code, unless that description excludes something itself
    (its "without" words say what the note does not document)."""
    if not ind.icd10 or "without" in ind.icd10[0].description.lower():
        return set()
    return _words(ind.icd10[0].description)


def _same_span(a: Indication, b: Indication) -> bool:
    return a.start < b.end and b.start < a.end


def _siblings(first: CodeCandidate, codeset, documented: Sequence[set[str]]) -> tuple[CodeCandidate, ...]:
    parent = codeset.parent(first.code)
    if parent is None:
        return ()
    found: Iterable[str] = (c for c in codeset.billable_descendants(parent) if c != first.code)
    options = []
    for code in found:
        description = codeset.description(code) or ""
        support = _support(description, documented)
        # only a sibling that says what the note documents ("with discogenic back pain") corrects the
        # code; where none does (the contradiction belongs to another category: osteoporosis "without
        # current pathological fracture" beside a fracture is M80, not a sibling), the code stays
        if support and not contradicts(description, documented):
            options.append((-support, code, description))
    options.sort()
    return tuple(CodeCandidate(code, description, first.score) for _, code, description in options[:3])
