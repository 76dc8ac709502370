"""The batch engine: note text + encounter in, gaps with evidence, fix and source out.

Steps, in order: split the note into sentences; analyse each sentence (cached by its
text); aggregate into a `Note`; link indications to ICD-10-CM; run every rule of
``lexicons/rules.toml`` on the `Note`; render messages from the rules' templates.
The streaming session uses the same steps, re-analysing only changed sentences.
"""
from __future__ import annotations

import bisect
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import replace
from itertools import islice, pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError
from .evaluators import CHECKS, Context
from .lexicons import Lexicons, load_lexicons, missing_key
from .linkers.contradiction import without_contradictions
from .linkers.cpt import CptRequirements
from .linkers.icd10 import get_code_set, is_well_formed, normalize as normalize_icd
from .linkers.indications import IndicationLinker, _clause
from .linkers.ncci import NcciEdits
from .linkers.terms import TOKEN, TermIndex
from .nlp import compiled
from .nlp.analyzer import SentenceAnalyzer
from .nlp.dictation import DictationNormalizer
from .nlp.facts import SentenceFacts
from .nlp.sections import HeaderDetector
from .nlp.sentences import SentenceSplitter
from .note import Note, NoteAggregator, NoteMention
from .types import MAX_NOTE_CHARS, SEVERITY_ORDER, CheckResult, CodeCandidate, Encounter, Evidence, Gap, Indication

if TYPE_CHECKING:
    from .explain import Explainer

log = logging.getLogger("scribe.engine")
_COORDINATION = re.compile(r"\s*(?:and|&|/|,|or)\s*(?:the\s+)?", re.I)   # "ankle and foot", "hand/wrist"
_COMPOSED_MARK = re.compile(r"[.;:\n]")      # a composed condition's clause: its sentence part, asides and lists kept


def _composed_clause(text: str, local: tuple[int, int], before: int = 60, after: int = 80) -> tuple[int, int]:
    """The stretch a composed condition at ``local`` reads: back to the last sentence mark (at most
    ``before`` characters), on to the next (at most ``after``); commas and asides stay in."""
    lo = max((m.end() for m in _COMPOSED_MARK.finditer(text, max(0, local[0] - before), local[0])),
             default=max(0, local[0] - before))
    hi = next((m.start() for m in _COMPOSED_MARK.finditer(text, local[1], min(len(text), local[1] + after))),
              min(len(text), local[1] + after))
    return lo, hi


# the words written right before a condition's head that may modify it ("Colles", "distal radius")
_PREMODIFIERS = re.compile(r"(?<![\w'/-])(?:[A-Za-z][A-Za-z0-9'-]*\s+){1,3}$")


def _modified_mention(text: str, lo: int, local: tuple[int, int], not_modifiers: frozenset[str]) -> str:
    """A condition's mention with the words written right before it in its clause that modify it,
    back to a mark or a word that cannot modify it (``composed.not_modifiers``): "Colles fracture"
    of "... Colles fracture right wrist", so the kind said with the head counts as the mention's own
    (``mention_weight``)."""
    m = _PREMODIFIERS.search(text, max(lo, local[0] - 40), local[0])
    if m is None:
        return text[local[0]:local[1]]
    kept: list[str] = []
    for w in reversed(m.group(0).split()):
        if w.lower() in not_modifiers:
            break
        kept.insert(0, w)
    return " ".join(kept + [text[local[0]:local[1]]])


def _icd_side(side: str | None) -> str | None:
    """A note's side as the code set says it ("both" is bilateral; an unclear side is none)."""
    return None if side in (None, "unclear") else {"both": "bilateral"}.get(side, side)


class _Tags(dict):
    """Tags of a concept: the hand lexicon's, or for a condition linked over the code set
    ("icd10:C61"), the necessity classes its code supports (``icd10_support.json``)."""

    def __init__(self, tags: dict, support: dict):
        super().__init__(tags)
        self._nonspecific = frozenset(support.get("nonspecific_pain", ()))
        self._classes = {name: tuple(v["prefixes"]) for name, v in support.get("support", {}).items()
                         if name != "plain"}

    def get(self, concept, default=()):
        found = super().get(concept)
        if found is not None or not isinstance(concept, str) or not concept.startswith("icd10:"):
            return found if found is not None else default
        code = concept[6:]
        tags = set()
        if code not in self._nonspecific:
            for name, prefixes in self._classes.items():
                if code.startswith(prefixes):
                    tags.add(f"{name}_reason")
        found = frozenset(tags)
        self[concept] = found
        return found


class _Formatter(dict):
    def __missing__(self, key: str) -> str:  # a template never raises on a missing value
        return "{" + key + "}"


