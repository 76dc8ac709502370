"""Aggregate per-sentence facts into the facts of a whole note.

Rules read a `Note`, never raw text. Building a `Note` is a single pass over the
sentences' cached facts, so the streaming session re-analyses only the sentences a
change touched and then re-aggregates.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .nlp.facts import SentenceFacts
from .nlp.sections import assign_sections
from .types import CodeCandidate, Evidence, Indication



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
    projections: list[str] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)
    position_evidence: list[Evidence] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    region_evidence: list[Evidence] = field(default_factory=list)
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

    def facts(self) -> dict[str, Any]:
        return {"views": self.views, "positions": self.positions, "region": self.regions,
                "levels": self.levels, "contrast": self.contrast, "signed": self.signed,
                "sections": sorted({s for s in self.sections if s not in ("narrative", "other")}),
                "projections": self.projections}


def _ev(text: str, start: int, end: int) -> Evidence:
    while start < end and text[start].isspace():
        start += 1
    return Evidence(start, end, text[start:end])


def build_note(text: str, spans, facts: list[SentenceFacts], *, encounter_priority: list[str],
               dynamic: frozenset[str], abbreviation_concept, empty_content,
               level_regions: dict[str, str], roles: dict[str, frozenset[str]],
               title_only_regions: frozenset[str], imaging_finding) -> Note:
    headers = [f.header[0] if f.header else None for f in facts]
    sections = assign_sections(headers, [s.starts_line for s in spans], [f.imaging_noun for f in facts])
    note = Note(text=text, sections=sections, mentions=[])
    explicit: list[tuple[int, Evidence]] = []
    projections: dict[str, Evidence] = {}
    region_tiers: tuple[dict[str, Evidence], dict[str, Evidence]] = ({}, {})
    levels: dict[str, Evidence] = {}
    contrast: dict[str, Evidence] = {}
    encounter_cues: set[str] = set()
    abbreviations: dict[str, str] = {}
    findings_header: tuple[int, bool] | None = None
    for i, (span, f) in enumerate(zip(spans, facts)):
        base, section = span.start, sections[i]
        content_start = f.header[1] if f.header else 0
        has_content = bool(f.text[content_start:].strip(" .:-\t"))
        for m in f.mentions:
            nm = NoteMention(m.concept, base + m.start, base + m.end, m.assertion, section, i, m.match)
            note.mentions.append(nm)
        for short, long in f.abbreviations:
            concept = abbreviation_concept(long)
            if concept:
                abbreviations[short] = concept
        if abbreviations:
            for word, s, e, assertion in f.caps:
                concept = abbreviations.get(word)
                if concept and not any(m.start <= base + s < m.end for m in note.mentions):
                    note.mentions.append(NoteMention(concept, base + s, base + e, assertion, section, i, "abbreviation"))
        if section in ("indication", "history"):
            if f.header:
                note.indication_headers.append(_ev(text, base, span.end))
            content = f.text[content_start:].strip(" .:-\t")
            if content and not empty_content.fullmatch(content):
                note.indication_text_present = True
        if section == "comparison":
            if has_content or f.header:
                note.comparison_evidence.append(_ev(text, base, span.end))
            continue
        if f.comparison:
            note.comparison_evidence.append(_ev(text, base + f.comparison[0], base + f.comparison[1]))
        for n, s, e in f.view_counts:
            explicit.append((n, _ev(text, base + s, base + e)))
        for name, s, e in f.projections:
            projections.setdefault(name, _ev(text, base + s, base + e))
        for region, s, e, imaging in f.regions:
            tier = 0 if (imaging or section in ("title", "technique")) else 1
            if region in title_only_regions and not (section in ("title", "technique") or (i == 0) or imaging):
                continue
            region_tiers[tier].setdefault(region, _ev(text, base + s, base + e))
        for label, _region, s, e, _vertebra in f.levels:
            levels.setdefault(label, _ev(text, base + s, base + e))
        for value, s, e in f.contrast:
            contrast.setdefault(value, _ev(text, base + s, base + e))
        if f.signature:
            note.signature_evidence.append(_ev(text, base + f.signature[0], base + f.signature[1]))
        if f.unsigned:
            note.unsigned_evidence.append(_ev(text, base + f.unsigned[0], base + f.unsigned[1]))
        if f.ordering or section == "ordering" and has_content:
            s, e = f.ordering or (0, len(f.text))
            note.ordering_evidence.append(_ev(text, base + s, base + e))
        if f.reduced:
            note.reduced_evidence.append(_ev(text, base + f.reduced[0], base + f.reduced[1]))
        encounter_cues.update(f.encounter)
        note.duration_weeks = max(note.duration_weeks, f.duration_weeks)
        if f.age and note.age is None:
            note.age = f.age
        # findings and impression
        if f.header and f.header[0] == "findings":
            findings_header = (i, has_content)
        if section == "findings" and has_content:
            note.findings_evidence.append(_ev(text, base + content_start, span.end))
        elif section not in roles["no_findings"] and f.finding_vocab:
            note.findings_evidence.append(_ev(text, base + content_start, span.end))
        if section in ("impression", "assessment"):
            if f.header and f.header[0] in ("impression", "assessment") and note.impression_header is None:
                note.impression_header = _ev(text, base, base + content_start)
            if has_content and (section == "impression" or f.imaging_statement or
                                any(m.assertion == "present" and imaging_finding(m.concept) for m in f.mentions)):
                note.impression_evidence.append(_ev(text, base + content_start, span.end))
    if findings_header and not findings_header[1]:
        i = findings_header[0]
        if not any(sections[j] == "findings" and facts[j].text.strip() and not facts[j].header for j in range(i + 1, len(facts))):
            note.findings_header_empty = _ev(text, spans[i].start, spans[i].end)
            note.findings_evidence = []
    # views: the explicit count wins when it covers the listed projections
    names = sorted(projections)
    note.projections = names
    note.positions = [p for p in names if p in dynamic]
    note.position_evidence = [projections[p] for p in note.positions]
    best = max(explicit, key=lambda x: x[0]) if explicit else None
    if best and best[0] >= len(names):
        note.views = best[0]
        note.view_evidence = [best[1]] + [projections[p] for p in names]
    elif names:
        note.views = len(names)
        note.view_evidence = [projections[p] for p in names]
    tier = region_tiers[0] or region_tiers[1]
    if not tier and levels:
        # no region named: the region most of the documented levels belong to
        counts: dict[str, int] = {}
        first: dict[str, Evidence] = {}
        for label, ev in levels.items():
            region = level_regions[label[0]]
            counts[region] = counts.get(region, 0) + 1
            first.setdefault(region, ev)
        top = max(counts.values())
        tier = {r: first[r] for r, n in counts.items() if n == top}
        if set(tier) == {"thoracic", "lumbosacral"}:
            tier = {"thoracolumbar": next(iter(tier.values()))}
    regions = sorted(tier)
    if "entire_spine" in regions:
        regions = ["entire_spine"]
    elif "thoracolumbar" in regions:
        regions = [r for r in regions if r not in ("thoracic", "lumbosacral")]
    note.regions = regions
    note.region_evidence = [tier[r] for r in regions]
    note.levels = list(levels)
    note.level_evidence = list(levels.values())
    if "without_with" in contrast or ("without" in contrast and "with" in contrast):
        note.contrast = "without_with"
    elif contrast:
        note.contrast = next(iter(contrast))
    note.contrast_evidence = list(contrast.values())
    note.signed = bool(note.signature_evidence)
    for cue in encounter_priority:
        if cue in encounter_cues:
            note.encounter = cue
            break
    note.mentions.sort(key=lambda m: m.start)
    note.reason_mentions = [m for m in note.mentions if m.section in roles["reason"]]
    return note
