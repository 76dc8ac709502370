"""Indication and condition phrases: exact (a trie-shaped pattern on the text, or spaCy's
PhraseMatcher on token norms when a sentence was tokenized), by pattern (regex from the
lexicon), and tolerant of speech-recognition slips.

Tolerance: a token that is not a lexicon word but is close to one ("instabilty",
rapidfuzz ratio >= ``fuzzy_cutoff`` with the same first three letters) gets the
lexicon word as its norm, and two tokens whose concatenation is a lexicon word
("spondylo listhesis") are merged. Both decisions are cached per token text.
"""
from __future__ import annotations

import bisect

import re
import threading
from functools import lru_cache
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process

from .facts import Mention
from .gates import KeywordGates
from .trie import CaseFree, trie_pattern

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.matcher import PhraseMatcher
    from spacy.tokens import Doc

_LONG_WORDS = re.compile(r"[a-z]{6,}")
_SPACE_RUN = "[ \\t]+"          # what trie_pattern makes of a space with flexible_space
_TERM_SPACE = r"(?:[ \t]*\([^()\n]{1,30}\)[ \t]*|[ \t]+|-)"
_ASIDE_OR_SPACE = re.compile(r"\s*\([^()]*\)\s*|[\s-]+")


def _loose(term: str) -> str:
    """A term with its asides dropped and its spaces and hyphens made one space."""
    return _ASIDE_OR_SPACE.sub(" ", term.lower()).strip()
# the word or two before a coordinator that stands right before a term ("neck and| low back pain"),
# an aside in parentheses allowed ("mid-back (thoracic) and")
_COORDINATED = re.compile(r"(?<![\w-])(?P<x>[A-Za-z][A-Za-z-]*(?: [A-Za-z][A-Za-z-]*)?)\s*(?:\([^()]{0,30}\)\s*)?"
                          r"(?:,?\s+(?:and|or|&|as well as|and/or)\s+|\s*[/&]\s*)$")
_SITE_PAIR = re.compile(r"(?<![\w-])(?P<x>[A-Za-z][A-Za-z-]* (?P<x1>[A-Za-z][A-Za-z-]*)|[A-Za-z][A-Za-z-]*)"
                        r"(?:,?\s+(?:and|or|&|and/or)\s+|\s*[/&]\s*)"
                        r"(?P<y>[A-Za-z][A-Za-z-]*(?: [A-Za-z]+)?)\s+$")


