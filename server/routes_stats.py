"""Managers: aggregates only (counts, shares, dollars); never note text, evidence or messages."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from .auth import Manager
from .deps import FiltersDep, StoreDep
from .errors import ApiError
from .store import SEVERITIES
from .wire import DismissalRow, FeesIn, MoneyAtRisk, ShareRow

router = APIRouter(prefix="/api/stats", tags=["statistics (manager)"])
RiskSeverity = Annotated[list[Literal["error", "warning", "info"]],
                         Query(description="open gaps of these severities put a line at risk")]


@router.get("/clean-share", response_model=list[ShareRow])
def clean_share(who: Manager, store: StoreDep, f: FiltersDep,
                by: Literal["provider", "cpt", "gap_code", "week"] = "provider"):
    """Share of finalized dictations with no error/warning gap open at finalization, per
    provider, CPT code or week (Monday's date). ``by=gap_code``: per gap code, the share
    of finalized dictations that did not have that gap open."""
    return store.clean_share(f, by=by)


@router.get("/dismissals", response_model=list[DismissalRow])
def dismissals(who: Manager, store: StoreDep, f: FiltersDep):
    """Per gap code: gaps stored at finalization, how many were dismissed, the rate, the reasons."""
    return store.dismissal_rates(f)


@router.get("/money-at-risk", response_model=MoneyAtRisk)
def money_at_risk(who: Manager, store: StoreDep, f: FiltersDep, request: Request,
                  severity: RiskSeverity = ["error"]):
    """Dollars of CPT lines with an open gap (not resolved or dismissed), priced with the
    service's fee table (``SCRIBE_FEE_TABLE``, else the payments in the lexicons)."""
    return store.money_at_risk(request.app.state.fees, f, _severities(severity))


@router.post("/money-at-risk", response_model=MoneyAtRisk)
def money_at_risk_priced(body: FeesIn, who: Manager, store: StoreDep, f: FiltersDep,
                         severity: RiskSeverity = ["error"]):
    """The same, priced with the fee table in the body (``{"fees": {cpt: dollars}}``)."""
    return store.money_at_risk(body.fees, f, _severities(severity))


def _severities(values: list[str]) -> tuple[str, ...]:
    if not values or any(v not in SEVERITIES for v in values):
        raise ApiError(422, "BAD_REQUEST", f"severity must be one or more of {', '.join(SEVERITIES)}")
    return tuple(dict.fromkeys(values))
