"""Aggregate per-sentence facts into the facts of a whole note.

Rules read a `Note`, never raw text. Building a `Note` is a single pass over the
sentences' cached facts, so the streaming session re-analyses only the sentences a
change touched and then re-aggregates.
"""
from __future__ import annotations

import re

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .nlp.facts import Level, SentenceFacts
from .nlp.sections import Sectionizer
from .types import Evidence, Indication

# what joins a view to the region it shows right after it: "lateral of the", "views of the", "coned lateral lumbosacral"
_OF_THE = re.compile(r"[\s-]*(?:[a-z-]+[\s-]+){0,2}?(?:(?:of|through|at)\s+(?:the\s+)?)?$", re.I)


@dataclass
class NoteMention:
    concept: str
    start: int
    end: int
    assertion: str
    section: str
    sentence: int
    match: str


@dataclass
class Note:
    text: str
    sections: list[str]
    mentions: list[NoteMention]
    indications: list[Indication] = field(default_factory=list)
    views: int | None = None
    view_evidence: list[Evidence] = field(default_factory=list)
    study_evidence: list[Evidence] = field(default_factory=list)   # the lines naming a study, one per study
    projections: list[str] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)
    position_evidence: list[Evidence] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    region_evidence: list[Evidence] = field(default_factory=list)
    documented_regions: list[str] = field(default_factory=list)   # before the entire spine absorbs the rest
    region_from_levels: tuple[str, ...] = ()   # the levels the region was inferred from, when no region was named
    region_views: dict[str, int] = field(default_factory=dict)    # views said next to their region (count, else projections)
    parts: list[str] = field(default_factory=list)                # body parts of the extremity families imaged
    part_evidence: list[Evidence] = field(default_factory=list)
    parts_imaged: bool = False                                    # a part named with the imaging (title, views)
    sides: dict[str, str] = field(default_factory=dict)           # part -> right | left | both | unclear
    side_evidence: dict[str, list[Evidence]] = field(default_factory=dict)
    levels: list[str] = field(default_factory=list)
    level_evidence: list[Evidence] = field(default_factory=list)
    contrast: str | None = None
    contrast_evidence: list[Evidence] = field(default_factory=list)
    signed: bool = False
    signature_evidence: list[Evidence] = field(default_factory=list)
    unsigned_evidence: list[Evidence] = field(default_factory=list)
    ordering_evidence: list[Evidence] = field(default_factory=list)
    comparison_evidence: list[Evidence] = field(default_factory=list)
    findings_evidence: list[Evidence] = field(default_factory=list)
    findings_header_empty: Evidence | None = None
    impression_evidence: list[Evidence] = field(default_factory=list)
    impression_header: Evidence | None = None
    reduced_evidence: list[Evidence] = field(default_factory=list)
    encounter: str | None = None
    duration_weeks: float = 0.0
    age: int | None = None
    reason_mentions: list[NoteMention] = field(default_factory=list)
    indication_text_present: bool = False
    indication_headers: list[Evidence] = field(default_factory=list)
    earlier_levels: list[Level | None] = field(default_factory=list)   # per sentence: the last level before it
    first_level: Level | None = None
    claudication: bool = False

    def facts(self) -> dict[str, Any]:
        return {"views": self.views, "positions": self.positions, "region": self.regions,
                "levels": self.levels, "contrast": self.contrast, "signed": self.signed,
                "sections": sorted({s for s in self.sections if s not in ("narrative", "other")}),
                "projections": self.projections, "body_parts": self.parts,
                "laterality": {part: side for part, side in self.sides.items() if side != "unclear"}}


def _without_study_facts(f: SentenceFacts) -> SentenceFacts:
    return replace(f, view_counts=[], projections=[], contrast=[], reduced=None, encounter=[])


def _region_of(f: SentenceFacts, start: int, end: int) -> str:
    """The region a view count or projection at [start, end) of a sentence belongs to: the
    nearest region named before it in the same clause ("lumbar spine, 2 views"), else the
    nearest one ("2 views of the lumbar spine")."""
    after = [r for r in f.regions if r[1] >= end and _OF_THE.match(f.text, end, r[1])]
    if after:   # "a coned-down lateral of the lumbosacral junction"
        return min(after, key=lambda r: r[1])[0]
    before = [r for r in f.regions if r[2] <= start and ";" not in f.text[r[2]:start]]
    if before:
        return max(before, key=lambda r: r[2])[0]
    return min(f.regions, key=lambda r: min(abs(start - r[2]), abs(r[1] - end)))[0]


