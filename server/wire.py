"""Wire models of the HTTP API (request bodies and the documented response shapes)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .store import DISMISS_REASONS

Role = Literal["physician", "scribe", "manager", "admin"]
if TYPE_CHECKING:
    DismissReason = str     # a literal built from a dict's keys is checked by pydantic at run time only
else:
    DismissReason = Literal[tuple(DISMISS_REASONS)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- requests -----------------------------------------------------------------------------
class TokenIn(_In):
    name: str = Field(min_length=1, max_length=100, description="the account; a physician's notes belong to it")
    role: Role
    days: float | None = Field(None, gt=0, le=3650, description="lifetime in days (default: the role's)")


class RotateIn(_In):
    grace_hours: float | None = Field(None, ge=0, le=24 * 30,
                                      description="how long the old token keeps working (default 12)")
    days: float | None = Field(None, gt=0, le=3650, description="the new token's lifetime (default: the role's)")


class ResolveIn(_In):
    addendum: str = Field(min_length=1, max_length=10_000,
                          description="text appended to the note; the note is re-checked and the gap must be gone")


class DismissIn(_In):
    reason: DismissReason
    note: str | None = Field(None, max_length=2_000, description="free text; required when reason is 'other'")


class AnswerIn(_In):
    answer: str = Field(min_length=1, max_length=2_000, description="the physician's answer to the scribe")


class Answered(_Out):
    query_id: int
    gap_id: int
    dictation_id: str
    answer: str
    at: str


class QueryIn(_In):
    question: str = Field(min_length=1, max_length=2_000, description="what the physician should clarify")


class FeesIn(_In):
    fees: dict[str, float] = Field(description="{cpt: dollars} used to price the lines at risk")


# -- responses ----------------------------------------------------------------------------
class Me(_Out):
    name: str
    role: Role


class TokenOut(_Out):
    id: int
    name: str
    role: Role
    prefix: str
    created_at: str
    created_by: str | None
    revoked_at: str | None
    expires_at: str | None
    rotated_to: int | None = Field(None, description="the token a rotation issued in its place")
    active: bool = Field(description="neither revoked nor expired")


class TokenCreated(TokenOut):
    token: str = Field(description="shown once; only its sha256 is stored")


class TokenRotated(TokenCreated):
    replaced: TokenOut = Field(description="the old token, now expiring at the end of the grace period")


class ClaimLine(_Out):
    cpt: str
    modifiers: list[str]


class DictationSummary(_Out):
    dictation_id: str = Field(description="the id to use with this API (for a physician: the id they gave)")
    ref: str = Field(description="the id the physician gave in 'start'")
    owner: str
    provider: str
    encounter: dict[str, Any]
    lines: list[ClaimLine] = Field([], description="the claim lines (one per code, each with every modifier, "
                                   "when the encounter gave codes and modifiers)")
    status: Literal["open", "finalized", "discarded"]
    created_at: str
    updated_at: str
    finalized_at: str | None


class OpenDictation(DictationSummary):
    last_activity_at: str = Field(description="when its last change was stored")
    first_words: str = Field(description="the first words of the text (reading them is audited)")
    characters: int


class GapAction(_Out):
    id: int
    gap_id: int
    action: Literal["resolve", "dismiss", "query", "answer"]
    reason: str | None
    text: str | None
    by: str
    role: str
    at: str


class StoredGap(_Out):
    id: int
    code: str
    severity: Literal["error", "warning", "info"]
    rule_id: str
    message: str
    fix: str
    source: str
    evidence: list[dict[str, Any]]
    status: Literal["open", "resolved", "dismissed"]
    queried: bool
    cpt: str | None = None
    icd10: str | None = None
    line: int | None = Field(None, description="index of the claim line the gap is about (0-based), if one")
    actions: list[GapAction]
    trace: dict[str, Any] | None = Field(None, description="why the gap was raised (with ?explain=true)")


class DictationDetail(DictationSummary):
    text: str = Field(description="the final text (reading it is written to the audit log)")
    partial: str | None = Field(None, description="an open dictation's pending partial (the not-yet-final tail "
                                "the page showed), stored with each partial segment; null when none")
    addenda: list[dict[str, Any]]
    gaps: list[StoredGap]


class QueueGap(_Out):
    id: int
    code: str
    severity: str
    cpt: str | None
    line: int | None = Field(None, description="index of the claim line the gap is about (0-based), if one")
    queried: bool
    answered: bool = Field(False, description="the physician answered a query about it")


class QueueItem(_Out):
    dictation_id: str
    owner: str
    provider: str
    encounter: dict[str, Any]
    lines: list[ClaimLine] = []
    finalized_at: str
    open_gaps: list[QueueGap]


class Queue(_Out):
    total: int
    limit: int
    offset: int
    items: list[QueueItem]


class ActionOut(_Out):
    gap: StoredGap
    also_resolved: list[int] = []
    recheck_gaps: list[dict[str, Any]] | None = None


class Query(_Out):
    query_id: int
    gap_id: int
    dictation_id: str
    question: str
    by: str
    at: str
    gap_code: str
    severity: str
    gap_message: str


class ShareRow(_Out):
    key: str
    finalized: int
    clean: int
    share: float | None


class DismissalRow(_Out):
    gap_code: str
    gaps: int
    dismissed: int
    rate: float | None
    reasons: dict[str, int]


class ReviewOutcome(_Out):
    gaps: int = Field(description="gaps of the rule stored at finalization")
    dismissed: int
    rate: float | None = Field(description="dismissed / gaps")
    reasons: dict[str, int]


class OrderTimeOutcome(_Out):
    cards: int = Field(description="cards of the rule the CDS Hooks service answered")
    accepted: int
    overridden: int
    unanswered: int = Field(description="cards the EHR sent no feedback on")
    override_rate: float | None = Field(description="overridden / (accepted + overridden)")
    reasons: dict[str, int]


class RuleOutcomeRow(_Out):
    rule_id: str
    gap_code: str
    title: str | None = Field(None, description="the rule's plain title")
    page: str = Field(description="the rule's documentation page")
    review: ReviewOutcome
    order_time: OrderTimeOutcome


class MoneyAtRisk(_Out):
    severities: list[str]
    total_dollars: float
    total_lines: int = Field(0, description="(dictation, CPT) lines with an open gap of these severities")
    unpriced_lines: int = Field(description="lines whose code has no fee in the table (not in the dollars)")
    by_cpt: list[dict[str, Any]] = Field(description="{cpt, lines, fee, dollars}")
    by_family: list[dict[str, Any]] = Field([], description="{family, lines, dollars, unpriced_lines}: by imaging "
                                            "family (lexicons/families)")
    by_gap_code: list[dict[str, Any]] = Field(description="{gap_code, lines, dollars, unpriced_lines}")
    by_provider: list[dict[str, Any]] = Field([], description="{provider, lines, dollars, unpriced_lines}")
    by_month: list[dict[str, Any]] = Field([], description="{month (YYYY-MM, UTC), lines, dollars, unpriced_lines}")


class FeeCode(_Out):
    cpt: str
    paraphrase: str | None = Field(description="our own short wording, not the CPT descriptor")
    rvu_total: float | None
    payment: float
    payment_source: str | None


class FeeSchedule(_Out):
    table: Literal["lexicons", "file"] = Field(description="'lexicons': the shipped table; 'file': SCRIBE_FEE_TABLE")
    year: int | None
    conversion_factor: float | None
    source: str
    note: str | None
    codes: list[FeeCode]


class Facets(_Out):
    providers: list[str]
    cpt: list[str]
    gap_codes: list[str]
    severities: list[str]
    first_finalized_at: str | None
    last_finalized_at: str | None
    families: list[dict[str, str]] = Field([], description="statistics: the imaging families {family, description}")


class AuditRow(_Out):
    id: int
    at: str
    actor: str
    role: str
    token_id: int | None
    action: str
    dictation_id: str | None
    detail: str | None
    address: str | None = Field(None, description="the client address of the request")


class SessionOut(_Out):
    name: str
    role: str
    expires_at: str | None = Field(description="when the session ends (at most the token's expiry)")


class TicketOut(_Out):
    ticket: str = Field(description="for /ws/dictation?ticket=T; one connection, then spent")
    expires_in: float = Field(description="seconds the ticket stays valid")


class RetroAuditOut(_Out):
    """A retrospective audit loaded from `scribe audit` results (`scribe audit-load`)."""

    id: int
    name: str
    source: str = Field(description="the audited input file")
    date_from: str | None = Field(description="the first case date (YYYY-MM-DD), or as given at load")
    date_to: str | None
    loaded_at: str | None
    loaded_by: str
    cases: int = Field(description="cases checked")
    errors: int = Field(description="rows that could not be checked (not counted in the shares)")
    clean: int = Field(description="cases with no error or warning gap")
    share: float | None


class LiveTotal(_Out):
    date_from: str | None = Field(description="the filter's first day, else the first finalization")
    date_to: str | None
    finalized: int
    clean: int
    share: float | None
    ignore_dismissed: bool


class CompareRow(_Out):
    key: str
    audit_cases: int
    audit_clean: int
    audit_share: float | None
    live_finalized: int
    live_clean: int
    live_share: float | None
    difference: float | None = Field(description="live share minus audit share")


class AuditTotal(_Out):
    cases: int = Field(description="the audit's cases that match the filters' provider and codes")
    clean: int
    share: float | None


class AuditCompareOut(_Out):
    audit: RetroAuditOut
    audit_total: AuditTotal
    live: LiveTotal
    by: str
    rows: list[CompareRow]
