"""The rules, for people: ``GET /api/rules`` (every gap code's plain title, the one source of
the titles the sidebar and the review queue show) and a page per rule, ``/rules/{rule_id}``,
that a gap's source links to: what the rule checks, why, and the public documents it rests on.

Rules hold no patient data, so these need no token. The pages are rendered here as plain HTML
(no script, so a strict Content-Security-Policy applies).
"""
from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from .claim_lines import code_catalogue
from .errors import ApiError

router = APIRouter(tags=["rules"])


def _rules(request: Request) -> list:
    return list(request.app.state.engine.rules)


def titles_of(rules) -> dict[str, str]:
    """{gap code: plain title}, the first rule of a code naming it."""
    out: dict[str, str] = {}
    for r in rules:
        if r.title and r.code not in out:
            out[r.code] = r.title
    return out


def _out(r) -> dict:
    return {"id": r.id, "symbol": r.symbol, "code": r.code, "title": r.title, "severity": r.severity,
            "why": r.why, "source": r.source, "page": f"/rules/{r.id}"}


@router.get("/api/codes")
def list_codes(request: Request) -> dict:
    """Every CPT code scribe checks, with its imaging family and side policy (``unilateral``: one
    side a line, RT/LT or 50; ``bilateral``: both sides by definition, no side modifier; ``none``:
    midline, no side modifier), and each family's side modifiers: what the encounter form needs
    to offer side buttons. No token needed: codes hold no patient data."""
    return code_catalogue(request.app.state.engine)


@router.get("/api/rules")
def list_rules(request: Request) -> dict:
    """Every active rule (id, gap code, plain title, severity, why, source, its page) and the plain
    title of each gap code. No token needed: rules hold no patient data."""
    rules = _rules(request)
    return {"titles": titles_of(rules), "rules": [_out(r) for r in rules]}


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">
<title>scribe rule {title_text}</title><link rel="stylesheet" href="/static/common.css">
<link rel="stylesheet" href="/static/rules.css"></head>
<body><main class="rule-page">{body}</main></body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title_text=html.escape(title), body=body), status_code=status)


@router.get("/rules", include_in_schema=False)
def rules_index(request: Request) -> HTMLResponse:
    items = "".join(f'<li><a href="/rules/{html.escape(r.id)}">{html.escape(r.id)}</a> '
                    f'<span class="sev sev-{html.escape(r.severity)}">{html.escape(r.severity)}</span> '
                    f'{html.escape(r.title or r.code)} <code>{html.escape(r.code)}</code></li>'
                    for r in _rules(request))
    return _page("index", f'<h1>scribe: the documentation rules</h1><ul class="rule-list">{items}</ul>')


@router.get("/rules/{rule_id}", include_in_schema=False)
def rule_page(rule_id: str, request: Request) -> HTMLResponse:
    rule = next((r for r in _rules(request) if r.id == rule_id.upper()), None)
    if rule is None:
        if request.headers.get("accept", "").startswith("application/json"):
            raise ApiError(404, "NOT_FOUND", f"no rule {rule_id}")
        return _page("not found", f"<h1>No rule {html.escape(rule_id)}</h1><p><a href=\"/rules\">All rules</a></p>", 404)
    e = html.escape
    sources = "".join(f"<li>{e(part.strip())}</li>" for part in rule.source.split(";") if part.strip())
    body = (f'<p class="crumbs"><a href="/rules">All rules</a></p>'
            f'<h1 data-testid="rule-title">{e(rule.title or rule.code)}</h1>'
            f'<p class="rule-meta"><span class="sev sev-{e(rule.severity)}">{e(rule.severity)}</span> '
            f'rule <strong data-testid="rule-id">{e(rule.id)}</strong>, gap code <code>{e(rule.code)}</code></p>'
            + (f'<h2>Why it matters</h2><p data-testid="rule-why">{e(rule.why)}</p>' if rule.why else "")
            + f'<h2>What the gap says</h2><p>{e(rule.message)}</p><h2>How to fix it</h2><p>{e(rule.fix)}</p>'
            f'<h2>Where the rule comes from</h2><ul data-testid="rule-sources">{sources}</ul>'
            '<p class="hint">Public documents: the CPT Professional Edition (AMA), the NCCI Policy Manual for '
            'Medicare Services and the quarterly PTP edit files (CMS), the CMS Internet-Only Manuals, the ICD-10-CM '
            'Official Guidelines for Coding and Reporting (CMS/NCHS), the ACR Appropriateness Criteria and '
            'Practice Parameters, and the cited Local Coverage Determinations.</p>')
    return _page(rule.id, body)
