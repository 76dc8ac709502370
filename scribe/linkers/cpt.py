"""CPT requirements: what each imaging code demands, and which codes the
documentation itself supports (``supported_cpt``), all read from ``lexicons/families``."""
from __future__ import annotations

from ..lexicons import CptCode, Family, Lexicons

POSITION_RANK = {"dynamic_only": 0, "includes_dynamic": 0, "any": 1}


class CptRequirements:
    def __init__(self, lexicons: Lexicons):
        self.codes: dict[str, CptCode] = {c.code: c for fam in lexicons.families for c in fam.codes}
        self.families = lexicons.families
        self.family_of: dict[str, Family] = {c.code: fam for fam in lexicons.families for c in fam.codes}
        self.dynamic = frozenset(lexicons.patterns["dynamic_projections"])
        # a part of a limb and the wider regions it belongs to (a knee: a lower-extremity joint)
        self.part_order: dict[str, tuple[str, ...]] = {
            part: (part, *wider) for part, wider in lexicons.patterns.get("part_folds", {}).items()}
        self.part_folds: dict[str, frozenset[str]] = {part: frozenset(order) for part, order in self.part_order.items()}
        # families with position-defined codes: there flexion and bending views make a study dynamic
        self.dynamic_families = frozenset(fam.family for fam in lexicons.families
                                          if any(c.positions != "any" for c in fam.codes))
        self.includes = frozenset(r for c in self.codes.values() for r in c.includes)
        labels = lexicons.patterns.get("region_labels", {})
        self.labels = labels

    def limb_parts(self, note) -> list[str]:
        """The limb parts a limb study images: parts named with the imaging, on a note that images no
        spine region (a hip series' pelvis view aside); none for "leg pain" on a lumbar study."""
        if not getattr(note, "parts_imaged", False) or not all(r in self.includes for r in note.regions):
            return []
        return list(note.parts)

    def family(self, code: CptCode) -> Family | None:
        return self.family_of.get(code.code)

    def is_limb(self, code: CptCode) -> bool:
        """The code images a part of a limb (its region is a part, or a region parts fold into)."""
        return any(code.region in folds for folds in self.part_folds.values())

    def parts_of(self, code: CptCode, parts) -> list[str]:
        """The documented parts the code's study images."""
        return [p for p in parts if code.region in self.part_folds.get(p, ())]

    def study_words(self, code: CptCode) -> str:
        """How a message names the code's study: 'MRI of the knee', 'CT of the lumbosacral spine'."""
        label = self.labels.get(code.region, code.region.replace("_", " "))
        return f"{code.modality.upper() if code.modality != 'xray' else 'radiography'} of the {label}"

    def dynamic_applies(self, code: CptCode) -> bool:
        fam = self.family(code)
        return fam is not None and fam.family in self.dynamic_families

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
        limb = []
        for part in self.limb_parts(note):
            side = note.sides.get(part)
            fitting = [c for c in self.active() if c.modality == "xray" and c.region == part
                       and self.fits_views(c, note.views, note.projections)]
            # both sides imaged: a code of both sides by definition first, else the one-side code (twice);
            # one side: only one-side codes
            fitting.sort(key=lambda c: (c.laterality != "bilateral", c.code) if side == "both" else (0, c.code))
            if side in ("right", "left"):
                fitting = [c for c in fitting if c.laterality != "bilateral"]
            limb += fitting
        # the pelvis view of a hip series is the hip study's, when the note names the hips first
        first_limb = bool(limb) and bool(note.region_evidence) and bool(note.part_evidence) and \
            note.part_evidence[0].start < note.region_evidence[0].start
        included = {r for c in limb for r in c.includes} if first_limb or not note.region_evidence else set()
        out = []
        for region in note.regions:
            if region in included:
                continue
            fitting = [c for c in self.active() if c.modality == "xray" and c.region == region
                       and self.fits_views(c, note.views, note.projections)]
            fitting.sort(key=lambda c: (POSITION_RANK[c.positions], c.code))
            out += [c.code for c in fitting]
        out += [c.code for c in limb]
        if note.views == 1 and not out and (note.regions or note.levels):
            out += [c.code for c in self.active() if c.modality == "xray" and c.region == "any"]
        return out

    def _cross_sectional(self, note, modality: str) -> list[str]:
        if note.contrast is None:
            return []
        fitting = [c for c in self.active() if c.modality == modality and c.contrast == note.contrast]
        out = sorted(c.code for c in fitting if c.region in note.regions)
        for part in self.limb_parts(note):
            # the narrowest region of the part that has a code of this modality (a knee: the joint codes)
            for region in self.part_order.get(part, ()):
                codes = sorted(c.code for c in fitting if c.region == region)
                if codes:
                    out += codes
                    break
        return out
