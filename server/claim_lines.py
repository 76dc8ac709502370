"""Claim lines as the pages and the statistics see them: the lines of a stored encounter, the
line a stored gap is about, and the family of each CPT code (from the engine's family registry).

An encounter is stored as the engine writes it (``Encounter.to_dict``): ``lines`` only when the
lines carry different modifiers, else ``cpt`` + ``modifiers`` (one line per code, each with every
modifier), which is also how rows stored before claim lines read. No rule logic lives here.
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

# the engine prefixes a gap about one line of a per-line claim with "Claim line N (CPT): "
_LINE_PREFIX = re.compile(r"^Claim line (\d+) \((\d{5})\)")


def lines_of(encounter: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The claim lines of a stored encounter, each ``{"cpt", "modifiers"}``."""
    encounter = encounter or {}
    raw = encounter.get("lines")
    if isinstance(raw, list) and raw and all(isinstance(x, Mapping) and isinstance(x.get("cpt"), str) for x in raw):
        return [{"cpt": x["cpt"], "modifiers": [m for m in x.get("modifiers") or () if isinstance(m, str)]}
                for x in raw]
    modifiers = [m for m in encounter.get("modifiers") or () if isinstance(m, str)]
    return [{"cpt": c, "modifiers": list(modifiers)} for c in encounter.get("cpt") or () if isinstance(c, str)]


def line_of_gap(gap: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> int | None:
    """The index of the claim line a gap is about: the ``line`` it carries, the line its message
    names, or the only line of its CPT code; None for a gap about the whole note or claim."""
    line = gap.get("line")
    if isinstance(line, int) and not isinstance(line, bool) and 0 <= line < len(lines):
        return line
    cpt = gap.get("cpt")
    if not cpt:
        return None
    named = _LINE_PREFIX.match(gap.get("message") or "")
    if named:
        i = int(named.group(1)) - 1
        if 0 <= i < len(lines) and lines[i]["cpt"] == named.group(2) == cpt:
            return i
    where = [i for i, ln in enumerate(lines) if ln["cpt"] == cpt]
    return where[0] if len(where) == 1 else None


def code_families(engine: Any) -> dict[str, str]:
    """{CPT code: family name} from the engine's family registry (``lexicons/families/*.toml``)."""
    requirements = getattr(engine, "cpt", None)
    family_of = getattr(requirements, "family_of", None) or {}
    return {code: fam.family for code, fam in family_of.items()}


def code_catalogue(engine: Any) -> dict[str, Any]:
    """Every code scribe checks and every family, for the encounter form: a code's family and
    side policy (``unilateral``: RT/LT lines or 50; ``bilateral``: both sides by definition, no
    side modifier; ``none``: midline), and per family the side modifiers it accepts."""
    requirements = getattr(engine, "cpt", None)
    if requirements is None:
        return {"families": [], "codes": []}
    family_of = requirements.family_of
    families: dict[str, dict[str, Any]] = {}
    codes = []
    for code, fam in sorted(family_of.items()):
        spec = requirements.get(code)
        if spec is None:
            continue
        families.setdefault(fam.family, {
            "family": fam.family, "description": fam.description, "study": fam.study,
            "laterality_modifiers": list(fam.laterality_modifiers), "side_modifiers": dict(fam.side_modifiers)})
        codes.append({"cpt": code, "family": fam.family, "paraphrase": spec.paraphrase, "modality": spec.modality,
                      "laterality": spec.laterality, "status": spec.status, "replaced_by": list(spec.replaced_by)})
    return {"families": list(families.values()), "codes": codes}
