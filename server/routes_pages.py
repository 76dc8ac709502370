"""The web pages (sidebar, review, dashboard) and /healthz.

A page is ``server/static/<name>.html`` when that file exists, else a placeholder.
Pages hold no data. Opened with a printed link (``?access_token=``), a page exchanges the
token once for an HttpOnly session cookie (``POST /api/session``), takes it out of the
address bar (``history.replaceState``) and calls the API with the cookie. Their
scripts, styles and vendored libraries are served from ``/static`` (``server/static``).
"""
from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
PAGES = {"sidebar": "Dictation sidebar (physician)", "review": "Review queue (scribe)",
         "dashboard": "Statistics dashboard (manager)"}

router = APIRouter()
router.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")


def _page(name: str) -> HTMLResponse:
    path = STATIC / f"{name}.html"
    if path.is_file():
        return HTMLResponse(path.read_text(encoding="utf-8"))
    title = html.escape(PAGES[name])
    return HTMLResponse(f"<!doctype html><html><head><meta charset='utf-8'><title>scribe: {title}</title></head>"
                        f"<body><h1>{title}</h1><p>This page is not built yet. The API it will use is "
                        f"documented at <a href='/docs'>/docs</a>.</p></body></html>")


@router.get("/sidebar", include_in_schema=False)
def sidebar() -> HTMLResponse:
    return _page("sidebar")


@router.get("/review", include_in_schema=False)
def review() -> HTMLResponse:
    return _page("review")


@router.get("/dashboard", include_in_schema=False)
def dashboard() -> HTMLResponse:
    return _page("dashboard")


@router.get("/healthz", tags=["health"])
def healthz(request: Request):
    """200 when the service and its database answer; no token needed."""
    try:
        request.app.state.store.ping()
    except Exception:  # noqa: BLE001 - any database failure is 'unavailable'
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return {"status": "ok"}