class ConceptMatcher:
    def __init__(self, concepts, *, fuzzy_cutoff: float = 90.0, min_fuzzy_len: int = 6,
                 extra_vocabulary: tuple[str, ...] = (), pattern_gates: Mapping[str, Sequence[str]] | None = None,
                 site_words: Sequence[str] = ()):
        """``pattern_gates``: for a concept with regex patterns, keywords one of which any
        match contains (the patterns run only on sentences holding one). ``site_words``:
        patterns of the words that name a site of the spine (coordinated sites share a condition)."""
        self._site = re.compile("|".join(f"(?:{p})" for p in site_words)) if site_words else None
        self.patterns: list[tuple[str, CaseFree]] = []
        self.term_concept: dict[str, str] = {}
        words: set[str] = {w.lower() for w in extra_vocabulary}
        for concept in concepts:
            for term in concept.terms:
                term_l = term.lower()
                self.term_concept.setdefault(term_l, concept.concept)
                words.update(w for w in re.findall(r"[a-z]+", term_l) if len(w) >= min_fuzzy_len)
            for pattern in concept.patterns:
                self.patterns.append((concept.concept, CaseFree(pattern)))
        self._concepts = concepts
        self._matcher: PhraseMatcher | None = None
        self._lock = threading.Lock()
        self.keywords = frozenset(words)
        # every match of a term contains the term's longest word: the term scan runs only on
        # sentences holding one; a concept's patterns only on sentences holding its keywords
        self._gate_keywords = {"terms": sorted({max(t.split(), key=len) for t in self.term_concept})}
        self._gate_keywords.update({"concept:" + c: list(words) for c, words in (pattern_gates or {}).items()})
        self._loose_concept = {_loose(t): c for t, c in self.term_concept.items()}
        # a space of a term may be said as a hyphen or hold a short aside in parentheses
        terms = trie_pattern(sorted(self.term_concept), flexible_space=True).replace(_SPACE_RUN, _TERM_SPACE)
        self.term_regex = CaseFree(rf"(?<![\w])(?:{terms})(?![\w])")
        self._by_prefix: dict[str, list[str]] = {}
        for w in self.keywords:
            self._by_prefix.setdefault(w[:3], []).append(w)
        self._split_words = {f"{w[:k]} {w[k:]}": w for w in self.keywords for k in range(3, len(w) - 2)}
        self._split_compiled: re.Pattern[str] | None = None   # compiled on first need (rarely needed)
        self._gate_keywords["split"] = sorted(self._split_words)
        self._gates = KeywordGates(self._gate_keywords)
        self.fuzzy_cutoff = fuzzy_cutoff
        self.min_fuzzy_len = min_fuzzy_len
        self._fix = lru_cache(maxsize=65536)(self._fix_uncached)
        self._no_fix: set[str] = set()   # words already found to be no slip (most words of a note)

    def _concept_said(self, said: str) -> str:
        """The concept of a term as the term scan found it: its spaces may be runs of spaces, a
        hyphen ("mid-back pain") or hold an aside ("mid-back (thoracic) pain")."""
        concept = self.term_concept.get(" ".join(said.split()))
        if concept is None:
            concept = self._loose_concept[_loose(said)]
        return concept

    @property
    def split_regex(self) -> re.Pattern[str] | None:
        """One trie-shaped pattern of every way to split a lexicon word in two."""
        if self._split_compiled is None and self._split_words:
            self._split_compiled = re.compile(
                rf"(?<![a-z])(?:{trie_pattern(sorted(self._split_words), flexible_space=True)})(?![a-z])")
        return self._split_compiled

    def phrase_matcher(self, nlp: Language) -> PhraseMatcher:
        """spaCy's PhraseMatcher over every lexicon term, on token norms (built on first need)."""
        if self._matcher is None:
            with self._lock:
                if self._matcher is None:
                    from spacy.matcher import PhraseMatcher

                    matcher = PhraseMatcher(nlp.vocab, attr="NORM")
                    for concept in self._concepts:
                        matcher.add(concept.concept, [nlp.make_doc(term.lower()) for term in concept.terms])
                    self._matcher = matcher
        return self._matcher

    def _remember_clean(self, word: str) -> None:
        if len(self._no_fix) >= 65536:   # bounded: a long-running service sees many words
            self._no_fix.clear()
        self._no_fix.add(word)

    # -- speech-recognition tolerance ---------------------------------------------------
    def _fix_uncached(self, word: str) -> str | None:
        if word in self.keywords:
            return None
        candidates = self._by_prefix.get(word[:3])
        if not candidates:
            return None
        best = process.extractOne(word, candidates, scorer=fuzz.ratio, score_cutoff=self.fuzzy_cutoff)
        return best[0] if best else None

    def corrections(self, text: str, gates: set[str] | None = None) -> tuple[list, list]:
        """Speech-recognition slips in ``text``: (single-word fixes, two-word merges),
        each as (start, end, lexicon word). A lexicon word split in two ("spondylo
        listhesis") is found by one scan of a trie of all its splits (run when a split
        with one space is among the open ``gates``, or the text has wider spacing); a
        misspelt long word ("instabilty") by rapidfuzz against lexicon words with the
        same first letters."""
        lower = text.lower()
        if len(lower) != len(text):
            lower = text
        if gates is None:
            gates = self._gates.open(lower)
        split = self.split_regex if self._split_words and ("split" in gates or "  " in lower or "\t" in lower) else None
        merges = [(m.start(), m.end(), self._split_words[" ".join(m.group(0).split())])
                  for m in split.finditer(lower)] if split is not None else []
        single: list[tuple[int, int, str]] = []
        unknown = set(_LONG_WORDS.findall(lower))
        unknown -= self.keywords
        unknown -= self._no_fix
        if not unknown:
            return single, merges
        fix = self._fix
        for m in _LONG_WORDS.finditer(lower):
            word = m.group()
            if word in unknown:
                target = fix(word)
                if target is None:
                    self._remember_clean(word)
                elif not any(s <= m.start() < e for s, e, _ in merges):
                    single.append((m.start(), m.end(), target))
        return single, merges

    def gate_keywords(self) -> dict[str, list[str]]:
        """The keyword gates of the term scan ("terms") and of each concept's patterns
        ("concept:<name>"), for a caller that opens all its gates in one pass."""
        return self._gate_keywords

    def exact_mentions(self, text: str, single: Sequence[tuple[int, int, str]] = (),
                       gates: set[str] | None = None) -> list[Mention]:
        """Lexicon terms found by one scan of a trie-shaped pattern (no tokens needed).

        ``single`` are one-word slip corrections (from ``corrections``): the scan then runs
        on the text with each slip replaced by its lexicon word, and the offsets are mapped
        back to the original text; a term touching a corrected word is a ``fuzzy`` match.
        Regex patterns run on the original text. ``gates``: the open keyword gates of the
        text (see `gate_keywords`), when the caller has them."""
        if gates is None:
            gates = self._gates.open(text.lower())
        found: list[Mention] = []
        if single:
            fixed, edits = _apply(text, single)
            for m in self.term_regex.finditer(fixed):
                kind = "fuzzy" if any(fs < m.end() and fe > m.start() for fs, fe, _, _ in edits) else "exact"
                found.append(Mention(self._concept_said(m.group(0)), _back(m.start(), edits, False),
                                     _back(m.end(), edits, True), "present", kind))
        elif "terms" in gates:
            found = [Mention(self._concept_said(m.group(0)), m.start(), m.end(), "present", "exact")
                     for m in self.term_regex.finditer(text)]
        for concept, rx in self.patterns:
            gate = "concept:" + concept
            if gate in gates or gate not in self._gate_keywords:
                for m in rx.finditer(text):
                    found.append(Mention(concept, m.start(), m.end(), "present", "pattern"))
        return self.coordinated(text, _longest_first(found))

    def coordinated(self, text: str, found: list[Mention]) -> list[Mention]:
        """``found`` plus the conditions a coordination shares out: in "neck and low back pain"
        the head of the term "low back pain" also completes "neck" ("neck pain"). The word or two
        before the coordinator, followed by the term's words less one or more of its leading
        words, must be a lexicon term; the new mention spans those words (its evidence), and no
        other mention may hold them."""
        extra: list[Mention] = []

        def free(start: int, end: int) -> bool:
            return not any(o.start < end and start < o.end for o in found + extra)

        for m in found:
            if m.match == "pattern":
                continue
            head = _COORDINATED.search(text, max(0, m.start - 60), m.start)
            if head is None:
                # "cervical and lumbar| radiculopathy": the site is an axis, the concept the same
                site = self._site_pair(text, m.start)
                if site is not None and free(*site):
                    extra.append(Mention(m.concept, site[0], site[1], "present", "coordinated"))
                continue
            start, end = head.span("x")
            if not free(start, end):
                continue
            x = head.group("x").lower().split()
            words = " ".join(text[m.start:m.end].lower().split()).split(" ")
            for first in (x[-2:], x[-1:]) if len(x) > 1 else (x,):
                concept = next((self.term_concept[t] for k in range(1, len(words))
                                if (t := " ".join(first + words[k:])) in self.term_concept), None)
                if concept is not None:
                    x_start = end - len(" ".join(first)) if len(first) < len(x) else start
                    extra.append(Mention(concept, x_start, end, "present", "coordinated"))
                    break
        return sorted(found + extra, key=lambda m: m.start) if extra else found

    def _site_pair(self, text: str, at: int) -> tuple[int, int] | None:
        """ "X and Y " right before ``at`` where X and Y are both site words (whose region the
        link takes from the words nearest the mention): the span of X."""
        if self._site is None:
            return None
        before = _SITE_PAIR.search(text, max(0, at - 60), at)
        if before is None or not self._site.fullmatch(before.group("y").lower()):
            return None
        for x in ("x", "x1"):
            if before.group(x) and self._site.fullmatch(before.group(x).lower()):
                return before.span(x)
        return None

    def normalize(self, doc: Doc, text: str, corrections=None) -> list[tuple[int, int]]:
        """Set corrected norms on the doc; returns the char spans that were corrected."""
        single, merges = corrections if corrections is not None else self.corrections(text)
        fixed: list[tuple[int, int]] = []
        for start, end, target in single:
            span = doc.char_span(start, end)
            if span is not None and len(span) == 1:
                span[0].norm_ = target
                fixed.append((start, end))
        if merges:
            with doc.retokenize() as retokenizer:
                for start, end, target in merges:
                    span = doc.char_span(start, end)
                    if span is not None:
                        retokenizer.merge(span, attrs={"NORM": target})
                        fixed.append((start, end))
        return fixed

    # -- matching -------------------------------------------------------------------------
    def mentions(self, doc: Doc, text: str, fixed: list[tuple[int, int]], nlp: Language) -> list[Mention]:
        """Lexicon terms in a tokenized sentence (``nlp`` made its tokens)."""
        found: list[Mention] = []
        for match_id, start, end in self.phrase_matcher(nlp)(doc):
            span = doc[start:end]
            kind = "fuzzy" if any(s < span.end_char and e > span.start_char for s, e in fixed) else "exact"
            found.append(Mention(doc.vocab.strings[match_id], span.start_char, span.end_char, "present", kind))
        for concept, rx in self.patterns:
            for m in rx.finditer(text):
                found.append(Mention(concept, m.start(), m.end(), "present", "pattern"))
        return self.coordinated(text, _longest_first(found))

    def concept_of(self, phrase: str) -> str | None:
        """The concept a long form names: a lexicon term, or a phrase ending in one
        ("lumbar spinal stenosis" for "spinal stenosis"; "(LSS)" then means it too)."""
        key = " ".join(phrase.lower().split())
        concept = self.term_concept.get(key)
        if concept is None:
            found = [m for m in self.term_regex.finditer(key) if m.end() == len(key)]
            if found:
                concept = self._concept_said(found[-1].group(0))
        return concept


