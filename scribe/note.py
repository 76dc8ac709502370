"""Aggregate per-sentence facts into the facts of a whole note.

Rules read a `Note`, never raw text. Building a `Note` is a single pass over the
sentences' cached facts, so the streaming session re-analyses only the sentences a
change touched and then re-aggregates.
"""
from __future__ import annotations

import re

from dataclasses import dataclass, field, replace
from typing import Any

from .nlp.facts import SentenceFacts
from .nlp.sections import SINGLE_LINE

# what joins a view to the region it shows right after it: "lateral of the", "views of the", "coned lateral lumbosacral"
_OF_THE = re.compile(r"[\s-]*(?:[a-z-]+[\s-]+){0,2}?(?:(?:of|through|at)\s+(?:the\s+)?)?$", re.I)
_LABELLED = re.compile(r"\s*[A-Z][A-Za-z ()/-]{1,40}:")     # a line under a label of its own ("FINAL REPORT:")
from .types import Evidence, Indication



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
    earlier_levels: list = field(default_factory=list)   # per sentence: the last level before it
    first_level: tuple | None = None
    claudication: bool = False

    def facts(self) -> dict[str, Any]:
        return {"views": self.views, "positions": self.positions, "region": self.regions,
                "levels": self.levels, "contrast": self.contrast, "signed": self.signed,
                "sections": sorted({s for s in self.sections if s not in ("narrative", "other")}),
                "projections": self.projections}


def _without_study_facts(f: SentenceFacts) -> SentenceFacts:
    return replace(f, view_counts=[], projections=[], contrast=[], reduced=None)


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


