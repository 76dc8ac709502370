"""Managers: aggregates only (counts, shares, dollars); never note text, evidence or messages.

Every table is also CSV (``?format=csv``): the same rows, one header line, cells that
a spreadsheet would read as a formula prefixed with ``'``.
"""
from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Iterable, Literal, Sequence

from fastapi import APIRouter, Query, Request, Response

from .auth import Manager
from .claim_lines import code_catalogue
from .deps import FiltersDep, StoreDep
from .errors import ApiError
from .store import DISMISS_REASONS, SEVERITIES, Filters, Store
from .wire import (AuditCompareOut, DismissalRow, Facets, FeeSchedule, FeesIn, MoneyAtRisk, RetroAuditOut, RuleOutcomeRow,
                   ShareRow)

router = APIRouter(prefix="/api/stats", tags=["statistics (manager)"])
RiskSeverity = Annotated[list[Literal["error", "warning", "info"]],
                         Query(description="open gaps of these severities put a line at risk")]
Format = Annotated[Literal["json", "csv"], Query(alias="format", description="json (default) or csv")]
MoneyTable = Annotated[Literal["cpt", "family", "gap_code", "provider", "month"],
                       Query(description="with format=csv: which of the tables to export")]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@router.get("/clean-share", response_model=list[ShareRow])
def clean_share(who: Manager, store: StoreDep, f: FiltersDep, request: Request,
                by: Literal["provider", "cpt", "family", "gap_code", "week"] = "provider",
                ignore_dismissed: Annotated[bool, Query(description="a dismissed gap does not count against a "
                                                        "dictation (the checker was wrong)")] = False,
                fmt: Format = "json"):
    """Share of finalized dictations with no error/warning gap open at finalization, per
    provider, CPT code, imaging family (``lexicons/families``; a dictation counts once in each
    family of its codes) or week (Monday's date). ``by=gap_code``: per gap code, the share
    of finalized dictations that did not have that gap open."""
    rows = store.clean_share(f, by=by, ignore_dismissed=ignore_dismissed, families=request.app.state.families)
    if fmt == "csv":
        return csv_response(f"completeness-by-{by}", [by, "finalized", "clean", "share"],
                            ([r["key"], r["finalized"], r["clean"], r["share"]] for r in rows))
    return rows


@router.get("/dismissals", response_model=list[DismissalRow])
def dismissals(who: Manager, store: StoreDep, f: FiltersDep, fmt: Format = "json"):
    """Per gap code: gaps stored at finalization, how many were dismissed, the rate, the reasons."""
    rows = store.dismissal_rates(f)
    if fmt == "csv":
        reasons = list(DISMISS_REASONS)
        return csv_response("dismissals-by-gap-code", ["gap_code", "gaps", "dismissed", "rate",
                                                       *(f"reason:{r}" for r in reasons)],
                            ([r["gap_code"], r["gaps"], r["dismissed"], r["rate"],
                              *(r["reasons"].get(reason, 0) for reason in reasons)] for r in rows))
    return rows


@router.get("/rule-outcomes", response_model=list[RuleOutcomeRow])
def rule_outcomes(who: Manager, store: StoreDep, f: FiltersDep, request: Request, fmt: Format = "json"):
    """Per rule, side by side: how often reviewers dismissed its gaps in the review queue and how
    often physicians overrode its cards at order time (CDS Hooks feedback), each with its reasons
    in the one vocabulary of ``/api/review/dismiss-reasons``. Both read ``gap_actions``."""
    titles = {r.id: r.title for r in request.app.state.engine.rules}
    rows = [{**r, "title": titles.get(r["rule_id"]), "page": f"/rules/{r['rule_id']}"} for r in store.rule_outcomes(f)]
    if fmt == "csv":
        reasons = list(DISMISS_REASONS)
        return csv_response("outcomes-by-rule", [
            "rule_id", "gap_code", "title", "review_gaps", "review_dismissed", "review_dismissal_rate",
            "order_cards", "order_accepted", "order_overridden", "order_unanswered", "order_override_rate",
            *(f"dismissed:{r}" for r in reasons), *(f"overridden:{r}" for r in reasons)],
            ([r["rule_id"], r["gap_code"], r["title"], r["review"]["gaps"], r["review"]["dismissed"],
              r["review"]["rate"], r["order_time"]["cards"], r["order_time"]["accepted"],
              r["order_time"]["overridden"], r["order_time"]["unanswered"], r["order_time"]["override_rate"],
              *(r["review"]["reasons"].get(x, 0) for x in reasons),
              *(r["order_time"]["reasons"].get(x, 0) for x in reasons)] for r in rows))
    return rows


