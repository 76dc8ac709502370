"""spaCy factories: ``scribe_sentencizer``, ``scribe_sectionizer`` (whole notes) and
``scribe_sentence_facts`` (one sentence per Doc, the engine's hot path).

All three read their data from the lexicons (``lexicon_dir`` in the config, the
packaged lexicons by default), so ``nlp.add_pipe("scribe_sentence_facts")`` works in
any blank English pipeline.
"""
from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

from ..lexicons import Lexicons, load_lexicons
from . import extensions
from .analyzer import SentenceAnalyzer
from .facts import SentenceFacts
from .sections import HeaderDetector, Sectionizer
from .sentences import Sentence, SentenceSplitter


@lru_cache(maxsize=4)
def _lexicons(lexicon_dir: str | None) -> Lexicons:
    return load_lexicons(Path(lexicon_dir) if lexicon_dir else None)


class SentenceSplitterComponent:
    """Marks sentence starts on a whole note with the dictation-aware splitter."""

    def __init__(self, lexicons: Lexicons):
        self.splitter = SentenceSplitter(list(lexicons.midline_headers), HeaderDetector(lexicons.sections).literals)

    def __call__(self, doc: Doc) -> Doc:
        starts = {s.start for s in self.splitter.split(doc.text)}
        for token in doc:
            token.is_sent_start = token.i == 0 or token.idx in starts
        return doc


class SectionizerComponent:
    """Assigns a section category to each sentence of a whole note, with the engine's own
    `Sectionizer` over the engine's sentence facts (one sectionizer for both)."""

    def __init__(self, lexicons: Lexicons):
        extensions.register()
        self.analyzer = SentenceAnalyzer(lexicons)
        self.read_opens_in = lexicons.section_roles.get("read_opens_in", frozenset())
        self.described_read_opens_in = lexicons.section_roles.get("described_read_opens_in", frozenset())
        self.headed_read_opens_in = lexicons.section_roles.get("headed_read_opens_in", frozenset())

    def __call__(self, doc: Doc) -> Doc:
        sectionizer = Sectionizer(self.read_opens_in, self.described_read_opens_in, self.headed_read_opens_in)
        out = []
        for i, sent in enumerate(doc.sents):
            start, end = sent.start_char, sent.end_char
            span = Sentence(start, end, start == 0 or doc.text[:start].rstrip(" \t").endswith("\n"))
            section = sectionizer.add(i, doc.text, span, self.analyzer.analyze(sent.text))
            sent._.scribe_section = section
            out.append((start, end, section))
        doc._.scribe_sections = out
        return doc


class SentenceFactsComponent:
    """Everything the rules need from one sentence: mentions with assertion, views,
    anatomy, contrast and report elements (`SentenceFacts` in ``doc._.scribe_facts``).
    The work is `SentenceAnalyzer`'s, on this pipeline's tokens."""

    def __init__(self, nlp: Language, lexicons: Lexicons, fuzzy_cutoff: float, max_scope: int):
        extensions.register()
        self.analyzer = SentenceAnalyzer(lexicons, fuzzy_cutoff=fuzzy_cutoff, max_scope=max_scope, nlp=nlp)

    def __call__(self, doc: Doc) -> Doc:
        doc._.scribe_facts = self.analyzer.analyze(doc.text, doc)
        return doc

    def analyze(self, text: str, doc: Doc | None = None) -> SentenceFacts:
        return self.analyzer.analyze(text, doc)


class AbbreviationComponent:
    """scispaCy's abbreviation detector, run only on text that can define one
    ("degenerative disc disease (DDD)"): the detector needs a parenthesis."""

    def __init__(self, nlp: Language):
        from scispacy.abbreviation import AbbreviationDetector

        self.detector = AbbreviationDetector(nlp)

    def __call__(self, doc: Doc) -> Doc:
        if "(" not in doc.text:
            return doc
        with warnings.catch_warnings():
            # the detector runs an empty global matcher when a sentence defines nothing
            warnings.filterwarnings("ignore", message=r"\[W036\]")
            return self.detector(doc)


@Language.factory("scribe_abbreviations", assigns=["doc._.abbreviations"])
def make_abbreviations(nlp: Language, name: str):
    return AbbreviationComponent(nlp)


@Language.factory("scribe_sentencizer", default_config={"lexicon_dir": None},
                  assigns=["token.is_sent_start"])
def make_sentencizer(nlp: Language, name: str, lexicon_dir: str | None):
    return SentenceSplitterComponent(_lexicons(lexicon_dir))


@Language.factory("scribe_sectionizer", default_config={"lexicon_dir": None},
                  requires=["token.is_sent_start"], assigns=["doc._.scribe_sections", "span._.scribe_section"])
def make_sectionizer(nlp: Language, name: str, lexicon_dir: str | None):
    return SectionizerComponent(_lexicons(lexicon_dir))


@Language.factory("scribe_sentence_facts",
                  default_config={"lexicon_dir": None, "fuzzy_cutoff": 90.0, "max_scope": 10},
                  assigns=["doc._.scribe_facts"], retokenizes=True)
def make_sentence_facts(nlp: Language, name: str, lexicon_dir: str | None, fuzzy_cutoff: float, max_scope: int):
    return SentenceFactsComponent(nlp, _lexicons(lexicon_dir), fuzzy_cutoff, max_scope)


def build_nlp(lexicon_dir: str | None = None) -> Language:
    """A per-sentence pipeline: blank English and the sentence-facts component (which
    runs scispaCy's abbreviation detector on sentences that can define one:
    "degenerative disc disease (DDD) ... DDD"). The engine itself uses
    `SentenceAnalyzer` directly, so that spaCy loads only when a sentence needs tokens."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("scribe_sentence_facts", config={"lexicon_dir": lexicon_dir})
    return nlp
