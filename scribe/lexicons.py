"""Load and validate the lexicon files (all clinical knowledge lives there, not in code).

The files ship as the ``scribe_lexicons`` package (the repository's ``lexicons/``
folder); ``SCRIBE_LEXICON_DIR`` points at another folder for a site's own copy.
Every file is validated at load time: a bad file stops start-up with a
``LexiconError`` naming the file and line, never a live request.
"""
from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo,
                      field_validator, model_validator)

from .errors import LexiconError

ID_RE = r"^[A-Z]{3}-\d{3}$"
CATEGORIES = ("negated", "possible", "historical", "hypothetical", "family", "terminate", "terminate_historical",
              "terminate_listed",
              "pseudo")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SectionRule(_Strict):
    id: str = Field(pattern=ID_RE)
    category: str
    literals: list[str]


class ContextRule(_Strict):
    """A ConText trigger rule. ``compose`` builds literals as every combination of its word
    slots, in order ("were " + "not " + "repeated"), so a rule states a construction once
    instead of listing its forms."""

    id: str = Field(pattern=ID_RE)
    category: str
    direction: str
    literals: list[str] = []
    compose: list[list[str]] = []
    source: str

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("compose"):
            forms = [""]
            for slot in data["compose"]:
                forms = [f + w for f in forms for w in slot]
            composed = [" ".join(f.split()) for f in forms if f.strip()]
            data = {**data, "literals": list(dict.fromkeys(list(data.get("literals", [])) + composed))}
        if isinstance(data, dict) and not data.get("literals"):
            raise ValueError("a rule needs literals or compose")
        return data

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"unknown category {value!r}")
        return value


class CauseRule(_Strict):
    """When a condition's code depends on its cause (a vertebral fracture: trauma, osteoporosis,
    neoplasm, other pathology): the cause holds when every condition given holds."""

    cause: str
    said: list[str] = []              # a word said with the mention (its phrase, a few words around)
    note_codes: list[str] = []        # a present indication elsewhere in the note has a code with this prefix
    present_concepts: list[str] = []  # one of these concepts is documented as present ("on prednisone")
    negated_concepts: list[str] = []  # these concepts are mentioned, and only as negated ("no fall")
    unless_concepts: list[str] = []   # ...and none of these is mentioned as present


class CombinedRule(_Strict):
    """A combination code (Guidelines I.B.9): a condition said in one sentence with one of
    ``with_concepts`` ("L5-S1 disc herniation with left S1 radiculopathy") is coded by this base."""

    with_concepts: list[str]
    base: str | None = None
    base_by_region: dict[str, str] | None = None
    source: str

    @model_validator(mode="after")
    def _has_base(self) -> "CombinedRule":
        if not self.base and not self.base_by_region:
            raise ValueError("a combined rule needs base or base_by_region")
        return self


class IcdSpec(_Strict):
    base: str | None = None
    base_by_region: dict[str, str] | None = None
    historical_base: str | None = None
    axes: list[str] = []
    base_by_cause: dict[str, str] = {}
    causes: list[CauseRule] = []
    combined: list[CombinedRule] = []

    @model_validator(mode="after")
    def _causes_have_bases(self) -> "IcdSpec":
        missing = {rule.cause for rule in self.causes} - set(self.base_by_cause)
        if missing:
            raise ValueError(f"causes without a base_by_cause code: {sorted(missing)}")
        return self


class ComposedTerm(_Strict):
    """A mention said as a relation, not a phrase: a cue word and an object word in one clause, in
    either order, with at most ``within`` words between ("failed 8 weeks of splinting", "PT x 6
    wks, not helping", "despite bracing and NSAIDs"). Compiled into one of the concept's patterns."""

    cues: list[str] = Field(min_length=1)
    objects: list[str] = Field(min_length=1)
    within: int = Field(4, ge=0, le=8)
    source: str | None = None

    def pattern(self) -> str:
        def alts(words: list[str]) -> str:
            return "|".join(r"\s+".join(re.escape(w) for w in phrase.split())
                            for phrase in sorted(set(words), key=len, reverse=True))
        cue, obj = alts(self.cues), alts(self.objects)
        # the words between, in one clause, none of them a negation or a normal finding ("pars intact
        # without fracture" is no pars fracture); possessive, so a run of marks is read once
        word = r"(?!(?:no|not|without|intact|negative|normal|unremarkable)\b)[\w'/+-]++"
        gap = rf"(?:[^\w.;:\n]++{word}){{0,{self.within}}}?[^\w.;:\n]++"
        edge_l, edge_r = r"(?<![\w-])", r"(?![\w-])"
        return (rf"{edge_l}(?:{cue}){edge_r}{gap}(?:{obj}){edge_r}"
                rf"|{edge_l}(?:{obj}){edge_r}{gap}(?:{cue}){edge_r}")


