"""Per-sentence facts: everything the rules need, extracted from one sentence.

A sentence's facts depend on its own text only, so they can be cached by text and
re-used when a streaming note grows or is edited. Offsets are relative to the
sentence; the aggregator adds the sentence's start.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise

from .context import ContextAnnotator
from .gates import KeywordGates
from .trie import CaseFree, trie_pattern

_DIGIT = re.compile(r"\d")
_CLAUSE_END = re.compile(r"[;\n]|\.(?!\d)")   # a sentence mark, not a decimal point
_COMPOUND_TAIL = re.compile(r"-([A-Za-z]+)")   # the word a hyphen joins on
_WORD = re.compile(r"\w+")   # a whole word, as a pattern's \b...\b sees it
_RESTATED = re.compile(r"\s*\(\s*")     # what lies between a projection and its restatement in parentheses
_NO_NOUN = re.compile(r"no\s", re.I)    # "no contrast ...": the negated noun, not "without contrast"
_RANGE_BEFORE = re.compile(r"(?<![\d/.])(?P<low>\d{1,2})\s*(?:-|\u2013|to)\s*$")   # "2-3V": a range, not a count
_QUALIFIED = re.compile(r"[\s-]*")      # between a projection and the one that qualifies it ("AP spot film")
EXCLUDED = frozenset({"negated", "hypothetical", "family"})
_NOT_THIS_ENCOUNTER = EXCLUDED | {"possible"}


@dataclass
class Mention:
    concept: str
    start: int
    end: int
    assertion: str
    match: str = "exact"


@dataclass(frozen=True, slots=True)
class Level:
    """A spinal level said in a sentence ("L4-5" is label ``L4-L5``), with the ICD-10-CM region
    it belongs to, its offsets in the sentence and, for a single vertebra ("T12"), that vertebra."""
    label: str
    region: str
    start: int
    end: int
    vertebra: str | None


@dataclass
class SentenceFacts:
    text: str
    header: tuple[str, int] | None = None
    mentions: list[Mention] = field(default_factory=list)
    abbreviations: list[tuple[str, str]] = field(default_factory=list)     # (short, long) defined here
    caps: list[tuple[str, int, int, str]] = field(default_factory=list)     # upper-case tokens + assertion
    projections: list[tuple[str, int, int]] = field(default_factory=list)
    # projections said as not taken ("flexion and extension views were not obtained"): (name, start, end)
    projections_not_taken: list[tuple[str, int, int]] = field(default_factory=list)
    view_counts: list[tuple[int, int, int]] = field(default_factory=list)
    view_context: bool = False
    regions: list[tuple[str, int, int, bool]] = field(default_factory=list)  # region, start, end, with imaging noun
    # body parts of the extremity families: part, start, end, with imaging noun, side said with it (or None)
    parts: list[tuple[str, int, int, bool, str | None]] = field(default_factory=list)
    side_field: tuple[str, int, int] | None = None   # "Side: left": the side of the study
    levels: list[Level] = field(default_factory=list)
    contrast: list[tuple[str, int, int]] = field(default_factory=list)
    signature: tuple[int, int] | None = None
    unsigned: tuple[int, int] | None = None
    ordering: tuple[int, int] | None = None
    comparison: tuple[int, int] | None = None
    reduced: tuple[int, int] | None = None
    encounter: list[str] = field(default_factory=list)
    duration_weeks: float = 0.0
    finding_vocab: bool = False
    imaging_statement: bool = False
    imaging_noun: bool = False
    study_noun: bool = False      # a word for the imaging itself (x-ray, views, MRI), not "exam" or "study"
    laterality: list[tuple[str, int]] = field(default_factory=list)
    region_words: list[tuple[str, int]] = field(default_factory=list)
    age: int | None = None
    roles: list = field(default_factory=list)      # who did what: roles.Relation
    bare_cues: list = field(default_factory=list)  # (role, start, end, assertion): a cue with no provider in its clause
    name_line: bool = False                        # the sentence is a provider's name line
    own_office: tuple[int, int] | None = None      # films said to be taken in the author's office
    acquired_today: tuple[int, int] | None = None  # films said to be taken today
    clinic_note: bool = False                      # the sentence names a clinic visit ("Office visit")
    treating_signer: tuple[int, int] | None = None  # a signature or name line of a treating clinician ("..., DC")
    read_for_another: bool = False                 # the films were sent to the author to read ("second read")
    prior_block: str | None = None                 # "open": a pasted earlier report starts; "close": the current study
    upper_title: bool = False                      # an upper-case line naming a study ("XR LUMBAR SPINE 2 VIEWS")


# positions: they count as views only near a view noun (else they are range of motion)
_DYNAMIC = frozenset({"flexion", "extension", "flexion_extension", "bending_pair", "bending_right", "bending_left"})


class FactExtractor:
    """Compiles the report patterns of ``lexicons/patterns.json`` once."""

    def __init__(self, patterns: dict, context: ContextAnnotator, extra_gates: dict[str, list[str]] | None = None,
                 roles=None):
        p = patterns
        self.roles = roles
        self.ctx = context
        self.numbers = {k.lower(): v for k, v in p["number_words"].items()}   # the one number-word list
        # a spoken level ("L four five") is only looked for after a region letter and a number word
        self.spoken_level_gate = re.compile(
            rf"\b[CcTtLlSs]\s+(?:{trie_pattern(sorted(w for w in self.numbers if ' ' not in w))})\b")
        num_alt = "|".join(sorted((re.escape(k) for k in self.numbers), key=len, reverse=True))
        nouns = "|".join(p["view_nouns"])
        self.view_count = CaseFree(
            rf"(?<![\w/.])(?P<n>\d{{1,2}}|{num_alt})(?:[\s-]*|\s+(?:total\s+|standing\s+|plain\s+|radiographic\s+|additional\s+)?)(?:{nouns})\b(?!\s*(?:of\s+)?(?:the\s+)?(?:\d|ago))")
        self.view_count_exclude = CaseFree(p["view_count_excludes"])
        # a count of views ordered is not what was done: "four views were requested", or "I ordered
        # four views" followed by a contrast ("but", "only"); "I ordered three views" alone was done
        self.view_count_ordered = CaseFree(p["view_count_ordered"])
        self.view_count_ordered_before = CaseFree(p["view_count_ordered_before"])
        self.view_count_ordered_contrast = CaseFree(p["view_count_ordered_contrast"])
        self.view_count_after = CaseFree(p["view_count_after"])
        self.view_context = CaseFree(p["view_context"])
        self.dynamic_anchor = CaseFree(p.get("dynamic_view_anchor", r"(?!)"))
        # a projection that qualifies the one before it ("AP spot film", "lateral coned-down view")
        self.qualifying = frozenset(p.get("qualifying_projections", ()))
        self.unchecked = re.compile(p["unchecked_box"]) if p.get("unchecked_box") else None
        self.other_study = CaseFree(p["other_study"]) if p.get("other_study") else None
        # where injected contrast went, said after "no contrast" (case-sensitive, as it was written)
        self.contrast_where = re.compile(p.get("contrast_where", r"(?!)"))
        self.projections = []
        part_rx = {part["part"]: part["pattern"] for part in p.get("parts", ())}
        # a projection of a limb study only ("AP pelvis" of a hip series): the sentence names its part
        self.projection_parts: dict[str, CaseFree] = {}
        for proj in p["projections"]:
            pattern = CaseFree(proj["pattern"]) if proj["name"] != "frontal" else re.compile(proj["pattern"])
            self.projections.append((proj["name"], pattern,
                                     tuple(proj.get("expands", [proj["name"]])), proj.get("skip_near")))
            if proj.get("with_parts"):
                self.projection_parts[proj["name"]] = CaseFree("|".join(f"(?:{part_rx[x]})".replace("(?P<pl>", "(?:")
                                                                        for x in proj["with_parts"]))
        self.regions = [(r["region"], CaseFree(r["pattern"])) for r in p["regions"]]
        # what before a region word makes it a part of another study ("CT chest, abdomen and pelvis")
        self.region_not_after = {r["region"]: re.compile(r["not_after"], re.I) for r in p["regions"] if r.get("not_after")}
        self.parts = [(part["part"], CaseFree(part["pattern"]),
                       re.compile(part["not_after"], re.I) if part.get("not_after") else None)
                      for part in p.get("parts", ())]
        sides = p.get("sides", {})
        self.side_before = CaseFree(sides.get("before", r"(?!)"))
        self.side_after = CaseFree(sides.get("after", r"(?!)"))
        self.side_after_letter = re.compile(sides.get("after_letter", r"(?!)"))
        self.side_field = CaseFree(sides.get("field", r"(?!)"))
        self.study_nouns = CaseFree(p.get("study_nouns", p["imaging_nouns"]))
        self.side_values = {" ".join(k.split()): v for k, v in sides.get("values", {}).items() if not k.startswith("_")}
        self.plural_irregular = frozenset(sides.get("plural_irregular", ()))
        self.imaging_nouns = CaseFree(p["imaging_nouns"])
        self.projection_words = frozenset(p["projection_hint"]["words"])   # case-sensitive whole words
        self.projection_count = re.compile(p["projection_hint"]["count"])
        self.level = re.compile(p["level"], re.I)
        self.level_not_after = CaseFree(p["level_not_after"])
        self.spoken_level = CaseFree(p["spoken_level"])
        self.level_limits = p["level_limits"]
        self.mri_sequence = CaseFree(p["mri_sequence"])
        self.contrast = [(c["value"], CaseFree(c["pattern"])) for c in p["contrast"]]
        composed = p.get("contrast_composed", {})
        self.contrast_agent = CaseFree(composed["agents"]) if composed else None
        if composed:
            self.contrast_before_after = CaseFree(composed["before_after"])
            self.contrast_given = CaseFree(composed["given"])
            self.contrast_not_given = CaseFree(composed["not_given"])
            self.contrast_given_field = CaseFree(composed.get("given_field", r"(?!)"))
        self.signature = CaseFree(p["signature"], re.M)
        self.unsigned = CaseFree(p["signature_negative"])
        self.ordering = CaseFree(p["ordering"], re.M)
        self.comparison = CaseFree(p["comparison"])
        self.own_office = CaseFree(p.get("own_office", r"(?!)"))
        self.acquired_today = CaseFree(p.get("acquired_today", r"(?!)"))
        self.clinic_note = CaseFree(p.get("clinic_note", r"(?!)"))
        self.not_taken = CaseFree(p.get("projection_not_taken", r"(?!)"))
        self.treating_credential = CaseFree(p.get("treating_credential", r"(?!)"))
        self.read_for_another = CaseFree(p.get("read_for_another", r"(?!)"))
        block = p.get("prior_block", {})
        self.prior_open = re.compile(block.get("open", r"(?!)"), re.I)
        self.prior_close = re.compile(block.get("close", r"(?!)"), re.I)
        self.reduced = CaseFree(p["reduced_study"])
        self.prior_before = CaseFree(p["prior_cues"])
        self.prior_after = CaseFree(p["prior_after"])
        # one-word terms are looked up among the sentence's words; a phrase's pattern runs only
        # when its first word is there
        self.finding_words = frozenset(w.lower() for w in p["finding_vocab"] if " " not in w)
        phrases = [w for w in p["finding_vocab"] if " " in w]
        self.finding_phrase_heads = frozenset(w.split()[0].lower() for w in phrases)
        self.finding_phrases = CaseFree(rf"\b(?:{trie_pattern(phrases)})\b") if phrases else None
        # gates derived from word lists: a whole word is also a substring
        derived = {"finding_vocab": sorted(self.finding_words | self.finding_phrase_heads),
                   "projection_hint": sorted({w.lower() for w in self.projection_words})}
        self.gates = KeywordGates({**{gate: words for gate, words in p["gates"].items() if not gate.startswith("_")},
                                   **derived, **(extra_gates or {})})
        self.imaging_statement = CaseFree(p["imaging_statement"])
        self.encounter = [(c["value"], CaseFree(c["pattern"])) for c in p["encounter_cues"]]
        self.duration = CaseFree(p["duration"])
        self.laterality = [(side, CaseFree(rx)) for side, rx in p["laterality"].items()]
        self.region_words = [(region, CaseFree(rx)) for region, rx in p["icd_region_words"].items()]
        self.age = CaseFree(p["age"])

    # -- helpers -------------------------------------------------------------------------
    def _prior(self, text: str, start: int, end: int) -> bool:
        """The mention names a prior/outside study ("prior lumbar films", "films from 2023")."""
        return bool(self.prior_before.search(text[max(0, start - 40):start]) or
                    self.prior_after.match(text[end:end + 40]))

    def _asserted(self, text: str, triggers, start: int, end: int) -> str:
        return self.ctx.assertion(text, triggers, start, end)

    # -- extraction ----------------------------------------------------------------------
    def gated_patterns(self) -> dict[str, list[CaseFree]]:
        """Each gate and the patterns it guards (a pattern may match only where its gate is open)."""
        groups = {
            "imaging_noun": [self.imaging_nouns], "view_context": [self.view_context],
            "contrast": [rx for _, rx in self.contrast], "signature": [self.signature], "unsigned": [self.unsigned],
            "ordering": [self.ordering], "comparison": [self.comparison], "reduced": [self.reduced],
            "encounter": [rx for _, rx in self.encounter], "duration": [self.duration],
            "imaging_statement": [self.imaging_statement], "laterality": [rx for _, rx in self.laterality],
            "region_words": [rx for _, rx in self.region_words], "age": [self.age],
        }
        groups.update({"region:" + region: [rx] for region, rx in self.regions})
        groups.update({"part:" + part: [rx] for part, rx, _ in self.parts})
        return groups

    def open_gates(self, lower: str) -> set[str]:
        """The gates whose keywords occur in the lower-cased sentence (one scan for all)."""
        return self.gates.open(lower)

    def extract(self, text: str, facts: SentenceFacts, triggers, gates: set[str] | None = None) -> None:
        if gates is None:
            gates = self.open_gates(text.lower())
        digits = _DIGIT.search(text) is not None
        facts.imaging_noun = "imaging_noun" in gates and bool(self.imaging_nouns.search(text))
        facts.view_context = "view_context" in gates and bool(self.view_context.search(text))
        if facts.view_context:
            self._views(text, facts, triggers)
        elif ("projection_hint" in gates and not self.projection_words.isdisjoint(_WORD.findall(text))) or (
                digits and self.projection_count.search(text)):
            self._views(text, facts, triggers, bare=True)
        if facts.projections:
            facts.study_noun = bool(self.study_nouns.search(text))
        self._regions(text, gates, facts, triggers)
        if self.parts:
            self._parts(text, gates, facts, triggers)
        if digits or self.spoken_level_gate.search(text):
            self._levels(text, facts)
        if "contrast" in gates and not self._other_study(text):
            for value, rx in self.contrast:
                for m in rx.finditer(text):
                    assertion = self._asserted(text, triggers, m.start(), m.end())
                    if assertion in ("hypothetical", "family"):
                        continue
                    if assertion == "negated" and value != "without":
                        # "post-contrast images were not obtained", "no gadolinium was given": the study
                        # was done without (a negated "without" is not "with")
                        value = "without"
                    if any(s <= m.start() < e for _, s, e in facts.contrast):
                        continue
                    if value == "without" and (assertion == "negated" or _NO_NOUN.match(m.group(0))) and \
                            self.contrast_where.match(text, m.end()):
                        continue    # "no contrast in the subacromial bursa": where the contrast went, a finding
                    if not self._prior(text, m.start(), m.end()):
                        facts.contrast.append((value, m.start(), m.end()))
            if self.contrast_agent is not None:
                self._composed_contrast(text, facts, triggers)
        if self.roles is not None and self.roles.might_hold(text.lower()):
            # who did what: a role cue related to a provider, with its assertion
            facts.roles, facts.bare_cues, facts.name_line = self.roles.analyse(text)
            for rel in facts.roles:
                if rel.role == "signature" and rel.assertion == "present" and facts.signature is None:
                    facts.signature = rel.span
                elif rel.role == "signature" and facts.unsigned is None:
                    facts.unsigned = rel.span
                elif rel.role in ("ordering", "acquisition") and rel.assertion == "present" and facts.ordering is None:
                    facts.ordering = rel.span
        if self.roles is None and "signature" in gates:
            m = self.signature.search(text)
            if m:
                facts.signature = (m.start(), m.end())
        if "unsigned" in gates:
            m = self.unsigned.search(text)
            if m:
                facts.unsigned = (m.start(), m.end())
                # "dictated but not signed by", "to be signed by": the signature words are negated
                if facts.signature and m.start() <= facts.signature[0] <= m.end():
                    facts.signature = None
        if "ordering" in gates and facts.ordering is None:
            m = self.ordering.search(text)
            if m and self._asserted(text, triggers, m.start(), m.end()) not in EXCLUDED:
                facts.ordering = (m.start(), m.end())
        if self.roles is not None and not facts.roles and not facts.name_line:
            facts.name_line = self.roles.is_name_line(text)
        facts.clinic_note = self.clinic_note.search(text) is not None
        if facts.signature or facts.name_line:
            m = self.treating_credential.search(text)
            if m:
                facts.treating_signer = (m.start(), m.end())
        facts.read_for_another = self.read_for_another.search(text) is not None
        if self.prior_open.match(text):
            facts.prior_block = "open"
        elif self.prior_close.match(text):
            facts.prior_block = "close"
        facts.upper_title = facts.imaging_noun and text[:40].isupper()
        if facts.imaging_noun or facts.view_counts or facts.projections:
            m = self.own_office.search(text)
            if m and self._asserted(text, triggers, m.start(), m.end()) not in EXCLUDED \
                    and not self._prior(text, m.start(), m.end()):
                facts.own_office = (m.start(), m.end())
            m = self.acquired_today.search(text) if facts.view_counts or facts.projections or facts.imaging_noun else None
            if m and self._asserted(text, triggers, m.start(), m.end()) not in EXCLUDED:
                facts.acquired_today = (m.start(), m.end())
        if "comparison" in gates:
            m = self.comparison.search(text)
            if m:
                facts.comparison = (m.start(), m.end())
        if "reduced" in gates:
            m = self.reduced.search(text)
            if m and self._asserted(text, triggers, m.start(), m.end()) not in ("hypothetical",):
                facts.reduced = (m.start(), m.end())
        if "encounter" in gates:
            for value, rx in self.encounter:
                # a cue of another fracture than this one's ("evaluate for new fracture", "no new
                # fracture") says nothing of this encounter
                if any(self._asserted(text, triggers, m.start(), m.end()) not in _NOT_THIS_ENCOUNTER
                       for m in rx.finditer(text)):
                    facts.encounter.append(value)
        if "duration" in gates:
            for m in self.duration.finditer(text):
                facts.duration_weeks = max(facts.duration_weeks, self._weeks(m.group("n"), m.group("unit")))
        if "finding_vocab" in gates:
            lower_words = set(_WORD.findall(text.lower()))
            facts.finding_vocab = not lower_words.isdisjoint(self.finding_words) or (
                not lower_words.isdisjoint(self.finding_phrase_heads) and self.finding_phrases is not None
                and self.finding_phrases.search(text) is not None)
        facts.imaging_statement = "imaging_statement" in gates and bool(self.imaging_statement.search(text))
        if "laterality" in gates:
            for side, rx in self.laterality:
                for m in rx.finditer(text):
                    if side in ("right", "left") and len(m.group(0)) == 1:
                        continue
                    facts.laterality.append((side, m.start()))
        if "region_words" in gates:
            for region, rx in self.region_words:
                for m in rx.finditer(text):
                    facts.region_words.append((region, m.start()))
        if digits and "age" in gates:
            m = self.age.search(text)
            if m:
                facts.age = int(m.group("age"))

    def _weeks(self, n: str, unit: str) -> float:
        n = n.lower()
        value = float(n) if n[0].isdigit() else float(self.numbers.get(n, 3))
        unit = unit.lower()
        if unit.startswith("d"):
            return value / 7
        if unit.startswith("w"):
            return value
        if unit.startswith("m"):
            return value * 4.3
        return value * 52

    def _views(self, text: str, facts: SentenceFacts, triggers, bare: bool = False) -> None:
        """View counts and projections. ``bare``: the sentence names no view noun, so only a
        list of two or more projections counts ("Technique: AP and lateral."), or any in a
        technique/views section line."""
        first = len(facts.projections)
        for m in self.view_count.finditer(text):
            raw = m.group("n").lower()
            n = int(raw) if raw.isdigit() else self.numbers.get(raw)
            before = text[max(0, m.start() - 20):m.start()]
            low = _RANGE_BEFORE.search(before)
            if not n or n > 20 or self.view_count_exclude.search(before) or self._unchecked(text, m.start()) \
                    or (low is not None and int(low.group("low")) < n):
                continue      # "XR HIP 2-3V": the top of a code's view range names the order, not the views
            if self.view_count_ordered.match(text[m.end():m.end() + 60]) or (  # "four views were requested"
                    self.view_count_ordered_before.search(before)        # "I ordered 4 views, but only ..."
                    and self.view_count_ordered_contrast.search(text, m.end())):
                continue
            if self._asserted(text, triggers, m.start(), m.end()) in EXCLUDED or self._prior(text, m.start(), m.end()):
                continue
            facts.view_counts.append((n, m.start(), m.end()))
        for m in self.view_count_after.finditer(text):
            n = int(next(g for g in m.groups() if g))
            if 0 < n <= 20 and self._asserted(text, triggers, m.start(), m.end()) not in EXCLUDED:
                facts.view_counts.append((n, m.start(), m.end()))
        taken: list[tuple[int, int]] = []
        for name, rx, expands, skip_near in self.projections:
            needs = self.projection_parts.get(name)
            if needs is not None and not needs.search(text):
                continue
            for m in rx.finditer(text):
                if any(s <= m.start() < e for s, e in taken) or self._unchecked(text, m.start()):
                    continue
                if skip_near and self._next_to(text, m, skip_near):
                    continue
                assertion = self._asserted(text, triggers, m.start(), m.end())
                prior = self._prior(text, m.start(), m.end())
                if assertion == "negated" and not prior and self.not_taken.search(text):
                    facts.projections_not_taken.extend((proj, m.start(), m.end()) for proj in expands)
                if assertion in EXCLUDED or prior:
                    continue
                if name in _DYNAMIC and not self._dynamic_view(text, m):
                    continue
                taken.append((m.start(), m.end()))
                for proj in expands:
                    facts.projections.append((proj, m.start(), m.end()))
        # a projection in parentheses right after another is the same view renamed: "lateral
        # (scapular Y)", "ulnar-deviated PA (scaphoid)"
        spans = sorted({(s, e) for _, s, e in facts.projections[first:]})
        restated = {s for (_ps, pe), (s, _e) in pairwise(spans) if _RESTATED.fullmatch(text[pe:s])}
        if self.qualifying:
            names = {s: name for name, s, _e in facts.projections[first:]}
            restated |= {s for (_ps, pe), (s, _e) in pairwise(spans)
                         if names.get(s) in self.qualifying and _QUALIFIED.fullmatch(text[pe:s])}
        if restated:
            facts.projections[first:] = [p for p in facts.projections[first:] if p[1] not in restated]
        if bare and not (facts.header and facts.header[0] == "technique"):
            if len({name for name, _, _ in facts.projections[first:]}) < 2:
                del facts.projections[first:]

    def _other_study(self, text: str) -> bool:
        """Does the sentence speak of a study of another body part ("CT head without contrast also
        ordered, reported separately")? Its contrast is that study's."""
        return self.other_study is not None and self.other_study.search(text) is not None

    def _unchecked(self, text: str, start: int) -> bool:
        """Is the mention at ``start`` an item of a template's list whose box is left empty?"""
        return self.unchecked is not None and self.unchecked.search(text, max(0, start - 8), start) is not None

    def _composed_contrast(self, text: str, facts: SentenceFacts, triggers) -> None:
        """Contrast from an agent and what its clause says of it (``contrast_composed``)."""
        if self.contrast_agent is None:   # no contrast_composed patterns: never called
            return
        for m in self.contrast_agent.finditer(text):
            s, e = m.start(), m.end()
            overlapping = [c for c in facts.contrast if c[1] <= s < c[2] or s <= c[1] < e]
            if overlapping and any(v != "with" for v, _, _ in overlapping):
                continue
            starts = [b.end() for b in _CLAUSE_END.finditer(text, 0, s)]
            clause_start = starts[-1] if starts else 0
            end = _CLAUSE_END.search(text, e)
            clause_end = end.start() if end else len(text)
            lo = max(clause_start, s - 70)
            before = text[lo:s]
            after = text[e:min(clause_end, e + 40)]
            both = self.contrast_before_after.search(before)
            # the mention is the agent with what is said of it; its own words ("without and with")
            # do not assert it, the words before them do ("ordered as without and with contrast")
            assertion = self._asserted(text, triggers, lo + both.start() if both else s, e)
            if assertion in ("hypothetical", "family") or self._prior(text, s, e):
                continue
            if both or self.contrast_before_after.search(after[:25]):
                value = "without_with"
            elif assertion == "negated" and self.contrast_where.match(text, e):
                continue    # "no contrast in the subacromial bursa": where the contrast went, a finding
            elif assertion == "negated" or self.contrast_not_given.search(after[:30]):
                value = "without"
            elif self.contrast_given_field.match(after) or self.contrast_given.search(before[-45:]) or \
                    self.contrast_given.search(after[:30]):
                value = "with"
            else:
                continue
            if overlapping:
                if value != "without_with":
                    continue
                # "after administration of 7 mL gadobutrol" read alone is 'with'; said after "before and"
                # the agent was given between two series
                for c in overlapping:
                    facts.contrast.remove(c)
            facts.contrast.append((value, lo + both.start() if both else s, e))

    @staticmethod
    def _next_to(text: str, m: re.Match[str], word: str) -> bool:
        """``word`` right before or after the match, at most one word between, no punctuation
        ("AP bending views", "bending AP views"; not "with bending: AP, lateral")."""
        before = text[max(0, m.start() - 25):m.start()].lower()
        after = text[m.end():m.end() + 25].lower()
        return bool(re.search(rf"{word}[\s-]+(?:\w+[\s-]+)?$", before) or
                    re.match(rf"[\s-]+(?:\w+[\s-]+)?{word}", after))

    def _dynamic_view(self, text: str, m: re.Match[str]) -> bool:
        """Flexion/extension words count as views only near a view noun ("flexion and extension laterals")."""
        compound = _COMPOUND_TAIL.match(text, m.end())
        if compound and not (self.view_context.match(compound.group(1))
                             or any(rx.match(text, compound.start(1)) for _, rx, _, _ in self.projections)):
            return False       # the first half of a compound modifier: "extension-based pain", "flexion-distraction injury"
        window = text[max(0, m.start() - 60):m.end() + 45]
        # a position said of a projection is a view too: "lateral in flexion, lateral in extension"
        return bool(self.view_context.search(window)) or bool(self.dynamic_anchor.search(window))

    def _regions(self, text: str, gates: set[str], facts: SentenceFacts, triggers) -> None:
        for region, rx in self.regions:
            if "region:" + region not in gates:
                continue
            for m in rx.finditer(text):
                if any(s <= m.start() < e or m.start() <= s < m.end() for _, s, e, _ in facts.regions):
                    continue
                if self._asserted(text, triggers, m.start(), m.end()) in EXCLUDED or self._prior(text, m.start(), m.end()):
                    continue
                not_after = self.region_not_after.get(region)
                if not_after is not None and not_after.search(text[max(0, m.start() - 30):m.start()]):
                    continue
                # a region inside a view count's words ("AP pelvis x1") is named with the imaging
                counted = any(s <= m.start() and m.end() <= e for _, s, e in facts.view_counts)
                facts.regions.append((region, m.start(), m.end(), facts.imaging_noun or counted))

    def _parts(self, text: str, gates: set[str], facts: SentenceFacts, triggers) -> None:
        """Body parts of the extremity families, each with the side said with it; the longest
        name wins where two overlap ("distal radius" is the wrist, "radius" the forearm), and a
        part word inside a projection's name is the projection ("scapular Y", "frog-leg")."""
        found = []
        for part, rx, not_after in self.parts:
            if "part:" + part in gates:
                found += [(part, m, not_after) for m in rx.finditer(text)]
        if not found:
            return
        taken = [(s, e) for _, s, e in facts.projections]
        head = facts.header[1] if facts.header else 0
        # a study noun after the header, or the header itself ("MRI RIGHT ELBOW", "XR: left knee")
        imaging = bool(facts.view_counts or facts.projections) or bool(self.study_nouns.search(text[head:])) or \
            (head > 0 and bool(self.study_nouns.search(text[:head])))
        for part, m, not_after in sorted(found, key=lambda x: (x[1].start() - x[1].end(), x[1].start())):
            s, e = m.start(), m.end()
            if any(ts < e and s < te for ts, te in taken):
                continue
            taken.append((s, e))
            if self._asserted(text, triggers, s, e) in EXCLUDED or self._prior(text, s, e):
                continue
            if not_after is not None and not_after.search(text[max(0, s - 30):s]):
                continue
            facts.parts.append((part, s, e, imaging, self._side(text, m)))
        facts.parts.sort(key=lambda p: p[1])
        if "side" in text.lower() or "laterality" in text.lower():
            m = self.side_field.search(text)
            if m:
                side = self.side_values.get(m.group("side").lower())
                if side:
                    facts.side_field = (side, m.start(), m.end())

    def _side(self, text: str, m: re.Match[str]) -> str | None:
        """The side said with a part: a side word before it in its clause, else right after it;
        a plural part alone is both sides."""
        s, e = m.start(), m.end()
        lo = max(0, s - 40)
        marks = [k for k in range(s - 1, lo - 1, -1) if text[k] in ".;:,\n()"]
        window = text[(marks[0] + 1) if marks else lo:s]
        b = self.side_before.search(window)
        if b:
            return self.side_values.get(" ".join(b.group("side").lower().split()))
        a = self.side_after.match(text, e, min(len(text), e + 30)) or self.side_after_letter.match(text, e, min(len(text), e + 8))
        if a:
            return self.side_values.get(" ".join(a.group("side").lower().split()))
        if m.groupdict().get("pl") or m.group(0).lower() in self.plural_irregular:
            return "both"
        return None

    def _levels(self, text: str, facts: SentenceFacts) -> None:
        limits = self.level_limits
        for m in self.level.finditer(text):
            r1, n1 = m.group("r1").upper(), int(m.group("n1"))
            r2 = (m.group("r2") or r1).upper() if m.group("n2") else None
            n2 = int(m.group("n2")) if m.group("n2") else None
            if n1 < 1 or n1 > limits[r1]:
                continue
            if n2 is not None and r2 is not None and (n2 < 1 or n2 > limits[r2] or (r2 == r1 and n2 <= n1)
                                                      or "CTLS".index(r2) < "CTLS".index(r1)):
                r2 = n2 = None  # not a range ("L5 2 mm"): keep the single level
            if r1 == "T" and self.level_not_after.search(text[max(0, m.start() - 20):m.start()]):
                continue
            if r1 == "T" and n2 is None and n1 in (1, 2) and self.mri_sequence.search(text):
                continue
            self._add_level(facts, r1, n1, r2, n2, m.start(), m.end())
        for m in self.spoken_level.finditer(text):
            r = m.group("r").upper()
            a = self.numbers.get(m.group("a").lower())
            b_raw = (m.group("b") or "").lower().replace(" ", "")
            if b_raw in ("sone",):
                self._add_level(facts, r, a, "S", 1, m.start(), m.end())
            else:
                b = self.numbers.get(b_raw) if b_raw else None
                self._add_level(facts, r, a, r if b else None, b, m.start(), m.end())

    @staticmethod
    def _add_level(facts, r1, n1, r2, n2, start, end) -> None:
        if n1 is None:
            return
        label = f"{r1}{n1}" if n2 is None else f"{r1}{n1}-{r2}{n2}"
        facts.levels.append(Level(label, icd_region(r1, n1, r2, n2), start, end, f"{r1}{n1}" if n2 is None else None))


def icd_region(r1: str, n1: int, r2: str | None, n2: int | None) -> str:
    """ICD-10-CM spine region of a level or a range ("L5-S1" is lumbosacral)."""
    ends = {r1} | ({r2} if r2 else set())
    if ends == {"C"}:
        return "cervical"
    if ends == {"C", "T"}:
        return "cervicothoracic"
    if ends == {"T"}:
        return "thoracic"
    if ends == {"T", "L"}:
        return "thoracolumbar"
    if ends == {"L"}:
        return "lumbar"
    if ends == {"L", "S"}:
        return "lumbosacral"
    return "sacral"