@router.get("/money-at-risk", response_model=MoneyAtRisk)
def money_at_risk(who: Manager, store: StoreDep, f: FiltersDep, request: Request,
                  severity: RiskSeverity = ["error"], fmt: Format = "json", by: MoneyTable = "cpt"):  # noqa: B006 - a new list per request
    """Dollars of CPT lines with an open gap (not resolved or dismissed), priced with the
    service's fee table (``SCRIBE_FEE_TABLE``, else the payments in the lexicons; see
    ``/api/stats/fee-schedule``), in total and by CPT code, family, gap code, provider and month."""
    return _money(store.money_at_risk(request.app.state.fees, f, _severities(severity),
                                      families=request.app.state.families), fmt, by)


@router.post("/money-at-risk", response_model=MoneyAtRisk)
def money_at_risk_priced(body: FeesIn, who: Manager, store: StoreDep, f: FiltersDep, request: Request,
                         severity: RiskSeverity = ["error"], fmt: Format = "json", by: MoneyTable = "cpt"):  # noqa: B006 - a new list per request
    """The same, priced with the fee table in the body (``{"fees": {cpt: dollars}}``)."""
    return _money(store.money_at_risk(body.fees, f, _severities(severity), families=request.app.state.families),
                  fmt, by)


@router.get("/fee-schedule", response_model=FeeSchedule)
def fee_schedule(who: Manager, request: Request):
    """The fee table that prices money at risk: its year, source and conversion factor,
    and per code the payment (Medicare national, non-facility) with its RVUs and source."""
    return fee_schedule_info(request.app.state)


@router.get("/facets", response_model=Facets)
def facets(who: Manager, store: StoreDep, request: Request):
    """Providers, CPT codes and gap codes of finalized dictations (for filter menus), the
    labels of the dismissal reasons, and the imaging families (name and what each holds)."""
    families = [{"family": f["family"], "description": f["description"]}
                for f in code_catalogue(request.app.state.engine)["families"]]
    return {**store.facets(Filters(), open_only=False), "dismiss_reasons": DISMISS_REASONS, "families": families}


@router.get("/audits", response_model=list[RetroAuditOut])
def audits(who: Manager, store: StoreDep):
    """Retrospective audits loaded with `scribe audit-load` (newest first): each its own source
    and date range, counted apart from the live dictations."""
    return store.audit_runs()


@router.get("/audits/{audit_id}/compare", response_model=AuditCompareOut)
def audit_compare(audit_id: int, who: Manager, store: StoreDep, f: FiltersDep, request: Request,
                  by: Literal["gap_code", "cpt", "family", "provider"] = "gap_code",
                  ignore_dismissed: Annotated[bool, Query(description="live: a dismissed gap does not count (an "
                                                          "audit has no reviewer, so the default counts them as "
                                                          "the audit does)")] = False,
                  fmt: Format = "json"):
    """An audit's completeness next to live completeness, per gap code (share of cases without
    it), CPT code, imaging family or provider. The filters' dates choose the live dictations; provider and codes
    apply to both sides; the audit keeps its own date range."""
    audit = _audit_or_404(store, audit_id)
    families = request.app.state.families
    audit_rows = {r["key"]: r for r in store.audit_clean_share(audit_id, f, by=by, families=families)}
    live_rows = {r["key"]: r for r in store.clean_share(f, by=by, ignore_dismissed=ignore_dismissed,
                                                        families=families)}
    live_total = store.clean_share(f, by="provider", ignore_dismissed=ignore_dismissed)
    finalized, clean = sum(r["finalized"] for r in live_total), sum(r["clean"] for r in live_total)
    audit_total = store.audit_clean_share(audit_id, f, by="provider")
    cases, audit_clean = sum(r["finalized"] for r in audit_total), sum(r["clean"] for r in audit_total)
    facets_ = store.facets(f, open_only=False) if not (f.date_from and f.date_to) else {}
    rows = []
    for key in sorted(set(audit_rows) | set(live_rows)):
        a, b = audit_rows.get(key), live_rows.get(key)
        share_a = a["share"] if a else None
        share_b = b["share"] if b else None
        rows.append({"key": key, "audit_cases": a["finalized"] if a else 0, "audit_clean": a["clean"] if a else 0,
                     "audit_share": share_a, "live_finalized": b["finalized"] if b else 0,
                     "live_clean": b["clean"] if b else 0, "live_share": share_b,
                     "difference": round(share_b - share_a, 4) if share_a is not None and share_b is not None
                     else None})
    if fmt == "csv":
        return csv_response(f"audit-{audit_id}-vs-live-by-{by}", [by, "audit_cases", "audit_clean", "audit_share",
                                                                 "live_finalized", "live_clean", "live_share",
                                                                 "difference"],
                            ([r[k] for k in ("key", "audit_cases", "audit_clean", "audit_share", "live_finalized",
                                             "live_clean", "live_share", "difference")] for r in rows))
    live = {"date_from": f.date_from.isoformat() if f.date_from else (facets_.get("first_finalized_at") or "")[:10] or None,
            "date_to": f.date_to.isoformat() if f.date_to else (facets_.get("last_finalized_at") or "")[:10] or None,
            "finalized": finalized, "clean": clean, "share": round(clean / finalized, 4) if finalized else None,
            "ignore_dismissed": ignore_dismissed}
    return {"audit": audit, "live": live, "by": by, "rows": rows,
            "audit_total": {"cases": cases, "clean": audit_clean, "share": round(audit_clean / cases, 4) if cases else None}}


