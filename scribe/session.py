"""A live dictation: final segments, partial hypotheses, edits and context changes,
analysed incrementally. Pure and in-memory (the server persists the events).

Streaming equals batch: the text analysed is ``final_text`` (plus the current
partial), split with the same splitter and analysed with the same per-sentence
function as ``Engine.check``; a change re-splits only from the last sentence whose
boundary could be affected (``sentences.WINDOW`` characters before the change) and
re-analyses only new sentence texts (the engine caches facts by sentence text).
"""
from __future__ import annotations

import bisect
import os
from typing import Any

from .errors import InputError
from .nlp.sentences import WINDOW
from .types import MAX_NOTE_CHARS, CheckResult, Encounter



def _end(span) -> int:
    return span.end


class DictationSession:
    def __init__(self, engine, encounter: Encounter):
        self.engine = engine
        self.encounter = encounter
        self.final_text = ""
        self.partial = ""
        self.last_seq: int | None = None
        self._text = ""          # text the spans/facts describe (final + partial, normalised)
        self._raw = ""           # the same text as submitted
        self._spans: list = []
        self._facts: list = []
        self._result: CheckResult | None = None
        self._gap_keys: dict[tuple, dict] = {}
        self._aggregator = engine.aggregator()
        self._keep = 0           # leading sentences the aggregator has folded and that are unchanged

    # -- client messages ------------------------------------------------------------------
    def segment(self, seq: Any, text: Any, final: Any) -> dict:
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise InputError("'seq' must be an integer", code="BAD_SEGMENT")
        if not isinstance(text, str):
            raise InputError("'text' must be a string", code="BAD_SEGMENT")
        if not isinstance(final, bool):
            raise InputError("'final' must be true or false", code="BAD_SEGMENT")
        if self.last_seq is not None and seq == self.last_seq:
            raise InputError(f"segment {seq} was already applied", code="SEQ_REPEATED")
        if self.last_seq is not None and seq < self.last_seq:
            raise InputError(f"segment {seq} arrived after segment {self.last_seq}", code="SEQ_OUT_OF_ORDER")
        if len(self.final_text) + len(text) > MAX_NOTE_CHARS:
            raise InputError(f"the note would exceed {MAX_NOTE_CHARS} characters", code="NOTE_TOO_LARGE")
        changed_at = len(self.final_text)
        if final:
            self.final_text += text
            self.partial = ""
        else:
            self.partial = text
        self.last_seq = seq
        return self._update(changed_at)

    def edit(self, start: Any, end: Any, text: Any) -> dict:
        n = len(self.final_text)
        if any(isinstance(v, bool) or not isinstance(v, int) for v in (start, end)) or not isinstance(text, str):
            raise InputError("'start' and 'end' must be integers and 'text' a string", code="BAD_EDIT")
        if not 0 <= start <= end <= n:
            raise InputError(f"edit range {start}-{end} is outside the final text (0-{n})", code="EDIT_OUT_OF_RANGE")
        self.final_text = self.final_text[:start] + text + self.final_text[end:]
        return self._update(start)

    def set_encounter(self, encounter: Encounter) -> dict:
        self.encounter = self.engine.validate_encounter(encounter)
        return self._publish(self.engine.evaluate(self._note(), self.encounter))

    def state(self) -> dict:
        return self._state(self.result(), [], [])

    @property
    def text(self) -> str:
        return self.final_text + self.partial

    # -- incremental analysis -------------------------------------------------------------
    def _update(self, changed_at: int) -> dict:
        raw = self.text
        norm = self.engine.dictation
        # the normalised text before ``fixed`` cannot change: a correction reaches back at most
        # ``reach`` characters from a cue whose reading depends on the words just after it
        fixed = max(0, min(changed_at, len(self._text)) - norm.reach - norm.lookahead)
        text = self._text[:fixed] + norm.normalize_from(raw, fixed)
        tail = self._text[fixed:]
        same = len(os.path.commonprefix([tail, text[fixed:fixed + len(tail)]])) if tail else 0  # noqa: RUF071 - texts, not paths
        changed_at = fixed + same
        self._raw = raw
        limit = max(0, min(changed_at, len(self._text)) - WINDOW)
        keep = bisect.bisect_right(self._spans, limit, key=_end)
        if keep and keep < len(self._spans):
            restart = self._spans[keep].start
        elif keep:
            restart = self._spans[keep - 1].end
        else:
            restart = 0
        if text[:restart] != self._text[:restart]:
            keep, restart = 0, 0
        new_spans = self.engine.splitter.split(text, restart) if text.strip() else []
        new_facts = self.engine.sentence_facts([text[s.start:s.end] for s in new_spans])
        del self._spans[keep:], self._facts[keep:]
        self._spans += new_spans
        self._facts += new_facts
        self._text = text
        self._keep = min(self._keep, keep)
        return self._publish(self.engine.evaluate(self._note(), self.encounter))

    def _note(self):
        note = self.engine.note(self._text, self._spans, self._facts, aggregator=self._aggregator, keep=self._keep)
        self._keep = len(self._spans)
        return note

    def _publish(self, result: CheckResult) -> dict:
        if self._raw != self._text:
            result = result.retext(self._raw)
        gaps = {g.key: g.to_dict() for g in result.gaps}
        raised = [g for k, g in gaps.items() if k not in self._gap_keys]
        resolved = [g for k, g in self._gap_keys.items() if k not in gaps]
        self._gap_keys = gaps
        self._result = result
        return self._state(result, raised, resolved)

    def _state(self, result: CheckResult, raised: list, resolved: list) -> dict:
        out = result.to_dict()
        out.update(seq=self.last_seq, raised=raised, resolved=resolved, final_length=len(self.final_text))
        return out

    def result(self) -> CheckResult:
        if self._result is None:
            self._update(0)
        return self._result  # type: ignore[return-value]  # _update always sets it