def _unspecified(description: str) -> bool:
    """The code's title says it names no site."""
    return "unspecified site" in description.lower()


class Engine:
    def __init__(self, lexicons: Lexicons, *, cache_size: int = 20000, ncci: NcciEdits | None = None):
        self.lexicons = lexicons
        self._component = SentenceAnalyzer(lexicons)
        self.splitter = SentenceSplitter(list(lexicons.midline_headers), HeaderDetector(lexicons.sections).literals)
        self.dictation = DictationNormalizer(lexicons.dictation,
                                             frozenset(w.lower() for w in lexicons.soft_headers.get("not_before", ())))
        self.codeset = get_code_set()
        self.cpt = CptRequirements(lexicons)
        self.linker = IndicationLinker(lexicons.concepts, self.codeset, lexicons.patterns)
        self.concepts = {c.concept: c for c in lexicons.concepts}
        self.tags = _Tags({c.concept: frozenset(c.tags) for c in lexicons.concepts}, lexicons.icd_support)
        # conditions outside the hand lexicon: the whole code set's descriptions and inclusion terms
        self.terms = TermIndex.load(self.codeset, lexicons.icd_terms) if lexicons.icd_terms else None
        terms_spec = lexicons.icd_terms or {}
        history = {**((terms_spec.get("history_of_neoplasm") or {}).get("codes", {})),
                   **((terms_spec.get("history_of_fracture") or {}).get("codes", {}))}
        self._history_codes = dict(sorted(history.items(), key=lambda kv: -len(kv[0])))   # longest prefix first
        self._term_cache: OrderedDict[str | tuple[str, tuple], list] = OrderedDict()
        roles = lexicons.section_roles
        self._term_sections = frozenset(roles["reason"]) | {"impression"}
        self._reason_before_read = frozenset(roles.get("reason_before_read", ()))
        self.covers = frozenset(prefix for c in lexicons.concepts for prefix in c.covers)
        self.support_prefixes = {k: tuple(v["prefixes"]) for k, v in lexicons.icd_support["support"].items()}
        self._documenting: dict[str, frozenset[str]] = {}
        region_words = "|".join(f"(?:{rx})" for rx in lexicons.patterns["icd_region_words"].values())
        self.region_said_before = re.compile(rf"(?:{region_words})[\w\s-]{{0,20}}$", re.I)
        finding_concepts = frozenset(c.concept for c in lexicons.concepts if "imaging_finding" in c.tags)
        self._imaging_finding = finding_concepts.__contains__
        self.rules = [r for r in lexicons.rules if r.status == "active"]
        unknown = {r.check for r in self.rules} - set(CHECKS)
        if unknown:
            raise ValueError(f"rules name unknown checks: {sorted(unknown)}")
        # each family's pair rules, with the family: a pair is read by its own family's rules first
        self.pair_rules = [p for fam in lexicons.families for p in fam.pair_rules]
        self.family_pair_rules = [(fam.family, p) for fam in lexicons.families for p in fam.pair_rules]
        self.code_family = {c.code: fam.family for fam in lexicons.families for c in fam.codes}
        self.laterality = frozenset(m for fam in lexicons.families for m in fam.laterality_modifiers)
        self.distinct = frozenset(m for fam in lexicons.families for m in fam.distinct_modifiers)
        self.side_modifiers = {m: side for fam in lexicons.families for m, side in fam.side_modifiers.items()}
        self.part_patterns = tuple((part["part"], re.compile(part["pattern"], re.I))
                                   for part in lexicons.patterns.get("parts", ()))
        self.part_folds = {part: tuple(wider) for part, wider in lexicons.patterns.get("part_folds", {}).items()}
        self.ncci = ncci if ncci is not None else NcciEdits.load_default()
        p = lexicons.patterns
        self.encounter_priority = p["encounter_priority"]
        self.encounter_default = p.get("encounter_default")
        self.dynamic = frozenset(p["dynamic_projections"])
        self.empty_content = re.compile(p["empty_content"], re.I)
        self.pointer_content = re.compile(p["pointer_content"], re.I) if p.get("pointer_content") else None
        self.placeholder = re.compile(p.get("placeholder", r"(?!)"), re.I)
        self._cache: OrderedDict[str, SentenceFacts] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._matcher = self._component.concepts
        self._explainer: Explainer | None = None
        # concepts whose code is a spine code: on a limb study the code set links the condition
        self._spine_only = frozenset(c.concept for c in lexicons.concepts if c.families and "spine" in c.families)

    def warm(self) -> None:
        """Load what the engine otherwise loads on first need (spaCy's tokenizer and
        scispaCy's abbreviation detector, for the few sentences that need tokens)."""
        self._component.warm()

    # -- validation -----------------------------------------------------------------------
    def validate_encounter(self, encounter: Encounter) -> Encounter:
        for code in encounter.cpt:
            spec = self.cpt.get(code)
            if spec is None:
                families = "; ".join(fam.description for fam in self.lexicons.families)
                raise InputError(f"CPT {code} is not a code scribe checks ({families})", code="UNKNOWN_CPT")
            if spec.status != "active":
                raise InputError(f"CPT {code} was deleted ({spec.paraphrase}); use "
                                 f"{', '.join(spec.replaced_by) or 'a current code'}", code="DELETED_CPT")
        icd = []
        for raw in encounter.icd10:
            code = normalize_icd(raw)
            if not is_well_formed(code):
                raise InputError(f"ICD-10-CM code {raw!r} is malformed (expected e.g. M54.50)", code="INVALID_ICD10")
            icd.append(code)
        return Encounter(cpt=encounter.cpt, modifiers=encounter.modifiers, icd10=tuple(icd),
                         site=encounter.site, provider=encounter.provider, lines=encounter.lines)

    # -- analysis ---------------------------------------------------------------------------
    def sentence_facts(self, texts: list[str]) -> list[SentenceFacts]:
        """Facts for each sentence text, from the cache where possible."""
        out: list[SentenceFacts | None] = []
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, t in enumerate(texts):
                hit = self._cache.get(t)
                if hit is None:
                    missing.setdefault(t, []).append(i)
                else:
                    self._cache.move_to_end(t)
                out.append(hit)
        if missing:
            fresh = {t: self._component.analyze(t) for t in missing}
            with self._lock:
                for t, facts in fresh.items():
                    for i in missing[t]:
                        out[i] = facts
                    self._cache[t] = facts
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out  # type: ignore[return-value]

    def aggregator(self) -> NoteAggregator:
        """A fresh fold of sentence facts into note facts (one per live dictation)."""
        return NoteAggregator(encounter_priority=self.encounter_priority, encounter_default=self.encounter_default,
                              dynamic=self.dynamic,
                              abbreviation_concept=self._matcher.concept_of, empty_content=self.empty_content, placeholder=self.placeholder,
                              pointer_content=self.pointer_content,
                              level_regions=self.lexicons.patterns["level_regions"],
                              roles=self.lexicons.section_roles,
                              title_only_regions=frozenset(self.lexicons.patterns["region_title_only"]),
                              region_folds=tuple((r, frozenset(a)) for r, a in self.lexicons.patterns["region_folds"].items()
                                                 if not r.startswith("_")),
                              imaging_finding=self._imaging_finding,
                              part_regions={k: frozenset(v) for k, v in self.lexicons.patterns.get("part_regions", {}).items()},
                              one_view=tuple(frozenset(g) for g in self.lexicons.patterns.get("one_view", ())))

    def note(self, text: str, spans, facts: list[SentenceFacts], *, aggregator: NoteAggregator | None = None,
             keep: int = 0) -> Note:
        """The note's facts. A live dictation passes its own ``aggregator`` and the number of
        leading sentences unchanged since its last call (``keep``), so only the rest is folded."""
        if aggregator is None:
            aggregator, keep = self.aggregator(), 0
        aggregator.update(text, spans, facts, keep)
        note = aggregator.note(spans)
        context = self.linker.context_of(note)
        linked_context, linked = aggregator.linked
        head = linked[:aggregator.stable_mentions] if linked_context == context else []
        note.indications = head + self.linker.link(note, facts, spans, context, start=len(head))
        aggregator.linked = (context, note.indications)
        limb = self._limb_study(note)
        if limb and self._spine_only:
            self._without_spine_codes(note)
        if self.terms is not None:
            self._link_terms(note, spans, facts)
        self.linker.by_cause(note, facts, spans, context)
        self.linker.combine(note, facts, spans, context)
        if limb and self._spine_only:     # a re-link by cause or combination is a spine code again
            self._without_spine_codes(note)
        if limb and self.terms is not None and self.terms.heads:
            self._compose(note, spans, facts)
        # a suggested code must not exclude what the note documents ("without mention of ... back pain")
        note.indications = without_contradictions(note.indications, self.codeset)
        if self._history_codes:     # a condition documented as over: its personal-history code
            note.indications = [self._as_history(ind) for ind in note.indications]
        return note

    def _without_spine_codes(self, note: Note) -> None:
        """On a limb study a spine concept ("fracture", "sprain") keeps its mention, not its code."""
        note.indications = [replace(i, icd10=()) if i.concept in self._spine_only and i.match != "codeset" else i
                            for i in note.indications]

    def _compose(self, note: Note, spans, facts) -> None:
        """Conditions said of a limb part, composed over the code set from their clause: "torus fx
        distal R radius" is S52.521-, "R wrist pain" M25.531, "nondisplaced fx base of proximal
        phalanx L small finger" S62.647-. A mention whose code covers the clause less well takes
        the composed code; a condition word the lexicons did not find becomes a mention (in the
        sections where code-set terms do). Only a limb study's sentences that name a limb part
        are read (a spine note's "pain between the shoulder blades" stays thoracic back pain)."""
        terms = self.terms
        if terms is None:
            return
        norm = terms.norm
        starts = [sp.start for sp in spans]
        indications = list(note.indications)
        # a condition said with no part in a study of one part is of that part ("question stress fracture")
        study_part = note.parts[0] if len(note.parts) == 1 and note.parts_imaged else None
        extra_same: list[Indication] = []
        for k, ind in enumerate(indications):
            n = bisect.bisect_right(starts, ind.start) - 1
            f = facts[n]
            if not (f.parts or study_part) or ind.match == "abbreviation":
                continue
            heads = frozenset(norm.words_of(ind.text)) & norm.heads
            if not heads:
                continue
            base = spans[n].start
            got = self._composed(note, f, (ind.start - base, ind.end - base), heads)
            if got is None:
                continue
            composed, clause, side = got
            # "R ankle and foot pain": one condition per part said together, each composed without the other
            seen = {composed.code}
            for other in self._coordinated(note, f, (ind.start - base, ind.end - base), heads):
                if other.code not in seen:
                    seen.add(other.code)
                    extra_same.append(replace(ind, concept="icd10:" + other.code, match="codeset",
                                              icd10=self._term_candidates(self._with_encounter(
                                                  other.code, note.encounter))))
            first = ind.icd10[0] if ind.icd10 else None
            if first is not None and (first.code in (composed.code, composed.also) or
                                      terms.covers(first.description, clause, side, ind.text) >= composed.score):
                continue
            indications[k] = replace(ind, icd10=self._composed_candidates(
                composed, note.encounter), match="codeset")
        if extra_same:
            indications = sorted(indications + extra_same, key=lambda i: (i.start, i.end))
        extra: list[Indication] = []
        reasons: list[NoteMention] = []
        reason_roles = self.lexicons.section_roles["reason"]
        taken = [(i.start, i.end) for i in indications]
        status = tuple(p for prefixes in terms.norm.status_heads.values() for p in prefixes)
        for n, section in enumerate(note.sections):
            f = facts[n]
            if section not in self._term_sections or not (f.parts or study_part):
                continue
            base = spans[n].start
            triggers = None
            for m in TOKEN.finditer(f.text):
                heads = frozenset(norm.word(m.group(0))) & norm.heads
                if not heads:
                    continue
                start, end = base + m.start(), base + m.end()
                if any(a < end and start < b for a, b in taken):
                    continue
                got = self._composed(note, f, (m.start(), m.end()), heads)
                if got is None:
                    continue
                composed, clause, side = got
                lo, hi = self._site_span(f.text, m, composed.site, norm)
                start, end = base + lo, base + hi
                if any(a < end and start < b for a, b in taken):
                    # a device's status said in the words of its complication ("the acetabular component is
                    # loose") gives way to the complication (Z96.6 Excludes1: complications of joint prosthesis)
                    # and a code-set term inside the composed words ("traumatic" in "post-traumatic OA R
                    # knee") gives way to the composed condition that covers its clause better
                    over = [i for i in indications + extra if i.start < end and start < i.end]
                    if not over or not all(self._gives_way(i, composed, clause, side, status, start, end)
                                           for i in over):
                        continue
                    indications = [i for i in indications if all(i is not o for o in over)]
                    extra = [i for i in extra if all(i is not o for o in over)]
                    spans_over = {(o.start, o.end) for o in over}
                    reasons = [r for r in reasons if (r.start, r.end) not in spans_over]
                    taken = [(i.start, i.end) for i in indications + extra]
                context = self._component.context
                if triggers is None:
                    triggers = context.triggers(f.text)
                assertion = context.assertion(f.text, triggers, lo, hi)
                concept = "icd10:" + composed.code
                extra.append(Indication(text=note.text[start:end], start=start, end=end, assertion=assertion,
                                        concept=concept, section=section,
                                        icd10=self._composed_candidates(
                                            composed, note.encounter), match="codeset"))
                taken.append((start, end))
                if section in reason_roles:
                    reasons.append(NoteMention(concept, start, end, assertion, section, n, "codeset"))
        if extra:
            indications = sorted(indications + extra, key=lambda i: (i.start, i.end))
        note.indications = indications
        if reasons:
            note.reason_mentions = note.reason_mentions + reasons

    def _composed(self, note: Note, f, local: tuple[int, int], heads: frozenset[str]):
        """The composed code of a condition at ``local`` in a sentence, with its clause and side;
        None unless the clause names a limb part or the note images one part only. The side is the one said with the nearest part,
        else a side word of the sentence, else the side the note images that part on."""
        text = f.text
        lo, hi = _composed_clause(text, local)
        parts = [p for p in f.parts if lo <= p[1] < hi]
        clause = text[lo:hi]
        if parts:
            part, side = min(parts, key=lambda p: abs(p[1] - local[0]))[0::4]
            if self.terms is not None and not self.terms.norm.words_of(clause) & self.terms.sites:
                clause = f"{clause} {part.replace('_', ' ')}"   # "forefoot" is the foot the code set names
        elif len(note.parts) == 1 and note.parts_imaged:
            part, side = note.parts[0], None
            clause = f"{clause} {part.replace('_', ' ')}"      # the study's part, said by its name
        else:
            return None
        if side is None and f.laterality:
            side = min(f.laterality, key=lambda s: abs(s[1] - local[0]))[0]
        if side is None:
            # the side the note images the part on, or the wider part it lies in (a calcaneus of a foot series)
            side = next((note.sides[p] for p in (part, *self.part_folds.get(part, ())) if p in note.sides), None)
        side = _icd_side(side)
        if self.terms is None:
            return None
        mention = _modified_mention(text, lo, local, self.terms.norm.not_modifiers)
        composed = self.terms.compose_sides(clause, side, heads, mention)
        if composed is None:
            # the clause names a bone of the part ("the tibial component") that the code set files under
            # the part itself (a loosened knee prosthesis): the part the clause is of, or the one imaged
            for other in dict.fromkeys([part, *note.parts]):
                name = other.replace("_", " ")
                if name in clause.lower():
                    continue
                composed = self.terms.compose_sides(f"{clause} {name}", side, heads, mention)
                if composed is not None:
                    clause = f"{clause} {name}"
                    break
        return (composed, clause, side) if composed is not None else None

    def _coordinated(self, note: Note, f, local: tuple[int, int], heads: frozenset[str]) -> list:
        """The composed codes of each limb part said together with a condition ("ankle and foot
        pain"), each composed with the other parts left out; none for a single part."""
        if self.terms is None or len(f.parts) < 2:
            return []
        text = f.text
        lo, hi = _composed_clause(text, local)
        parts = sorted((p for p in f.parts if lo <= p[1] < hi), key=lambda p: p[1])
        if not parts:
            return []
        # the run of parts joined by "and", "/" or commas that holds the part nearest the mention
        runs: list[list] = [[parts[0]]]
        for a, b in pairwise(parts):
            if _COORDINATION.fullmatch(text[a[2]:b[1]]):
                runs[-1].append(b)
            else:
                runs.append([b])
        nearest = min(parts, key=lambda p: abs(p[1] - local[0]))
        every = parts
        parts = next(run for run in runs if nearest in run)
        if len({p[0] for p in parts}) < 2:
            return []
        out = []
        for p in parts:
            clause = self._blank(text[lo:hi], [(q[1] - lo, q[2] - lo) for q in every if q[0] != p[0]])
            side = _icd_side(p[4] or next((q[4] for q in parts if q[4]), None))
            got = self.terms.compose(clause, side, heads, text[p[1]:p[2]])
            if got is not None:
                out.append(got)
        return out

    def _gives_way(self, ind: Indication, composed, clause: str, side: str | None, status: tuple[str, ...],
                   start: int, end: int) -> bool:
        """Does a mention overlapping a composed condition's words give way to it?"""
        if not ind.icd10:
            return False
        code = ind.icd10[0]
        if status and code.code.startswith(status) and not composed.code.startswith(status):
            return True
        terms = self.terms
        return (terms is not None and ind.match == "codeset" and start <= ind.start and ind.end <= end
                and terms.covers(code.description, clause, side, ind.text) < composed.score)

    @staticmethod
    def _blank(text: str, spans: list[tuple[int, int]]) -> str:
        for a, b in spans:
            text = text[:a] + " " * (b - a) + text[b:]
        return text

    @staticmethod
    def _site_span(text: str, head: re.Match[str], site: frozenset[str], norm) -> tuple[int, int]:
        """The evidence of a composed condition: its head word and the site words near it."""
        lo, hi = _clause(text, (head.start(), head.end()))
        start, end = head.start(), head.end()
        for m in TOKEN.finditer(text, lo, hi):
            if site & set(norm.words_of(m.group(0))):
                start, end = min(start, m.start()), max(end, m.end())
        return start, end

    def _limb_study(self, note: Note) -> bool:
        """The note images a limb part and no spine level or region (a hip series' pelvis view aside)."""
        return not note.levels and bool(self.cpt.limb_parts(note))

    def _terms_of(self, terms: TermIndex, text: str, focus: tuple | None = None) -> list:
        key: str | tuple[str, tuple] = text if focus is None else (text, focus)
        hit = self._term_cache.get(key)
        if hit is None:
            matches = terms.find(text, focus)
            if matches:
                context = self._component.context
                triggers = context.triggers(text)
                hit = [(m, context.assertion(text, triggers, m.start, m.end)) for m in matches]
            else:
                hit = []
            with self._lock:
                self._term_cache[key] = hit
                if len(self._term_cache) > 20000:
                    self._term_cache.popitem(last=False)
        return hit

    def _link_terms(self, note: Note, spans, facts) -> None:
        """Conditions the hand lexicon does not know, linked over the whole code set; where a
        hand concept generalised a condition the code set names precisely (its code is in
        another subcategory), the code set's code replaces the concept's."""
        terms = self.terms
        if terms is None:
            return
        indications = list(note.indications)
        # the indications of each sentence, found once (indications are in note order)
        starts = [sp.start for sp in spans]
        of_sentence: dict[int, list[int]] = {}
        for k, ind in enumerate(indications):
            of_sentence.setdefault(bisect.bisect_right(starts, ind.start) - 1, []).append(k)
        extra, reasons = [], []
        reason_roles = self.lexicons.section_roles["reason"]
        for n, section in enumerate(note.sections):
            adds = section in self._term_sections    # elsewhere a term only corrects a concept's code
            mine = of_sentence.get(n, [])
            if not adds and not mine:
                continue
            base = spans[n].start
            focus = None if adds else tuple((indications[k].start - base, indications[k].end - base) for k in mine)
            for match, assertion in self._terms_of(terms, facts[n].text, focus):
                start, end = base + match.start, base + match.end
                candidates = self._term_candidates(self._with_encounter(
                    self._refine(match.code, facts[n], match), note.encounter))
                inside = [k for k in mine if start <= indications[k].start and indications[k].end <= end]
                if inside:
                    for k in inside:
                        ind = indications[k]
                        first = ind.icd10[0] if ind.icd10 else None
                        if ind.match == "abbreviation":
                            continue
                        if first is None:       # a concept the hand lexicon keeps without a code
                            indications[k] = replace(ind, icd10=candidates, match="codeset")
                            continue
                        # another subcategory: the concept generalised ("prostate cancer" is not C80.1);
                        # or the concept stopped above a billable code the term names ("leg pain")
                        # or the term says more than the concept's words and names its own code: the
                        # region said with the condition ("lumbar radiculopathy") beats one inferred
                        # from a level nearby (contract 1.1: link the term as documented)
                        said_more = match.exact and (start < ind.start or end > ind.end) and \
                            candidates[0].score == 1.0 and candidates[0].code != first.code
                        if first.code[:3] == match.code[:3] and _unspecified(candidates[0].description) and \
                                not _unspecified(first.description):
                            continue    # the code set's term names no site; the concept's link did (C79.9 vs C79.51)
                        if first.code[:5] != match.code[:5] or said_more or (
                                first.score < 1.0 and candidates[0].score == 1.0 and match.code.startswith(first.code)):
                            indications[k] = replace(ind, icd10=candidates, match="codeset")
                    continue
                if not adds or any(indications[k].start < end and start < indications[k].end for k in mine):
                    continue
                concept = "icd10:" + match.code
                extra.append(Indication(text=note.text[start:end], start=start, end=end, assertion=assertion,
                                        concept=concept, section=section, icd10=candidates, match="codeset"))
                if section in reason_roles:
                    reasons.append(NoteMention(concept, start, end, assertion, section, n, "codeset"))
        if extra:
            indications = sorted(indications + extra, key=lambda i: (i.start, i.end))
        note.indications = indications
        if reasons:
            note.reason_mentions = note.reason_mentions + reasons

    def _as_history(self, ind: Indication) -> Indication:
        """A malignancy documented as over is its personal-history code (Guidelines I.C.2.d)."""
        if ind.assertion != "historical" or not ind.icd10:
            return ind
        code = ind.icd10[0].code
        prefix = next((p for p in self._history_codes if code.startswith(p)), None)
        if prefix is None:
            return ind
        history = self._history_codes[prefix]
        return replace(ind, icd10=(CodeCandidate(history, self.codeset.description(history) or "", 1.0),))

    def _with_encounter(self, code: str, encounter: str | None) -> str:
        """A fracture term's code completed by the documented encounter (its 7th character)."""
        if encounter is None or self.codeset.is_billable(code):
            return code
        try:
            res = self.codeset.resolve(code, {"encounter": encounter})
        except (KeyError, ValueError):
            return code
        return res.code if res is not None and res.billable else code

    def _refine(self, code: str, f, match) -> str:
        """A term's code whose site (or side) its Tabular entry leaves unspecified, refined by what
        the same sentence documents: a level or region word ("L2-L3 discitis" is M46.46, not M46.40),
        a side. Only the sentence's own words count: a site is never inferred from the study."""
        parent = self.codeset.parent(code)
        if parent is None or not (f.levels or f.region_words or f.laterality):
            return code
        labels = self.codeset.axes.labels(self.codeset.description(code) or "")
        stem = not self.codeset.is_billable(code)     # a term of a subcategory: its children carry the side
        if not stem and not any(value == "_default" for _, value in labels):
            return code
        local = (match.start, match.end)
        same = f.levels
        axes, _ = self.linker._axes(("region", "laterality", "displacement"), f, local, same, None, None, None, None,
                                    "without")
        if not axes:
            return code
        try:
            res = self.codeset.resolve(code if stem else parent, axes)
        except (KeyError, ValueError):
            return code
        if stem and res is not None and not res.billable and res.code != code and not res.defaulted:
            return res.code         # the side chosen; the encounter comes next
        return res.code if res is not None and res.billable and not res.defaulted else code

    def _composed_candidates(self, composed, encounter: str | None) -> tuple[CodeCandidate, ...]:
        """A composed code's candidates; of both sides, the right side's then the left side's."""
        out = self._term_candidates(self._with_encounter(composed.code, encounter))
        if composed.also:
            out += self._term_candidates(self._with_encounter(composed.also, encounter))
        return out

    def _term_candidates(self, code: str) -> tuple[CodeCandidate, ...]:
        cand = CodeCandidate(code, self.codeset.description(code) or "", 1.0 if self.codeset.is_billable(code) else 0.5)
        return self.linker.with_options(cand)

    def evaluate(self, note: Note, encounter: Encounter) -> CheckResult:
        ctx = Context(note=note, encounter=encounter, cpt=self.cpt, codeset=self.codeset,
                      support=self.lexicons.icd_support, concepts=self.concepts, tags=self.tags,
                      pair_rules=self.family_pair_rules, code_family=self.code_family, imported_pairs=self.ncci,
                      laterality_modifiers=self.laterality,
                      distinct_modifiers=self.distinct, region_labels=self.lexicons.patterns["region_labels"],
                      covers=self.covers, support_prefixes=self.support_prefixes,
                      documenting_cache=self._documenting, region_said_before=self.region_said_before,
                      side_modifiers=self.side_modifiers, part_patterns=self.part_patterns,
                      reason_before_read=self._reason_before_read,
                      condition_words=self.terms.condition_words if self.terms is not None else None,
                      words_of=self.terms.norm.words_of if self.terms is not None else None)
        gaps: list[Gap] = []
        for rule in self.rules:
            if rule.code.startswith("DX_") and not encounter.icd10:
                continue
            for hit in CHECKS[rule.check](ctx, rule.params):
                values = _Formatter(hit.params)
                message = rule.message.format_map(values)
                if hit.line is not None:
                    message = f"Claim line {hit.line + 1} ({hit.cpt}): {message}"
                gaps.append(Gap(code=rule.code, severity=rule.severity, rule_id=rule.id,
                                message=message, fix=rule.fix.format_map(values),
                                source=rule.source.format_map(values), cpt=hit.cpt, icd10=hit.icd10,
                                line=hit.line, evidence=tuple(hit.evidence)))
        gaps.sort(key=lambda g: (SEVERITY_ORDER[g.severity], g.code))
        modalities = {c.modality for c in ctx.chosen} or {"xray"}
        return CheckResult(gaps=gaps, indications=note.indications, facts=note.facts(),
                           supported_cpt=self.cpt.supported(note, modalities),
                           checklist=self.checklist(note, ctx, gaps))

    def explain(self, result: CheckResult, text: str) -> CheckResult:
        """``result`` with the traces of why each gap was raised and how each indication was read."""
        from .explain import Explainer

        if self._explainer is None:
            self._explainer = Explainer(self)
        return self._explainer.explain(result, text)

    def check(self, text, encounter: Encounter, *, explain: bool = False) -> CheckResult:
        if not isinstance(text, str):
            raise InputError("the note text must be a string", code="BAD_NOTE")
        if not text.strip():
            raise InputError("the note is empty", code="EMPTY_NOTE")
        if len(text) > MAX_NOTE_CHARS:
            raise InputError(f"the note has {len(text)} characters; the limit is {MAX_NOTE_CHARS}", code="NOTE_TOO_LARGE")
        encounter = self.validate_encounter(encounter)
        read = self.dictation.normalize(text)     # what was meant: same length, same offsets
        spans = self.splitter.split(read)
        facts = self.sentence_facts([read[s.start:s.end] for s in spans])
        result = self.evaluate(self.note(read, spans, facts), encounter)
        result = result.retext(text) if read != text else result
        return self.explain(result, text) if explain else result

    def new_session(self, encounter: Encounter):
        from .session import DictationSession

        return DictationSession(self, self.validate_encounter(encounter))

    # -- checklist ------------------------------------------------------------------------
    def checklist(self, note: Note, ctx: Context, gaps: list[Gap]) -> list[dict]:
        open_codes = {g.code for g in gaps}
        items = []

        def item(key, label, codes, evidence):
            met = not (set(codes) & open_codes)
            items.append({"id": key, "label": label, "met": met, "gaps": sorted(set(codes) & open_codes),
                          "evidence": [e.to_dict() for e in evidence[:3]]})

        reason_roles = self.lexicons.section_roles["reason"]
        reasons = islice((Evidence(i.start, i.end, i.text) for i in note.indications
                          if i.section in reason_roles and i.assertion != "negated"), 3)
        item("indication", "Reason for the exam", ["INDICATION_MISSING", "INDICATION_NOT_SPECIFIC"], list(reasons))
        chosen = ctx.chosen
        if any(c.modality == "xray" for c in chosen):
            item("views", "Number of views", ["VIEWS_NOT_DOCUMENTED", "VIEWS_MISMATCH"], note.view_evidence)
        if any(c.positions != "any" for c in chosen):
            item("positions", "Bending or flexion/extension positions", ["POSITIONS_MISSING"], note.position_evidence)
        if any(c.level_required for c in chosen):
            item("level", "Spine level imaged", ["LEVEL_MISSING"], note.level_evidence or note.region_evidence)
        if chosen:
            item("region", "Body region matches the code", ["REGION_MISMATCH"], note.region_evidence)
        if any(c.contrast for c in chosen):
            item("contrast", "Contrast use", ["CONTRAST_NOT_DOCUMENTED", "CONTRAST_MISMATCH"], note.contrast_evidence)
        item("findings", "Findings", ["FINDINGS_MISSING"], note.findings_evidence)
        item("impression", "Impression", ["IMPRESSION_MISSING"], note.impression_evidence)
        item("comparison", "Comparison (or none)", ["COMPARISON_NOT_STATED"], note.comparison_evidence)
        item("ordering", "Ordering provider", ["ORDERING_PROVIDER_MISSING"], note.ordering_evidence)
        item("signature", "Signature of the interpreting physician", ["SIGNATURE_MISSING"], note.signature_evidence)
        if ctx.encounter.icd10:
            item("diagnosis", "Diagnosis codes supported and specific",
                 ["DX_NOT_SUPPORTING", "DX_MORE_SPECIFIC_AVAILABLE", "DX_INVALID_CODE", "DX_UNCERTAIN_AS_CONFIRMED",
                  "DX_NOT_DOCUMENTED"], [])
        if chosen:
            item("coding", "Code pairs and modifiers", ["NCCI_PAIR_CONFLICT", "MODIFIER_REQUIRED", "MODIFIER_INVALID"], [])
        return items


_ENGINE: Engine | None = None
_ENGINE_LOCK = threading.Lock()


def build_engine(lexicon_dir: str | Path | None = None) -> Engine:
    """A ready engine (lexicons validated, pipeline built); the default one is shared."""
    global _ENGINE
    if lexicon_dir is not None:
        return _engine_of(load_lexicons(Path(lexicon_dir)))
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = _engine_of(load_lexicons())
        return _ENGINE


def _engine_of(lexicons: Lexicons) -> Engine:
    try:
        engine = Engine(lexicons)
    except KeyError as exc:      # a key the pipeline reads is missing from a lexicon file
        raise missing_key(Path(lexicons.root), exc.args[0]) from None
    compiled.save()              # the patterns compiled for the first time, kept for the next start
    return engine
