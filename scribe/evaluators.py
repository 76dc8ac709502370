"""Check kinds: small pure functions, one per ``check`` named in ``lexicons/rules.toml``.

Each takes a `Context` (the note's facts, the encounter, the code tables) and the
rule's ``params`` and returns `Hit`s: the values that fill the rule's message and
fix templates, the evidence, and the CPT/ICD-10 code the gap is about. Evaluators
never read raw text and never word a message: the templates live with the rule.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

from .types import Evidence

REASON_ASSERTIONS = frozenset({"present", "possible", "historical"})


@dataclass
class Hit:
    params: dict[str, Any] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    cpt: str | None = None
    icd10: str | None = None
    line: int | None = None       # the claim line the hit is about, when the lines' modifiers differ


@dataclass
class Context:
    note: Any
    encounter: Any
    cpt: Any                      # CptRequirements
    codeset: Any                  # IcdCodeSet
    support: dict[str, Any]
    concepts: dict[str, Any]      # concept name -> Concept
    tags: dict[str, frozenset[str]]
    pair_rules: list[Any]         # (family, PairRule)
    imported_pairs: Any           # NcciEdits or None
    laterality_modifiers: frozenset[str]
    distinct_modifiers: frozenset[str]
    region_labels: dict[str, str]
    code_family: dict[str, str] = field(default_factory=dict)   # CPT code -> its family
    covers: frozenset[str] = frozenset()   # every code prefix some concept covers
    support_prefixes: dict[str, tuple[str, ...]] = field(default_factory=dict)   # necessity class -> code prefixes
    documenting_cache: dict[str, frozenset[str]] = field(default_factory=dict)    # code -> concepts documenting it
    region_said_before: re.Pattern[str] | None = None   # a region word right before a condition ("left lumbar ...")
    side_modifiers: dict[str, str] = field(default_factory=dict)   # digit modifiers that name a side (F5: right)
    part_patterns: tuple = ()     # (part, pattern) of the families' body parts, to read a code's description
    reason_before_read: frozenset[str] = frozenset()   # reason sections written before the images are read
    condition_words: Any = None   # description -> the words naming the condition (TermIndex.condition_words)
    words_of: Any = None          # note text -> its content words as the code set says them (TermNormalizer.words_of)

    @property
    def parts_strong(self) -> bool:
        """The note names a limb part with its imaging (not only in passing)."""
        return bool(getattr(self.note, "parts_imaged", False))

    @cached_property
    def code_pairs(self) -> list[tuple[str, Any]]:
        """(candidate code, indication) for every indication of the note, once per check."""
        return [(cand.code, ind) for ind in self.note.indications for cand in ind.icd10]

    @cached_property
    def linked_code(self) -> dict[tuple[int, int], str]:
        """The code each indication span was linked to (its first candidate)."""
        return {(ind.start, ind.end): ind.icd10[0].code for ind in self.note.indications if ind.icd10}

    @property
    def chosen(self):
        return [c for c in (self.cpt.get(code) for code in self.encounter.cpt) if c is not None]

    def mod(self, m: str) -> bool:
        return m in self.encounter.modifiers

    @cached_property
    def claim_lines(self) -> list[tuple[int, Any, Any]]:
        """(index, line, CPT requirements) for every claim line of a code scribe checks."""
        out = []
        for i, line in enumerate(self.encounter.lines):
            spec = self.cpt.get(line.cpt)
            if spec is not None:
                out.append((i, line, spec))
        return out

    @property
    def modifier_lines(self) -> list[tuple[int, Any, Any]]:
        """The lines a modifier check reads: each line when their modifiers differ, else the first
        speaks for all (one gap says it)."""
        return self.claim_lines if self.encounter.per_line else self.claim_lines[:1]

    def line_of(self, index: int) -> int | None:
        """The line index a gap names: only when the lines carry different modifiers."""
        return index if self.encounter.per_line else None


CHECKS: dict[str, Callable[[Context, dict], list[Hit]]] = {}


def check(name: str):
    def register(fn):
        CHECKS[name] = fn
        return fn
    return register


# --- helpers ----------------------------------------------------------------------------
def _reasons(ctx: Context):
    return [m for m in ctx.note.reason_mentions if m.assertion in REASON_ASSERTIONS]


def _ev(ctx: Context, mentions) -> list[Evidence]:
    text = ctx.note.text
    return [Evidence(m.start, m.end, text[m.start:m.end]) for m in mentions]


def _necessity(ctx: Context, code) -> str:
    if code.necessity == "plain" and code.modality == "xray" and ctx.note.positions and ctx.cpt.dynamic_applies(code):
        return "dynamic"
    return code.necessity


def _reason_ok(ctx: Context, necessity: str, reasons) -> bool:
    if necessity == "plain":
        return True
    # a past condition that is over justifies imaging only where its history is itself the reason
    # (a cancer history, a prior operation); a healed fracture or an old fall does not
    reasons = [m for m in reasons if m.assertion != "historical" or "history_counts" in ctx.tags.get(m.concept, ())]
    tagged = {t for m in reasons for t in ctx.tags.get(m.concept, ())}
    if necessity == "dynamic":
        return "dynamic_reason" in tagged
    if tagged & {f"{necessity}_reason", "red_flag", "trauma"}:
        return True
    # a reason linked to a condition whose code supports the study (a suspected tear, an
    # osteochondral lesion, a bone tumour), non-specific pain aside
    prefixes = _support_prefixes(ctx, necessity)
    linked = ctx.linked_code
    before_read = ctx.reason_before_read
    if prefixes and any((code := linked.get((m.start, m.end))) and code.startswith(prefixes)
                        and not _nonspecific(ctx, code) for m in reasons
                        if m.assertion in ("present", "possible") and m.section in before_read):
        return True
    return "conservative_care" in tagged and ctx.note.duration_weeks >= ctx.support.get("conservative_weeks", 6)


def _nonspecific(ctx: Context, code: str) -> bool:
    """A code of non-specific pain (M54.50 low back pain, M25.561 pain in the right knee)."""
    return code in ctx.support["nonspecific_pain"] or code.startswith(tuple(ctx.support.get("nonspecific_prefixes", ())))


def _support_prefixes(ctx: Context, necessity: str) -> tuple[str, ...]:
    """The code prefixes that support a study of this necessity class (icd10_support.json)."""
    prefixes = ctx.support_prefixes.get(necessity)
    if prefixes is None:
        prefixes = tuple(ctx.support.get("support", {}).get(necessity, {}).get("prefixes", ()))
    return prefixes


def _supports(ctx: Context, code: str, necessity: str, *, suggesting: bool = False) -> bool:
    if _nonspecific(ctx, code):
        return necessity == "plain"
    if code.startswith(_support_prefixes(ctx, necessity)):
        return True
    # contract 1.1: non-specific pain codes alone are what fails; another code names a condition,
    # which supports the study when the note gives the reason the study needs (a code for the
    # myelopathy whose pre-operative motion study was asked for)
    return ctx.support.get("not_supporting") == "nonspecific_pain_only" and not suggesting and \
        _reason_ok(ctx, necessity, _reasons(ctx))


def _valid_icd(ctx: Context):
    return [c for c in ctx.encounter.icd10 if ctx.codeset.is_billable(c)]


def _covered(ctx: Context, code: str) -> bool:
    return _best_prefix(ctx, code) > 0


def _best_prefix(ctx: Context, code: str) -> int:
    """Length of the longest lexicon prefix that covers ``code`` (0 when none does)."""
    return next((k for k in range(len(code), 0, -1) if code[:k] in ctx.covers), 0)


def _documents_code(ctx: Context, concept, code: str, best: int) -> bool:
    """Does a mention of ``concept`` speak of the condition ``code`` names? Its concept covers
    the code most specifically, or is a subtype of it ('adolescent idiopathic scoliosis'
    for M41.9 Scoliosis, unspecified)."""
    if concept is None or not best:
        return False
    return any((code.startswith(prefix) and len(prefix) == best) or
               (len(prefix) > best and prefix.startswith(code[:best])) for prefix in concept.covers)


def _covering_mentions(ctx: Context, code: str):
    """Mentions of the concepts that most specifically cover ``code`` (longest prefix), or of
    their subtypes."""
    best = _best_prefix(ctx, code)
    if not best:
        return []
    documenting = _documenting_concepts(ctx, code, best)
    return [m for m in ctx.note.mentions if m.concept in documenting]


def _documenting_concepts(ctx: Context, code: str, best: int) -> frozenset[str]:
    """The concepts whose mentions document ``code``: a function of the lexicon and the code
    only, so the engine keeps it across checks (a live dictation asks for the same few codes
    every segment)."""
    cache = ctx.documenting_cache
    found = cache.get(code)
    if found is None:
        if len(cache) > 50_000:
            cache.clear()
        found = cache[code] = frozenset(
            name for name, concept in ctx.concepts.items() if _documents_code(ctx, concept, code, best))
    return found


def _note_codes(ctx: Context, assertions=("present",)):
    return [(code, ind) for code, ind in ctx.code_pairs if ind.assertion in assertions]


# --- indication ---------------------------------------------------------------------------
@check("requires_indication")
def requires_indication(ctx: Context, params: dict) -> list[Hit]:
    if _reasons(ctx):
        return []
    note = ctx.note
    if note.indication_text_present:
        return []
    return [Hit(evidence=list(note.indication_headers))]


@check("requires_specific_reason")
def requires_specific_reason(ctx: Context, params: dict) -> list[Hit]:
    reasons = _reasons(ctx)
    if not reasons:
        return []
    hits = []
    for code in ctx.chosen:
        necessity = _necessity(ctx, code)
        if necessity == "plain" or _reason_ok(ctx, necessity, reasons):
            continue
        label = "dynamic (bending or flexion/extension) views" if necessity == "dynamic" else ctx.cpt.study_words(code)
        needed = ctx.support.get("support", {}).get(necessity, {}).get("reason_text", "the clinical reason for the study")
        hits.append(Hit({"cpt": code.code, "study": label, "needed": needed,
                         "reasons": ", ".join(sorted({ctx.note.text[m.start:m.end].lower() for m in reasons}))},
                        _ev(ctx, reasons), cpt=code.code))
        break
    return hits


# --- views, positions, level, region, contrast ---------------------------------------------
@check("requires_views")
def requires_views(ctx: Context, params: dict) -> list[Hit]:
    xray = [c for c in ctx.chosen if c.modality == "xray"]
    if not xray or ctx.note.views is not None:
        return []
    return [Hit({"cpt": xray[0].code, "range": _range(xray[0])}, cpt=xray[0].code)]


def _range(code) -> str:
    lo, hi = code.min_views, code.max_views
    if hi is None:
        return f"{lo} or more views"
    return f"{lo} view" if lo == hi == 1 else (f"{lo} views" if lo == hi else f"{lo}-{hi} views")


@check("view_count_matches")
def view_count_matches(ctx: Context, params: dict) -> list[Hit]:
    note = ctx.note
    if note.views is None:
        return []
    groups: dict[str, list] = {}
    for code in ctx.chosen:
        if code.modality == "xray" and code.min_views is not None:
            groups.setdefault(code.region, []).append(code)
    if "any" in groups and len(groups) == 2 and not [r for r in note.region_views if r not in groups]:
        # a code of any level with no region of its own documented is a view of the other code's study
        # (an entire-spine series and a coned spot): one series, its views totalled
        any_codes = groups.pop("any")
        next(iter(groups.values())).extend(any_codes)
    hits = []
    for region, codes in groups.items():
        # codes of several regions, each region's views counted apart ("1 view ... and lumbar spine 2 views");
        # a code of any level (72020) takes the one documented region no other chosen code claims
        views = note.views
        if len(groups) > 1:
            if region == "any":
                rest = [r for r in note.region_views if r not in groups]
                region = rest[0] if len(rest) == 1 else region
            views = note.region_views.get(region, note.views)
        if any(c.takes_views(views) for c in codes):
            continue
        code = codes[0]
        supported = [c for c in ctx.cpt.supported(note, {"xray"}) if c not in {x.code for x in codes}]
        if views < (code.min_views or 0) and not supported:
            fix_code = "append modifier 52 (reduced service) or document the missing views"
        elif supported:
            fix_code = f"{supported[0]} matches the {_views_text(views)} documented"
        else:
            family = ctx.cpt.family(code)
            study = family.study if family is not None and family.study else "the documented region"
            fix_code = f"no code of {study} matches this count; check the views"
        hits.append(Hit({"cpt": "+".join(c.code for c in codes), "range": " or ".join(_range(c) for c in codes),
                         "views": views, "views_text": _views_text(views) + (" is" if views == 1 else " are"),
                         "suggestion": fix_code}, list(note.view_evidence), cpt=code.code))
    return hits


def _views_text(n: int) -> str:
    return f"{n} view" if n == 1 else f"{n} views"


@check("requires_positions")
def requires_positions(ctx: Context, params: dict) -> list[Hit]:
    if ctx.note.positions:
        return []
    return [Hit({"cpt": c.code}, list(ctx.note.view_evidence), cpt=c.code)
            for c in ctx.chosen if c.positions in ("dynamic_only", "includes_dynamic")][:1]


@check("requires_level")
def requires_level(ctx: Context, params: dict) -> list[Hit]:
    if ctx.note.levels or ctx.note.regions:
        return []
    return [Hit({"cpt": c.code}, list(ctx.note.view_evidence), cpt=c.code) for c in ctx.chosen if c.level_required][:1]


@check("region_matches")
def region_matches(ctx: Context, params: dict) -> list[Hit]:
    note = ctx.note
    hits = _part_mismatch(ctx)
    if hits or not note.regions:
        return hits[:1]
    several = len({c.region for c in ctx.chosen}) > 1
    spans = params.get("level_spans", {})
    for code in ctx.chosen:
        if code.region == "any" or code.region in note.regions or ctx.cpt.is_limb(code):
            continue
        if several and code.region in note.documented_regions:   # one study of each region, each coded
            continue
        # no region named, only levels: a level inside the code's region is no mismatch (T12 on a
        # thoracolumbar junction study)
        inside = spans.get(code.region)
        if inside and note.region_from_levels and all(
                end in inside for label in note.region_from_levels for end in label.split("-")):
            continue
        supported = ctx.cpt.supported(note, {code.modality})
        labels = ctx.region_labels
        documented = " and the ".join(labels.get(r, r) for r in note.regions)
        suggestion = f"{supported[0]} matches the documented {documented} study" if supported else \
            "choose the code for the documented region"
        hits.append(Hit({"cpt": code.code, "code_region": labels.get(code.region, code.region),
                         "regions": documented, "suggestion": suggestion},
                        list(note.region_evidence), cpt=code.code))
    return hits[:1]


@check("requires_contrast")
def requires_contrast(ctx: Context, params: dict) -> list[Hit]:
    if ctx.note.contrast is not None:
        return []
    return [Hit({"cpt": c.code}, cpt=c.code) for c in ctx.chosen if c.contrast is not None][:1]


@check("contrast_matches")
def contrast_matches(ctx: Context, params: dict) -> list[Hit]:
    note = ctx.note
    if note.contrast is None:
        return []
    groups: dict[tuple[str, str], set[str]] = {}
    for code in ctx.chosen:
        if code.contrast:
            groups.setdefault((code.modality, code.region), set()).add(code.contrast)
    hits = []
    for (modality, region), chosen in groups.items():
        combined = "without_with" if chosen >= {"without", "with"} or "without_with" in chosen else next(iter(chosen))
        if note.contrast in chosen or combined == note.contrast:
            continue
        code = next(c for c in ctx.chosen if c.modality == modality and c.region == region)
        supported = ctx.cpt.supported(note, {modality})
        hits.append(Hit({"cpt": code.code, "chosen": _contrast_words(combined), "documented": _contrast_words(note.contrast),
                         "suggestion": f"{supported[0]} matches the documented contrast use" if supported else
                         "choose the code for the documented contrast use"},
                        list(note.contrast_evidence), cpt=code.code))
    return hits


def _part_mismatch(ctx: Context) -> list[Hit]:
    """A limb code whose part the note does not image (a knee code on a shoulder study), or a spine
    code on a note that images only a limb part."""
    note = ctx.note
    if not note.parts:
        return []
    labels = ctx.region_labels
    documented = " and the ".join(labels.get(p, p) for p in note.parts)
    hits = []
    chosen_parts = {p for c in ctx.chosen if ctx.cpt.is_limb(c) for p in ctx.cpt.parts_of(c, note.parts)}
    for code in ctx.chosen:
        if ctx.cpt.is_limb(code):
            # the part named only in passing ("R hip pain") on a note that images a spine region is
            # not the study: lumbar films billed as a hip code
            if ctx.cpt.parts_of(code, note.parts) and (ctx.parts_strong or not note.regions):
                continue
            if note.regions and ctx.parts_strong and not (set(note.parts) - chosen_parts):
                continue      # a hip study with its pelvis view: the parts left are another code's
        elif note.regions or code.region == "any" or not ctx.parts_strong:
            continue
        said, evidence = documented, list(note.part_evidence)
        if ctx.cpt.is_limb(code) and not ctx.parts_strong and note.regions:     # the spine region imaged
            said, evidence = " and the ".join(labels.get(r, r) for r in note.regions), list(note.region_evidence)
        supported = [c for c in ctx.cpt.supported(note, {code.modality}) if c != code.code]
        suggestion = f"{supported[0]} matches the documented {said} study" if supported else \
            "choose the code for the documented body part"
        hits.append(Hit({"cpt": code.code, "code_region": labels.get(code.region, code.region),
                         "regions": said, "suggestion": suggestion}, evidence, cpt=code.code))
    return hits


def _contrast_words(value: str) -> str:
    return {"without": "without contrast", "with": "with contrast", "without_with": "without and then with contrast"}[value]


# --- report elements -----------------------------------------------------------------------
@check("requires_findings")
def requires_findings(ctx: Context, params: dict) -> list[Hit]:
    note = ctx.note
    if note.findings_evidence and not note.findings_header_empty:
        return []
    return [Hit(evidence=[note.findings_header_empty] if note.findings_header_empty else list(note.impression_evidence[:1]))]


@check("requires_impression")
def requires_impression(ctx: Context, params: dict) -> list[Hit]:
    if ctx.note.impression_evidence:
        return []
    return [Hit(evidence=[ctx.note.impression_header] if ctx.note.impression_header else [])]


@check("requires_signature")
def requires_signature(ctx: Context, params: dict) -> list[Hit]:
    if ctx.note.signed:
        return []
    return [Hit(evidence=list(ctx.note.unsigned_evidence))]


@check("requires_comparison")
def requires_comparison(ctx: Context, params: dict) -> list[Hit]:
    return [] if ctx.note.comparison_evidence else [Hit()]


@check("requires_ordering_provider")
def requires_ordering_provider(ctx: Context, params: dict) -> list[Hit]:
    if ctx.note.ordering_evidence:
        return []
    return [Hit()]


# --- diagnosis codes -------------------------------------------------------------------------
@check("dx_supports_necessity")
def dx_supports_necessity(ctx: Context, params: dict) -> list[Hit]:
    valid = _valid_icd(ctx)
    if not valid:
        return []
    for code in ctx.chosen:
        necessity = _necessity(ctx, code)
        if necessity == "plain":
            continue
        if not any(_supports(ctx, icd, necessity) for icd in valid):
            label = "dynamic (bending or flexion/extension) views" if necessity == "dynamic" else ctx.cpt.study_words(code)
            better = sorted({c for c, _ in _note_codes(ctx, ("present", "historical"))
                             if _supports(ctx, c, necessity, suggesting=True)})
            lack, stated = _what_codes_lack(ctx, valid, necessity, _reasons(ctx))
            return [Hit({"cpt": code.code, "icd10": ", ".join(valid), "study": label, "lack": lack,
                         "suggestion": f"the note supports {', '.join(better[:3])}" if better else
                         "document and code the clinical reason ("
                         + ctx.support.get("support", {}).get(necessity, {}).get("reason_text", "the reason for the study") + ")"},
                        _ev(ctx, stated), cpt=code.code)]
    return []


NEEDED_REASON = {
    "dynamic": "motion views need a code for instability, spondylolisthesis, a fusion or a pre-operative motion "
               "assessment",
    "advanced": "CT or MRI needs a code for radiculopathy, myelopathy, a red flag, surgical planning or pain after "
                "6 weeks of failed conservative care",
}


def _what_codes_lack(ctx: Context, valid: list[str], necessity: str, reasons) -> tuple[str, list]:
    """What the chosen diagnosis codes lack for the study, and what the note states instead: a
    reason they do not code, or a reason too weak to make up for them (with its mentions)."""
    pain = [c for c in valid if _nonspecific(ctx, c)]
    other = [c for c in valid if c not in pain]
    said = []
    if pain:
        said.append(f"{' and '.join(pain)} {'codes' if len(pain) == 1 else 'code'} non-specific pain only")
    if other:
        said.append(f"{' and '.join(other)} {'is' if len(other) == 1 else 'are'} not a reason for it")
    text = " and ".join(said)
    strong = [m for m in reasons if _reason_ok(ctx, necessity, [m])]
    shown = strong or reasons
    if shown:
        words = ", ".join(sorted({ctx.note.text[m.start:m.end].lower() for m in shown}))
        text += (f"; the note states a reason ({words}) they do not code" if strong else
                 f", and the reason the note states ({words}) is not specific either")
    needed = ctx.support.get("support", {}).get(necessity, {}).get("needed") or NEEDED_REASON.get(necessity, NEEDED_REASON['advanced'])
    return f"{text}; {needed}", shown


@check("dx_valid")
def dx_valid(ctx: Context, params: dict) -> list[Hit]:
    hits = []
    documented = {c for c, _ in _note_codes(ctx, ("present", "historical", "possible"))}
    for icd in ctx.encounter.icd10:
        if ctx.codeset.is_billable(icd):
            continue
        exists = ctx.codeset.exists(icd)
        children = ctx.codeset.billable_descendants(icd) if exists else []
        match = sorted(c for c in children if c in documented)
        if match:
            ind = next(i for c, i in _note_codes(ctx, ("present", "historical", "possible")) if c == match[0])
            suggestion = f"{match[0]} matches '{ind.text}'"
            evidence = [Evidence(ind.start, ind.end, ind.text)]
        elif children:
            suggestion = f"choose one of {', '.join(children[:6])}"
            evidence = []
        else:
            suggestion = "choose a valid, billable ICD-10-CM code"
            evidence = []
        why = "is a category header, not a billable code" if exists else "is not in the current ICD-10-CM code set"
        hits.append(Hit({"icd10": icd, "why": why, "suggestion": suggestion}, evidence, icd10=icd))
    return hits


def _documents(icd: str, assertion: str) -> bool:
    """Does a mention with this assertion document the code? A past condition that is
    over documents only a history or status code (Z-codes), never the condition itself."""
    return assertion == "present" or (assertion == "historical" and icd.startswith("Z"))


@check("dx_specificity")
def dx_specificity(ctx: Context, params: dict) -> list[Hit]:
    hits = []
    for icd in _valid_icd(ctx):
        category = icd[:3]     # a sibling has the same parent, so the same category
        note_codes = [(c, i) for c, i in _note_codes(ctx, ("present", "historical"))
                      if c.startswith(category) and _documents(icd, i.assertion)]
        parent = ctx.codeset.parent(icd)
        desc = (ctx.codeset.description(icd) or "").lower()
        better = None
        for code, ind in note_codes:
            if code == icd or ctx.codeset.parent(code) != parent:
                continue
            other = (ctx.codeset.description(code) or "").lower()
            seventh = len(icd.replace(".", "")) == 7 and len(code.replace(".", "")) == 7 and ctx.note.encounter \
                and ind.icd10 and code == ind.icd10[0].code      # the linked code, not an option listed after it
            if ("unspecified" in desc and "unspecified" not in other) or (seventh and icd[:-1] == code[:-1]):
                better = (code, ind)
                break
        if better is None and "unspecified" in desc:
            better = _same_condition_more_specific(ctx, icd, desc, note_codes)
        if better is None and "unspecified" in desc:
            better = _code_set_more_specific(ctx, icd, desc, note_codes)
        if better is None and "unspecified" in desc and parent is not None:
            # the category's unspecified code (M51.9) beside a specific one the note documents (M51.27)
            better = next(((c, i) for c, i in note_codes if c != icd and c.startswith(parent) and i.icd10
                           and c == i.icd10[0].code and ctx.codeset.is_billable(c)
                           and (ctx.codeset.description(c) or "").lower().count("unspecified") < desc.count("unspecified")),
                          None)
        if better is not None:
            code, ind = better
            hits.append(Hit({"icd10": icd, "better": code, "evidence_text": ind.text,
                             "description": ctx.codeset.description(code.rstrip("-")) or ""},
                            [Evidence(ind.start, ind.end, ind.text)], icd10=icd))
            continue
        sided = _side_unspecified(ctx, icd, desc)
        if sided is not None:
            code, evidence = sided
            hits.append(Hit({"icd10": icd, "better": code, "evidence_text": evidence[0].text if evidence else "",
                             "description": ctx.codeset.description(code.split(" ")[0]) or ""},
                            evidence[:2], icd10=icd))
    return hits


def _side_unspecified(ctx: Context, icd: str, desc: str):
    """A code of an unspecified side ("Pain in unspecified knee") for a part the note images on a
    stated side: the code of that side (both sides: the bilateral code, else the right and the left)."""
    if "unspecified" not in desc or _side_of(ctx, icd) is not None:
        return None
    side, evidence = _icd_study_side(ctx, icd)
    if side in (None, "unclear"):
        return None
    if side == "both":
        both = _with_side(ctx, icd, "both")
        if both is not None:
            return both, evidence
        right, left = _with_side(ctx, icd, "right"), _with_side(ctx, icd, "left")
        return (f"{right} and {left}", evidence) if right and left else None
    code = _with_side(ctx, icd, side)
    return (code, evidence) if code else None


def _code_set_more_specific(ctx: Context, icd: str, desc: str, note_codes):
    """A condition linked over the whole code set, in the chosen code's category, whose code
    says more than the chosen unspecified one ('type III odontoid fracture', S12.12-, for
    S12.9XXA). A code that is not billable is named as its stem ('S12.12-')."""
    for code, ind in note_codes:
        if ind.match != "codeset" or code != ind.icd10[0].code or code == icd or code in ctx.codeset.ancestors(icd):
            continue            # the term's own code, not the billable options listed after it
        other = (ctx.codeset.description(code) or "").lower()
        if other.count("unspecified") >= desc.count("unspecified"):
            continue
        if ctx.condition_words is not None and \
                not ctx.condition_words(other) & ctx.condition_words(desc):
            continue        # another condition of the category (an osteophyte is not a more specific pain)
        if ctx.codeset.is_billable(code):
            return code, ind
        return code + "-", ind
    return None


def _same_condition_more_specific(ctx: Context, icd: str, desc: str, note_codes):
    """A code the note documents for the same condition (its concept covers the chosen
    code) that fills an axis the chosen code leaves unspecified: 'L2 wedge compression
    fracture' (S32.020A) for S32.009A, 'L4-5 stenosis' (M48.061) for M48.00."""
    best = _best_prefix(ctx, icd)
    for code, ind in note_codes:
        if code == icd or not _documents_code(ctx, ctx.concepts.get(ind.concept), icd, best):
            continue
        if ind.match == "codeset" and code != ind.icd10[0].code:
            continue            # a code set term names its own code; the options after it are guesses
        if not ctx.codeset.is_billable(code):
            continue
        other = (ctx.codeset.description(code) or "").lower()
        if other.count("unspecified") < desc.count("unspecified"):
            return code, ind
    return None


