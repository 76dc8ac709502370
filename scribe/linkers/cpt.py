"""CPT requirements: what each imaging code demands, and which codes the
documentation itself supports (``supported_cpt``), all read from ``lexicons/families``."""
from __future__ import annotations

from ..lexicons import CptCode, Lexicons

POSITION_RANK = {"dynamic_only": 0, "includes_dynamic": 0, "any": 1}


class CptRequirements:
    def __init__(self, lexicons: Lexicons):
        self.codes: dict[str, CptCode] = {c.code: c for fam in lexicons.families for c in fam.codes}
        self.families = lexicons.families
        self.dynamic = frozenset(lexicons.patterns["dynamic_projections"])

    def get(self, code: str) -> CptCode | None:
        return self.codes.get(code)

    def active(self) -> list[CptCode]:
        return [c for c in self.codes.values() if c.status == "active"]

    def fits_views(self, code: CptCode, views: int, projections: list[str]) -> bool:
        if not code.takes_views(views):
            return False
        dynamic = [p for p in projections if p in self.dynamic]
        if code.positions == "dynamic_only":
            return bool(projections) and len(dynamic) == len(projections)
        if code.positions == "includes_dynamic":
            return bool(dynamic)
        return True

    def supported(self, note, modalities: set[str]) -> list[str]:
        """Codes the documentation supports, best first (most specific code for the facts)."""
        out: list[str] = []
        for modality in sorted(modalities):
            if modality == "xray":
                out += self._xray(note)
            else:
                out += self._cross_sectional(note, modality)
        return list(dict.fromkeys(out))

    def _xray(self, note) -> list[str]:
        if note.views is None:
            return []
        out = []
        for region in note.regions:
            fitting = [c for c in self.active() if c.modality == "xray" and c.region == region
                       and self.fits_views(c, note.views, note.projections)]
            fitting.sort(key=lambda c: (POSITION_RANK[c.positions], c.code))
            out += [c.code for c in fitting]
        if note.views == 1 and not out and (note.regions or note.levels):
            out += [c.code for c in self.active() if c.modality == "xray" and c.region == "any"]
        return out

    def _cross_sectional(self, note, modality: str) -> list[str]:
        if note.contrast is None:
            return []
        return sorted(c.code for c in self.active()
                      if c.modality == modality and c.region in note.regions and c.contrast == note.contrast)
