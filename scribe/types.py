"""Value types shared by the engine, the session and the server (JSON via ``to_dict``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

SITES = ("office", "facility")
ASSERTIONS = ("present", "negated", "possible", "historical", "hypothetical", "family")
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
MAX_NOTE_CHARS = 2_000_000   # a longer note is unusable input (1 MB notes must work): CLI, engine and live session


@dataclass(frozen=True)
class Line:
    """One claim line: a CPT code and the modifiers on that line only."""

    cpt: str
    modifiers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"cpt": self.cpt, "modifiers": list(self.modifiers)}


LINE_KEYS = ("cpt", "modifiers")


def _where(i: int) -> str:
    """How a message names claim line ``i`` (0-based, as the ``line`` of a gap): "line 2 (lines[1])"."""
    return f"line {i + 1} (lines[{i}])"


def _strings(obj: dict[str, Any], key: str, name: str) -> tuple[str, ...]:
    from .errors import InputError

    value = obj.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"'{name}' must be a list of strings", code="BAD_ENCOUNTER")
    return tuple(v.strip().upper() for v in value if v.strip())


def _line(i: int, raw: Any) -> Line:
    """Claim line ``i`` of an encounter's ``lines``; an InputError naming it when malformed."""
    from .errors import InputError

    where = _where(i)
    if not isinstance(raw, dict):
        raise InputError(f"{where} must be an object {{\"cpt\": CODE, \"modifiers\": [...]}}, not "
                         f"{type(raw).__name__}", code="BAD_ENCOUNTER", line=i)
    unknown = sorted(str(k) for k in raw if k not in LINE_KEYS)
    if unknown:
        raise InputError(f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; a line carries 'cpt' and "
                         "'modifiers'", code="BAD_ENCOUNTER", line=i)
    codes = _strings(raw, "cpt", f"lines[{i}].cpt")
    if len(codes) != 1:
        raise InputError(f"{where} carries {len(codes) or 'no'} CPT code{'' if len(codes) == 1 else 's'}; each line "
                         "carries exactly one (give one line per code)", code="BAD_ENCOUNTER", line=i)
    return Line(codes[0], _strings(raw, "modifiers", f"lines[{i}].modifiers"))


@dataclass(frozen=True)
class Encounter:
    """What was chosen for the claim: CPT codes, modifiers, ICD-10-CM codes, site.

    ``lines`` are the claim lines. Given as ``cpt`` + ``modifiers`` they are one line per code, each
    with every modifier (the contract's short form); given as ``lines`` each keeps its own modifiers,
    and ``cpt``/``modifiers`` are then the codes in line order and the union of the modifiers."""

    cpt: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    icd10: tuple[str, ...] = ()
    site: str = "office"
    provider: str | None = None
    lines: tuple[Line, ...] = ()

    def __post_init__(self) -> None:
        if not self.lines and self.cpt:
            object.__setattr__(self, "lines", tuple(Line(c, self.modifiers) for c in self.cpt))
        elif self.lines and not self.cpt:
            object.__setattr__(self, "cpt", tuple(line.cpt for line in self.lines))
            object.__setattr__(self, "modifiers", tuple(dict.fromkeys(m for line in self.lines for m in line.modifiers)))

    @property
    def per_line(self) -> bool:
        """Whether the lines differ in their modifiers (then gaps name their line)."""
        return len({line.modifiers for line in self.lines}) > 1

    @classmethod
    def from_dict(cls, data: dict[str, Any], *,
                  validate: Callable[["Encounter"], object] | None = None) -> "Encounter":
        """The encounter of a case, a ``start`` or a ``context`` (contract section 2): either
        ``cpt`` + ``modifiers`` or ``lines`` (``cpt``/``modifiers`` besides ``lines`` only restating
        them, as ``to_dict`` writes them). ``validate`` (the engine's
        ``validate_encounter``) checks each line's code on its own, so that an unknown or deleted
        code is refused naming its line; the engine checks the codes again either way."""
        from .errors import InputError

        if not isinstance(data, dict):
            raise InputError("the encounter must be an object", code="BAD_ENCOUNTER")

        def strings(key: str) -> tuple[str, ...]:
            return _strings(data, key, key)

        site = data.get("site") or "office"
        if site not in SITES:
            raise InputError(f"site must be one of {', '.join(SITES)}, not {site!r}", code="BAD_SITE")
        provider = data.get("provider")
        if provider is not None and not isinstance(provider, str):
            raise InputError("'provider' must be a string", code="BAD_ENCOUNTER")
        raw_lines = data.get("lines")
        if raw_lines is None:
            return cls(cpt=strings("cpt"), modifiers=strings("modifiers"), icd10=strings("icd10"),
                       site=site, provider=provider)
        if not isinstance(raw_lines, list):
            raise InputError("'lines' must be a list of claim lines, each {\"cpt\": CODE, \"modifiers\": [...]}",
                             code="BAD_ENCOUNTER")
        if not raw_lines:
            raise InputError("choose the study code: 'lines' is empty; give at least one claim line "
                             "{\"cpt\": CODE, \"modifiers\": [...]}, or leave 'lines' out and give 'cpt'",
                             code="CPT_MISSING")
        encounter = cls(icd10=strings("icd10"), site=site, provider=provider,
                        lines=tuple(_line(i, raw) for i, raw in enumerate(raw_lines)))
        encounter._agrees(strings("cpt"), strings("modifiers"))
        if validate is not None:
            encounter.check_lines(validate)
        return encounter

    def _agrees(self, cpt: tuple[str, ...], modifiers: tuple[str, ...]) -> None:
        """``cpt`` or ``modifiers`` given besides ``lines`` may only restate them, as ``to_dict``
        writes them (the codes in line order, the union of the lines' modifiers); anything else
        is two claims at once, refused naming the first line they disagree on."""
        from .errors import InputError

        both = "give either 'lines' or 'cpt' + 'modifiers', not both: with 'lines' each line carries its own CPT code"
        if cpt and cpt != self.cpt:
            i = next((i for i, (a, b) in enumerate(zip(cpt, self.cpt)) if a != b), min(len(cpt), len(self.cpt)))
            if i < len(self.lines):
                said = f"'cpt' has {cpt[i]}" if i < len(cpt) else f"'cpt' has no code {i + 1}"
                raise InputError(f"{both}; {_where(i)} is {self.lines[i].cpt} but {said}", code="BAD_ENCOUNTER",
                                 line=i, cpt=self.lines[i].cpt)
            raise InputError(f"{both}; 'cpt' lists {len(cpt)} codes for {len(self.lines)} line"
                             f"{'' if len(self.lines) == 1 else 's'}", code="BAD_ENCOUNTER")
        if modifiers and set(modifiers) != set(self.modifiers):
            each = "; ".join(f"{_where(i)}: {', '.join(line.modifiers) or 'none'}" for i, line in enumerate(self.lines))
            raise InputError(f"give either 'lines' or 'cpt' + 'modifiers', not both: 'modifiers' {', '.join(modifiers)} "
                             f"differs from the lines' own modifiers ({each})", code="BAD_ENCOUNTER")

    def check_lines(self, validate: Callable[["Encounter"], object]) -> None:
        """Each line's code checked alone by ``validate``: its InputError names the line."""
        from .errors import InputError

        for i, line in enumerate(self.lines):
            try:
                validate(Encounter(cpt=(line.cpt,)))
            except InputError as exc:
                raise InputError(f"{_where(i)}: {exc.message}", code=exc.code, line=i, cpt=line.cpt) from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cpt": list(self.cpt), "modifiers": list(self.modifiers), "icd10": list(self.icd10),
               "site": self.site, "provider": self.provider}
        if self.per_line:
            out["lines"] = [line.to_dict() for line in self.lines]
        return out


