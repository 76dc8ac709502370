"""Why a warning was raised and how an indication was read: the traces of ``--explain``.

A gap's trace names the rule (its id, the check that implements it and the check's own
account of what it looks for), the sections the note was found to have and, for a gap
about something missing, the sections that were searched for it. An indication's trace
names the mechanism that found it (the hand lexicon's concept, the whole-code-set term
index, a fuzzy spelling match with its score and threshold, or an abbreviation defined in
the note), the lexicon entry, and the assertion with the trigger word that set it.

Traces are computed after the check from the result and the note, so a check without
``explain`` costs nothing extra, and the wire stays small unless a client asks.
"""
from __future__ import annotations

import inspect
from typing import Any

from rapidfuzz import fuzz

from .evaluators import CHECKS
from .types import CheckResult

# which sections each check about something missing reads, by section role (sections.json)
_SEARCHED = {
    "requires_findings": ("a findings section, or a sentence that describes the images outside the sections that "
                          "never hold findings (sections.json roles.no_findings)", "no_findings"),
    "requires_impression": ("impression and assessment (a conclusion about the images)", None),
    "requires_indication": ("the reason sections", "reason"),
    "requires_signature": ("every sentence: a signature cue related to a provider (roles.json), or a signature "
                           "block (a name line, then 'signed <date>')", None),
    "requires_ordering_provider": ("every sentence: an ordering, referring or requesting cue related to a provider "
                                   "(roles.json); in a signed note, films taken in the author's office", None),
    "requires_comparison": ("the comparison section and comparison statements anywhere", None),
}


class Explainer:
    def __init__(self, engine):
        self.engine = engine
        self.rules = {r.id: r for r in engine.rules}
        self.roles = engine.lexicons.section_roles
        self.concept_terms = {c.concept: list(c.terms) for c in engine.lexicons.concepts}
        self.cutoff = engine._matcher.fuzzy_cutoff
        self.context = engine._component.context

    def explain(self, result: CheckResult, text: str) -> CheckResult:
        """``result`` with a ``trace`` on each gap and indication (``text``: the note as checked)."""
        read = self.engine.dictation.normalize(text)
        spans = self.engine.splitter.split(read)
        facts = self.engine.sentence_facts([read[s.start:s.end] for s in spans])
        note = self.engine.note(read, spans, facts)
        present = sorted(set(note.sections))
        result.gap_traces = [self._gap(g, present) for g in result.gaps]
        result.indication_traces = [self._indication(i, read, spans) for i in result.indications]
        return result

    def _gap(self, gap, present: list[str]) -> dict[str, Any]:
        rule = self.rules.get(gap.rule_id)
        check = rule.check if rule else None
        fn = CHECKS.get(check) if check else None
        trace: dict[str, Any] = {"rule": gap.rule_id, "check": check, "source": gap.source, "note_sections": present}
        doc = inspect.getdoc(fn) if fn else None
        if doc:
            trace["mechanism"] = " ".join(doc.split())
        if check in _SEARCHED:
            words, role = _SEARCHED[check]
            if role == "no_findings":
                trace["searched"] = [s for s in present if s not in self.roles["no_findings"]]
            elif role is not None:
                trace["searched"] = [s for s in present if s in self.roles[role]]
            trace["looked_for"] = words
        return trace

    def _indication(self, ind, read: str, spans) -> dict[str, Any]:
        trace: dict[str, Any] = {"assertion": ind.assertion}
        if ind.match == "codeset" or ind.concept.startswith("icd10:"):
            trace["mechanism"] = "ICD-10-CM code set term index (Tabular descriptions and inclusion terms)"
            trace["entry"] = ind.icd10[0].code if ind.icd10 else None
            if not ind.concept.startswith("icd10:"):
                trace["concept"] = ind.concept
        elif ind.match == "fuzzy":
            terms = self.concept_terms.get(ind.concept, [])
            said = ind.text.lower()
            best = max(terms, key=lambda t: fuzz.ratio(said, t), default=None)
            trace.update(mechanism="fuzzy spelling match to a concept term (rapidfuzz ratio)", entry=ind.concept,
                         term=best, score=round(fuzz.ratio(said, best), 1) if best else None, threshold=self.cutoff)
        elif ind.match == "coordinated":
            trace.update(mechanism="coordination: a condition word shared by coordinated sites or modifiers "
                                   "(\"neck and low back pain\")", entry=ind.concept)
        elif ind.match == "abbreviation":
            trace.update(mechanism="abbreviation defined in the note (scispaCy detector)", entry=ind.concept)
        else:
            trace.update(mechanism="concept lexicon (concepts.jsonl)", entry=ind.concept)
        sentence = next((s for s in spans if s.start <= ind.start < s.end), None)
        if sentence is not None:
            local = read[sentence.start:sentence.end]
            triggers = self.context.triggers(local)
            _category, trigger = self.context.explain(local, triggers, ind.start - sentence.start, ind.end - sentence.start)
            if trigger is not None:
                trace["trigger"] = {"text": local[trigger.start:trigger.end], "category": trigger.category,
                                    "direction": trigger.direction,
                                    "start": sentence.start + trigger.start, "end": sentence.start + trigger.end}
        return trace
