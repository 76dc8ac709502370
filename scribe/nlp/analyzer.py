"""The per-sentence analysis behind ``scribe_sentence_facts``, without spaCy on its hot path.

Most sentences need no tokens: one trie-shaped pattern finds the lexicon terms (the
same terms the PhraseMatcher finds) on the text with one-word slips corrected. Tokens
are needed only to rejoin a word that speech recognition split in two ("spondylo
listhesis") or to run scispaCy's abbreviation detector on a sentence that can define
one ("degenerative disc disease (DDD)"). spaCy is imported and the tokenizer, the
PhraseMatcher and the detector are built the first time such a sentence comes (about
1.5 s, once), or ahead of time with `warm`, so that a check of a plain note starts in
well under a second.
"""
from __future__ import annotations

import re
import threading
import warnings
from typing import TYPE_CHECKING, Any

from ..lexicons import Lexicons
from . import compiled
from .concepts import ConceptMatcher
from .context import ContextAnnotator
from .facts import FactExtractor, SentenceFacts
from .roles import RoleFinder
from .sections import HeaderDetector
from .trie import trie_pattern

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

_CAPS = re.compile(r"(?<![A-Za-z])[A-Z]{2,8}(?![A-Za-z])")
# what scispaCy's detector can take for a short form in parentheses: 1-3 words of 2-9
# characters, starting with a letter ("(DDD)", "(IS)"); a wider net than the detector's own
_SHORT_FORM = re.compile(r"\(\s*[A-Za-z][^()]{0,29}\)")


class SentenceAnalyzer:
    """Everything the rules need from one sentence: mentions with assertion, views,
    anatomy, contrast and report elements, as `SentenceFacts`."""

    def __init__(self, lexicons: Lexicons, *, fuzzy_cutoff: float = 90.0, max_scope: int = 10,
                 nlp: Language | None = None):
        self.headers = HeaderDetector(lexicons.sections, lexicons.soft_headers)
        self.context = ContextAnnotator(lexicons.context, max_scope=max_scope)
        gates = lexicons.patterns["gates"]
        self.concepts = ConceptMatcher(lexicons.concepts, fuzzy_cutoff=fuzzy_cutoff,
                                       extra_vocabulary=tuple(lexicons.patterns.get("fuzzy_vocabulary", ())),
                                       pattern_gates={k.split(":", 1)[1]: v for k, v in gates.items()
                                                      if k.startswith("concept:")},
                                       site_words=tuple(lexicons.patterns["icd_region_words"].values()))
        # one keyword pass opens the gates of the report patterns and of the concept scans
        self.extractor = FactExtractor(lexicons.patterns, self.context, extra_gates=self.concepts.gate_keywords(),
                                       roles=RoleFinder(lexicons.roles) if lexicons.roles else None)
        # a header word then a spoken "colon" ("signed colon doctor roe"): the report patterns
        # read it as written ("signed:"), the text padded to keep every offset
        self._spoken_colon = compiled.compile(rf"\b(?:{trie_pattern(self.headers.literals)})(?P<c>\s+colon)\b", re.I)
        self._nlp = nlp
        self._detector: Any = None
        self._lock = threading.Lock()

    # -- the spaCy side, built on first need --------------------------------------------
    @property
    def nlp(self) -> Language:
        """The tokenizer's pipeline: the one this analyzer was built in, or blank English."""
        if self._nlp is None:
            with self._lock:
                if self._nlp is None:
                    import spacy

                    self._nlp = spacy.blank("en")
        return self._nlp

    def warm(self) -> None:
        """Build the tokenizer, the PhraseMatcher and the abbreviation detector now (a live
        service does this at start, so no dictation waits for it)."""
        self.concepts.phrase_matcher(self.nlp)
        self._abbreviation_detector()

    def _abbreviation_detector(self):
        if self._detector is None:
            with self._lock:
                if self._detector is None:
                    from scispacy.abbreviation import AbbreviationDetector

                    self._detector = AbbreviationDetector(self.nlp)
        return self._detector

    def detect_abbreviations(self, doc: Doc) -> Doc:
        with warnings.catch_warnings():
            # the detector runs an empty global matcher when a sentence defines nothing
            warnings.filterwarnings("ignore", message=r"\[W036\]")
            return self._abbreviation_detector()(doc)

    # -- analysis -------------------------------------------------------------------------
    def analyze(self, text: str, doc: Doc | None = None) -> SentenceFacts:
        """Facts of one sentence (``doc``: its tokens, when a spaCy pipeline already made them)."""
        lower = text.lower()
        gates = self.extractor.open_gates(lower)
        corrections = self.concepts.corrections(text, gates)
        defines = "(" in text and _SHORT_FORM.search(text) is not None
        needs_tokens = bool(corrections[1]) or defines
        if needs_tokens and doc is None:
            doc = self.nlp.make_doc(text)
        if doc is not None and defines:
            self.detect_abbreviations(doc)
        facts = SentenceFacts(text)
        facts.header = self.headers.detect(text) or self.headers.detect_soft(text)
        triggers = self.context.lazy_triggers(text)
        if corrections[1] and doc is not None:   # a word split in two is merged on the tokens (made above); otherwise the text scan serves
            fixed = self.concepts.normalize(doc, text, corrections)
            mentions = self.concepts.mentions(doc, text, fixed, self.nlp)
        else:
            mentions = self.concepts.exact_mentions(text, corrections[0], gates)
        for mention in mentions:
            mention.assertion = self.context.assertion(text, triggers, mention.start, mention.end)
            facts.mentions.append(mention)
        if doc is not None and defines and doc.has_extension("abbreviations") and doc._.abbreviations:
            for short in doc._.abbreviations:
                long = short._.long_form
                if long is not None and short.start_char > long.end_char:
                    facts.abbreviations.append((short.text, long.text))
        for m in _CAPS.finditer(text):   # upper-case words: abbreviations defined elsewhere in the note
            facts.caps.append((m.group(0), m.start(), m.end(), self.context.assertion(text, triggers, m.start(), m.end())))
        self.extractor.extract(self._written_colons(text) if "colon" in lower else text, facts, triggers, gates)
        return facts

    def _written_colons(self, text: str) -> str:
        parts, pos = [], 0
        for m in self._spoken_colon.finditer(text):
            start, end = m.span("c")
            parts += [text[pos:start], ":" + " " * (end - start - 1)]
            pos = end
        return "".join(parts) + text[pos:] if parts else text
