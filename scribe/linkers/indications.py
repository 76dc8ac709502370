"""Link indication mentions to ICD-10-CM codes, with their assertion.

The concept (``lexicons/concepts.jsonl``) names a base code and the axes that
refine it; the axis values come from the mention's sentence (levels, region words,
laterality), then from the note (nearest earlier level, documented encounter,
imaged region). The walk down the official tabular is `IcdCodeSet.resolve`.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import replace
from functools import lru_cache

from ..types import CodeCandidate, Indication

_PRESENT = frozenset({"present", "possible"})
_CAUSED = _PRESENT | {"historical"}
_WORDS = re.compile(r"[a-z]+(?:-[a-z]+)?")

_CLAUSE_MARK = re.compile(r"[.;:,()\n]")
_CLAUSE_END = re.compile(r"[.;:()\n]")      # what follows a condition after a comma still describes it


def _clause(text: str, local: tuple[int, int], before: int = 40, after: int = 60) -> tuple[int, int]:
    """The clause a mention stands in: from the last mark before it (at most ``before``
    characters back) to the first mark after it (at most ``after`` characters on; a comma
    does not end it there: "fracture of C7, nondisplaced")."""
    lo = max(0, local[0] - before)
    start = max((m.end() for m in _CLAUSE_MARK.finditer(text, lo, local[0])), default=lo)
    hi = min(len(text), local[1] + after)
    end = next((m.start() for m in _CLAUSE_END.finditer(text, local[1], hi)), hi)
    return start, end


def _by_region(bases: dict[str, str] | None, region: str | None) -> str | None:
    """The base code a region takes, or the ``_default`` one."""
    if not bases:
        return None
    return bases.get(region or "", bases.get("_default"))


def _start(item) -> int:
    return item.start


def _second(item) -> int:
    return item[1]


class _Nearest:
    """``min(items, key=lambda it: abs(at(it) - x))`` (the first of equals in list order wins), by
    bisection over an index built once per list when the list is long: a run-on sentence of
    thousands of words holds thousands of levels, and every mention in it asks for the nearest."""

    _LONG = 32

    def __init__(self) -> None:
        self._built: dict[tuple[str, int], tuple] = {}

    def _index(self, kind: str, items: list, make):
        built = self._built.get((kind, id(items)))
        if built is None or built[0] is not items or built[1] != len(items):
            if len(self._built) > 256:
                self._built.clear()
            built = self._built[(kind, id(items))] = (items, len(items), make(items))
        return built[2]

    def singles(self, levels: list) -> list:
        """The levels that name one vertebra."""
        if len(levels) <= self._LONG:
            return [lv for lv in levels if lv.vertebra]
        return self._index("singles", levels, lambda items: [lv for lv in items if lv.vertebra])

    def __call__(self, items: list, x: int, at):
        if len(items) <= self._LONG:
            return min(items, key=lambda it: abs(at(it) - x))

        def make(items):
            order = sorted(range(len(items)), key=lambda i: (at(items[i]), i))
            return [at(items[i]) for i in order], order

        keys, order = self._index(at.__name__, items, make)
        j = bisect.bisect_left(keys, x)
        distance = min(abs(keys[i] - x) for i in (j - 1, j) if 0 <= i < len(keys))
        best = None
        for p in (x - distance, x + distance):
            i = bisect.bisect_left(keys, p)
            if i < len(keys) and keys[i] == p and (best is None or order[i] < best):
                best = order[i]
        assert best is not None
        return items[best]


class IndicationLinker:
    def __init__(self, concepts, codeset, patterns):
        self.family = {k: v for k, v in patterns["icd_region_family"].items() if not k.startswith("_")}
        self.study_to_icd = {k: v for k, v in patterns["study_region_to_icd"].items() if not k.startswith("_")}
        self.concepts = {c.concept: c for c in concepts}
        self._nearest = _Nearest()
        self.codeset = codeset
        self._resolve = lru_cache(maxsize=4096)(self._resolve_uncached)
        self._linked: dict[tuple, tuple[CodeCandidate, ...]] = {}
        # a capital side letter written before a condition ("L sciatica"); case-sensitive
        self._side_letter = re.compile(patterns["side_letter"]) if patterns.get("side_letter") else None

    def _resolve_uncached(self, base: str, axes: tuple[tuple[str, str], ...]) -> CodeCandidate | None:
        try:
            res = self.codeset.resolve(base, dict(axes))
        except (KeyError, ValueError):
            return None
        if res is None:
            return None
        return CodeCandidate(res.code, res.description or "", 1.0 if res.billable else 0.5)

    def context_of(self, note) -> tuple:
        """What a mention's link takes from the whole note (besides its own sentence and the
        level documented before it)."""
        study_region = next((self.study_to_icd[r] for r in note.regions if r in self.study_to_icd), None)
        claudication = "with" if note.claudication else "without"
        return (note.first_level, study_region, note.encounter, claudication)

    def link(self, note, facts, spans, context: tuple | None = None, *, start: int = 0) -> list[Indication]:
        """The indications of ``note.mentions[start:]``."""
        if context is None:
            context = self.context_of(note)
        earlier_levels = note.earlier_levels
        out: list[Indication] = []
        cache = self._linked
        for m in note.mentions[start:]:
            concept = self.concepts.get(m.concept)
            candidates: tuple[CodeCandidate, ...] = ()
            if concept is not None and concept.icd is not None:
                f = facts[m.sentence]
                local = (m.start - spans[m.sentence].start, m.end - spans[m.sentence].start)
                # the link depends only on the sentence, the mention and a little note context,
                # so a growing note re-links nothing it linked before
                key = (m.concept, m.assertion, f.text, local, earlier_levels[m.sentence], context)
                cached = cache.get(key)
                if cached is not None:
                    candidates = cached
                else:
                    candidates = self._link_one(concept, m.assertion, f, local, f.levels,
                                                earlier_levels[m.sentence], context)
                    if len(cache) > 50000:
                        cache.clear()
                    cache[key] = candidates
            out.append(Indication(text=note.text[m.start:m.end], start=m.start, end=m.end,
                                  assertion=m.assertion, concept=m.concept, section=m.section,
                                  icd10=candidates, match=m.match))
        return out

    def _link_one(self, concept, assertion, f, local, same, earlier, context) -> tuple[CodeCandidate, ...]:
        first_level, study_region, encounter, claudication = context
        axes, region = self._axes(concept.icd.axes, f, local, same, earlier, first_level, study_region,
                                  encounter, claudication)
        base = self._base(concept.icd, assertion, region)
        cand = self._resolve(base, tuple(sorted(axes.items()))) if base else None
        if cand is not None and base and axes.get("laterality") == "bilateral":
            sides = self._each_side(base, axes)
            if sides:
                return sides
        return self.with_options(cand, axes) if cand is not None else ()

    def _each_side(self, base: str, axes: dict[str, str]) -> tuple[CodeCandidate, ...]:
        """A condition of both sides where the code set has no bilateral code ("bilateral knee
        pain"): the right and the left code, both billable (Guidelines I.B.13: a bilateral
        condition without a bilateral code is reported for each side)."""
        try:
            res = self.codeset.resolve(base, axes)
        except (KeyError, ValueError):
            return ()
        if "laterality" not in res.defaulted:
            return ()
        pair = [self._resolve(base, tuple(sorted({**axes, "laterality": side}.items()))) for side in ("right", "left")]
        if any(c is None or c.score < 1.0 or c.code == res.code for c in pair) or pair[0].code == pair[1].code:
            return ()
        return tuple(c for c in pair if c is not None)

    def with_options(self, cand: CodeCandidate, axes: dict[str, str] | None = None) -> tuple[CodeCandidate, ...]:
        """A code, and when it is not billable (the note does not decide a required character) its
        billable options, ranked below it: one per branch the note leaves open, each completed by
        the documented ``axes`` ("L1 burst fracture", initial: S32.011A and S32.012A)."""
        if cand.score == 1.0:
            return (cand,)
        options: list[str] = []
        if axes:
            documented = tuple(sorted(axes.items()))
            children = self.codeset.children(cand.code)
            # the children that name a documented value (the tie the walk stopped at) come first
            labels = [self.codeset.axes.labels(self.codeset.description(c) or "") for c in children]
            shared = set.intersection(*labels) if labels else set()
            agreeing = [c for c, lb in zip(children, labels) if (lb - shared) & set(documented)]
            for child in agreeing + [c for c in children if c not in agreeing]:
                done = self._resolve(child, documented)
                if done is not None and done.score == 1.0 and done.code not in options:
                    options.append(done.code)
        options += [c for c in self.codeset.billable_descendants(cand.code) if c not in options]
        return (cand,) + tuple(CodeCandidate(c, self.codeset.description(c) or "", 0.4) for c in options[:4])

    def by_cause(self, note, facts, spans, context: tuple | None = None) -> None:
        """Re-link the mentions whose code depends on their cause (concept ``causes``), decided by
        what is said with the mention and what the whole note documents: a vertebral fracture in a
        note of osteoporosis is M80.08-, with a neoplasm M84.58-, said to be atraumatic M48.5-."""
        indications = note.indications
        if not any(self._causal(ind) for ind in indications):
            return
        if context is None:
            context = self.context_of(note)
        # read only through any(...): each code once, not once per mention
        present_codes = list(dict.fromkeys(c.code for ind in indications if ind.assertion in _PRESENT
                                           for c in ind.icd10[:1]))
        assertions: dict[str, set[str]] = {}
        for ind in indications:
            assertions.setdefault(ind.concept, set()).add(ind.assertion)
        starts = [sp.start for sp in spans]
        out = list(indications)
        for k, ind in enumerate(indications):
            icd = self._causal(ind)
            if icd is None or ind.assertion not in _CAUSED:
                continue       # a healed fracture's cause decides its history code (the history map, after)
            n = bisect.bisect_right(starts, ind.start) - 1
            f = facts[n]
            local = (ind.start - spans[n].start, ind.end - spans[n].start)
            said = set(_WORDS.findall(f.text[max(0, local[0] - 40):local[1] + 25].lower()))
            cause = next((rule.cause for rule in icd.causes if self._holds(rule, said, present_codes, assertions)), None)
            if cause is None:
                continue
            axes, _ = self._axes_at(note, f, n, local, (*icd.axes, "region", "encounter"), context)
            axes.pop("fracture_type", None)
            cand = self._resolve(icd.base_by_cause[cause], tuple(sorted(axes.items())))
            if cand is None:
                continue
            out[k] = replace(ind, icd10=self.with_options(cand, axes))
        note.indications = out

    def combine(self, note, facts, spans, context: tuple | None = None) -> None:
        """Re-link a condition said in one sentence with a partner its code combines with (concept
        ``combined``, Guidelines I.B.9): "L4-5 disc herniation with L5 radiculopathy" is M51.16,
        "cervical spondylosis with myelopathy" M47.12. Both must be asserted alike (present, or
        both possible)."""
        indications = note.indications
        if not any(self._combining(ind) for ind in indications):
            return
        if context is None:
            context = self.context_of(note)
        starts = [sp.start for sp in spans]
        sentence_of = [bisect.bisect_right(starts, ind.start) - 1 for ind in indications]
        in_sentence: dict[int, list[int]] = {}  # partners share a sentence: look only there
        for j, n in enumerate(sentence_of):
            in_sentence.setdefault(n, []).append(j)
        out = list(indications)
        for k, ind in enumerate(indications):
            icd = self._combining(ind)
            if icd is None or ind.assertion not in _PRESENT:
                continue
            n = sentence_of[k]
            partners = {indications[j].concept for j in in_sentence[n]
                        if j != k and indications[j].assertion == ind.assertion}
            rule = next((r for r in icd.combined if partners & set(r.with_concepts)), None)
            if rule is None:
                continue
            local = (ind.start - spans[n].start, ind.end - spans[n].start)
            axes, region = self._axes_at(note, facts[n], n, local, (*icd.axes, "region"), context)
            base = rule.base or _by_region(rule.base_by_region, region)
            cand = self._resolve(base, tuple(sorted(axes.items()))) if base else None
            if cand is not None:
                out[k] = replace(ind, icd10=self.with_options(cand, axes))
        note.indications = out

    def _axes_at(self, note, f, n: int, local: tuple[int, int], wanted: tuple[str, ...], context: tuple):
        """The axis values (and region) of a mention at ``local`` in sentence ``n`` (facts ``f``),
        for a re-link after the first one (by cause, by combination)."""
        first_level, study_region, encounter, claudication = context
        earlier = note.earlier_levels[n] if n < len(note.earlier_levels) else None
        return self._axes(tuple(dict.fromkeys(wanted)), f, local, f.levels, earlier, first_level, study_region,
                          encounter, claudication)

    def _combining(self, ind):
        return self._icd_with(ind, "combined")

    def _causal(self, ind):
        return self._icd_with(ind, "causes")

    def _icd_with(self, ind, rules: str):
        """The concept's ICD spec when it has ``rules`` (causes, combined)."""
        concept = self.concepts.get(ind.concept)
        icd = concept.icd if concept is not None else None
        return icd if icd is not None and getattr(icd, rules) else None

    @staticmethod
    def _holds(rule, said: set[str], present_codes: list[str], assertions: dict[str, set[str]]) -> bool:
        if rule.said and not said & set(rule.said):
            return False
        if rule.note_codes and not any(code.startswith(p) for code in present_codes for p in rule.note_codes):
            return False
        if rule.present_concepts and not any("present" in assertions.get(c, set()) for c in rule.present_concepts):
            return False
        if rule.negated_concepts:
            mentioned = [assertions[c] for c in rule.negated_concepts if c in assertions]
            if not mentioned or not all(a <= {"negated"} for a in mentioned):
                return False
        if rule.unless_concepts and any(assertions.get(c, set()) & _PRESENT for c in rule.unless_concepts):
            return False
        return True

    @staticmethod
    def _base(icd, assertion: str, region: str | None) -> str | None:
        if assertion == "historical" and icd.historical_base:
            return icd.historical_base
        if icd.base_by_region:
            return _by_region(icd.base_by_region, region)
        return icd.base

    def _axes(self, wanted, f, local, same, earlier, first_level, study_region,
              encounter, claudication) -> tuple[dict[str, str], str | None]:
        axes: dict[str, str] = {}
        word_region = None
        if f.region_words:
            word_region = self._nearest(f.region_words, local[0], _second)[0]
        region = None
        if same:
            nearest = self._nearest(same, local[0], _start)  # the level nearest the mention
            region = nearest.region
        elif word_region and earlier and self.family.get(word_region) == self.family.get(earlier.region):
            region = earlier.region
        elif word_region:
            region = word_region
        elif earlier:
            region = earlier.region
        elif first_level:
            region = first_level.region
        else:
            region = study_region
        if region and "region" in wanted:
            axes["region"] = region
        if "laterality" in wanted and f.laterality:
            sides = {side for side, _ in f.laterality}
            axes["laterality"] = "bilateral" if "bilateral" in sides or {"right", "left"} <= sides else \
                self._nearest(f.laterality, local[0], _second)[0]
        elif "laterality" in wanted and self._side_letter is not None:
            # "L sciatica", "Rt radiculopathy": a side letter written right before the condition
            letter = self._side_letter.search(f.text, max(0, local[0] - 5), local[0])
            if letter:
                axes["laterality"] = "left" if letter.group(1)[0] == "L" else "right"
        if "vertebra" in wanted:
            singles = self._nearest.singles(same)
            vertebra = self._nearest(singles, local[0], _start).vertebra if singles else \
                (earlier.vertebra if earlier and earlier.vertebra else None)
            if vertebra:
                axes["vertebra"] = vertebra
        cued = [axis for axis in wanted if axis in self.codeset.axes.note_cues]
        if cued:
            start, end = _clause(f.text, local)
            clause = f.text[start:end].lower()
            for axis in cued:
                value = self.codeset.axes.note_value(axis, clause, local[0] - start)
                if value is not None:
                    axes[axis] = value
        if "disc_level" in wanted:
            discs = [lv for lv in f.levels if "-" in lv.label and lv.label[0] == "C"]
            if discs:
                axes["disc_level"] = min(discs, key=lambda lv: abs(lv.start - local[0])).label
        if "encounter" in wanted and encounter:
            axes["encounter"] = encounter
        if "claudication" in wanted:
            axes["claudication"] = claudication
        return axes, region
