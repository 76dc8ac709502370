"""``POST /api/check``: the batch check of one case over HTTP (contract section 2), for a
physician or a scribe. The body is a case as ``scribe check --jsonl`` reads one (``text``,
``cpt`` + ``modifiers`` or ``lines``, ``icd10``, ``site``, ``provider``, ``id``); the answer
is the result ``scribe check`` prints, or 422 with the error ``scribe check`` gives (a claim
line at fault named in the message and by its ``line`` index and ``cpt``). Nothing is stored
and the note text is never logged."""
from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from scribe.cli import run_case
from scribe.errors import InputError

from .auth import require
from .errors import ApiError
from .store import Principal

router = APIRouter(prefix="/api", tags=["check"])
CheckerRole = Annotated[Principal, Depends(require("physician", "scribe"))]


@router.post("/check")
async def check_case(request: Request, who: CheckerRole) -> dict[str, Any]:
    """Check one case: the result JSON (with the case ``id``), or 422 ``{"error": {"code",
    "message"[, "line", "cpt"]}}`` for unusable input."""
    try:
        case = json.loads(await request.body())
    except (ValueError, UnicodeError):
        raise ApiError(422, "BAD_REQUEST", "the body is not JSON") from None
    if not isinstance(case, dict):
        raise ApiError(422, "BAD_REQUEST", "the body must be a case: a JSON object with text and cpt or lines")
    engine = request.app.state.engine
    try:
        result = await asyncio.get_running_loop().run_in_executor(request.app.state.executor, run_case, engine, case)
    except InputError as exc:
        raise ApiError(422, exc.code, exc.message, **exc.details) from None
    return result.to_dict()
