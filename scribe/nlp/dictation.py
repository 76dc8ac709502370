"""Normalise raw dictation before anything reads it.

Speech recognition emits what was said: "three views scratch that four views comma
indication low back pain period". This module turns that into what was meant
("four views, indication low back pain.") without moving a character: a dropped
word becomes spaces, a spoken mark becomes the mark followed by spaces, and a
section word said in running text gets the line break before it that a typist
would have put there. Offsets into the normalised text are therefore offsets into
the submitted text, so evidence points at what the physician said.

Every rule reads a bounded window: a correction reaches back at most ``reach``
characters, so a live dictation re-normalises only the tail around a change
(``normalize_from``) and gets what normalising the whole note would give.
"""
from __future__ import annotations

import re

from . import compiled
from .trie import trie_pattern

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'/-]*")
_WRITTEN_MARK = re.compile(r"[.,:;!?](?=\s)|\n")
class DictationNormalizer:
    def __init__(self, spec: dict, not_before_header: frozenset[str] = frozenset()):
        self.reach = int(spec.get("reach", 400))
        # words a correction lines up with by kind: a number, a side (a level is a letter and a number)
        self._kinds = {w.lower(): kind for kind, words in spec.get("word_kinds", {}).items() for w in words}
        self.lookahead = 160     # how far after a correction cue the words it lines up with are read
        self._marks: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {}
        for item in spec.get("punctuation", ()):
            for say in item["say"]:
                self._marks[say.lower()] = (item["mark"], frozenset(w.lower() for w in item.get("not_after", ())),
                                            frozenset(w.lower() for w in item.get("not_before", ())))
        self._fillers = frozenset(w.lower() for w in spec.get("fillers", ()))
        self._cancel = frozenset(w.lower() for w in spec.get("cancel", ()))
        self._replace = frozenset(w.lower() for w in spec.get("replace", ()))
        self._headers = frozenset(w.lower() for w in spec.get("running_headers", ()))
        self._not_after_header = frozenset(w.lower() for w in spec.get("not_after_header", ()))
        self._breaks = frozenset(w.lower() for w in spec.get("break_before", ()))
        self._not_after_break = frozenset(w.lower() for w in spec.get("not_after_break", ()))
        self._not_before_header = not_before_header
        # "m d" -> "md ": letters said one by one, written as the abbreviation they spell
        self._spelled = {" ".join(w.lower()): w.lower() for w in spec.get("spelled", ()) if len(w) > 1}
        self._marks_multi = [p for p in self._marks if " " in p]
        # a template's choice list left unresolved says nothing: "{right/left}", "[WITHOUT/WITH]"
        self._pick_list = compiled.compile(spec["pick_list"]) if spec.get("pick_list") else None
        export = spec.get("export") or {}
        self._line_breaks = [re.compile(re.escape(lit)) for lit in export.get("line_breaks", ())]
        self._segment = compiled.compile(export.get("segment", r"(?!)"), re.M)
        seps = "".join(re.escape(c) for c in export.get("separators", ()))
        self._seps = tuple(export.get("separators", ()))
        self._separator = compiled.compile(rf"[{seps}](?={export['header_ahead']})") if seps and export.get("header_ahead") else None
        marks = [re.escape(lit) for lit in export.get("line_breaks", ())] + ([export["segment"]] if export.get("segment") else [])
        if self._separator is not None:
            marks.append(self._separator.pattern)
        # a line of name-value fields joined by one separator ("EXAM|XR KNEE 2V RT|IMPRESSION|...")
        self._field_names = compiled.compile(export["field_name"]) if export.get("field_name") and seps else None
        if self._field_names is not None:
            marks.append(rf"(?:[{seps}][^{seps}\n]*){{4}}")
        self._export_marks = compiled.compile("|".join(marks), re.M) if marks else None
        phrases = sorted(set(self._marks) | set(self._spelled) | self._fillers | self._cancel | self._replace
                         | self._headers | self._breaks)
        # one scan finds every phrase that may need work; most sentences hold none
        self._any = compiled.compile(rf"(?<![\w'-])(?:{trie_pattern(phrases, flexible_space=True)})(?![\w'-])", re.I) if phrases else None

    def export_layout(self, text: str) -> str:
        """A report as an EHR or RIS exported it, laid out in lines (same length): an escaped line
        break ("\\.br\\") is a line break; on a line that opens with a message segment
        ("OBX|5|TX|||FINDINGS: ...") the segment id and its leading short fields are blanked and
        the field and component separators become spaces; a separator before a field name
        ("... ~IMPRESSION: ...") is a line break."""
        out = list(text)

        def put(a: int, b: int, first: str) -> None:
            out[a] = first
            for k in range(a + 1, b):
                out[k] = " "

        for rx in self._line_breaks:
            for m in rx.finditer(text):
                put(m.start(), m.end(), "\n")
        joined = "".join(out)
        for m in self._segment.finditer(joined):
            line_end = joined.find("\n", m.start())
            line_end = len(joined) if line_end < 0 else line_end
            pos = m.start()
            # the segment id and the short code fields before the first field of words
            for field in re.finditer(r"[^|]*\|", joined[pos:line_end]):
                if " " in field.group(0).strip("| "):
                    break
                put(pos + field.start(), pos + field.end(), " ")
            for k in range(pos, line_end):
                if out[k] in "|^":
                    out[k] = " "
        if self._separator is not None:
            joined = "".join(out)
            for m in self._separator.finditer(joined):
                out[m.start()] = "\n"
        if self._field_names is not None:
            self._fields(out)
        return "".join(out)

    def _fields(self, out: list[str]) -> None:
        """Name-value fields joined by one separator on a line ("ORD|LEE, ANN MD|IMPRESSION|NO
        FRACTURE"): a field name (``field_name``: a short upper-case label) followed by its
        separator is a header, the separator before it a line break ("\nIMPRESSION:NO FRACTURE")."""
        names = self._field_names
        if names is None:
            return
        joined = "".join(out)
        pos = 0
        for line in joined.split("\n"):
            for sep in self._seps:
                if line.count(sep) < 4:
                    continue
                cuts = [pos + i for i, c in enumerate(line) if c == sep]
                bounds = [pos - 1, *cuts, pos + len(line)]
                k = 0
                while k < len(bounds) - 1:
                    a, b = bounds[k] + 1, bounds[k + 1]
                    if b >= pos + len(line) or not names.fullmatch(joined, a, b):
                        k += 1
                        continue
                    out[b] = ":"                 # the separator after a field name
                    if bounds[k] >= pos:
                        out[bounds[k]] = "\n"    # and the one before it
                    k += 2                       # the field after a name is its value ("EXAM|RIGHT KNEE|")
            pos += len(line) + 1

    def _kind(self, word: str) -> str:
        """What a word is, for lining a correction up with what it corrects."""
        w = word.lower()
        if w.isdigit():
            return "#number"
        if len(w) <= 3 and w[:1] in "ctls" and (len(w) == 1 or w[1:].isdigit()):
            return "#level"
        return self._kinds.get(w, w)

    # -- public --------------------------------------------------------------------------
    def normalize(self, text: str) -> str:
        return self.normalize_from(text, 0)

    def normalize_from(self, text: str, start: int) -> str:
        """The normalised ``text[start:]`` (same length), as normalising all of ``text`` gives it."""
        if self._export_marks is not None and self._export_marks.search(text):
            text = self.export_layout(text)
        if self._pick_list is not None and "/" in text:
            # a pick list is short: only the text from a little before ``start`` can hold one that matters
            begin = max(0, start - self.reach)
            text = text[:begin] + self._pick_list.sub(lambda m: " " * len(m.group(0)), text[begin:])
        if self._any is None or not self._any.search(text, max(0, start - self.reach)):
            return text[start:]
        begin = max(0, start - 2 * self.reach)
        while begin > 0 and not text[begin - 1].isspace():
            begin -= 1
        out = list(text[begin:])
        self._apply(text, begin, out)
        return "".join(out)[start - begin:]

    # -- the work ------------------------------------------------------------------------
    # Only the phrases the scan finds cost anything. The words still said at any point are the
    # words of the buffer as normalised so far (a correction blanks what it withdraws), so a
    # correction reads back over the buffer, not over a separate list.
    def _apply(self, text: str, begin: int, out: list[str]) -> None:
        def blank(a: int, b: int) -> None:
            for k in range(max(a, begin), b):
                if out[k - begin] != "\n":
                    out[k - begin] = " "

        def said(a: int, b: int) -> str:
            return "".join(out[max(a, begin) - begin:b - begin])

        if self._any is None:   # no phrases: `normalize_from` never gets here
            return
        for m in self._any.finditer(text, begin):
            a, b = m.start(), m.end()
            if said(a, b) != text[a:b]:
                continue                       # withdrawn by a correction said earlier
            phrase = " ".join(m.group(0).lower().split())
            if phrase in self._headers or phrase in self._breaks:
                # only in speech as the recogniser emits it: typed text marks its own sentences, so a
                # section word there after a comma or a period is prose ("no cancer history."); this
                # test is cheap and settles most typed notes at once
                if _WRITTEN_MARK.search(text, max(begin, a - 160), a):
                    continue
                before = self._words_before(said(a - 60, a), a)
            else:
                before = self._words_before(said(a - self.reach, a), a)
            prev = before[-1][2] if before else None
            nxt_m = _WORD.search(text, b, b + 80)
            nxt = nxt_m.group(0).lower() if nxt_m else None
            if phrase in self._fillers:
                blank(a, b)
            elif phrase in self._spelled:
                blank(a, b)
                for k, ch in enumerate(text[a:b].replace(" ", "").replace("\t", "")):
                    out[a + k - begin] = ch
            elif phrase in self._marks:
                mark, not_after, not_before = self._marks[phrase]
                if prev in not_after or nxt in not_before or (prev is None and mark in ",:"):
                    continue
                if mark == "(":
                    stop = nxt_m.start() if nxt_m and not text[b:nxt_m.start()].strip() else b
                    blank(a, stop)
                    out[stop - 1 - begin] = mark
                    continue
                k = a
                while k > begin and text[k - 1] in " \t" and said(k - 1, k) == text[k - 1]:
                    k -= 1
                blank(k, b)
                out[(a if mark == "\n" else k) - begin] = mark
            elif phrase in self._cancel or phrase in self._replace:
                after = self._clause_words(text, b)
                cut = self._correction_start(before, after, cancel=phrase in self._cancel, cue_start=a)
                if cut is None:
                    # nothing said since the last mark: the command withdraws the sentence before it
                    window = said(a - self.reach, a).rstrip(" \t\n.!?;:")
                    words = self._words_before(window, a - self.reach + len(window) if a - self.reach >= begin
                                               else begin + len(window))
                    cut = words[0][0] if words else a
                blank(cut, b)
            else:
                heading = phrase in self._headers
                not_after = self._not_after_header if heading else self._not_after_break
                carries_on = heading and (nxt is None or nxt in self._not_before_header)
                said_before = said(a - 3, a).rstrip()
                raw = not (nxt_m and _WRITTEN_MARK.search(text, b, nxt_m.start()))
                if raw and prev is not None and prev not in not_after and not carries_on and a - 1 >= begin and \
                        out[a - 1 - begin] in " \t" and not said_before.endswith((",", "-", "(", "/")):
                    out[a - 1 - begin] = "\n"

    @staticmethod
    def _words_before(window: str, end: int) -> list[tuple[int, int, str]]:
        """The words of the clause that ends at ``end`` (absolute offsets), from ``window``
        (the normalised text just before it): back to the last sentence mark or line break."""
        cut = max(window.rfind(c) for c in ".!?;:\n")
        base = end - len(window)
        return [(base + w.start(), base + w.end(), w.group(0).lower())
                for w in _WORD.finditer(window, cut + 1)]

    def _clause_words(self, text: str, at: int, limit: int = 8) -> list[str]:
        """The words said after a correction cue, up to the next mark or cue (the correction)."""
        window = text[at:at + self.lookahead]
        cut = min((i for i in (window.find(c) for c in ".!?;:\n") if i >= 0), default=len(window))
        words = []
        for w in _WORD.finditer(window, 0, cut):
            word = w.group(0).lower()
            if word in self._marks or word in self._cancel or word in self._replace or \
                    any(p.startswith(word + " ") and window.lower().startswith(p, w.start())
                        for p in self._marks_multi):
                break
            words.append(word)
            if len(words) == limit:
                break
        return words

    def _correction_start(self, before: list[tuple[int, int, str]], after: list[str], *, cancel: bool,
                          cue_start: int) -> int | None:
        """Where the words a correction withdraws begin (the cue itself always goes)."""
        if after and before:
            # line the correction up with what it corrects: its first word (or, failing that, a later
            # one) against the same word or the same kind of word (a number, a level, a side) said just
            # before; the correction replaces from there
            window = before[-(len(after) + 2):]
            kinds = [self._kind(w) for _, _, w in window]
            for offset, word in enumerate(after[:3]):
                kind = self._kind(word)
                for pos, seen in enumerate(kinds):
                    if seen == kind and pos - offset >= 0:
                        return window[pos - offset][0]
        if before:
            if cancel:
                return before[0][0]
            return before[max(0, len(before) - len(after))][0] if after else cue_start
        return None if cancel else cue_start