class NoteAggregator:
    """The per-sentence facts of a note folded, in order, into the facts of the note.

    The fold keeps a checkpoint every ``EVERY`` sentences (list lengths, copies of the
    small vocabulary-bounded maps, scalars), so a live dictation that changes sentence
    ``k`` rewinds to the checkpoint before ``k`` and folds only from there: the cost of
    a segment depends on the change, not on the length of the note. ``note()`` then
    assembles a `Note` from the folded state; only vocabulary-sized work happens there.
    """

    EVERY = 16
    _LISTS = ("sections", "mentions", "reason_mentions", "indication_headers", "comparison_evidence",
              "signature_evidence", "unsigned_evidence", "ordering_evidence", "reduced_evidence",
              "findings_evidence", "impression_evidence", "earlier_levels", "own_office_evidence",
              "today_evidence")
    _MAPS = ("abbreviations", "projections", "regions_strong", "regions_weak", "levels", "contrast", "region_views",
             "region_projections", "contrast_done")
    _SCALARS = ("current", "last_multiline", "indication_text_present", "impression_header", "best_view",
                "duration_weeks", "age", "findings_header", "findings_after", "last_level", "first_level",
                "claudication", "in_prior", "last_end", "signer_before", "clinic", "n")

    def __init__(self, *, encounter_priority: list[str], dynamic: frozenset[str], abbreviation_concept,
                 empty_content, placeholder, level_regions: dict[str, str], roles: dict[str, frozenset[str]],
                 title_only_regions: frozenset[str], imaging_finding, region_folds=(),
                 encounter_default: str | None = None):
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
        self.future_sections = roles.get("future", frozenset())
        self.exam_sections = roles.get("examination", frozenset())
        self.ordered_sections = roles.get("ordered", frozenset())
        self.clinic_sections = roles.get("clinic", frozenset())
        self.title_only_regions = title_only_regions
        self.region_folds = region_folds
        self.imaging_finding = imaging_finding
        self.text = ""
        self.folded = 0
        self.stable_mentions = 0
        self.linked: tuple = (None, [])       # (link context, indications of self.mentions), kept by the engine
        self._reset()

    def _reset(self) -> None:
        for name in self._LISTS:
            setattr(self, name, [])
        for name in self._MAPS:
            setattr(self, name, {})
        self.encounter_cues: dict[str, int] = {}      # cue -> first sentence (for rewinding)
        self.current: str | None = None
        self.in_prior = False        # inside a pasted earlier report
        self.signer_before = None    # (start, sentence) of the last line naming a signer
        self.clinic = False          # the note has a clinic note's sections
        self.last_end = 0
        self.last_multiline: str | None = None
        self.indication_text_present = False
        self.impression_header: Evidence | None = None
        self.best_view: tuple[int, Evidence] | None = None
        self.duration_weeks = 0.0
        self.age: int | None = None
        self.findings_header: tuple[int, bool] | None = None
        self.findings_after = False
        self.last_level = None
        self.first_level = None
        self.claudication = False
        self.n = 0
        self._checkpoints: list[tuple] = []

    # -- checkpoints ------------------------------------------------------------------------
    def _save(self) -> None:
        self._checkpoints.append((tuple(len(getattr(self, name)) for name in self._LISTS),
                                  tuple(dict(getattr(self, name)) for name in self._MAPS),
                                  dict(self.encounter_cues),
                                  tuple(getattr(self, name) for name in self._SCALARS)))

    def _rewind(self, keep: int) -> None:
        """Forget every sentence from ``keep`` on, resuming at the last checkpoint before it."""
        while self._checkpoints and self._checkpoints[-1][3][-1] > keep:
            self._checkpoints.pop()
        if not self._checkpoints:
            self._reset()
            return
        lengths, maps, cues, scalars = self._checkpoints[-1]
        for name, length in zip(self._LISTS, lengths):
            del getattr(self, name)[length:]
        for name, saved in zip(self._MAPS, maps):
            setattr(self, name, dict(saved))
        self.encounter_cues = dict(cues)
        for name, value in zip(self._SCALARS, scalars):
            setattr(self, name, value)

    def update(self, text: str, spans, facts: list[SentenceFacts], keep: int = 0) -> None:
        """Fold ``facts`` (of ``spans`` in ``text``); sentences before ``keep`` are those of
        the previous call, unchanged (same text up to their end)."""
        self._rewind(min(keep, self.n))
        self.text = text
        self.folded = len(facts) - self.n     # sentences (re)folded by this call
        self.stable_mentions = len(self.mentions)   # mentions of sentences this call left alone
        for i in range(self.n, len(facts)):
            if i % self.EVERY == 0 and (not self._checkpoints or self._checkpoints[-1][3][-1] < i):
                self._save()
            self._fold(i, spans[i], facts[i])
            self.n = i + 1

    # -- the fold -----------------------------------------------------------------------------
    def _section(self, i: int, span, f: SentenceFacts) -> str:
        blank_before = "\n\n" in self.text[self.last_end:span.start].replace(" ", "").replace("\t", "")
        self.last_end = span.end
        if span.starts_line and f.prior_block == "open":
            self.in_prior = True
        elif self.in_prior and span.starts_line and (f.prior_block == "close" or (blank_before and f.upper_title)):
            self.in_prior = False
        if self.in_prior:
            return "prior"       # a pasted earlier report: its headers are its own, not this study's
        header = f.header[0] if f.header else None
        if header == "plan" and (i == 0 or f.upper_title):
            # a visit's first line ("Follow-up: L4-5 spondylolisthesis") or a study title
            # ("FOLLOW-UP: XR THORACOLUMBAR JUNCTION, 2 VIEWS") names the visit or the study
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
        if header is None and span.starts_line and current == "comparison" and not f.comparison and \
                (f.view_counts or f.projections or (f.finding_vocab and not _LABELLED.match(f.text))):
            # a new line after the comparison that lists projections or says what the images show
            # describes this study's images
            current = "findings"
        listed = bool(f.view_counts or f.projections)
        described = f.finding_vocab and (listed or ":" in f.text.rstrip()[:-1])
        if header is None and span.starts_line and f.imaging_noun and (
                (current in self.read_opens_in and (listed or described))
                or (current in self.described_read_opens_in and described)):
            # an office note's line that reports the films ("XR L-spine 2 views (AP/lat) done in office
            # today", "X-rays taken here, reviewed: alignment normal") opens the imaging read, though it
            # has no header; after a diagnosis only when it says what they show
            current = "imaging"
        self.current = current
        if current not in SINGLE_LINE:
            self.last_multiline = current
        return current

    def _fold(self, i: int, span, f: SentenceFacts) -> None:
        text = self.text
        section = self._section(i, span, f)
        self.sections.append(section)
        base = span.start
        content_start = f.header[1] if f.header else 0
        content_text = f.text[content_start:].strip(" .:-\t")
        # a template field left unfilled ("[ ]", "***", "________") says nothing
        has_content = bool(content_text) and not self.placeholder.fullmatch(content_text)
        self.earlier_levels.append(self.last_level)
        if section == "prior":
            return
        if f.levels:
            lv = f.levels[-1]
            self.last_level = (lv[1], lv[4], lv[2])
            if self.first_level is None:
                first = f.levels[0]
                self.first_level = (first[1], first[4], first[2])
        mentions = [NoteMention(m.concept, base + m.start, base + m.end, m.assertion, section, i, m.match)
                    for m in f.mentions]
        for short, long in f.abbreviations:
            concept = self.abbreviation_concept(long)
            if concept:
                self.abbreviations[short] = concept
        if self.abbreviations and f.caps:
            for word, s, e, assertion in f.caps:
                concept = self.abbreviations.get(word)
                if concept and not any(m.start <= base + s < m.end for m in mentions):
                    mentions.append(NoteMention(concept, base + s, base + e, assertion, section, i, "abbreviation"))
        if len(mentions) > 1:
            mentions.sort(key=lambda m: m.start)
        self.mentions.extend(mentions)
        if section in self.reason_roles:
            self.reason_mentions.extend(mentions)
        for m in mentions:
            if m.concept == "neurogenic_claudication" and m.assertion == "present":
                self.claudication = True
        if section in ("indication", "history"):
            if f.header:
                self.indication_headers.append(_ev(text, base, span.end))
            content = f.text[content_start:].strip(" .:-\t")
            bare = content.strip(" []()<>{}*_") or content      # "[NOT PROVIDED]" says "not provided"
            if content and not self.empty_content.fullmatch(bare) and not self.placeholder.fullmatch(content):
                self.indication_text_present = True
        if self.findings_header is not None and section == "findings" and f.text.strip() and not f.header:
            self.findings_after = True
        if f.signature:
            self.signature_evidence.append(_ev(text, base + f.signature[0], base + f.signature[1]))
        elif self.signer_before is not None and has_content and \
                any(role == "signature" and assertion == "present" and s <= 3 for role, s, _, assertion in f.bare_cues):
            # a signature block: the name on its own line (or a read by a named physician) just
            # before "Electronically signed 10/01/2025"
            self.signature_evidence.append(_ev(text, self.signer_before[0], base + len(f.text)))
        if f.name_line or any(r.role in ("interpreting", "signature") and r.assertion == "present" for r in f.roles):
            self.signer_before = (base, i)
        elif self.signer_before is not None and i - self.signer_before[1] > 2:
            self.signer_before = None
        if f.unsigned:
            self.unsigned_evidence.append(_ev(text, base + f.unsigned[0], base + f.unsigned[1]))
        # an ordering field left empty ("Ordering physician: [ ]") names nobody
        if (f.ordering and (has_content or f.header is None)) or (section == "ordering" and has_content):
            s, e = f.ordering or (0, len(f.text))
            self.ordering_evidence.append(_ev(text, base + s, base + e))
        if f.own_office and section != "comparison":
            self.own_office_evidence.append(_ev(text, base + f.own_office[0], base + f.own_office[1]))
        if f.acquired_today and section not in ("comparison", "plan"):
            self.today_evidence.append(_ev(text, base + f.acquired_today[0], base + f.acquired_today[1]))
        if section in self.clinic_sections or f.clinic_note:
            self.clinic = True
        if section == "comparison":
            # the rest describes the prior study; a signature or an ordering provider dictated
            # on after "comparison none" (no line break) still counts
            if has_content or (f.header and not content_text):
                self.comparison_evidence.append(_ev(text, base, span.end))
            return
        if f.comparison:
            self.comparison_evidence.append(_ev(text, base + f.comparison[0], base + f.comparison[1]))
        if section in self.future_sections:
            f = _without_study_facts(f)   # a plan orders what is not done yet: its views and contrast never count
        elif section in self.exam_sections and not f.imaging_noun and f.projections:
            # a physical examination's manoeuvres ("pain with extension", "+ stork test") are not views
            f = replace(f, projections=[])
        for n, s, e in f.view_counts:
            if self.best_view is None or n > self.best_view[0]:
                self.best_view = (n, _ev(text, base + s, base + e))
            if f.regions:   # "scoliosis series 1 view and lumbar spine 2 views": each count to its region
                region = _region_of(f, s, e)
                seen = self.region_views.get(region)
                if seen is None or n > seen:
                    self.region_views[region] = n
        for name, s, e in f.projections_not_taken:
            # said later as not taken: an earlier mention (an order, a request) did not take it
            self.projections.pop(name, None)
        for name, s, e in f.projections:
            if name not in self.projections:
                self.projections[name] = _ev(text, base + s, base + e)
            if f.regions:   # "AP and lateral views of the lumbar spine": the projections of that region
                region = _region_of(f, s, e)
                self.region_projections[region] = self.region_projections.get(region, frozenset()) | {name}
        for region, s, e, imaging in f.regions:
            strong = imaging or section in ("title", "technique")
            if region in self.title_only_regions and not (section in ("title", "technique") or i == 0 or imaging):
                continue
            tier = self.regions_strong if strong else self.regions_weak
            if region not in tier:
                tier[region] = _ev(text, base + s, base + e)
        for label, _region, s, e, _vertebra in f.levels:
            if label not in self.levels:
                self.levels[label] = _ev(text, base + s, base + e)
        for value, s, e in f.contrast:
            if value not in self.contrast:
                self.contrast[value] = _ev(text, base + s, base + e)
            if section not in self.ordered_sections and i > 0:    # the first line names the study ordered
                self.contrast_done[value] = True
        if f.reduced:
            self.reduced_evidence.append(_ev(text, base + f.reduced[0], base + f.reduced[1]))
        for cue in f.encounter:
            self.encounter_cues.setdefault(cue, i)
        self.duration_weeks = max(self.duration_weeks, f.duration_weeks)
        if f.age and self.age is None:
            self.age = f.age
        if f.header and f.header[0] == "findings":
            self.findings_header = (i, has_content)
            self.findings_after = False
        # a line that only says who dictated, read or signed is neither a finding nor a conclusion
        if has_content and (f.name_line or any((r.span[1] - r.span[0]) * 2 >= len(content_text)
                                               for r in f.roles)):
            has_content = False
        if section == "findings" and has_content:
            self.findings_evidence.append(_ev(text, base + content_start, span.end))
        elif section not in self.no_findings and f.finding_vocab:
            self.findings_evidence.append(_ev(text, base + content_start, span.end))
        elif has_content and f.finding_vocab and f.imaging_statement and \
                section not in ("impression", "comparison", "plan", "signature", "ordering", "technique"):
            # a sentence that says what the images show is a finding wherever it stands ("AP and lateral
            # views taken in clinic show normal alignment", in a clinic note's exam)
            self.findings_evidence.append(_ev(text, base + content_start, span.end))
        if section in ("impression", "assessment"):
            if f.header and f.header[0] in ("impression", "assessment") and self.impression_header is None:
                self.impression_header = _ev(text, base, base + content_start)
            if has_content and (section == "impression" or f.imaging_statement or
                                any(m.assertion == "present" and self.imaging_finding(m.concept) for m in f.mentions)):
                self.impression_evidence.append(_ev(text, base + content_start, span.end))

    # -- the note -------------------------------------------------------------------------------
    def note(self, spans) -> Note:
        text = self.text
        note = Note(text=text, sections=list(self.sections), mentions=list(self.mentions))
        for name in ("indication_headers", "comparison_evidence", "signature_evidence", "unsigned_evidence",
                     "ordering_evidence", "reduced_evidence", "impression_evidence"):
            setattr(note, name, list(getattr(self, name)))
        note.indication_text_present = self.indication_text_present
        note.impression_header = self.impression_header
        note.duration_weeks = self.duration_weeks
        note.age = self.age
        note.reason_mentions = list(self.reason_mentions)
        note.findings_evidence = list(self.findings_evidence)
        # each line that names a study ("EXAM: XR LUMBAR SPINE AP/LAT (accession ...)") opens one
        note.study_evidence = [_ev(text, spans[i].start, spans[i].end) for i, section in enumerate(self.sections)
                               if section == "title" and i < len(spans) and spans[i].starts_line]
        if self.findings_header and not self.findings_header[1] and not self.findings_after:
            i = self.findings_header[0]
            note.findings_header_empty = _ev(text, spans[i].start, spans[i].end)
            note.findings_evidence = []
        # views: the explicit count wins when it covers the listed projections
        projections = self.projections
        names = sorted(projections)
        note.projections = names
        note.positions = [p for p in names if p in self.dynamic]
        note.position_evidence = [projections[p] for p in note.positions]
        best = self.best_view
        if best and best[0] >= len(names):
            note.views = best[0]
            note.view_evidence = [best[1]] + [projections[p] for p in names]
        elif names:
            note.views = len(names)
            note.view_evidence = [projections[p] for p in names]
        levels = self.levels
        tier = self.regions_strong or self.regions_weak
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
        note.region_views = {**{r: len(names) for r, names in self.region_projections.items()}, **self.region_views}
        for region, absorbed in self.region_folds:     # the wider study takes in what it images
            if region in regions:
                regions = [r for r in regions if r == region or ("*" not in absorbed and r not in absorbed)]
        note.regions = regions
        note.region_evidence = [tier[r] for r in regions]
        note.levels = list(levels)
        note.level_evidence = list(levels.values())
        contrast = self.contrast
        done = {v: ev for v, ev in contrast.items() if v in self.contrast_done}
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
        if note.signed and not note.ordering_evidence and self.own_office_evidence:
            # the signing author of an office note who took the films ordered them (contract 1.1)
            note.ordering_evidence = list(self.own_office_evidence[:1])
        elif note.signed and not note.ordering_evidence and self.clinic and (self.today_evidence or note.views):
            # a clinic note (a visit, an exam, an assessment, a plan) that reports its own films: the
            # signing author ordered them (contract 1.1: clinic notes with an in-office read)
            note.ordering_evidence = list(self.today_evidence[:1]) or list(note.view_evidence[:1])
        note.encounter = next((cue for cue in self.encounter_priority if cue in self.encounter_cues),
                              self.encounter_default)
        note.earlier_levels = list(self.earlier_levels)
        note.first_level = self.first_level
        note.claudication = self.claudication
        return note