def _apply(text: str, single) -> tuple[str, list[tuple[int, int, int, int]]]:
    """``text`` with each (start, end, word) replaced; the edits as (fixed start, fixed
    end, original start, original end), in order."""
    parts, edits, pos, length = [], [], 0, 0
    for start, end, word in sorted(single):
        parts.append(text[pos:start])
        length += start - pos
        edits.append((length, length + len(word), start, end))
        parts.append(word)
        length += len(word)
        pos = end
    parts.append(text[pos:])
    return "".join(parts), edits


def _back(offset: int, edits, is_end: bool) -> int:
    """An offset into the corrected text, mapped to the original text (an offset inside a
    corrected word maps to that word's start, or its end for an end offset)."""
    delta = 0
    for fs, fe, start, end in edits:
        if offset < fs or (is_end and offset == fs):
            break
        if offset < fe or (is_end and offset == fe):
            return end if is_end else start
        delta = end - fe
    return offset + delta


def _longest_first(mentions: list[Mention]) -> list[Mention]:
    """Keep the longest of overlapping mentions (the spaCy span-filter policy)."""
    mentions.sort(key=lambda m: (-(m.end - m.start), m.start))
    kept: list[Mention] = []
    if any(m.end <= m.start for m in mentions):
        for m in mentions:
            if all(m.end <= k.start or m.start >= k.end for k in kept):
                kept.append(m)
    else:
        # kept spans never overlap, so in start order their ends ascend too: the one kept span
        # that could overlap a mention is the first ending after the mention starts
        starts: list[int] = []
        ends: list[int] = []
        for m in mentions:
            at = bisect.bisect_right(ends, m.start)
            if at == len(starts) or starts[at] >= m.end:
                starts.insert(at, m.start)
                ends.insert(at, m.end)
                kept.append(m)
    kept.sort(key=lambda m: m.start)
    return kept