class Concept(_Strict):
    id: str = Field(pattern=ID_RE)
    concept: str
    terms: list[str]
    patterns: list[str] = []
    compose: list[ComposedTerm] = []
    icd: IcdSpec | None = None
    covers: list[str] = []
    # code prefixes a mention supports when the study images that region ("back pain" on a
    # lumbar study supports M54.5-); used for DX_NOT_DOCUMENTED, not for linking
    region_covers: dict[str, list[str]] = {}
    tags: list[str] = []
    # the families whose studies the concept's code is about (a "fracture" on a spine study is a
    # vertebral fracture; on a limb study the code set names the bone): empty for every family
    families: list[str] = []
    source: str

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            re.compile(pattern)
        return value

    @model_validator(mode="after")
    def _composed_patterns(self) -> "Concept":
        """A composed term is one more pattern of the concept (read like its other patterns)."""
        for term in self.compose:
            pattern = term.pattern()
            if pattern not in self.patterns:
                self.patterns.append(pattern)
        return self


class Example(_Strict):
    text: str
    cpt: list[str]
    modifiers: list[str] = []
    icd10: list[str] = []
    site: str = "office"


class RuleSpec(_Strict):
    id: str = Field(pattern=r"^[A-Z]{3}-\d{3}$")
    symbol: str = Field(pattern=r"^[a-z0-9-]+$")
    code: str
    title: str = ""          # the gap code's plain title, as the pages show it (one per code)
    severity: str
    check: str
    message: str
    fix: str
    source: str
    why: str = ""
    status: str = "active"
    params: dict[str, Any] = {}
    fires: list[Example] = []
    silent: list[Example] = []

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: str) -> str:
        if value not in ("error", "warning", "info"):
            raise ValueError(f"unknown severity {value!r}")
        return value


class CptCode(_Strict):
    code: str = Field(pattern=r"^\d{5}$")
    modality: str
    region: str
    paraphrase: str
    min_views: int | None = None
    max_views: int | None = None
    contrast: str | None = None
    positions: str = "any"          # any | dynamic_only | includes_dynamic
    level_required: bool = False
    necessity: str = "plain"        # plain | dynamic | advanced | a class of icd10_support.json
    # the body part is paired: "unilateral" codes take RT/LT (or 50), "bilateral" codes image both
    # sides by definition (no side modifier), "none" is midline (spine, pelvis: no side modifier)
    laterality: str = Field("none", pattern=r"^(?:unilateral|bilateral|none)$")
    includes: list[str] = []        # regions the study takes in when they are imaged with it (a hip: the pelvis)
    status: str = "active"
    replaced_by: list[str] = []
    rvu_total: float | None = None
    payment: float | None = None
    payment_source: str | None = None
    source: str

    def takes_views(self, views: int) -> bool:
        """Whether a study of ``views`` views is within this code's view range (the one check)."""
        return (self.min_views is None or views >= self.min_views) and (self.max_views is None or views <= self.max_views)


class PairRule(_Strict):
    id: str = Field(pattern=ID_RE)
    kind: str
    description: str
    source: str
    modifier_indicator: int = 1


class Part(_Strict):
    """A body part a family images: the words a note names it by, and the wider regions it
    belongs to (a knee is a lower-extremity joint, for the joint MRI codes)."""

    id: str = Field(pattern=r"^[a-z_]+$")
    label: str = ""                 # how a message names it ("knee"); the id's words when empty
    words: list[str] = Field(min_length=1)   # plain words and phrases, any case; a plural is the same part
    folds_into: list[str] = []
    # spine-family regions this part's study images as views of its own (a hip series' AP pelvis)
    takes_in_regions: list[str] = []
    not_after: str | None = None    # what before the word makes it another study's ("CT chest, abdomen and pelvis")


