"""Physicians: their own dictations and the queries sent back to them."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from .auth import Physician
from .deps import Limit, Offset, StoreDep
from .errors import ApiError
from .hub import replay
from .wire import DictationDetail, DictationSummary, Query

router = APIRouter(prefix="/api", tags=["dictations (physician)"])


@router.get("/dictations", response_model=list[DictationSummary])
def list_dictations(who: Physician, store: StoreDep, status: Literal["open", "finalized"] | None = None,
                    limit: Limit = 50, offset: Offset = 0):
    """The caller's dictations, newest first (no note text); ``dictation_id`` is the id the
    caller gave."""
    return [own_view(d) for d in store.list_dictations(owner=who.name, status=status, limit=limit, offset=offset)]


@router.get("/dictations/{dictation_id}", response_model=DictationDetail)
def get_dictation(dictation_id: str, who: Physician, store: StoreDep):
    """One of the caller's dictations with its text and gaps (the read is audited).
    For an open dictation the text is what has been accepted so far. Another physician's
    dictation of that id answers exactly as an unknown id does (404)."""
    key = store.find_dictation(owner=who.name, ref=dictation_id) if len(dictation_id) <= 64 else None
    if key is None:
        raise not_found(dictation_id)
    return own_view(dictation_detail(store, key, who, owner=who.name))


def own_view(summary: dict) -> dict:
    """A dictation as its owner knows it: by the id they gave."""
    return {**summary, "dictation_id": summary["ref"]}


def not_found(dictation_id: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"no dictation {dictation_id[:64]} you may read")


@router.get("/queries", response_model=list[Query])
def my_queries(who: Physician, store: StoreDep):
    """Questions scribes sent back about gaps in the caller's dictations, still open. A gap's
    message may quote the note, so each dictation listed gets an audit row."""
    rows = store.queries_for(who.name)
    for dictation_id in dict.fromkeys(r["dictation_id"] for r in rows):
        store.audit(who, "read_queries", dictation_id=dictation_id)
    return [{**r, "dictation_id": store_ref(store, r["dictation_id"])} for r in rows]


def store_ref(store, key: str) -> str:
    row = store.dictation_row(key)
    return row["ref"] if row else key


def dictation_detail(store, dictation_id: str, who, *, owner: str | None = None, queue_only: bool = False,
                     action: str = "read_note_text") -> dict:
    """The dictation with its text, addenda and gaps; the read is audited. ``owner``: only
    that owner's; ``queue_only``: only what the review queue shows (or what the caller worked
    on). Anything else is 404, worded as for an unknown id."""
    row = store.dictation_row(dictation_id)
    if row is None or (owner is not None and row["owner"] != owner) or \
            (queue_only and not store.in_review_queue(dictation_id, worked_by=who.name)):
        raise not_found(dictation_id)
    if row["status"] == "finalized":
        text = row["final_text"] or ""
    else:
        loaded = store.load(dictation_id)
        text = replay(loaded[1], None, None)["text"] if loaded else ""
    store.audit(who, action, dictation_id=dictation_id)
    out = store.summary(row)
    out.update(text=text, addenda=store.addenda(dictation_id), gaps=store.gaps_of(dictation_id))
    return out