def _side_of(ctx: Context, code: str) -> str | None:
    sides = {v for axis, v in ctx.codeset.axes.labels(ctx.codeset.description(code) or "") if axis == "laterality"}
    return next(iter(sides)) if len(sides) == 1 and "_default" not in sides else None


def _side_contradicted(ctx: Context, icd: str):
    """The note's link of the same condition to the sibling code of another side: (code, indication)."""
    side = _side_of(ctx, icd)
    if side is None:
        return None
    linked = _note_codes(ctx, ("present", "historical"))
    if any(code == icd for code, _ in linked) or _icd_study_side(ctx, icd)[0] == "both":
        return None         # the note documents this side too (both legs, one link per side)
    parent = ctx.codeset.parent(icd)
    for code, ind in linked:
        if code != icd and ctx.codeset.parent(code) == parent and ind.icd10 and ind.icd10[0].code == code:
            other = _side_of(ctx, code)
            if other is not None and other != side:
                return code, ind
    return None


@check("dx_laterality")
def dx_laterality(ctx: Context, params: dict) -> list[Hit]:
    """A chosen code names one side of a condition the note documents on the other side (its
    sibling code for that side, as the note's own link), or of a body part the study images on
    the other side: the side of the code contradicts the note."""
    hits = []
    for icd in _valid_icd(ctx):
        found = _side_contradicted(ctx, icd)
        if found is not None:
            code, ind = found
            hits.append(Hit({"icd10": icd, "better": code, "evidence_text": ind.text,
                             "description": ctx.codeset.description(code) or ""},
                            [Evidence(ind.start, ind.end, ind.text)], icd10=icd))
            continue
        side = _side_of(ctx, icd)
        study, evidence = _icd_study_side(ctx, icd)
        if side is None or study in (None, "unclear", "both") or side == study or \
                (side == "bilateral" and study == "both"):
            continue
        better = _with_side(ctx, icd, study)
        if better is None:
            continue
        hits.append(Hit({"icd10": icd, "better": better, "evidence_text": evidence[0].text if evidence else study,
                         "description": ctx.codeset.description(better) or ""}, evidence[:2], icd10=icd))
    return hits