@router.get("/audits/{audit_id}/money-at-risk", response_model=MoneyAtRisk)
def audit_money(audit_id: int, who: Manager, store: StoreDep, f: FiltersDep, request: Request,
                severity: RiskSeverity = ["error"], fmt: Format = "json", by: MoneyTable = "cpt"):  # noqa: B006 - a new list per request
    """An audit's money at risk, priced and counted as the live one (months: the cases' dates)."""
    _audit_or_404(store, audit_id)
    return _money(store.audit_money_at_risk(audit_id, request.app.state.fees, f, _severities(severity),
                                            families=request.app.state.families), fmt, by)


def _audit_or_404(store: Store, audit_id: int) -> dict:
    audit = store.audit_run(audit_id)
    if audit is None:
        raise ApiError(404, "NOT_FOUND", f"no audit {audit_id}")
    return audit


def _money(result: dict, fmt: str, by: str):
    if fmt != "csv":
        return result
    if by == "cpt":
        return csv_response("money-at-risk-by-cpt", ["cpt", "lines", "fee", "dollars"],
                            ([r["cpt"], r["lines"], r["fee"], r["dollars"]] for r in result["by_cpt"]))
    return csv_response(f"money-at-risk-by-{by}", [by, "lines", "dollars", "unpriced_lines"],
                        ([r[by], r["lines"], r["dollars"], r["unpriced_lines"]] for r in result[f"by_{by}"]))


def _severities(values: Sequence[str]) -> tuple[str, ...]:
    if not values or any(v not in SEVERITIES for v in values):
        raise ApiError(422, "BAD_REQUEST", f"severity must be one or more of {', '.join(SEVERITIES)}")
    return tuple(dict.fromkeys(values))


def csv_response(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def fee_schedule_info(state) -> dict:
    """What prices the lines: the shipped table's metadata (lexicons/families/*.toml
    ``[fee_schedule]``) and its codes, or the practice's own file (SCRIBE_FEE_TABLE)."""
    fees, settings = state.fees, state.settings
    families = getattr(getattr(state.engine, "lexicons", None), "families", ())
    known = {c.code: c for fam in families for c in fam.codes}
    if settings.fee_table is None:
        meta = next((dict(fam.fee_schedule) for fam in families if fam.fee_schedule), {})
        codes = [{"cpt": c.code, "paraphrase": c.paraphrase, "rvu_total": c.rvu_total, "payment": float(c.payment),
                  "payment_source": c.payment_source} for c in known.values() if c.payment is not None]
        return {"table": "lexicons", "year": meta.get("year"), "conversion_factor": meta.get("conversion_factor"),
                "source": meta.get("source") or "the payments recorded in the lexicons", "note": meta.get("note"),
                "codes": sorted(codes, key=lambda c: c["cpt"])}
    codes = [{"cpt": cpt, "paraphrase": getattr(known.get(cpt), "paraphrase", None), "rvu_total": None,
              "payment": float(dollars), "payment_source": settings.fee_table.name} for cpt, dollars in fees.items()]
    return {"table": "file", "year": None, "conversion_factor": None,
            "source": f"the practice's fee table {settings.fee_table.name} (SCRIBE_FEE_TABLE)", "note": None,
            "codes": sorted(codes, key=lambda c: c["cpt"])}
