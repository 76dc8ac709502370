"""Indication and condition phrases: exact (spaCy PhraseMatcher on token norms),
by pattern (regex from the lexicon), and tolerant of speech-recognition slips.

Tolerance: a token that is not a lexicon word but is close to one ("instabilty",
rapidfuzz ratio >= ``fuzzy_cutoff`` with the same first three letters) gets the
lexicon word as its norm, and two tokens whose concatenation is a lexicon word
("spondylo listhesis") are merged. Both decisions are cached per token text.
"""
from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz import fuzz, process
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from .facts import Mention
from .trie import CaseFree, trie_pattern

_WORDS = re.compile(r"[A-Za-z]+")
_LONG_WORDS = re.compile(r"[a-z]{6,}")


class ConceptMatcher:
    def __init__(self, nlp, concepts, *, fuzzy_cutoff: float = 90.0, min_fuzzy_len: int = 6,
                 extra_vocabulary: tuple[str, ...] = (), pattern_gate: tuple[str, ...] = ()):
        self.vocab = nlp.vocab
        self.matcher = PhraseMatcher(nlp.vocab, attr="NORM")
        self.patterns: list[tuple[str, re.Pattern[str]]] = []
        self.term_concept: dict[str, str] = {}
        words: set[str] = set(w.lower() for w in extra_vocabulary)
        for concept in concepts:
            docs = []
            for term in concept.terms:
                term_l = term.lower()
                self.term_concept.setdefault(term_l, concept.concept)
                docs.append(nlp.make_doc(term_l))
                words.update(w for w in re.findall(r"[a-z]+", term_l) if len(w) >= min_fuzzy_len)
            self.matcher.add(concept.concept, docs)
            for pattern in concept.patterns:
                self.patterns.append((concept.concept, CaseFree(pattern)))
        self.keywords = frozenset(words)
        # the regex patterns run only on sentences holding one of their anchor words (lexicon gate)
        self.pattern_gate = CaseFree("|".join(re.escape(w) for w in pattern_gate)) if pattern_gate else None
        self.term_regex = CaseFree(
            rf"(?<![\w])(?:{trie_pattern(sorted(self.term_concept), flexible_space=True)})(?![\w])")
        self._by_prefix: dict[str, list[str]] = {}
        for w in self.keywords:
            self._by_prefix.setdefault(w[:3], []).append(w)
        self._split_words = {f"{w[:k]} {w[k:]}": w for w in self.keywords for k in range(3, len(w) - 2)}
        self._split_regex = re.compile(
            rf"(?<![a-z])(?:{trie_pattern(sorted(self._split_words), flexible_space=True)})(?![a-z])"
        ) if self._split_words else None
        self.fuzzy_cutoff = fuzzy_cutoff
        self.min_fuzzy_len = min_fuzzy_len
        self._fix = lru_cache(maxsize=65536)(self._fix_uncached)

    # -- speech-recognition tolerance ---------------------------------------------------
    def _fix_uncached(self, word: str) -> str | None:
        if word in self.keywords:
            return None
        candidates = self._by_prefix.get(word[:3])
        if not candidates:
            return None
        best = process.extractOne(word, candidates, scorer=fuzz.ratio, score_cutoff=self.fuzzy_cutoff)
        return best[0] if best else None

    def corrections(self, text: str) -> tuple[list, list]:
        """Speech-recognition slips in ``text``: (single-word fixes, two-word merges),
        each as (start, end, lexicon word). A lexicon word split in two ("spondylo
        listhesis") is found by one scan of a trie of all its splits; a misspelt long
        word ("instabilty") by rapidfuzz against lexicon words with the same first letters."""
        lower = text.lower()
        if len(lower) != len(text):
            lower = text
        merges = [(m.start(), m.end(), self._split_words[" ".join(m.group(0).split())])
                  for m in self._split_regex.finditer(lower)] if self._split_regex else []
        single: list[tuple[int, int, str]] = []
        fix, keywords = self._fix, self.keywords
        for m in _LONG_WORDS.finditer(lower):
            word = m.group()
            if word not in keywords:
                target = fix(word)
                if target and not any(s <= m.start() < e for s, e, _ in merges):
                    single.append((m.start(), m.end(), target))
        return single, merges

    def exact_mentions(self, text: str, single: list[tuple[int, int, str]] = ()) -> list[Mention]:
        """Lexicon terms found by one scan of a trie-shaped pattern (no tokens needed).

        ``single`` are one-word slip corrections (from ``corrections``): the scan then runs
        on the text with each slip replaced by its lexicon word, and the offsets are mapped
        back to the original text; a term touching a corrected word is a ``fuzzy`` match.
        Regex patterns always run on the original text."""
        if single:
            fixed, edits = _apply(text, single)
            found = []
            for m in self.term_regex.finditer(fixed):
                kind = "fuzzy" if any(fs < m.end() and fe > m.start() for fs, fe, _, _ in edits) else "exact"
                found.append(Mention(self.term_concept[" ".join(m.group(0).split())], _back(m.start(), edits, False),
                                     _back(m.end(), edits, True), "present", kind))
        else:
            found = [Mention(self.term_concept[" ".join(m.group(0).split())], m.start(), m.end(), "present", "exact")
                     for m in self.term_regex.finditer(text)]
        if self.pattern_gate is None or self.pattern_gate.search(text):
            for concept, rx in self.patterns:
                for m in rx.finditer(text):
                    found.append(Mention(concept, m.start(), m.end(), "present", "pattern"))
        return _longest_first(found)

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
    def mentions(self, doc: Doc, text: str, fixed: list[tuple[int, int]]) -> list[Mention]:
        found: list[Mention] = []
        for match_id, start, end in self.matcher(doc):
            span = doc[start:end]
            kind = "fuzzy" if any(s < span.end_char and e > span.start_char for s, e in fixed) else "exact"
            found.append(Mention(self.vocab.strings[match_id], span.start_char, span.end_char, "present", kind))
        for concept, rx in self.patterns:
            for m in rx.finditer(text):
                found.append(Mention(concept, m.start(), m.end(), "present", "pattern"))
        return _longest_first(found)

    def concept_of(self, phrase: str) -> str | None:
        return self.term_concept.get(" ".join(phrase.lower().split()))


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
    for m in mentions:
        if all(m.end <= k.start or m.start >= k.end for k in kept):
            kept.append(m)
    kept.sort(key=lambda m: m.start)
    return kept
