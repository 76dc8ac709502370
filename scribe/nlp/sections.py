"""Section headers, written or spoken, and the section each sentence belongs to."""
from __future__ import annotations

import re

from .trie import trie_pattern

_FIRST_WORD = re.compile(r"\s+([A-Za-z][\w'-]*)")

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
                     r"|\s*,(?P<list>[^:\n]{1,60}?)(?=\s*:)")
        # a bilingual header names the section in another language first: "Befund/Findings:",
        # "Médico solicitante / Ordering physician:"
        other_language = r"(?:[^\W\d_][\w'.-]*(?:[ \t]+[^\W\d_][\w'.-]*){0,2}[ \t]*/[ \t]*)??"
        # or after it: "Impression/Concluzie:"
        translated = r"(?:[ \t]*/[ \t]*[^\W\d_][\w'.-]*(?:[ \t]+[^\W\d_][\w'.-]*){0,2}(?=[ \t]*(?::|\s+colon\b)))?"
        literals, ending = trie_pattern(list(table)), r"(?:(?P<end>\s*(?::|\s+colon\b|\s*-\s+|$))|(?=\s+\S))"
        self._plain = re.compile(rf"^\s*(?P<h>{literals})(?:{qualifier})?{ending}", re.I)
        # the bilingual forms are tried only where a slash stands near the start (they cost more)
        self._bilingual = re.compile(rf"^\s*{other_language}(?P<h>{literals}){translated}(?:{qualifier})?{ending}", re.I)

        soft = soft_headers or {}
        self._soft_literals = frozenset(w.lower() for w in soft.get("literals", ()))
        # said with a pause written as a comma: "Impression, cervical spondylosis at C5-6"
        self._soft_comma = re.compile(rf"^\s*(?P<h>{trie_pattern(sorted(self._soft_literals))}),\s+(?=\S)", re.I) \
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


def assign_sections(headers, starts_line, has_imaging) -> list[str]:
    """Section of each sentence, from each sentence's header (or None).

    ``headers[i]`` is the category of sentence i's header or None; unheaded text
    inherits the open section, except after a one-line field; the note's first
    unheaded line is a ``title`` when it names an imaging study, else ``narrative``.
    """
    out: list[str] = []
    current = None
    for i, header in enumerate(headers):
        if header is not None:
            current = header
        elif current is None:
            current = "title" if (i == 0 and has_imaging[i]) else "narrative"
        elif current in SINGLE_LINE and (starts_line[i] or current == "title"):
            current = _previous_multiline(out) or "narrative"
        out.append(current)
        if i == 0 and header is None and current == "title":
            pass
    return out


def _previous_multiline(sections: list[str]) -> str | None:
    for section in reversed(sections):
        if section not in SINGLE_LINE:
            return section
    return None
