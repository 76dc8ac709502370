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
    """The caller's dictations, newest first (no note text)."""
    return store.list_dictations(owner=who.name, status=status, limit=limit, offset=offset)


@router.get("/dictations/{dictation_id}", response_model=DictationDetail)
def get_dictation(dictation_id: str, who: Physician, store: StoreDep):
    """One of the caller's dictations with its text and gaps (the read is audited).
    For an open dictation the text is what has been accepted so far."""
    return dictation_detail(store, dictation_id, who, owner=who.name)


@router.get("/queries", response_model=list[Query])
def my_queries(who: Physician, store: StoreDep):
    """Questions scribes sent back about gaps in the caller's dictations, still open."""
    return store.queries_for(who.name)


def dictation_detail(store, dictation_id: str, who, *, owner: str | None = None,
                     finalized_only: bool = False) -> dict:
    row = store.dictation_row(dictation_id)
    if row is None or (owner is not None and row["owner"] != owner) or \
            (finalized_only and row["status"] != "finalized"):
        raise ApiError(404, "NOT_FOUND", f"no dictation {dictation_id} you may read")
    partial = None
    if row["status"] == "finalized":
        text = row["final_text"] or ""
    else:
        loaded = store.load(dictation_id)
        r = replay(loaded[1], row["partial_seq"], row["partial_text"]) if loaded else None
        text = r["text"] if r else ""
        partial = r["partial"][1] if r and r["partial"] else None
    store.audit(who, "read_note_text", dictation_id=dictation_id)
    out = store.summary(row)
    out.update(text=text, partial=partial, addenda=store.addenda(dictation_id), gaps=store.gaps_of(dictation_id))
    return out