class FamilyProjection(_Strict):
    """A projection a family names ("sunrise", "scapular Y"): said in a view list it is one view
    (``counts``), unless it only qualifies another ("standing"). ``parts``: where it is a view."""

    name: str = Field(pattern=r"^[a-z_]+$")
    words: list[str] = []
    pattern: str | None = None
    counts: bool = True
    parts: list[str] = []
    expands: list[str] = []
    # a word that also names anatomy ("mortise", "tunnel") is a view only inside a list of views
    needs_list: bool = False
    # a view only on a study of its parts ("AP pelvis" is a view of a hip series, and the frontal
    # view of a pelvis study)
    with_parts: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value


class Anatomy(_Strict):
    parts: list[Part] = []
    projections: list[FamilyProjection] = []
    # projections one phrase expands to that a study of this family takes as one view ("AP, lateral
    # and oblique views" of a foot is three views; of a lumbar spine, both obliques)
    one_view: list[list[str]] = []
    source: str = ""


class Family(_Strict):
    family: str
    description: str
    study: str = ""                 # how a message names the family's studies ("the spine", "an extremity")
    fee_schedule: dict[str, Any]
    codes: list[CptCode]
    pair_rules: list[PairRule]
    laterality_modifiers: list[str]
    distinct_modifiers: list[str]
    facility_modifiers: dict[str, str]
    # modifiers that name a side by a digit (FA-F9 fingers, TA-T9 toes): modifier -> right | left
    side_modifiers: dict[str, str] = {}
    anatomy: Anatomy = Anatomy()
    source: str = ""

    @model_validator(mode="after")
    def _parts_known(self) -> "Family":
        ids = {p.id for p in self.anatomy.parts}
        unknown = sorted({p for proj in self.anatomy.projections for p in proj.parts} - ids)
        if unknown:
            raise ValueError(f"anatomy.projections name unknown parts {unknown}")
        return self


class SpokenMark(_Strict):
    say: list[str] = Field(min_length=1)
    mark: str = Field(min_length=1, max_length=1)
    not_after: list[str] = []
    not_before: list[str] = []


class ExportLayout(BaseModel):
    """How a report exported by an EHR or RIS marks its lines (scribe/nlp/dictation.py)."""

    model_config = ConfigDict(extra="forbid")
    source: str
    line_breaks: list[str] = []          # literal escapes that stand for a line break ("\\.br\\")
    segment: str = r"(?!)"               # a line that opens with a message segment id ("OBX|")
    separators: list[str] = []           # single characters that join fields or sections on one line
    header_ahead: str = r"(?!)"          # what must follow a separator for it to be a line break
    field_name: Rx | None = None         # a field's upper-case label in NAME|value exports
    field_name_source: str | None = None


class DictationSpec(BaseModel):
    """``dictation.json``: how raw speech-recognition text is normalised (scribe/nlp/dictation.py)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    doc: str = Field("", alias="_doc")
    source: str
    reach: int = Field(400, ge=50, le=2000)
    word_kinds: dict[str, list[str]] = {}
    punctuation: list[SpokenMark]
    fillers: list[str]
    cancel: list[str]
    replace: list[str]
    running_headers: list[str]
    not_after_header: list[str]
    break_before: list[str]
    not_after_break: list[str]
    spelled: list[str] = []
    export: ExportLayout | None = None
    pick_list: Rx | None = None          # a template's unresolved choice list ("{right/left}")
    pick_list_source: str | None = None


class RoleSpec(BaseModel):
    """``roles.json``: role cues, provider mentions and the words that may link them (scribe/nlp/roles.py)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    doc: str = Field("", alias="_doc")
    source: str
    cues: dict[str, list[str]]
    providers: dict[str, list[str]]
    link_forward: list[str]
    link_backward: list[str]
    coordinated_objects: list[str]
    ambiguous_credentials: list[str]
    date_time: str
    status: list[dict[str, Any]]

    @field_validator("cues")
    @classmethod
    def _known_roles(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = set(v) - {"signature", "ordering", "interpreting", "dictation", "acquisition"}
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)} (signature, ordering, interpreting, dictation, acquisition)")
        return v


