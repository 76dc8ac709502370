"""Section headers, written or spoken, and the section each sentence belongs to."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import compiled
from .trie import trie_pattern

if TYPE_CHECKING:
    from .facts import SentenceFacts
    from .sentences import Sentence

_FIRST_WORD = re.compile(r"\s+([A-Za-z][\w'-]*)")
_LABELLED = re.compile(r"\s*[A-Z][A-Za-z ()/-]{1,40}:")     # a line under a label of its own ("FINAL REPORT:")

# Sections that hold one field on one line ("Referring: Dr X"); they do not carry
# over to the next line.
SINGLE_LINE = frozenset({"ordering", "signature", "other", "title"})


class HeaderDetector:
    def __init__(self, section_rules, soft_headers: dict | None = None):
        table: dict[str, str] = {}
        for rule in section_rules:
            for literal in rule.literals:
                table.setdefault(literal.lower(), rule.category)
        self._table = table
        # a header ends in ':', a spoken 'colon', ' - ', the end of the line, or (in capitals only,
        # checked below) a space before its content: "IMPRESSION NORMAL LUMBAR SPINE."
        # between the header word and its colon may stand a parenthesis ("Imaging (done in clinic
        # today):") or what the section is about ("Impression of lumbar radiographs:")
        qualifier = (r"\s*\([^()\n]{0,80}\)|\s+(?:of|on|from|for)\s+(?:the\s+|today'?s\s+|these\s+|our\s+|my\s+)?"
                     r"(?:[\w-]+\s+){0,3}?(?:films?|radiographs?|x-?rays?|images?|imaging|study|studies|mri|ct|views?)"
                     # a body part's subheading may list its projections: "Cervical spine, AP and lateral: ..."
                     r"|\s*,(?P<list>[^:\n]{1,60}?)(?=\s*:)"
                     # or whom it comes from: "Hx per tech:", "History as per patient:", "Indication from requisition:"
                     r"|\s+(?:as\s+)?(?:per|from|by)\s+(?:the\s+)?[\w.-]+(?:\s+[\w.-]+){0,2}?(?=\s*:)")
        # a bilingual header names the section in another language first: "Befund/Findings:",
        # "Médico solicitante / Ordering physician:"
        other_language = r"(?:[^\W\d_][\w'.-]*(?:[ \t]+[^\W\d_][\w'.-]*){0,2}[ \t]*/[ \t]*)??"
        # or after it: "Impression/Concluzie:"
        translated = r"(?:[ \t]*/[ \t]*[^\W\d_][\w'.-]*(?:[ \t]+[^\W\d_][\w'.-]*){0,2}(?=[ \t]*(?::|\s+colon\b)))?"
        literals, ending = trie_pattern(list(table)), r"(?:(?P<end>\s*(?::|\s+colon\b|\s*-\s+|$))|(?=\s+\S))"
        self._plain = compiled.compile(rf"^\s*(?P<h>{literals})(?:{qualifier})?{ending}", re.I)
        # the bilingual forms are tried only where a slash stands near the start (they cost more)
        self._bilingual = compiled.compile(rf"^\s*{other_language}(?P<h>{literals}){translated}(?:{qualifier})?{ending}", re.I)

        soft = soft_headers or {}
        self._soft_literals = frozenset(w.lower() for w in soft.get("literals", ()))
        # said with a pause written as a comma: "Impression, cervical spondylosis at C5-6"
        self._soft_comma = compiled.compile(rf"^\s*(?P<h>{trie_pattern(sorted(self._soft_literals))}),\s+(?=\S)", re.I) \
            if self._soft_literals else None
        self._not_before = frozenset(w.lower() for w in soft.get("not_before", ()))
        self._needs_colon = frozenset(w.lower() for w in soft.get("needs_colon", ()))

    def _match(self, sentence: str):
        if "/" in sentence[:60]:
            return self._bilingual.match(sentence)
        return self._plain.match(sentence)

    @property
    def literals(self) -> list[str]:
        return list(self._table)

    def detect(self, sentence: str) -> tuple[str, int] | None:
        """(category, offset where the content starts) when the sentence opens with a header."""
        m = self._match(sentence)
        if not m:
            return None
        head = m.group("h")
        rest = sentence[m.end():]
        if m.group("list") is not None and head.lower() not in self._needs_colon:
            return None         # only a body part's subheading lists what follows it before its colon
        if len(head) < 3 and sentence[m.start("h") + len(head):m.end()].lstrip()[:1] == "(":
            return None         # "A (08:50, supine): AP and lateral" labels a study, not the assessment
        if head.lower() in self._needs_colon and ":" not in (m.group("end") or "") and \
                "colon" not in (m.group("end") or "").lower():
            return None         # "CERVICAL SPINE" alone on a line is a title, not a findings subheading
        if m.group("end") is None and rest.strip():
            # no colon: only an upper-case header followed by content on its own line counts
            # (a one- or two-letter abbreviation needs its colon: "A 45-year-old ...", "PT ...")
            if len(head) < 3 or not head.isupper() or not sentence[: m.end()].strip().isupper() or \
                    head.lower() in self._needs_colon:
                return None
        return self._table[head.lower()], m.end()

    def detect_soft(self, sentence: str) -> tuple[str, int] | None:
        """A header said without a colon at the start of a sentence, before its content
        ("... period impression normal lumbar spine"): the category and where the content
        starts, when the next word does not carry a sentence on ("findings are ...")."""
        if self._soft_comma is not None:
            c = self._soft_comma.match(sentence)
            if c:
                return self._table[c.group("h").lower()], c.end()
        m = self._match(sentence)
        if not m or m.group("h").lower() not in self._soft_literals:
            return None
        rest = sentence[m.end():]
        word = _FIRST_WORD.match(rest)
        if word is None or word.group(1).lower() in self._not_before:
            return None
        return self._table[m.group("h").lower()], m.end() + (len(rest) - len(rest.lstrip()))


class Sectionizer:
    """The section of each sentence of a note, folded in order (the one sectionizer: the
    engine's note aggregator and the ``scribe_sectionizer`` spaCy component both use it).

    A header opens its section; unheaded text inherits the open section, except after a
    one-line field; the note's first unheaded line is a ``title`` when it names an imaging
    study, else ``narrative``. A pasted earlier report is ``prior`` until the current study
    resumes; an office note's line that reports its films opens the imaging read (after a
    diagnosis or an assessment, only when it also says what they show).
    ``save``/``restore`` checkpoint the fold so a live dictation can rewind to a sentence.
    """

    def __init__(self, read_opens_in: frozenset[str] = frozenset(),
                 described_read_opens_in: frozenset[str] = frozenset(),
                 headed_read_opens_in: frozenset[str] = frozenset()):
        self.read_opens_in = read_opens_in
        self.described_read_opens_in = described_read_opens_in
        self.headed_read_opens_in = headed_read_opens_in
        self.sections: list[str] = []
        self.current: str | None = None
        self.last_multiline: str | None = None
        self.in_prior = False        # inside a pasted earlier report
        self.last_end = 0

    def save(self) -> tuple[int, str | None, str | None, bool, int]:
        return (len(self.sections), self.current, self.last_multiline, self.in_prior, self.last_end)

    def restore(self, saved: tuple[int, str | None, str | None, bool, int]) -> None:
        n, self.current, self.last_multiline, self.in_prior, self.last_end = saved
        del self.sections[n:]

    def add(self, i: int, text: str, span: Sentence, f: SentenceFacts) -> str:
        """The section of sentence ``i`` (``span`` of the note ``text``, with facts ``f``)."""
        blank_before = "\n\n" in text[self.last_end:span.start].replace(" ", "").replace("\t", "")
        self.last_end = span.end
        if span.starts_line and f.prior_block == "open":
            self.in_prior = True
        elif self.in_prior and span.starts_line and (f.prior_block == "close" or (blank_before and f.upper_title)):
            self.in_prior = False
        if self.in_prior:
            self.sections.append("prior")
            return "prior"       # a pasted earlier report: its headers are its own, not this study's
        header = f.header[0] if f.header else None
        if header == "plan" and (i == 0 or f.upper_title):
            # a visit's first line ("Follow-up: L4-5 spondylolisthesis") or a study title
            # ("FOLLOW-UP: XR THORACOLUMBAR JUNCTION, 2 VIEWS") names the visit or the study
            header = "title"
        elif f.header is not None and i == 0 and f.text[:40].isupper() and ":" not in f.text[:f.header[1]]:
            # a note's first line in capitals that only starts with a header word names the visit
            # ("PROCEDURE VISIT - LEFT KNEE INJECTION", "HISTORY AND PHYSICAL")
            header = "title"
        current = self.current
        if header is not None:
            current = header
        elif current is None:
            current = "title" if (i == 0 and f.imaging_noun) else "narrative"
        elif current in SINGLE_LINE and (span.starts_line or current in ("title", "other")):
            # a title or a field ("Patient: 52 yo F.") is one sentence; what follows on its line is prose
            current = self.last_multiline or "narrative"
        if header is None and span.starts_line and f.imaging_noun and f.text.rstrip().endswith(":") and \
                len(f.text.split()) <= 8:
            # a line of its own that announces the images ("Imaging done in our center today:") heads their read
            current = "imaging"
        if header is None and current == "comparison" and not f.comparison and (
                (span.starts_line and (f.view_counts or f.projections)) or (f.finding_vocab and not _LABELLED.match(f.text))):
            # a new line after the comparison that lists projections, or a sentence after it that says
            # what the images show ("Comparison: none available. No fracture, joint spaces preserved."),
            # describes this study's images
            current = "findings"
        listed = bool(f.view_counts or f.projections)
        described = f.finding_vocab and (listed or ":" in f.text.rstrip()[:-1])
        if header in self.headed_read_opens_in and f.imaging_noun and listed:
            # the header's own line reports the films ("O: Cervical x-rays, 4 views - AP, lateral"):
            # the objective part of the visit is the imaging read
            current = "imaging"
        elif header is None and span.starts_line and f.imaging_noun and (
                (current in self.read_opens_in and (listed or described or f.upper_title))
                or (current in self.described_read_opens_in and described)):
            # an office note's line that reports the films ("XR L-spine 2 views (AP/lat) done in office
            # today", "X-rays taken here, reviewed: alignment normal", a study's title in capitals "XR
            # SHOULDER RIGHT") opens the imaging read, though it has no header; after a diagnosis only
            # when it says what they show
            current = "imaging"
        self.current = current
        if current not in SINGLE_LINE:
            self.last_multiline = current
        self.sections.append(current)
        return current
