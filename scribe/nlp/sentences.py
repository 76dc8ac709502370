"""Sentence boundaries for dictated text.

Dictation arrives with missing punctuation, spoken punctuation ("period", "new
paragraph"), headers spoken or written mid-line ("... no fracture impression: ...")
and one finding per line. Boundaries are decided from a few characters around each
candidate only, so re-splitting the tail of a growing note gives the same
sentences as splitting the whole note (the streaming session relies on this).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import compiled
from .trie import CaseFree, trie_pattern

# How far (in characters) a boundary decision may look back or ahead; the session
# re-splits from the last boundary at least this far before a change.
WINDOW = 48

_ABBREVIATIONS = frozenset(
    "dr dra drs mudr dott ref req mr mrs ms st vs no nos approx e.g i.e eg ie jr sr prof fig ca cf etc al resp pt pts dept yr yrs "
    "wk wks mo mos hr hrs min mins sec comp comps compd gez med univ lek fdo doc sig".split()
)
_SPOKEN_BREAK = re.compile(r"\b(?:period|full stop|new paragraph|next paragraph|new line|next line)\b", re.I)
_PERIOD_GUARD_BEFORE = re.compile(
    r"(?:\b(?:a|the|this|that|each|one|which|postoperative|post-operative|perioperative|short|long|same|grace|refractory|washout|waiting|trial|time|\d+)\s+)$",
    re.I,
)
_PERIOD_GUARD_AFTER = re.compile(r"^\s+of\b", re.I)
_PREV_WORD = re.compile(r"[A-Za-z/&-]+[ \t]*$")
_WORD_BEFORE = re.compile(r"([A-Za-z.]+)$")
_INITIAL = re.compile(r"\b[A-Z]$")
_NAME_AFTER = re.compile(r"\s+[A-Z][a-z]")


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    starts_line: bool


def _heads(literals: list[str]) -> str:
    return trie_pattern([h.lower() for h in literals])


def _candidate_regex(header_literals: list[str]) -> CaseFree:
    heads = _heads(header_literals)
    # spoken punctuation and headers share one word-boundary test (the scan's cost is per position)
    return CaseFree(
        r"(?P<nl>\n)"
        r"|(?P<punct>[.!?]+)(?=\s|$)"
        r"|\b(?:(?P<spoken>(?:period|full stop|new paragraph|next paragraph|new line|next line)\b)"
        rf"|(?P<header>(?:{heads})(?=\s*(?::|\s+colon\b))))"
    )


_SOURCE_WORDS = frozenset({"per", "from", "by"})


class SentenceSplitter:
    """Splits text into `Sentence` spans (offsets into the text, whitespace trimmed)."""

    def __init__(self, header_literals: list[str], all_literals: list[str] | None = None):
        """``header_literals`` may open a section mid-line; ``all_literals`` are every
        header, used so that "Report status:" is not cut before "status"."""
        self._candidates = _candidate_regex(header_literals)
        self._any_header = compiled.compile(rf"(?:{_heads(all_literals or header_literals)})\s*(?::|\s+colon\b)", re.I)

    def _is_boundary(self, text: str, m: re.Match[str]) -> bool:
        if m.group("nl"):
            return True
        if m.group("header"):
            # a header opens a sentence mid-line only after other words on the line, and not
            # when the word before belongs to a longer header ("Report status:")
            line_before = text[max(0, m.start() - 60):m.start()].rsplit("\n", 1)[-1]
            if not line_before.strip() or line_before[-1:] not in (" ", "\t"):
                return False
            prev = _PREV_WORD.search(line_before)
            if prev and prev.group(0).strip().lower() in _SOURCE_WORDS:
                return False   # whom a header's content comes from: "Hx per tech:", "History from chart:"
            return not (prev and self._any_header.match(text, m.start() - len(prev.group(0))))
        if m.group("punct"):
            start = m.start()
            word = _WORD_BEFORE.search(text, max(0, start - 8), start)
            if word and m.group("punct") == "." and word.group(1).lower().rstrip(".") in _ABBREVIATIONS:
                return False
            if m.group("punct") == "." and _INITIAL.search(text, max(0, start - 2), start) and \
                    _NAME_AFTER.match(text, m.end(), m.end() + 3):
                return False  # an initial: "J. Smith"
            return True
        before = text[max(0, m.start() - 24):m.start()]
        after = text[m.end():m.end() + 6]
        if m.group("spoken").lower() == "period" and (_PERIOD_GUARD_BEFORE.search(before) or _PERIOD_GUARD_AFTER.match(after)):
            return False
        return True

    def split(self, text: str, start: int = 0, end: int | None = None) -> list[Sentence]:
        """Sentences of ``text[start:end]``; ``start`` must be a sentence start."""
        end = len(text) if end is None else end
        out: list[Sentence] = []
        cursor = start
        for m in self._candidates.finditer(text, start, end):
            if not self._is_boundary(text, m):
                continue
            if m.group("header"):
                cut = cursor_next = m.start()
            elif m.group("nl"):
                cut, cursor_next = m.start(), m.end()
            else:
                cut = cursor_next = m.end()
            self._emit(text, cursor, cut, out)
            cursor = cursor_next
        self._emit(text, cursor, end, out)
        return out

    @staticmethod
    def _emit(text: str, a: int, b: int, out: list[Sentence]) -> None:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            i = a - 1
            while i >= 0 and text[i] in " \t\r":
                i -= 1
            out.append(Sentence(a, b, i < 0 or text[i] == "\n"))