class IndexTerm(_Strict):
    term: str
    code: str
    source: str


class HistoryMap(BaseModel):
    """Condition code prefix -> its personal-history code, with where that comes from."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    doc: str = Field("", alias="_doc")
    source: str
    codes: dict[str, str]


class ComposedSpec(BaseModel):
    """``icd10_terms.json`` ``composed``: a limb condition composed from its clause."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    doc: str = Field("", alias="_doc")
    source: str
    extra_weight: float = Field(0.75, gt=0, le=5)
    mention_weight: float = Field(0.5, ge=0, le=5)
    side_weight: float = Field(0.25, ge=0, le=5)
    kinds: list[str] = []
    kind_weight: float = Field(1.0, ge=0, le=1)
    kinds_doc: str | None = None
    heads: list[str]
    qualifiers: list[str] = []
    site_codes: list[str] = []
    equivalents: list[dict[str, Any]] = []
    phrases: list[tuple[str, str]] = []
    phrases_source: str | None = None
    device_words: list[str] = []
    status_heads: dict[str, list[str]] = {}
    devices_doc: str | None = None
    not_modifiers: list[str] = []
    not_modifiers_doc: str | None = None

    @field_validator("phrases")
    @classmethod
    def _compiles(cls, v: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for rx, _ in v:
            try:
                re.compile(rx)
            except re.error as exc:
                raise ValueError(f"phrase {rx!r} does not compile: {exc}") from None
        return v


class TermSpec(BaseModel):
    """``icd10_terms.json``: how a note's condition words are looked up in the whole code set."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    doc: str = Field("", alias="_doc")
    source: str
    max_words: int = Field(7, ge=1, le=12)
    stopwords: list[str]
    synonyms: dict[str, str]
    optional: list[str]
    implied: list[str]
    too_general: list[str]
    index_terms: list[IndexTerm] = []
    history_of_neoplasm: HistoryMap | None = None
    history_of_fracture: HistoryMap | None = None
    composed: ComposedSpec | None = None


# -- patterns.json, sections.json, icd10_support.json ---------------------------------------
# Each file's shape, checked at load time so that a misspelt key, a list where a pattern belongs
# or a pattern that does not compile stops start-up naming the file and the key path. The engine
# keeps reading the file's own JSON: the models check it, they do not reshape it.

def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"the pattern does not compile: {exc}") from None
    return value


Rx = Annotated[str, AfterValidator(_compiles)]      # a regular expression (Python ``re``)


def _no_comments(data: Any) -> Any:
    """An object without its comment keys (``_doc`` and any other key starting with ``_``)."""
    return {k: v for k, v in data.items() if not str(k).startswith("_")} if isinstance(data, dict) else data


class _Data(BaseModel):
    """A strict object of a JSON lexicon file: unknown keys are errors, ``_`` keys comments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _comments(cls, data: Any) -> Any:
        return _no_comments(data)


class _DocMap(BaseModel):
    """A JSON object of named entries, each of the type ``__pydantic_extra__`` gives (``_`` keys
    are comments)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _comments(cls, data: Any) -> Any:
        return _no_comments(data)

    def entries(self) -> dict[str, Any]:
        return dict(self.__pydantic_extra__ or {})


class _Lists(_DocMap):
    __pydantic_extra__: dict[str, list[str]] = Field(init=False)


class _Names(_DocMap):
    __pydantic_extra__: dict[str, str] = Field(init=False)


class ProjectionPattern(_Data):
    name: str
    pattern: Rx
    skip_near: Rx | None = None         # not this projection within a few words of it ("bending")
    expands: list[str] | None = None    # the projections it stands for ("flexion and extension")


class RegionPattern(_Data):
    region: str
    pattern: Rx
    not_after: Rx | None = None


class ValuePattern(_Data):
    value: str
    pattern: Rx


class ContrastComposed(_Data):
    agents: Rx
    before_after: Rx
    given: Rx
    not_given: Rx
    given_field: Rx


class PriorBlock(_Data):
    open: Rx
    close: Rx


class ProjectionHint(_Data):
    words: list[str]
    count: Rx


class Laterality(_Data):
    right: Rx
    left: Rx
    bilateral: Rx


class Sides(_Data):
    source: str
    before: Rx
    after: Rx
    after_letter: Rx
    field: Rx
    values: dict[str, Literal["right", "left", "both"]]
    plural_irregular: list[str] = []


class PatternsSpec(_Data):
    """``patterns.json``: the regular-expression fragments of the report facts (scribe/nlp/facts.py);
    the families' anatomy is added to them at load time (``with_anatomy``)."""

    number_words: dict[str, int]
    view_nouns: list[Rx]
    view_context: Rx
    view_count_excludes: Rx
    view_count_ordered: Rx
    view_count_ordered_before: Rx
    view_count_ordered_contrast: Rx
    view_count_after: Rx
    projections: list[ProjectionPattern]
    dynamic_projections: list[str]
    qualifying_projections: list[str] = []
    unchecked_box: Rx | None = None
    pointer_content: Rx | None = None
    pointer_content_source: str | None = None
    other_study: Rx | None = None
    contrast_where: Rx | None = None
    contrast_where_source: str | None = None
    side_letter: Rx | None = None
    side_letter_source: str | None = None
    other_study_source: str | None = None
    unchecked_source: str | None = None
    qualifying_source: str | None = None
    dynamic_view_anchor: Rx | None = None
    projection_source: str | None = None
    projection_hint: ProjectionHint
    regions: list[RegionPattern]
    region_folds: _Lists
    region_title_only: list[str]
    region_labels: dict[str, str]
    region_source: str | None = None
    imaging_nouns: Rx
    level: Rx
    level_not_after: Rx
    spoken_level: Rx
    level_limits: dict[Literal["C", "T", "L", "S"], int]
    level_regions: dict[Literal["C", "T", "L", "S"], str]
    contrast: list[ValuePattern]
    contrast_composed: ContrastComposed | None = None
    contrast_source: str | None = None
    signature: Rx
    signature_negative: Rx
    signature_source: str | None = None
    ordering: Rx
    ordering_source: str | None = None
    comparison: Rx
    comparison_source: str | None = None
    own_office: Rx | None = None
    acquired_today: Rx | None = None
    clinic_note: Rx | None = None
    treating_credential: Rx | None = None
    treating_credential_source: str | None = None
    read_for_another: Rx | None = None
    projection_not_taken: Rx | None = None
    projection_not_taken_source: str | None = None
    own_office_source: str | None = None
    prior_block: PriorBlock | None = None
    prior_cues: Rx
    prior_after: Rx
    reduced_study: Rx
    reduced_source: str | None = None
    finding_vocab: list[str]
    imaging_statement: Rx
    encounter_cues: list[ValuePattern]
    encounter_default: str | None = None
    encounter_priority: list[str]
    encounter_default_source: str | None = None
    encounter_source: str | None = None
    duration: Rx
    laterality: Laterality
    icd_region_words: dict[str, Rx]
    icd_region_family: _Names
    study_region_to_icd: _Names
    age: Rx
    mri_sequence: Rx
    placeholder: Rx | None = None
    placeholder_source: str | None = None
    empty_content: Rx
    gates: _Lists
    study_nouns: Rx | None = None
    study_nouns_doc: str | None = None
    sides: Sides | None = None

    @field_validator("dynamic_projections")
    @classmethod
    def _projections_known(cls, v: list[str], info: ValidationInfo) -> list[str]:
        projections = info.data.get("projections")
        if projections is not None:
            _known(v, {p.name for p in projections} | {e for p in projections for e in p.expands or ()}, "projection")
        return v

    @field_validator("region_folds", "region_title_only", "level_regions")
    @classmethod
    def _regions_known(cls, v: Any, info: ValidationInfo) -> Any:
        regions = info.data.get("regions")
        if regions is not None:
            known = {r.region for r in regions}
            if isinstance(v, _Lists):
                for wider, narrower in v.entries().items():
                    _known([wider] + [r for r in narrower if r != "*"], known, "region", f"{wider}: ")
            else:
                _known(list(v.values()) if isinstance(v, dict) else v, known, "region")
        return v

    @field_validator("encounter_priority")
    @classmethod
    def _encounters_known(cls, v: list[str], info: ValidationInfo) -> list[str]:
        cues = info.data.get("encounter_cues")
        if cues is not None:
            _known(v, {c.value for c in cues} | {info.data.get("encounter_default")} - {None}, "encounter value")
        return v


def _known(names: list[str], known: set, kind: str, where: str = "") -> None:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"{where}unknown {kind} {', '.join(map(repr, unknown))} (known: {', '.join(sorted(known))})")