def _icd_parts(ctx: Context, icd: str) -> list[str]:
    """The limb parts a code's description names ("Pain in right knee": the knee)."""
    desc = ctx.codeset.description(icd) or ""
    return [part for part, rx in ctx.part_patterns if rx.search(desc)]


def _icd_study_side(ctx: Context, icd: str) -> tuple[str | None, list[Evidence]]:
    """The side the note documents for the part a diagnosis code is about: the part its
    description names, else the one side every imaged part shares."""
    note = ctx.note
    if not note.sides:
        return None, []
    named = _icd_parts(ctx, icd)
    if not named:
        return None, []
    for part in named:
        if part in note.sides:
            return note.sides[part], list(note.side_evidence.get(part, ()))
    sides = set(note.sides.values())
    if len(sides) == 1:
        part = next(iter(note.sides))
        return next(iter(sides)), list(note.side_evidence.get(part, ()))
    return None, []


def _with_side(ctx: Context, icd: str, side: str) -> str | None:
    """The code of the same condition for ``side`` (right, left, or both sides as 'bilateral'):
    the chosen code's other axes kept, its side changed."""
    codeset = ctx.codeset
    axes = {axis: value for axis, value in codeset.axes.labels(codeset.description(icd) or "")
            if value != "_default" and axis != "laterality"}
    axes["laterality"] = "bilateral" if side == "both" else side
    code = codeset.parent(icd)
    while code:
        try:
            res = codeset.resolve(code, axes)
        except (KeyError, ValueError):
            return None
        if res is not None and res.billable and res.code != icd and \
                ("laterality", axes["laterality"]) in codeset.axes.labels(res.description or ""):
            return res.code
        code = codeset.parent(code)
        if code and len(code.replace(".", "")) < 4:
            return None
    return None