def _ev(text: str, start: int, end: int) -> Evidence:
    while start < end and text[start].isspace():
        start += 1
    return Evidence(start, end, text[start:end])


class _Fold:
    """The state one kind of fact carries from sentence to sentence. A checkpoint keeps each
    list's length (lists only grow), a copy of each map and each scalar, so rewinding costs
    the size of the maps, not of the note."""

    def save(self) -> tuple:
        return tuple(len(v) if type(v) is list else dict(v) if type(v) is dict else v for v in vars(self).values())

    def restore(self, saved: tuple) -> None:
        state = vars(self)
        for (name, value), kept in zip(list(state.items()), saved):
            if type(value) is list:
                del value[kept:]
            else:
                state[name] = dict(kept) if type(value) is dict else kept


@dataclass
class _Mentions(_Fold):
    all: list[NoteMention] = field(default_factory=list)
    reason: list[NoteMention] = field(default_factory=list)       # those in the reason sections
    abbreviations: dict[str, str] = field(default_factory=dict)   # short form defined in the note -> concept
    claudication: bool = False


@dataclass
class _Levels(_Fold):
    first_seen: dict[str, Evidence] = field(default_factory=dict)   # level label -> first evidence
    earlier: list[Level | None] = field(default_factory=list)       # per sentence: the last level before it
    last: Level | None = None
    first: Level | None = None


@dataclass
class _Views(_Fold):
    best: tuple[int, Evidence] | None = None                   # the largest view count
    projections: dict[str, Evidence] = field(default_factory=dict)
    listed: set[str] = field(default_factory=set)   # projections said with a count, a study noun or the technique
    in_read: set[str] = field(default_factory=set)  # projections first named only in passing in the read ("on the laterals")
    region_views: dict[str, int] = field(default_factory=dict)
    region_projections: dict[str, frozenset[str]] = field(default_factory=dict)
    reduced: list[Evidence] = field(default_factory=list)


@dataclass
class _Regions(_Fold):
    strong: dict[str, Evidence] = field(default_factory=dict)   # named with the imaging, or in the title
    weak: dict[str, Evidence] = field(default_factory=dict)


@dataclass
class _Parts(_Fold):
    strong: dict[str, Evidence] = field(default_factory=dict)   # named with the imaging, or in the title
    weak: dict[str, Evidence] = field(default_factory=dict)
    sides: dict[tuple[str, str, bool], Evidence] = field(default_factory=dict)   # (part, side, strong) -> first
    field_side: dict[str, Evidence] = field(default_factory=dict)                # "Side: left"


@dataclass
class _Contrast(_Fold):
    seen: dict[str, Evidence] = field(default_factory=dict)
    done: dict[str, bool] = field(default_factory=dict)   # said outside the sections naming the study ordered


@dataclass
class _Signature(_Fold):
    evidence: list[Evidence] = field(default_factory=list)
    unsigned: list[Evidence] = field(default_factory=list)
    signer_before: tuple[int, int] | None = None   # (start, sentence) of the last line naming a signer


@dataclass
class _Ordering(_Fold):
    evidence: list[Evidence] = field(default_factory=list)
    own_office: list[Evidence] = field(default_factory=list)
    today: list[Evidence] = field(default_factory=list)
    clinic: bool = False          # the note has a clinic note's sections
    told: bool = False            # the note tells the visit in running text (no report header)
    treating: list[Evidence] = field(default_factory=list)   # signed by a treating clinician ("..., DC")
    for_another: bool = False     # the films were sent to the author to read


@dataclass
class _Reason(_Fold):
    headers: list[Evidence] = field(default_factory=list)
    text_present: bool = False
    duration_weeks: float = 0.0
    age: int | None = None
    encounter_cues: dict[str, int] = field(default_factory=dict)   # cue -> first sentence


@dataclass
class _Findings(_Fold):
    evidence: list[Evidence] = field(default_factory=list)
    header: tuple[int, bool] | None = None   # (sentence, has content) of the last findings header
    after: bool = False                      # a findings sentence follows that header


@dataclass
class _Impression(_Fold):
    evidence: list[Evidence] = field(default_factory=list)
    header: Evidence | None = None


