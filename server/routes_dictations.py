"""Physicians: their own dictations and the queries sent back to them."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from .auth import Physician
from .claim_lines import line_of_gap
from .deps import Limit, Offset, StoreDep
from .errors import ApiError
from .hub import replay
from .deps import HubDep
from .wire import Answered, AnswerIn, DictationDetail, DictationSummary, OpenDictation, Query

router = APIRouter(prefix="/api", tags=["dictations (physician)"])


@router.get("/dictations", response_model=list[DictationSummary])
def list_dictations(who: Physician, store: StoreDep, status: Literal["open", "finalized"] | None = None,
                    limit: Limit = 50, offset: Offset = 0):
    """The caller's dictations, newest first (no note text); ``dictation_id`` is the id the
    caller gave."""
    return [own_view(d) for d in store.list_dictations(owner=who.name, status=status, limit=limit, offset=offset)]


@router.get("/open-dictations", response_model=list[OpenDictation])
def my_open_dictations(who: Physician, store: StoreDep):
    """The caller's open dictations that hold text (encounter, start time, first words), last
    changed first, to reopen or discard. The first words are note text: each is an audited read."""
    found = store.open_dictations(owner=who.name)
    store.audit_each(who, "list_open_dictation", [d["dictation_id"] for d in found])
    return found


@router.post("/dictations/{dictation_id}/discard", response_model=DictationSummary)
def discard_dictation(dictation_id: str, who: Physician, store: StoreDep, hub: HubDep):
    """Discard one of the caller's open dictations: it leaves the list and can no longer be
    resumed (its events stay as a record). 404 when it is not an open dictation of the caller."""
    if not store.discard(dictation_id=dictation_id, owner=who.name):
        raise ApiError(404, "NOT_FOUND", f"no open dictation {dictation_id} of yours")
    hub.forget(dictation_id)
    store.audit(who, "discard_dictation", dictation_id=dictation_id)
    row = store.dictation_row(dictation_id)
    if row is None:     # a discarded dictation is kept, never deleted
        raise ApiError(404, "NOT_FOUND", f"no open dictation {dictation_id} of yours")
    return store.summary(row)


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


@router.post("/queries/{query_id}/answer", response_model=Answered)
def answer_query(query_id: int, body: AnswerIn, who: Physician, store: StoreDep):
    """Answer a scribe's query about a gap of one's own dictation. The answer is stored on the gap
    (the review queue shows it) and the gap is no longer marked queried; 404 when the query is
    not the caller's or already answered."""
    answer = body.answer.strip()
    if not answer:
        raise ApiError(422, "ANSWER_REQUIRED", "write the answer first")
    done = store.answer_query(query_id=query_id, actor=who, text=answer)
    if done is None:
        raise ApiError(404, "NOT_FOUND", f"no pending query {query_id} about your dictations")
    return done


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
    partial = None
    if row["status"] == "finalized":
        text = row["final_text"] or ""
    else:
        loaded = store.load(dictation_id)
        r = replay(loaded[1], row["partial_seq"], row["partial_text"]) if loaded else None
        text = r["text"] if r else ""
        partial = r["partial"][1] if r and r["partial"] else None
    store.audit(who, action, dictation_id=dictation_id)
    out = store.summary(row)
    gaps = [{**g, "line": line_of_gap(g, out["lines"])} for g in store.gaps_of(dictation_id)]
    out.update(text=text, partial=partial, addenda=store.addenda(dictation_id), gaps=gaps)
    return out
