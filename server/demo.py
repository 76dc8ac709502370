"""``scribe serve --demo``: example dictations, so that the review queue and the dashboard
are not empty on first look.

Nine invented spine imaging notes (fictional providers and patients) are dictated
through the real hub (start, one final segment per line, finalize: the engine checks
them and the store keeps the outcome as for any dictation), then a demo scribe works a
few gaps through the real review logic (a resolve re-checks its addendum), and every
dictation is moved back in time so that they spread over the last five weeks.

Idempotent: a dictation whose id (``demo-01`` ...) is already finalized is skipped, one
left open by an interrupted load is completed. Demo data is not loaded into a database
that already holds real dictations (statistics would mix both).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .db import utcnow
from .errors import ApiError
from .hub import DictationHub, ProtocolError, replay
from .routes_review import resolve_with_addendum
from .store import Principal, Store

log = logging.getLogger("scribe.server.demo")
DEMO_PREFIX = "demo-"
DEMO_SCRIBE = Principal(None, "demo_scribe", "scribe")


@dataclass(frozen=True)
class DemoAction:
    gap_code: str
    action: str                       # resolve | dismiss | query
    text: str | None = None           # addendum, dismissal note or question
    reason: str | None = None         # dismiss: a key of store.DISMISS_REASONS


@dataclass(frozen=True)
class DemoNote:
    id: str
    owner: str                        # the physician account
    provider: str
    cpt: tuple[str, ...]
    icd10: tuple[str, ...]
    days_ago: float                   # finalized this long before the load
    text: str
    actions: tuple[DemoAction, ...] = field(default=())

    @property
    def encounter(self) -> dict:
        return {"cpt": list(self.cpt), "icd10": list(self.icd10), "modifiers": [], "site": "office",
                "provider": self.provider}


NOTES: tuple[DemoNote, ...] = (
    DemoNote("demo-01", "dr_okafor", "Dr Okafor", ("72100",), ("M54.50",), 36.2,
             "EXAM: XR lumbar spine, 3 views.\n"
             "Clinical history: 58-year-old warehouse worker with low back pain for three weeks after lifting a "
             "pallet. No leg symptoms.\n"
             "Ordering physician: Priya Nair, MD.\n"
             "Technique: AP, lateral and L5-S1 spot lateral views.\n"
             "Comparison: none available.\n"
             "Findings: Vertebral body heights are preserved. Mild disc space narrowing at L4-L5 with small anterior "
             "osteophytes. Alignment is normal. No spondylolysis. Sacroiliac joints are unremarkable.\n"
             "Impression: Mild degenerative disc disease at L4-L5. No acute osseous abnormality.\n"
             "Electronically signed by Chidi Okafor, MD"),
    DemoNote("demo-02", "dr_okafor", "Dr Okafor", ("72110",), ("M54.16",), 29.4,
             "EXAM: Lumbar spine radiographs.\n"
             "Indication: right L5 radiculopathy, pain radiating to the right foot for six weeks.\n"
             "Referring provider: Tomas Lindqvist, PA-C.\n"
             "Views: AP and lateral.\n"
             "Comparison: lumbar spine radiographs from March of last year.\n"
             "Findings: Moderate disc space narrowing at L5-S1 with endplate sclerosis. Grade 1 anterolisthesis of "
             "L4 on L5 measuring 4 mm, unchanged. No fracture.\n"
             "Impression: Degenerative changes most pronounced at L5-S1. Stable grade 1 anterolisthesis L4-L5.\n"
             "Electronically signed by Chidi Okafor, MD"),
    DemoNote("demo-03", "dr_reyes", "Dr Reyes", ("72040",), ("M54.2",), 16.1,
             "EXAM: Cervical spine, 3 views.\n"
             "History: neck pain and stiffness after a rear-end motor vehicle collision two days ago.\n"
             "Ordering: Dr Marisol Reyes (self).\n"
             "Technique: AP, lateral and open-mouth odontoid views.\n"
             "Comparison: none.\n"
             "Findings: Straightening of the normal cervical lordosis, likely positional or related to muscle "
             "spasm. Vertebral body heights and alignment are maintained from C1 through C7. The odontoid is "
             "intact. Prevertebral soft tissues are normal.\n"
             "Impression: No acute fracture or malalignment of the cervical spine.\n"
             "Dictated by Marisol Reyes, MD, not yet reviewed."),
    DemoNote("demo-04", "dr_reyes", "Dr Reyes", ("72148",), ("M54.50",), 2.3,
             "EXAM: MRI lumbar spine without contrast.\n"
             "Indication: low back pain.\n"
             "Ordering physician: Helen Brandt, DO.\n"
             "Technique: Sagittal T1, T2 and STIR, axial T2 images from T12 through S1. No intravenous contrast "
             "was given.\n"
             "Comparison: none.\n"
             "Findings: Desiccation and mild loss of height of the L4-L5 disc with a small central protrusion "
             "contacting but not compressing the traversing L5 roots. Facet hypertrophy at L4-L5 and L5-S1. Conus "
             "terminates at L1 and is normal. No marrow edema.\n"
             "Impression: Mild L4-L5 degenerative disc disease with small central protrusion, no nerve root "
             "compression.\n"
             "Electronically signed by Marisol Reyes, MD",
             (DemoAction("INDICATION_NOT_SPECIFIC", "query",
                         "Were there radicular symptoms, red flags or six weeks of failed conservative care? "
                         "Please add them to the indication if so."),)),
    DemoNote("demo-05", "dr_chen", "Dr Chen", ("72081",), ("M41.125",), 23.6,
             "EXAM: Standing scoliosis survey, single PA view of the entire spine.\n"
             "Clinical history: 14-year-old with adolescent idiopathic scoliosis, six-month follow-up of the "
             "thoracolumbar curve.\n"
             "Ordering physician: Wen Chen, MD.\n"
             "Comparison: scoliosis radiograph from six months ago.\n"
             "Findings: Right thoracolumbar curve from T10 to L3 measures 24 degrees, previously 22 degrees. "
             "Risser grade 3. No congenital vertebral anomaly. Pelvis is level.\n"
             "Impression: Mild progression of the right thoracolumbar curve, now 24 degrees.\n"
             "Electronically signed by Wen Chen, MD"),
    DemoNote("demo-06", "dr_chen", "Dr Chen", ("72100",), ("S32.010A",), 12.2,
             "EXAM: XR lumbar spine, 2 views.\n"
             "Indication: fall from a ladder yesterday, point tenderness over L1, evaluate for compression "
             "fracture.\n"
             "Ordering physician: Wen Chen, MD.\n"
             "Technique: AP and lateral views.\n"
             "Findings: Approximately 20 percent anterior wedge compression of L1 without retropulsion evident on "
             "the lateral view. Remaining vertebral heights are maintained. Alignment is normal.\n"
             "Electronically signed by Wen Chen, MD",
             (DemoAction("IMPRESSION_MISSING", "resolve",
                         "Impression: Mild anterior wedge compression fracture of L1 without retropulsion."),)),
    DemoNote("demo-07", "dr_okafor", "Dr Okafor", ("72148",), ("M48.061",), 5.8,
             "EXAM: MRI lumbar spine.\n"
             "Indication: neurogenic claudication with bilateral leg pain on walking, failed 8 weeks of physical "
             "therapy.\n"
             "Ordering physician: Chidi Okafor, MD.\n"
             "Comparison: radiographs from last month.\n"
             "Findings: Severe central canal stenosis at L4-L5 due to a broad disc bulge, facet arthropathy and "
             "ligamentum flavum thickening. Moderate stenosis at L3-L4. Lateral recesses are narrowed bilaterally "
             "at L4-L5.\n"
             "Impression: Severe L4-L5 and moderate L3-L4 central canal stenosis.\n"
             "Electronically signed by Chidi Okafor, MD",
             (DemoAction("CONTRAST_NOT_DOCUMENTED", "dismiss",
                         "The technologist's protocol sheet in the record states a non-contrast study.",
                         "documented_elsewhere"),)),
    DemoNote("demo-08", "dr_reyes", "Dr Reyes", ("72110",), ("M43.16",), 4.4,
             "EXAM: Lumbar spine, 5 views.\n"
             "History: known L5-S1 isthmic spondylolisthesis, follow-up for progressive back pain.\n"
             "Ordering physician: Marisol Reyes, MD.\n"
             "Technique: AP, lateral, coned L5-S1 lateral and both oblique views.\n"
             "Comparison: lumbar radiographs of two years ago.\n"
             "Findings: Bilateral L5 pars defects with grade 1 anterolisthesis of L5 on S1, 6 mm, previously 5 mm. "
             "Disc space narrowing at L5-S1. Other levels are normal.\n"
             "Impression: Grade 1 isthmic spondylolisthesis L5-S1, minimally increased.\n"
             "Electronically signed by Marisol Reyes, MD"),
    DemoNote("demo-09", "dr_chen", "Dr Chen", ("72120",), ("M54.50",), 0.05,
             "EXAM: Lumbar spine flexion and extension lateral views, 2 views.\n"
             "Indication: chronic low back pain.\n"
             "Ordering physician: Wen Chen, MD.\n"
             "Comparison: none.\n"
             "Findings: No abnormal translation between flexion and extension at any level. Mild multilevel disc "
             "space narrowing.\n"
             "Impression: No dynamic instability.\n"
             "Electronically signed by Wen Chen, MD",
             (DemoAction("DX_NOT_SUPPORTING", "dismiss",
                         "This patient's plan covers flexion-extension films for chronic back pain without "
                         "a further diagnosis.", "payer_exception"),)),
)


def load_demo(store: Store, engine, *, now: datetime | None = None) -> list[str]:
    """Load the demo dictations that are not there yet; returns lines for the console."""
    now = now or utcnow()
    real = store.count_dictations(not_prefixed=DEMO_PREFIX)
    present = {n.id for n in NOTES if store.dictation_row(n.id) is not None}
    if real and not present:
        return [f"scribe: --demo: not loading demo data: this database holds {_count(real, 'real dictation')} and the "
                "statistics would mix both; use --db with a new database for the demo"]
    hub = DictationHub(engine, store)
    loaded, problems = [], []
    for note in NOTES:
        row = store.dictation_row(note.id)
        if row is not None and (row["status"] == "finalized" or row["owner"] != note.owner):
            continue
        try:
            _dictate(hub, store, note, resume=row is not None)
            problems += _review(store, engine, note)
        except (ProtocolError, ApiError) as exc:
            problems.append(f"{note.id}: {exc.code}: {exc.message}")
            continue
        finalized_at = now - timedelta(days=note.days_ago)
        store.backdate(note.id, finalized_at=finalized_at,
                       reviewed_at=min(now, finalized_at + timedelta(hours=3)))
        loaded.append(note.id)
    already = len(NOTES) - len(loaded)
    lines = [f"scribe: --demo: {_count(len(loaded), 'example dictation')} loaded ({', '.join(loaded)}); "
             f"{already} {'was' if already == 1 else 'were'} already there" if loaded else
             f"scribe: --demo: the {len(NOTES)} example dictations are already loaded"]
    lines += [f"scribe: --demo: {p}" for p in problems]
    return lines


def _count(n: int, one: str) -> str:
    """'1 real dictation', '2 real dictations'."""
    return f"{n} {one}" if n == 1 else f"{n} {one}s"


def _dictate(hub: DictationHub, store: Store, note: DemoNote, *, resume: bool) -> None:
    """Dictate ``note`` line by line (after what an interrupted load already stored), then finalize."""
    who = Principal(None, note.owner, "physician")
    done, seq = "", 0
    if resume:
        loaded = store.load(note.id)
        r = replay(loaded[1] if loaded else [], None, None)
        done, seq = r["text"], r["last_final_seq"] or 0
        if not note.text.startswith(done):
            raise ProtocolError("DEMO_CHANGED", "an interrupted demo dictation does not match its text; "
                                "left as it is")
    else:
        hub.start(who, note.encounter, note.id)
    rest = note.text[len(done):]
    for line in rest.splitlines(keepends=True):
        seq += 1
        hub.segment(who, note.id, seq, line, True)
    hub.finalize(who, note.id)


def _review(store: Store, engine, note: DemoNote) -> list[str]:
    """The demo scribe's actions on ``note``; returns what could not be done."""
    problems = []
    for act in note.actions:
        gap = next((g for g in store.gaps_of(note.id) if g["code"] == act.gap_code and g["status"] == "open"), None)
        if gap is None:
            problems.append(f"{note.id}: no open {act.gap_code} gap to {act.action} (the rules changed?)")
            continue
        if act.action == "resolve":
            try:
                resolve_with_addendum(store, engine, gap["id"], act.text or "", DEMO_SCRIBE)
            except ApiError as exc:
                problems.append(f"{note.id}: resolving {act.gap_code}: {exc.code}")
        else:
            store.record_action(gap_id=gap["id"], dictation_id=note.id, action=act.action, actor=DEMO_SCRIBE,
                                reason=act.reason, text=act.text)
    return problems