@dataclass
class _Comparison(_Fold):
    evidence: list[Evidence] = field(default_factory=list)


class NoteAggregator:
    """The per-sentence facts of a note folded, in order, into the facts of the note.

    The state is one fold object per kind of fact (`Sectionizer` for the sections). The
    fold keeps a checkpoint every ``EVERY`` sentences (list lengths, copies of the small
    vocabulary-bounded maps, scalars), so a live dictation that changes sentence ``k``
    rewinds to the checkpoint before ``k`` and folds only from there: the cost of a segment
    depends on the change, not on the length of the note. ``note()`` then assembles a
    `Note` from the folded state; only vocabulary-sized work happens there.
    """

    EVERY = 16

    def __init__(self, *, encounter_priority: list[str], dynamic: frozenset[str],
                 abbreviation_concept: Callable[[str], str | None], empty_content: re.Pattern[str],
                 placeholder: re.Pattern[str], level_regions: dict[str, str], roles: dict[str, frozenset[str]],
                 title_only_regions: frozenset[str], imaging_finding: Callable[[str], bool],
                 region_folds: tuple[tuple[str, frozenset[str]], ...] = (),
                 part_regions: dict[str, frozenset[str]] | None = None,
                 pointer_content: re.Pattern[str] | None = None,
                 encounter_default: str | None = None, one_view: tuple[frozenset[str], ...] = ()):
        self.one_view = one_view
        self.encounter_priority = encounter_priority
        self.encounter_default = encounter_default
        self.dynamic = dynamic
        self.abbreviation_concept = abbreviation_concept
        self.empty_content = empty_content
        self.placeholder = placeholder
        self.level_regions = level_regions
        self.no_findings = roles["no_findings"]
        self.reason_roles = roles["reason"]
        self.read_opens_in = roles.get("read_opens_in", frozenset())
        self.described_read_opens_in = roles.get("described_read_opens_in", frozenset())
        self.headed_read_opens_in = roles.get("headed_read_opens_in", frozenset())
        self.future_sections = roles.get("future", frozenset())
        self.exam_sections = roles.get("examination", frozenset())
        self.ordered_sections = roles.get("ordered", frozenset())
        self.clinic_sections = roles.get("clinic", frozenset())
        self.clinic_if_today = roles.get("clinic_if_today", frozenset())
        self.title_only_regions = title_only_regions
        self.region_folds = region_folds
        self.part_regions = part_regions or {}
        self.pointer_content = pointer_content
        self.imaging_finding = imaging_finding
        self.text = ""
        self.folded = 0
        self.stable_mentions = 0
        self.linked: tuple = (None, [])       # (link context, indications of the mentions), kept by the engine
        self._reset()

    def _reset(self) -> None:
        self.sectionizer = Sectionizer(self.read_opens_in, self.described_read_opens_in, self.headed_read_opens_in)
        self.mentions = _Mentions()
        self.levels = _Levels()
        self.views = _Views()
        self.regions = _Regions()
        self.parts = _Parts()
        self.contrast = _Contrast()
        self.signature = _Signature()
        self.ordering = _Ordering()
        self.reason = _Reason()
        self.findings = _Findings()
        self.impression = _Impression()
        self.comparison = _Comparison()
        self.n = 0
        self._checkpoints: list[tuple[int, list[tuple]]] = []

    # -- checkpoints ------------------------------------------------------------------------
    def _folds(self) -> tuple[_Fold, ...]:
        return (self.mentions, self.levels, self.views, self.regions, self.parts, self.contrast, self.signature,
                self.ordering, self.reason, self.findings, self.impression, self.comparison)

    def _save(self) -> None:
        self._checkpoints.append((self.n, [self.sectionizer.save()] + [fold.save() for fold in self._folds()]))

    def _rewind(self, keep: int) -> None:
        """Forget every sentence from ``keep`` on, resuming at the last checkpoint before it."""
        while self._checkpoints and self._checkpoints[-1][0] > keep:
            self._checkpoints.pop()
        if not self._checkpoints:
            self._reset()
            return
        self.n, (sections, *saved) = self._checkpoints[-1]
        self.sectionizer.restore(sections)
        for fold, kept in zip(self._folds(), saved):
            fold.restore(kept)

    def update(self, text: str, spans, facts: list[SentenceFacts], keep: int = 0) -> None:
        """Fold ``facts`` (of ``spans`` in ``text``); sentences before ``keep`` are those of
        the previous call, unchanged (same text up to their end)."""
        self._rewind(min(keep, self.n))
        self.text = text
        self.folded = len(facts) - self.n     # sentences (re)folded by this call
        self.stable_mentions = len(self.mentions.all)   # mentions of sentences this call left alone
        for i in range(self.n, len(facts)):
            if i % self.EVERY == 0 and (not self._checkpoints or self._checkpoints[-1][0] < i):
                self._save()
            self._fold(i, spans[i], facts[i])
            self.n = i + 1

    # -- the fold -----------------------------------------------------------------------------
    def _fold(self, i: int, span, f: SentenceFacts) -> None:
        text = self.text
        section = self.sectionizer.add(i, text, span, f)
        base = span.start
        content_start = f.header[1] if f.header else 0
        content_text = f.text[content_start:].strip(" .:-\t")
        # a template field left unfilled ("[ ]", "***", "________") says nothing
        has_content = bool(content_text) and not self.placeholder.fullmatch(content_text)
        if has_content and f.header and f.header[0] == "findings" and self.pointer_content is not None and \
                self.pointer_content.fullmatch(content_text):
            has_content = False       # "FINDINGS: See impression." points elsewhere and describes nothing
        lvs = self.levels
        lvs.earlier.append(lvs.last)
        if section == "prior":
            return
        if f.levels:
            lvs.last = f.levels[-1]
            if lvs.first is None:
                lvs.first = f.levels[0]
        ms = self.mentions
        mentions = [NoteMention(m.concept, base + m.start, base + m.end, m.assertion, section, i, m.match)
                    for m in f.mentions]
        for short, long in f.abbreviations:
            concept = self.abbreviation_concept(long)
            if concept:
                ms.abbreviations[short] = concept
        if ms.abbreviations and f.caps:
            for word, s, e, assertion in f.caps:
                concept = ms.abbreviations.get(word)
                if concept and not any(m.start <= base + s < m.end for m in mentions):
                    mentions.append(NoteMention(concept, base + s, base + e, assertion, section, i, "abbreviation"))
        if len(mentions) > 1:
            mentions.sort(key=lambda m: m.start)
        ms.all.extend(mentions)
        if section in self.reason_roles:
            ms.reason.extend(mentions)
        for m in mentions:
            if m.concept == "neurogenic_claudication" and m.assertion == "present":
                ms.claudication = True
        reason = self.reason
        if section in ("indication", "history"):
            if f.header:
                reason.headers.append(_ev(text, base, span.end))
            content = f.text[content_start:].strip(" .:-\t")
            bare = content.strip(" []()<>{}*_") or content      # "[NOT PROVIDED]" says "not provided"
            if content and not self.empty_content.fullmatch(bare) and not self.placeholder.fullmatch(content):
                reason.text_present = True
        findings = self.findings
        if findings.header is not None and section == "findings" and f.text.strip() and not f.header:
            findings.after = True
        sig = self.signature
        if f.signature:
            sig.evidence.append(_ev(text, base + f.signature[0], base + f.signature[1]))
        elif sig.signer_before is not None and has_content and \
                any(role == "signature" and assertion == "present" and s <= 3 for role, s, _, assertion in f.bare_cues):
            # a signature block: the name on its own line (or a read by a named physician) just
            # before "Electronically signed 10/01/2025"
            sig.evidence.append(_ev(text, sig.signer_before[0], base + len(f.text)))
        if f.name_line or any(r.role in ("interpreting", "signature") and r.assertion == "present" for r in f.roles):
            sig.signer_before = (base, i)
        elif sig.signer_before is not None and i - sig.signer_before[1] > 2:
            sig.signer_before = None
        if f.unsigned:
            sig.unsigned.append(_ev(text, base + f.unsigned[0], base + f.unsigned[1]))
        order = self.ordering
        # an ordering field left empty ("Ordering physician: [ ]") names nobody
        if (f.ordering and (has_content or f.header is None)) or (section == "ordering" and has_content):
            s, e = f.ordering or (0, len(f.text))
            order.evidence.append(_ev(text, base + s, base + e))
        if f.own_office and section != "comparison":
            order.own_office.append(_ev(text, base + f.own_office[0], base + f.own_office[1]))
        if f.acquired_today and section not in ("comparison", "plan"):
            order.today.append(_ev(text, base + f.acquired_today[0], base + f.acquired_today[1]))
        if f.treating_signer:
            order.treating.append(_ev(text, base + f.treating_signer[0], base + f.treating_signer[1]))
        if f.read_for_another:
            order.for_another = True
        if section in self.clinic_sections or f.clinic_note:
            order.clinic = True
        elif section in self.clinic_if_today:
            order.told = True
        if section == "comparison":
            # the rest describes the prior study; a signature or an ordering provider dictated
            # on after "comparison none" (no line break) still counts
            if has_content or (f.header and not content_text):
                self.comparison.evidence.append(_ev(text, base, span.end))
            return
        if f.comparison:
            self.comparison.evidence.append(_ev(text, base + f.comparison[0], base + f.comparison[1]))
        if section in self.future_sections:
            f = _without_study_facts(f)   # a plan orders what is not done yet: its views and contrast never count
        elif section in self.exam_sections and not f.imaging_noun and f.projections:
            # a physical examination's manoeuvres ("pain with extension", "+ stork test") are not views
            f = replace(f, projections=[])
        views = self.views
        for n, s, e in f.view_counts:
            if views.best is None or n > views.best[0]:
                views.best = (n, _ev(text, base + s, base + e))
            if f.regions:   # "scoliosis series 1 view and lumbar spine 2 views": each count to its region
                region = _region_of(f, s, e)
                seen = views.region_views.get(region)
                if seen is None or n > seen:
                    views.region_views[region] = n
        for name, _s, _e in f.projections_not_taken:
            # said later as not taken: an earlier mention (an order, a request) did not take it
            views.projections.pop(name, None)
        # a projection said in a sentence with no count and no study word ("no bar on the obliques",
        # "anterior drawer 1+") refers to a view or is not one: it does not add to a stated count
        listing = bool(f.view_counts or f.study_noun) or section in ("technique", "title")
        for name, s, e in f.projections:
            if name not in views.projections:
                views.projections[name] = _ev(text, base + s, base + e)
                if not listing and section in ("findings", "impression"):
                    views.in_read.add(name)
            if listing:
                views.listed.add(name)
            if f.regions:   # "AP and lateral views of the lumbar spine": the projections of that region
                region = _region_of(f, s, e)
                views.region_projections[region] = views.region_projections.get(region, frozenset()) | {name}
        for region, s, e, imaging in f.regions:
            strong = imaging or section in ("title", "technique")
            if region in self.title_only_regions and not (section in ("title", "technique") or i == 0 or imaging):
                continue
            tier = self.regions.strong if strong else self.regions.weak
            if region not in tier:
                tier[region] = _ev(text, base + s, base + e)
        if (f.parts or f.side_field) and section not in self.future_sections:
            self._fold_parts(f, section, base, i)
        for level in f.levels:
            if level.label not in lvs.first_seen:
                lvs.first_seen[level.label] = _ev(text, base + level.start, base + level.end)
        contrast = self.contrast
        for value, s, e in f.contrast:
            if value not in contrast.seen:
                contrast.seen[value] = _ev(text, base + s, base + e)
            if section not in self.ordered_sections and i > 0:    # the first line names the study ordered
                contrast.done[value] = True
        if f.reduced:
            views.reduced.append(_ev(text, base + f.reduced[0], base + f.reduced[1]))
        for cue in f.encounter:
            reason.encounter_cues.setdefault(cue, i)
        reason.duration_weeks = max(reason.duration_weeks, f.duration_weeks)
        if f.age and reason.age is None:
            reason.age = f.age
        if f.header and f.header[0] == "findings":
            findings.header = (i, has_content)
            findings.after = False
        # a line that only says who dictated, read or signed is neither a finding nor a conclusion
        if has_content and (f.name_line or any((r.span[1] - r.span[0]) * 2 >= len(content_text)
                                               for r in f.roles)):
            has_content = False
        if section == "findings" and has_content:
            findings.evidence.append(_ev(text, base + content_start, span.end))
        elif section not in self.no_findings and f.finding_vocab:
            findings.evidence.append(_ev(text, base + content_start, span.end))
        elif has_content and f.finding_vocab and f.imaging_statement and \
                section not in ("impression", "comparison", "plan", "signature", "ordering", "technique"):
            # a sentence that says what the images show is a finding wherever it stands ("AP and lateral
            # views taken in clinic show normal alignment", in a clinic note's exam)
            findings.evidence.append(_ev(text, base + content_start, span.end))
        if section in ("impression", "assessment"):
            imp = self.impression
            if f.header and f.header[0] in ("impression", "assessment") and imp.header is None:
                imp.header = _ev(text, base, base + content_start)
            if has_content and (section == "impression" or f.imaging_statement or
                                any(m.assertion == "present" and self.imaging_finding(m.concept) for m in f.mentions)):
                imp.evidence.append(_ev(text, base + content_start, span.end))

    def _fold_parts(self, f: SentenceFacts, section: str, base: int, i: int) -> None:
        parts, text = self.parts, self.text
        study = section == "technique" or (i == 0 and section not in self.reason_roles)
        for part, s, e, imaging, side in f.parts:
            study = study or imaging
            tier = parts.strong if study else parts.weak
            tier.setdefault(part, _ev(text, base + s, base + e))
            if side is not None:
                parts.sides.setdefault((part, side, study), _ev(text, base + s, base + e))
        if f.side_field:
            side, s, e = f.side_field
            parts.field_side.setdefault(side, _ev(text, base + s, base + e))

    def _sides(self, note: Note) -> None:
        """The side of each part imaged: what the lines naming the study say (its title, its technique,
        a sentence with the views), else what the rest of the note says of that part; sides said
        apart of one part in the study lines are both sides; a note that names both sides of a
        part only outside them leaves the side unclear."""
        parts = self.parts
        for part in note.parts:
            for strong in (True, False):
                found = {side: ev for (p, side, st), ev in parts.sides.items() if p == part and st == strong}
                if strong:
                    found.update(parts.field_side)
                if not found:
                    continue
                if "both" in found or {"right", "left"} <= set(found):
                    note.sides[part] = "both" if strong or ("both" in found and len(found) == 1) else "unclear"
                else:
                    note.sides[part] = next(iter(found))
                note.side_evidence[part] = list(found.values())
                break

    # -- the note -------------------------------------------------------------------------------
    def note(self, spans) -> Note:
        text = self.text
        ms, lvs, views, findings = self.mentions, self.levels, self.views, self.findings
        note = Note(text=text, sections=list(self.sectionizer.sections), mentions=list(ms.all))
        note.indication_headers = list(self.reason.headers)
        note.comparison_evidence = list(self.comparison.evidence)
        note.signature_evidence = list(self.signature.evidence)
        note.unsigned_evidence = list(self.signature.unsigned)
        note.ordering_evidence = list(self.ordering.evidence)
        note.reduced_evidence = list(views.reduced)
        note.impression_evidence = list(self.impression.evidence)
        note.indication_text_present = self.reason.text_present
        note.impression_header = self.impression.header
        note.duration_weeks = self.reason.duration_weeks
        note.age = self.reason.age
        note.reason_mentions = list(ms.reason)
        note.findings_evidence = list(findings.evidence)
        # each line that names a study ("EXAM: XR LUMBAR SPINE AP/LAT (accession ...)") opens one
        note.study_evidence = [_ev(text, spans[i].start, spans[i].end)
                               for i, section in enumerate(self.sectionizer.sections)
                               if section == "title" and i < len(spans) and spans[i].starts_line]
        if findings.header and not findings.header[1] and not findings.after:
            i = findings.header[0]
            note.findings_header_empty = _ev(text, spans[i].start, spans[i].end)
            note.findings_evidence = []
        part_tier = self.parts.strong or self.parts.weak
        note.parts = list(part_tier)      # in the order the note names them (its title first)
        note.part_evidence = [part_tier[p] for p in note.parts]
        note.parts_imaged = bool(self.parts.strong)
        self._sides(note)
        # views: the explicit count wins when it covers the listed projections
        projections = views.projections
        names = sorted(projections)
        if views.listed and views.in_read - views.listed:
            # the read names a view in passing ("pars intact on the laterals") after the study's own list
            # ("flexion and extension lateral views"): the view it names is one of those, not another
            names = [p for p in names if p in views.listed or p not in views.in_read]
        note.projections = names
        note.positions = [p for p in names if p in self.dynamic]
        note.position_evidence = [projections[p] for p in note.positions]
        best = views.best
        listed = len(names)
        if note.parts and not self.regions.strong:
            # one phrase a limb's study takes as one view ("AP, lateral and oblique views of the foot")
            for group in self.one_view:
                said = [projections[p] for p in group if p in projections]
                if len(said) == len(group) > 1 and len({ev.start for ev in said}) == 1:
                    listed -= len(group) - 1
        if best and (best[0] >= listed or best[0] >= len(views.listed & set(names)) > 0):
            note.views = best[0]
            note.view_evidence = [best[1]] + [projections[p] for p in names]
        elif names:
            note.views = listed
            note.view_evidence = [projections[p] for p in names]
        levels = lvs.first_seen
        tier = self.regions.strong or self.regions.weak
        note.region_from_levels = tuple(levels) if not tier else ()
        if not tier and levels:
            # no region named: the region most of the documented levels belong to
            counts: dict[str, int] = {}
            first: dict[str, Evidence] = {}
            for label, ev in levels.items():
                region = self.level_regions[label[0]]
                counts[region] = counts.get(region, 0) + 1
                first.setdefault(region, ev)
            top = max(counts.values())
            tier = {r: first[r] for r, n in counts.items() if n == top}
            if set(tier) == {"thoracic", "lumbosacral"}:
                tier = {"thoracolumbar": next(iter(tier.values()))}
        regions = sorted(tier)
        note.documented_regions = list(regions)
        note.region_views = {**{r: len(names) for r, names in views.region_projections.items()}, **views.region_views}
        for region, absorbed in self.region_folds:     # the wider study takes in what it images
            if region in regions:
                regions = [r for r in regions if r == region or ("*" not in absorbed and r not in absorbed)]
        # a limb study that images a spine-family region as its own view ("hip with pelvis", a hip
        # series' AP pelvis) documents its part, not that region
        taken_in = {r for part in self.parts.strong for r in self.part_regions.get(part, ())}
        # ... unless the region's own view is all the study has ("AP pelvis x1" of a hip follow-up)
        if taken_in and (note.views is None or note.views > 1 or len(note.projections) > 1):
            regions = [r for r in regions if r not in taken_in]
        note.regions = regions
        note.region_evidence = [tier[r] for r in regions]
        note.levels = list(levels)
        note.level_evidence = list(levels.values())
        contrast = self.contrast.seen
        done = {v: ev for v, ev in contrast.items() if v in self.contrast.done}
        if set(done) == {"without"} and len(contrast) > 1:
            # the title names the study ordered; when the technique or the read says none was given
            # (declined, not obtained), the study was done without
            contrast = done
        if "intrathecal" in contrast:   # CT myelography is coded with contrast, IV contrast or not
            note.contrast = "without_with" if "without_with" in contrast else "with"
        elif "without_with" in contrast or ("without" in contrast and "with" in contrast):
            note.contrast = "without_with"
        elif contrast:
            note.contrast = next(iter(contrast))
        note.contrast_evidence = list(contrast.values())
        note.signed = bool(note.signature_evidence)
        order = self.ordering
        if note.signed and not note.ordering_evidence and order.own_office:
            # the signing author of an office note who took the films ordered them (contract 1.1)
            note.ordering_evidence = list(order.own_office[:1])
        elif note.signed and not note.ordering_evidence and ((order.clinic and (order.today or note.views))
                                                             or (order.told and order.today)):
            # a clinic note (a visit, an exam, an assessment, a plan) that reports its own films: the
            # signing author ordered them (contract 1.1: clinic notes with an in-office read); so does a
            # visit told in running text whose films were taken today
            note.ordering_evidence = list(order.today[:1]) or list(note.view_evidence[:1])
        elif note.signed and not note.ordering_evidence and order.treating and not order.for_another:
            # signed by a treating clinician (a chiropractor, a podiatrist, a nurse practitioner), who
            # reads the films of their own patient: the signing author ordered them (contract 1.1)
            note.ordering_evidence = list(order.treating[:1])
        note.encounter = next((cue for cue in self.encounter_priority if cue in self.reason.encounter_cues),
                              self.encounter_default)
        note.earlier_levels = list(lvs.earlier)
        note.first_level = lvs.first
        note.claudication = ms.claudication
        return note