@check("dx_certainty")
def dx_certainty(ctx: Context, params: dict) -> list[Hit]:
    hits = []
    for icd in _valid_icd(ctx):
        mentions = _covering_mentions(ctx, icd)
        # and the conditions linked over the code set to this very code ("r/o scaphoid fracture")
        spans = {(m.start, m.end) for m in mentions}
        mentions = mentions + [i for i in ctx.note.indications if i.match == "codeset" and (i.start, i.end) not in spans
                               and any(c.code == icd or _same_condition(ctx, c.code, icd) for c in i.icd10)]
        linked = ctx.linked_code
        # a mention confirms the code only when it speaks of the same condition: its own link is in the
        # code's category ("fever" does not confirm the discitis a lumped concept also covers)
        asserted = [m for m in mentions if _documents(icd, m.assertion) and
                    linked.get((m.start, m.end), icd)[:3] == icd[:3]]
        possible = [m for m in mentions if m.assertion == "possible"]
        if possible and not asserted:
            hits.append(Hit({"icd10": icd, "phrases": "; ".join(ctx.note.text[m.start:m.end] for m in possible[:3])},
                            _ev(ctx, possible), icd10=icd))
    return hits


def _same_condition(ctx: Context, code: str, icd: str) -> bool:
    """Another code of the category that names the same condition ("AVN" linked to the idiopathic
    osteonecrosis M87.05- is the osteonecrosis of M87.15- a claim codes as due to drugs)."""
    if code[:3] != icd[:3] or ctx.condition_words is None:
        return False
    said = ctx.condition_words(ctx.codeset.description(code) or "")
    coded = ctx.condition_words(ctx.codeset.description(icd) or "")
    return bool(said & coded)


