"""Dependencies shared by the routes: the store, the hub, the engine, the filters."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query, Request

from .hub import DictationHub
from .store import SEVERITIES, Filters, Store


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_hub(request: Request) -> DictationHub:
    return request.app.state.hub


StoreDep = Annotated[Store, Depends(get_store)]
HubDep = Annotated[DictationHub, Depends(get_hub)]


def filters(provider: Annotated[str | None, Query(description="provider as on the encounter")] = None,
            cpt: Annotated[str | None, Query(description="a CPT code of the dictation")] = None,
            icd10: Annotated[str | None, Query(description="an ICD-10-CM code of the dictation")] = None,
            gap_code: Annotated[str | None, Query(description="e.g. VIEWS_MISMATCH")] = None,
            severity: Annotated[list[str], Query(description=f"any of {', '.join(SEVERITIES)}; repeatable")] = [],  # noqa: B006 - FastAPI hands each request its own list
            date_from: Annotated[date | None, Query(description="finalized on or after (YYYY-MM-DD)")] = None,
            date_to: Annotated[date | None, Query(description="finalized on or before (YYYY-MM-DD)")] = None,
            ) -> Filters:
    from .errors import ApiError

    bad = [s for s in severity if s not in SEVERITIES]
    if bad:
        raise ApiError(422, "BAD_REQUEST", f"severity must be one of {', '.join(SEVERITIES)}, not {bad[0]!r}")
    return Filters(provider=provider, cpt=cpt and cpt.upper(), icd10=icd10 and icd10.upper(),
                   gap_code=gap_code and gap_code.upper(), severity=tuple(severity), date_from=date_from,
                   date_to=date_to)


FiltersDep = Annotated[Filters, Depends(filters)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]