@dataclass(frozen=True)
class Evidence:
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text}


@dataclass(frozen=True)
class Gap:
    code: str
    severity: str
    message: str
    fix: str
    source: str
    rule_id: str
    cpt: str | None = None
    icd10: str | None = None
    line: int | None = None          # index into the encounter's lines, when the gap is about one line
    evidence: tuple[Evidence, ...] = ()

    @property
    def key(self) -> tuple:
        """Identity of a gap across updates (raised/resolved diffs)."""
        return (self.code, self.cpt, self.icd10) if self.line is None else (self.code, self.cpt, self.icd10, self.line)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "severity": self.severity, "rule_id": self.rule_id}
        if self.cpt:
            out["cpt"] = self.cpt
        if self.icd10:
            out["icd10"] = self.icd10
        if self.line is not None:
            out["line"] = self.line
        out.update(message=self.message, evidence=[e.to_dict() for e in self.evidence],
                   fix=self.fix, source=self.source)
        return out


@dataclass(frozen=True)
class CodeCandidate:
    code: str
    description: str
    score: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "description": self.description, "score": round(self.score, 3)}


@dataclass(frozen=True)
class Indication:
    text: str
    start: int
    end: int
    assertion: str
    concept: str
    section: str
    icd10: tuple[CodeCandidate, ...] = ()
    match: str = "exact"  # exact | fuzzy | pattern | coordinated | abbreviation | codeset

    def to_dict(self) -> dict[str, Any]:
        return dict(self._dict)  # a copy: callers may change it

    @cached_property
    def _dict(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "end": self.end, "assertion": self.assertion,
                "concept": self.concept, "section": self.section, "match": self.match,
                "icd10": [c.to_dict() for c in self.icd10]}


@dataclass
class CheckResult:
    gaps: list[Gap]
    indications: list[Indication]
    facts: dict[str, Any]
    supported_cpt: list[str]
    checklist: list[dict[str, Any]] = field(default_factory=list)
    id: str | None = None
    gap_traces: list[dict[str, Any]] | None = None          # set by --explain, one per gap
    indication_traces: list[dict[str, Any]] | None = None   # one per indication

    def retext(self, text: str) -> "CheckResult":
        """The same result with every evidence and indication text read from ``text`` (the
        submitted note, when the engine read its normalised form: same length, same offsets)."""
        from dataclasses import replace

        def ev(e: Evidence) -> Evidence:
            return e if text[e.start:e.end] == e.text else Evidence(e.start, e.end, text[e.start:e.end])

        self.gaps = [replace(g, evidence=tuple(ev(e) for e in g.evidence)) if g.evidence else g for g in self.gaps]
        self.indications = [i if text[i.start:i.end] == i.text else replace(i, text=text[i.start:i.end])
                            for i in self.indications]
        for item in self.checklist:
            for e in item.get("evidence", ()):
                e["text"] = text[e["start"]:e["end"]]
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        gaps = [g.to_dict() for g in self.gaps]
        indications = [i.to_dict() for i in self.indications]
        if self.gap_traces is not None:
            for g, trace in zip(gaps, self.gap_traces):
                g["trace"] = trace
        if self.indication_traces is not None:
            for i, trace in zip(indications, self.indication_traces):
                i["trace"] = trace
        out.update(gaps=gaps, indications=indications,
                   facts=self.facts, supported_cpt=list(self.supported_cpt),
                   checklist=self.checklist)
        return out