def _described(ctx: Context, icd: str, stopwords) -> bool:
    """For a code no lexicon concept covers: does the note use a word of its description
    (or its parents')? Without a concept the checker cannot judge support, so any
    descriptive word counts and only a note silent on the condition is flagged."""
    words: set[str] = set()
    code: str | None = icd
    while code:
        words.update(w for w in re.findall(r"[a-z]{5,}", (ctx.codeset.description(code) or "").lower())
                     if w not in stopwords)
        code = ctx.codeset.parent(code)
    text = ctx.note.text.lower()
    return any(re.search(r"\b" + w[:6], text) for w in words)


@check("dx_documented")
def dx_documented(ctx: Context, params: dict) -> list[Hit]:
    hits = []
    for icd in _valid_icd(ctx):
        if _side_contradicted(ctx, icd) is not None:
            continue            # documented, on the other side: LATERALITY_MISMATCH says so
        if any(i.icd10 and i.icd10[0].code == icd and i.assertion != "negated" for i in ctx.note.indications):
            continue            # the note's own link names this code
        if _unspecified_of_documented(ctx, icd):
            continue            # the unspecified code of a condition the note specifies: DX_MORE_SPECIFIC_AVAILABLE
        if not _covered(ctx, icd):
            # a condition of the code's category linked over the whole code set decides; without
            # one, any word of the code's description in the note counts
            linked = [i for c, i in ctx.code_pairs if i.match == "codeset" and c[:3] == icd[:3]]
            if linked:
                if not any(i.assertion != "negated" for i in linked):
                    hits.append(Hit({"icd10": icd, "description": ctx.codeset.description(icd) or ""},
                                    _ev(ctx, linked), icd10=icd))
                continue
            if not _described(ctx, icd, frozenset(params.get("description_stopwords", ()))):
                hits.append(Hit({"icd10": icd, "description": ctx.codeset.description(icd) or ""}, [], icd10=icd))
            continue
        covering = _covering_mentions(ctx, icd)
        mentions = [m for m in covering if not _names_another_region(ctx, m, icd)]
        if any(m.assertion == "possible" or _documents(icd, m.assertion) for m in mentions):
            continue
        if not covering and _condition_said(ctx, icd):
            continue            # a concept covers the code, but the note says its condition in the code set's words
        if _supported_in_region(ctx, icd):
            continue
        negated = [m for m in mentions if m.assertion == "negated"]
        hits.append(Hit({"icd10": icd, "description": ctx.codeset.description(icd) or ""}, _ev(ctx, negated), icd10=icd))
    return hits