class Literals(_Data):
    literals: list[str]


class SoftHeaders(_Data):
    literals: list[str]
    not_before: list[str]


class SectionRoles(_Lists):
    """``sections.json`` ``roles``: which sections play which part (each role a list of section
    categories, ``narrative`` being text under no header)."""

    reason: list[str]
    no_findings: list[str]


#: the section of text under no header (scribe/nlp/sections.py)
UNDER_NO_HEADER = "narrative"
SECTION_ROLES = ("reason", "clinic_if_today", "reason_before_read", "no_findings", "future", "examination", "ordered",
                 "clinic", "read_opens_in", "described_read_opens_in", "headed_read_opens_in")


class SectionsSpec(_Data):
    """``sections.json``: section headers, the categories that may open mid-line, section roles."""

    source: str
    sections: list[SectionRule]
    midline_categories: list[str]
    midline_exclude: list[str]
    roles: SectionRoles
    needs_colon: Literals | None = None
    soft_headers: SoftHeaders | None = None

    @field_validator("midline_categories")
    @classmethod
    def _midline_known(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if "sections" in info.data:
            _known(v, {s.category for s in info.data["sections"]}, "section category")
        return v

    @field_validator("roles")
    @classmethod
    def _roles_known(cls, v: SectionRoles, info: ValidationInfo) -> SectionRoles:
        roles = {"reason": v.reason, "no_findings": v.no_findings, **v.entries()}
        _known(list(roles), set(SECTION_ROLES), "role")
        if "sections" in info.data:
            categories = {s.category for s in info.data["sections"]} | {UNDER_NO_HEADER}
            for role, names in roles.items():
                _known(names, categories, "section category", f"{role}: ")
        return v


ICD_PREFIX = r"^(?:[A-Z][0-9A-Z]{0,2}(?:\.[0-9A-Z]{0,4})?)?$"


class SupportClass(_Data):
    """A medical-necessity class: the ICD-10-CM code prefixes that support its studies."""

    prefixes: list[Annotated[str, Field(pattern=ICD_PREFIX)]]
    source: str
    reason_text: str | None = None      # what the gap says such a study needs
    needed: str | None = None


class SupportSpec(_Data):
    """``icd10_support.json``: which chosen ICD-10-CM codes support medical necessity."""

    not_supporting: Literal["nonspecific_pain_only"] | None = None
    not_supporting_doc: str | None = None
    nonspecific_pain: list[Annotated[str, Field(pattern=r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$")]]
    nonspecific_source: str | None = None
    nonspecific_prefixes: list[Annotated[str, Field(pattern=ICD_PREFIX)]] = []
    nonspecific_prefixes_source: str | None = None
    support: dict[str, SupportClass]


@dataclass(frozen=True)
class Lexicons:
    """Everything the engine reads from ``lexicons/``, validated."""

    root: str
    sections: tuple[SectionRule, ...]
    midline_headers: tuple[str, ...]
    section_roles: dict[str, Any]
    context: tuple[ContextRule, ...]
    concepts: tuple[Concept, ...]
    patterns: dict[str, Any]
    rules: tuple[RuleSpec, ...]
    families: tuple[Family, ...]
    icd_support: dict[str, Any]
    soft_headers: dict[str, Any] = field(default_factory=dict)
    dictation: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, Any] = field(default_factory=dict)
    icd_terms: dict[str, Any] = field(default_factory=dict)

    def cpt(self, code: str) -> CptCode | None:
        return _cpt_index(self).get(code)


@lru_cache(maxsize=8)
def _cpt_index_cached(key: int, lex: Lexicons) -> dict[str, CptCode]:
    return {c.code: c for family in lex.families for c in family.codes}


def _cpt_index(lex: Lexicons) -> dict[str, CptCode]:
    return _cpt_index_cached(id(lex), lex)


def lexicon_root() -> Path:
    override = os.environ.get("SCRIBE_LEXICON_DIR")
    if override:
        return Path(override)
    return Path(str(resources.files("scribe_lexicons")))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LexiconError(f"{path.name}: {exc}") from None


def _read_jsonl(path: Path, model: type[BaseModel]) -> list[Any]:
    items, errors = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LexiconError(f"{path.name}: {exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            items.append(model.model_validate(json.loads(line)))
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
            errors.append(f"{path.name}:{number}: {detail}")
        except (json.JSONDecodeError, re.error) as exc:
            errors.append(f"{path.name}:{number}: {exc}")
    if errors:
        raise LexiconError("; ".join(errors))
    return items


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LexiconError(f"{path.name}: {exc}") from None


def _validated(model: type[BaseModel], data: Any, where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:   # one line: each problem's key and what is wrong
        detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
        raise LexiconError(f"{where}: {detail}") from None


def _holds_key(data: Any, key: object) -> bool:
    if isinstance(data, dict):
        return key in data or any(_holds_key(v, key) for v in data.values())
    if isinstance(data, list):
        return any(_holds_key(v, key) for v in data)
    return False


def missing_key(root: Path, key: object) -> LexiconError:
    """The one-line error for a key the code needs and a lexicon file lacks (renamed or deleted):
    it names the file of ``root`` that holds the key in the packaged lexicons."""
    shipped = Path(str(resources.files("scribe_lexicons")))
    for path in sorted(shipped.glob("*.json")) + sorted(shipped.glob("*.toml")):
        try:
            data = _read_json(path) if path.suffix == ".json" else _read_toml(path)
        except LexiconError:
            continue
        if _holds_key(data, key):
            return LexiconError(f"{path.name}: missing key {key!r} (in {root / path.name})")
    return LexiconError(f"missing key {key!r} in a lexicon file of {root}")


def words_pattern(words: list[str], plural: str = "(?P<pl>e?s)?") -> str:
    """One pattern for plain words and phrases: any case, a hyphen or spaces between words, an
    optional plural ending (group ``pl``, or ``plural`` as given)."""
    alts = sorted({r"[\s-]+".join(re.escape(w) for w in phrase.lower().split()) for phrase in words},
                  key=len, reverse=True)
    return rf"(?<!\w)(?:{'|'.join(alts)}){plural}(?!\w)"


def with_anatomy(patterns: dict[str, Any], families: list[Family]) -> dict[str, Any]:
    """``patterns.json`` completed by the families' anatomy: each body part a region pattern of
    its own kind (``parts``), its label, the wider regions it folds into and its gate; each
    family projection a projection pattern, read before the shared ones (a "frog-leg lateral"
    is one view, not a lateral and another); projection words as hints of a view list."""
    p = dict(patterns)
    parts = [part for fam in families for part in fam.anatomy.parts]
    if not parts:
        return p
    p["parts"] = [{"part": part.id, "pattern": words_pattern(part.words), "not_after": part.not_after,
                   "family": fam.family}
                  for fam in families for part in fam.anatomy.parts]
    p["region_labels"] = {**p["region_labels"],
                          **{part.id: part.label or part.id.replace("_", " ") for part in parts}}
    p["part_folds"] = {part.id: list(part.folds_into) for part in parts}
    p["part_regions"] = {part.id: list(part.takes_in_regions) for part in parts if part.takes_in_regions}
    gates = dict(p["gates"])
    for part in parts:
        gates["part:" + part.id] = sorted({w.lower().split()[0] for w in part.words})
    p["gates"] = gates
    # a family projection said with a view word after it is still one view ("frog-leg lateral",
    # "sunrise view", "Grashey AP"); the longest names are read first ("carpal tunnel view" before "tunnel")
    tail = r"(?:[\s-]+(?:laterals?|obliques?|views?|projections?|films?|ap|pa)\b)?"
    listed = r"(?:(?<=, )|(?<=,)|(?<=and )|(?<=& )|(?<=/)|(?<=/ ))"
    after = r"(?=\s*(?:,|/|&|and\b|\)))"
    projections = sorted((proj for fam in families for proj in fam.anatomy.projections
                          if proj.counts and (proj.pattern or proj.words)),
                         key=lambda proj: -max((len(w) for w in proj.words), default=len(proj.pattern or "")))
    own = []
    for proj in projections:
        words = words_pattern(proj.words, "(?:e?s)?")
        if proj.pattern:
            pattern = proj.pattern
        elif proj.needs_list:
            pattern = f"{listed}{words}{tail}|{words}{after}"
        else:
            pattern = words + tail
        own.append({"name": proj.name, "pattern": pattern, **({"expands": proj.expands} if proj.expands else {}),
                    **({"with_parts": [part.id for part in parts if part.id in proj.parts]} if proj.with_parts else {})})
    p["projections"] = own + list(p["projections"])
    hint = dict(p["projection_hint"])
    names = {phrase for fam in families for proj in fam.anatomy.projections for phrase in proj.words
             if " " not in phrase and len(phrase) > 2}
    hint["words"] = sorted(set(hint.get("words", [])) | names | {w.capitalize() for w in names} | {w.upper() for w in names})
    p["projection_hint"] = hint
    p["one_view"] = [list(g) for g in dict.fromkeys(tuple(sorted(group)) for fam in families for group in fam.anatomy.one_view)]
    return p


def load_lexicons(root: Path | None = None) -> Lexicons:
    root = Path(root) if root else lexicon_root()
    try:
        return _load_lexicons(root)
    except KeyError as exc:
        raise missing_key(root, exc.args[0]) from None


def _load_lexicons(root: Path) -> Lexicons:
    # checked by their schemas, then read as the files say (the models do not reshape them)
    sections = _read_json(root / "sections.json")
    _validated(SectionsSpec, sections, "sections.json")
    patterns = _read_json(root / "patterns.json")
    _validated(PatternsSpec, patterns, "patterns.json")
    support = _read_json(root / "icd10_support.json")
    _validated(SupportSpec, support, "icd10_support.json")
    rules_doc = _read_toml(root / "rules.toml")
    paths = sorted((root / "families").glob("*.toml"))
    families = [_validated(Family, _read_toml(path), path.name) for path in paths]
    for path, family in zip(paths, families):
        for i, code in enumerate(family.codes):
            if code.necessity not in support["support"]:
                raise LexiconError(f"{path.name}: codes.{i}.necessity: {code.necessity!r} (CPT {code.code}) is not a "
                                   f"class of icd10_support.json support ({', '.join(support['support'])})")
    rules = [_validated(RuleSpec, r, f"rules.toml rule {r.get('id', '?')}") for r in rules_doc.get("rule", [])]
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise LexiconError("rules.toml: duplicate rule ids")
    lex = Lexicons(
        root=str(root),
        sections=tuple(_validated(SectionRule, s, "sections.json") for s in sections["sections"]),
        section_roles={k: frozenset(v) for k, v in sections["roles"].items() if not k.startswith("_")},
        midline_headers=tuple(lit for s in sections["sections"] if s["category"] in sections["midline_categories"]
                              for lit in s["literals"] if lit not in sections["midline_exclude"]),
        context=tuple(_read_jsonl(root / "context_rules.jsonl", ContextRule)),
        concepts=tuple(_read_jsonl(root / "concepts.jsonl", Concept)),
        patterns=with_anatomy(patterns, families),
        rules=tuple(rules),
        families=tuple(families),
        icd_support=support,
        soft_headers={**{k: v for k, v in sections.get("soft_headers", {}).items() if not k.startswith("_")},
                      "needs_colon": sections.get("needs_colon", {}).get("literals", [])},
        dictation=_validated(DictationSpec, _read_json(root / "dictation.json"), "dictation.json").model_dump()
        if (root / "dictation.json").exists() else {},
        roles=_validated(RoleSpec, _read_json(root / "roles.json"), "roles.json").model_dump()
        if (root / "roles.json").exists() else {},
        icd_terms=_validated(TermSpec, _read_json(root / "icd10_terms.json"), "icd10_terms.json").model_dump(
            exclude={"doc"}) if (root / "icd10_terms.json").exists() else {},
    )
    for key in ("level", "spoken_level", "signature", "ordering", "comparison", "reduced_study", "view_context"):
        try:
            re.compile(lex.patterns[key])
        except KeyError:
            raise LexiconError(f"patterns.json: missing key {key!r}") from None
        except re.error as exc:
            raise LexiconError(f"patterns.json: {key}: {exc}") from None
    return lex
