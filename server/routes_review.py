"""Scribes: the review queue (finalized dictations with open gaps) and per-gap actions.

Every action is stored with who and when. ``resolve`` appends the scribe's addendum to
the note (after earlier addenda), re-checks it with the engine and succeeds only if the
gap is gone; other open gaps the addendum also closes are resolved with it.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from scribe import Encounter, InputError

from .auth import Scribe
from .deps import FiltersDep, Limit, Offset, StoreDep
from .errors import ApiError
from .routes_dictations import dictation_detail
from .db import utcnow
from .store import DISMISS_REASONS, Filters, Principal, Store
from .wire import ActionOut, DictationDetail, DismissIn, Facets, OpenDictation, Queue, QueryIn, ResolveIn

router = APIRouter(prefix="/api/review", tags=["review queue (scribe)"])


@router.get("", response_model=Queue)
def review_queue(who: Scribe, store: StoreDep, f: FiltersDep, limit: Limit = 50, offset: Offset = 0):
    """Finalized dictations with at least one open gap (matching the filters), newest first.
    Lists codes and gap codes only; the note text is in the detail."""
    return store.review_queue(f, limit=limit, offset=offset)


@router.get("/dismiss-reasons")
def dismiss_reasons(who: Scribe) -> dict[str, str]:
    """The fixed list of reasons a gap may be dismissed for."""
    return DISMISS_REASONS


@router.get("/facets", response_model=Facets)
def review_facets(who: Scribe, store: StoreDep):
    """Providers, CPT codes and gap codes of the dictations in the queue (for filter menus)."""
    return store.facets(Filters(), open_only=True)


@router.get("/open", response_model=list[OpenDictation])
def left_open(who: Scribe, store: StoreDep, request: Request,
              older_than_minutes: Annotated[float | None, Query(gt=0)] = None):
    """Open dictations of any physician with no change for ``older_than_minutes`` (default
    ``SCRIBE_STALE_OPEN_MINUTES``, 120): left unfinalized, they never reach the queue. The first
    words are note text: each listed dictation is an audited read."""
    minutes = older_than_minutes or request.app.state.settings.stale_open_minutes
    found = store.open_dictations(idle_before=utcnow() - timedelta(minutes=minutes))
    store.audit_each(who, "list_open_dictation", [d["dictation_id"] for d in found])
    return found


@router.get("/{dictation_id}", response_model=DictationDetail)
def review_item(dictation_id: str, who: Scribe, store: StoreDep, request: Request, explain: bool = False):
    """A dictation the queue shows (finalized, a gap open; or one the caller worked on) with
    its note text, addenda and gaps (the read is audited); any other id is 404. With
    ``?explain=true`` each gap carries the ``trace`` of why it was raised (rule, mechanism,
    sections searched), from a re-check of the note as finalized."""
    detail = dictation_detail(store, dictation_id, who, queue_only=True)
    if explain:
        try:
            result = request.app.state.engine.check(detail["text"] or " ", Encounter.from_dict(detail["encounter"]),
                                                    explain=True).to_dict()
        except InputError as exc:
            raise ApiError(422, exc.code, exc.message) from None
        traces = {_key(g): g["trace"] for g in result["gaps"]}
        detail = {**detail, "gaps": [{**g, "trace": traces.get(_key(g))} for g in detail["gaps"]]}
    return detail


def _open_gap(store: Store, gap_id: int) -> tuple[dict, dict]:
    gap = store.gap(gap_id)
    if gap is None:
        raise ApiError(404, "NOT_FOUND", f"no gap {gap_id}")
    if gap["status"] != "open":
        raise ApiError(409, "GAP_NOT_OPEN", f"gap {gap_id} is already {gap['status']}")
    row = store.dictation_row(gap["dictation_id"])
    if row is None:     # a gap's dictation is never deleted before it
        raise ApiError(404, "NOT_FOUND", f"no dictation of gap {gap_id}")
    return gap, row


def _done(store: Store, gap: dict, result: dict | None, **extra) -> dict:
    if result is None:
        raise ApiError(409, "GAP_NOT_OPEN", f"gap {gap['id']} was closed by someone else meanwhile")
    stored = next(g for g in store.gaps_of(gap["dictation_id"]) if g["id"] == gap["id"])
    return {"gap": stored, **extra}


def _key(g: dict) -> tuple:
    return (g["code"], g.get("cpt") or None, g.get("icd10") or None)


@router.post("/gaps/{gap_id}/resolve", response_model=ActionOut)
async def resolve_gap(gap_id: int, body: ResolveIn, who: Scribe, request: Request):
    """Resolve with an addendum: 200 when the re-checked note no longer has the gap,
    409 GAP_STILL_PRESENT (nothing stored) when it still does."""
    store: Store = request.app.state.store
    return await run_in_threadpool(resolve_with_addendum, store, request.app.state.engine, gap_id, body.addendum, who)


def resolve_with_addendum(store: Store, engine, gap_id: int, addendum: str, who: Principal) -> dict:
    """Append ``addendum``, re-check the note, resolve the gap (and the others it closes)."""
    gap, row = _open_gap(store, gap_id)
    text = (row["final_text"] or "") + "".join("\n" + a["text"] for a in store.addenda(row["id"])) + "\n" + addendum
    try:
        recheck = engine.check(text, Encounter.from_dict(row["encounter"])).to_dict()["gaps"]
    except InputError as exc:
        raise ApiError(422, exc.code, exc.message) from None
    store.audit(who, "recheck_note_text", dictation_id=row["id"], detail=f"gap {gap_id}")
    present = {_key(g) for g in recheck}
    if _key(gap) in present:
        still = next(g for g in recheck if _key(g) == _key(gap))
        raise ApiError(409, "GAP_STILL_PRESENT", f"the note with this addendum still has {gap['code']}: "
                       f"{still['message']}", recheck_gaps=recheck)
    others = [g["id"] for g in store.gaps_of(row["id"])
              if g["status"] == "open" and g["id"] != gap_id and _key(g) not in present]
    result = store.record_action(gap_id=gap_id, dictation_id=row["id"], action="resolve", actor=who,
                                 text=addendum, also_resolved=others)
    return _done(store, gap, result, also_resolved=others, recheck_gaps=recheck)


@router.post("/gaps/{gap_id}/dismiss", response_model=ActionOut)
def dismiss_gap(gap_id: int, body: DismissIn, who: Scribe, store: StoreDep):
    """Dismiss with a reason from the fixed list (and free text; required for 'other')."""
    if body.reason == "other" and not (body.note or "").strip():
        raise ApiError(422, "NOTE_REQUIRED", "dismissing for reason 'other' needs a note saying why")
    gap, row = _open_gap(store, gap_id)
    result = store.record_action(gap_id=gap_id, dictation_id=row["id"], action="dismiss", actor=who,
                                 reason=body.reason, text=body.note)
    out = _done(store, gap, result)
    store.audit(who, "dismiss_gap", dictation_id=row["id"], detail=f"gap {gap_id}")    # the answer holds evidence
    return out


@router.post("/gaps/{gap_id}/query", response_model=ActionOut)
def query_gap(gap_id: int, body: QueryIn, who: Scribe, store: StoreDep):
    """Send a question about the gap back to the physician (the gap stays open, marked queried)."""
    gap, row = _open_gap(store, gap_id)
    result = store.record_action(gap_id=gap_id, dictation_id=row["id"], action="query", actor=who,
                                 text=body.question)
    out = _done(store, gap, result)
    store.audit(who, "query_gap", dictation_id=row["id"], detail=f"gap {gap_id}")      # the answer holds evidence
    return out