def _condition_said(ctx: Context, icd: str) -> bool:
    """The note says every word of the code's condition ("loosening" and the artificial joint of
    T84.03-, "Loosening of the right femoral stem" after "right THA"), though no concept of the
    lexicon found it: a concept's coverage of a category does not make it the only way to say it."""
    if ctx.condition_words is None or ctx.words_of is None:
        return False
    condition = ctx.condition_words(ctx.codeset.description(icd) or "")
    return bool(condition) and condition <= ctx.words_of(ctx.note.text)


def _unspecified_of_documented(ctx: Context, icd: str) -> bool:
    """``icd`` is an unspecified code (M51.9) and the note documents a specific one of its
    category (M51.27): the condition is documented, less specifically than the note says."""
    if "unspecified" not in (ctx.codeset.description(icd) or "").lower():
        return False
    parent = ctx.codeset.parent(icd)
    return parent is not None and any(
        i.icd10 and i.icd10[0].code.startswith(parent) and i.icd10[0].code != icd and i.assertion in ("present", "possible")
        for i in ctx.note.indications)


def _names_another_region(ctx: Context, mention, icd: str) -> bool:
    """The mention was linked to a sibling of ``icd`` for another stated region ("left lumbar
    radiculopathy", M54.16, does not document M54.12 cervical radiculopathy)."""
    concept = ctx.concepts.get(mention.concept)
    if concept is None or concept.icd is None or "region" not in concept.icd.axes or mention.assertion != "present":
        return False
    if ctx.region_said_before is None or \
            not ctx.region_said_before.search(ctx.note.text, max(0, mention.start - 30), mention.start):
        return False   # the region was inferred (study, nearby level), not said with the condition
    linked = ctx.linked_code.get((mention.start, mention.end))
    if linked is None or linked == icd or ctx.codeset.parent(linked) != ctx.codeset.parent(icd):
        return False
    return all("unspecified" not in (ctx.codeset.description(c) or "").lower() for c in (linked, icd))


def _supported_in_region(ctx: Context, icd: str) -> bool:
    """A region-less mention ("back pain") supports the code of the imaged region's form of
    the complaint (M54.5- on a lumbar study), per its concept's ``region_covers``."""
    for m in ctx.note.mentions:
        concept = ctx.concepts.get(m.concept)
        if concept is None or not concept.region_covers or not _documents(icd, m.assertion):
            continue
        if any(icd.startswith(prefix) for region in ctx.note.regions for prefix in concept.region_covers.get(region, ())):
            return True
    return False


# --- pairs and modifiers -----------------------------------------------------------------------
@check("ncci_pairs")
def ncci_pairs(ctx: Context, params: dict) -> list[Hit]:
    hits = []
    repeats = set(params.get("repeat_modifiers", ()))
    for (ia, la, a), (_ib, lb, b) in _pairs(ctx.claim_lines):
        if a.code == b.code and (set(la.modifiers + lb.modifiers) & repeats or _separate_studies(ctx)):
            continue    # a repeated study (76/77), or one whose repeat the note documents (MODIFIER_REQUIRED asks for 76)
        if _other_sides(ctx, la, lb):
            continue    # the right and the left knee are two areas
        # a distinct-service modifier on either line of the pair lets an indicator-1 edit through
        distinct = bool(set(la.modifiers + lb.modifiers) & ctx.distinct_modifiers)
        family = ctx.code_family.get(a.code)
        for _family, rule in sorted(ctx.pair_rules, key=lambda fr: fr[0] != family):
            if rule.modifier_indicator == 1 and distinct:
                continue
            if _PAIR_KINDS[rule.kind](a, b):
                hits.append(Hit({"cpt": a.code, "other": b.code, "why": rule.description, "rule_source": rule.source},
                                cpt=a.code, line=ctx.line_of(ia)))
                break
    if ctx.imported_pairs is not None:
        for (ia, la, a), (_ib, lb, b) in _pairs(ctx.claim_lines):
            if _other_sides(ctx, la, lb):
                continue
            distinct = bool(set(la.modifiers + lb.modifiers) & ctx.distinct_modifiers)
            edit = ctx.imported_pairs.find(a.code, b.code)
            if edit and not (edit.modifier_indicator == "1" and distinct):
                if not any({h.cpt, h.params["other"]} == {a.code, b.code} for h in hits):
                    hits.append(Hit({"cpt": edit.column1, "other": edit.column2,
                                     "why": f"CMS NCCI procedure-to-procedure edit (modifier indicator {edit.modifier_indicator})",
                                     "rule_source": edit.source}, cpt=edit.column1, line=ctx.line_of(ia)))
    return hits


def _other_sides(ctx: Context, la, lb) -> bool:
    """Two claim lines of different sides (RT and LT): studies of two areas, not one."""
    a, b = _claim_sides(ctx, la), _claim_sides(ctx, lb)
    return bool(a) and bool(b) and not (a & b) and "both" not in a | b


def _separate_studies(ctx: Context) -> bool:
    """The note documents more than one study of the same kind (two exam titles, two accessions)."""
    return len(ctx.note.study_evidence) > 1


def _pairs(codes):
    for i, a in enumerate(codes):
        for b in codes[i + 1:]:
            yield a, b


def _same_region_xray(a, b) -> bool:
    if a.modality != "xray" or b.modality != "xray" or "entire_spine" in (a.region, b.region):
        return False
    if a.region == b.region:
        return True
    # the any-level single view (72020) stacks with a spine series, not with pelvis or SI joints
    return "any" in (a.region, b.region) and not {a.region, b.region} & {"pelvis", "sacroiliac"}


def _contrast_pair(a, b) -> bool:
    if a.modality != b.modality or a.region != b.region or not a.contrast or not b.contrast:
        return False
    return a.contrast != b.contrast


def _entire_with_regional(a, b) -> bool:
    if a.modality != "xray" or b.modality != "xray":
        return False
    regions = {a.region, b.region}
    return "entire_spine" in regions and len(regions) == 2 and not regions & {"pelvis", "sacroiliac"}


def _included_region(a, b) -> bool:
    """A radiography code of a region another chosen code's study takes in (the pelvis of a hip series)."""
    if a.modality != "xray" or b.modality != "xray":
        return False
    return b.region in a.includes or a.region in b.includes


_PAIR_KINDS = {"same_region_radiography": _same_region_xray, "contrast_combination": _contrast_pair,
               "entire_spine_with_regional": _entire_with_regional, "included_region": _included_region}


@check("modifier_needed")
def modifier_needed(ctx: Context, params: dict) -> list[Hit]:
    hits = []
    if ctx.encounter.site == "facility":
        for i, line, spec in ctx.modifier_lines:
            if not {"26", "TC"} & set(line.modifiers):
                hits.append(Hit({"cpt": spec.code, "modifier": "26",
                                 "why": "the site is a facility, so the physician bills only the interpretation"},
                                cpt=spec.code, line=ctx.line_of(i)))
    # the same study repeated the same day is reported with 76 (same physician) or 77 (another physician)
    repeats = set(params.get("repeat_modifiers", ()))
    if repeats and _separate_studies(ctx):
        seen: set[str] = set()
        for i, line, spec in ctx.claim_lines:
            if spec.code in seen and not repeats & set(line.modifiers):
                hits.append(Hit({"cpt": spec.code, "modifier": " or ".join(sorted(repeats)),
                                 "why": "the note documents the same study repeated the same day (76 by the same "
                                        "physician, 77 by another)"},
                                list(ctx.note.study_evidence[1:2]), cpt=spec.code, line=i))   # the repeat's line
            seen.add(spec.code)
    # radiography: every view count has its own code, so a short series is coded by its views, not with 52
    if ctx.note.reduced_evidence:
        reducible = [(i, line, spec) for i, line, spec in ctx.claim_lines if spec.modality != "xray"]
        if not any("52" in line.modifiers for _, line, _ in reducible):
            for i, _line, spec in reducible[:1]:
                hits.append(Hit({"cpt": spec.code, "modifier": "52",
                                 "why": "the note documents a reduced (incomplete) study"},
                                list(ctx.note.reduced_evidence), cpt=spec.code, line=ctx.line_of(i)))
    return hits


@check("modifier_applies")
def modifier_applies(ctx: Context, params: dict) -> list[Hit]:
    hits = []
    short = any(c.min_views and ctx.note.views is not None and ctx.note.views < c.min_views for c in ctx.chosen)
    # a radiography code is defined by its views: when the views it needs were taken, its full
    # service was done, whatever could not be added ("the obliques could not be tolerated")
    xray = [c for c in ctx.chosen if c.modality == "xray" and c.min_views]
    complete = bool(xray) and len(xray) == len(ctx.chosen) and ctx.note.views is not None and not short
    for i, line, spec in ctx.modifier_lines:
        mods = set(line.modifiers)
        where = {"cpt": spec.code, "line": ctx.line_of(i)}
        if {"26", "TC"} <= mods:
            hits.append(Hit({"modifier": "26 with TC",
                             "why": "26 (interpretation only) and TC (technical only) cancel out; report no modifier "
                                    "for the global service, or the one component billed"}, **where))
        if "52" in mods and ((not ctx.note.reduced_evidence and not short) or complete):
            hits.append(Hit({"modifier": "52", "why": "the note documents the full study (no reduced or incomplete service)"}, **where))
        for general, specific in params.get("replaced_by", {}).items():
            both = [m for m in line.modifiers if m in specific]
            if general in mods and both:
                hits.append(Hit({"modifier": general, "why": f"{', '.join(both)} already says why the service is distinct "
                                 f"and replaces {general}; the two are not reported together"}, **where))
        lat = [m for m in line.modifiers if m in ctx.laterality_modifiers or m in ctx.side_modifiers]
        if lat and spec.laterality == "none":
            family = ctx.cpt.family(spec)
            study = family.study if family is not None and family.study else "this study"
            hits.append(Hit({"modifier": ", ".join(lat),
                             "why": f"side modifiers do not apply to {spec.code} ({study} is midline, not a paired part)"},
                            **where))
        elif lat and spec.laterality == "bilateral":
            hits.append(Hit({"modifier": ", ".join(lat),
                             "why": f"{spec.code} images both sides by definition"}, **where))
    return hits


# --- laterality (paired body parts) -------------------------------------------------------------
def _claim_sides(ctx: Context, line) -> set[str]:
    """The sides one claim line states: RT, LT, 50 (both), a digit modifier (F5 right thumb)."""
    sides = set()
    for m in line.modifiers:
        if m == "50":
            sides.add("both")
        elif m in ("RT", "LT"):
            sides.add("right" if m == "RT" else "left")
        elif m in ctx.side_modifiers:
            sides.add(ctx.side_modifiers[m])
    return sides


def _unilateral_lines(ctx: Context) -> dict[str, list[tuple[int, Any, Any]]]:
    """The claim lines of each one-side code (a paired part), by code."""
    out: dict[str, list[tuple[int, Any, Any]]] = {}
    for i, line, spec in ctx.claim_lines:
        if spec.laterality == "unilateral":
            out.setdefault(spec.code, []).append((i, line, spec))
    return out


def _note_side(ctx: Context, spec) -> tuple[str | None, list[Evidence]]:
    """The side the note documents for the part a code images: right, left, both, unclear or None."""
    parts = ctx.cpt.parts_of(spec, ctx.note.parts)
    sides = {ctx.note.sides[p] for p in parts if p in ctx.note.sides}
    evidence = [ev for p in parts for ev in ctx.note.side_evidence.get(p, ())]
    if not sides:
        return None, []
    if "unclear" in sides:
        return "unclear", evidence
    if "both" in sides or {"right", "left"} <= sides:
        return "both", evidence
    return next(iter(sides)), evidence


_SIDE_WORDS = {"right": "the right side", "left": "the left side", "both": "both sides"}
_SIDE_FIX = {"right": "RT", "left": "LT", "both": "RT and LT on two lines (or 50, as the payer takes it)"}


@check("laterality_documented")
def laterality_documented(ctx: Context, params: dict) -> list[Hit]:
    """A one-side code whose side is stated neither in the note nor on the claim."""
    hits = []
    for code, lines in _unilateral_lines(ctx).items():
        if any(_claim_sides(ctx, line) for _, line, _ in lines):
            continue
        side, _ = _note_side(ctx, lines[0][2])
        if side is None:
            hits.append(Hit({"cpt": code, "part": ctx.region_labels.get(lines[0][2].region, lines[0][2].region)},
                            list(ctx.note.part_evidence[:1]), cpt=code, line=ctx.line_of(lines[0][0])))
    return hits


@check("side_modifier_needed")
def side_modifier_needed(ctx: Context, params: dict) -> list[Hit]:
    """The note states the side and the claim line of a one-side code carries no side modifier."""
    hits = []
    for code, lines in _unilateral_lines(ctx).items():
        side, evidence = _note_side(ctx, lines[0][2])
        if side in (None, "unclear"):
            continue
        bare = [(i, line) for i, line, _ in lines if not _claim_sides(ctx, line)]
        if len(bare) < len(lines):
            continue      # a side on a line of the code: a mismatch, if any, is LATERALITY_MISMATCH's
        i, _line = bare[0]
        hits.append(Hit({"cpt": code, "side": _SIDE_WORDS[side], "modifier": _SIDE_FIX[side]},
                        evidence[:2], cpt=code, line=ctx.line_of(i)))
    return hits


@check("laterality_matches")
def laterality_matches(ctx: Context, params: dict) -> list[Hit]:
    """The side the claim states contradicts the side the note documents: RT vs LT, one side
    billed while both were imaged, both billed while one was; a code of both sides by
    definition for a study of one."""
    hits = []
    for code, lines in _unilateral_lines(ctx).items():
        side, evidence = _note_side(ctx, lines[0][2])
        claimed = set().union(*(_claim_sides(ctx, line) for _, line, _ in lines))
        if side in (None, "unclear") or not claimed:
            continue
        billed = "both" if "both" in claimed or {"right", "left"} <= claimed else next(iter(claimed))
        if billed == side:
            continue
        i = lines[0][0]
        if side != "both":   # the line of the side not imaged
            i = next((k for k, line, _ in lines if _claim_sides(ctx, line) - {side}), i)
        hits.append(Hit({"cpt": code, "claimed": _SIDE_WORDS[billed], "side": _SIDE_WORDS[side],
                         "modifier": _SIDE_FIX[side]}, evidence[:2], cpt=code, line=ctx.line_of(i)))
    for i, _line, spec in ctx.claim_lines:
        if spec.laterality != "bilateral":
            continue
        side, evidence = _note_side(ctx, spec)
        if side in ("right", "left"):
            hits.append(Hit({"cpt": spec.code, "claimed": _SIDE_WORDS["both"], "side": _SIDE_WORDS[side],
                             "modifier": f"the one-side code with {_SIDE_FIX[side]}"},
                            evidence[:2], cpt=spec.code, line=ctx.line_of(i)))
    return hits
