"""A documentation page per rule (``/rules/{RULE_ID}``) and their index (``/rules``):
what the rule checks, why, where it comes from, and the examples that must raise it and
must not (the same examples ``tests/rules/test_rule_examples.py`` runs). CDS cards link
here as their ``source.url``; the pages need no token (they hold no patient data) and no
script.
"""
from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["rules"])
WHY = "A claim must rest on what the note documents for the chosen codes."


def _rules(request: Request):
    return [r for r in request.app.state.engine.lexicons.rules if r.status == "active"]


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
                        f"</title><link rel='stylesheet' href='/static/common.css'></head><body>{body}"
                        f"</body></html>", status_code=status)


@router.get("/rules", response_class=HTMLResponse)
def rule_index(request: Request):
    """Every active rule with its gap code and severity."""
    rows = "".join(f"<tr><td><a href='/rules/{html.escape(r.id)}'>{html.escape(r.id)}</a></td>"
                   f"<td><code>{html.escape(r.code)}</code></td><td>{html.escape(r.severity)}</td></tr>"
                   for r in _rules(request))
    return _page("scribe rules", "<h1>scribe documentation rules</h1><table><tr><th>Rule</th><th>Gap code</th>"
                 f"<th>Severity</th></tr>{rows}</table>")


def _example(ex) -> str:
    codes = ", ".join(ex.cpt) + (f"; modifiers {', '.join(ex.modifiers)}" if ex.modifiers else "") + \
        (f"; ICD-10-CM {', '.join(ex.icd10)}" if ex.icd10 else "") + f"; {ex.site}"
    return f"<p>CPT {html.escape(codes)}</p><pre>{html.escape(ex.text)}</pre>"


@router.get("/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(rule_id: str, request: Request):
    """One rule: what it checks, why, its source, examples that raise it and that do not."""
    rule = next((r for r in _rules(request) if r.id == rule_id.upper()), None)
    if rule is None:
        return _page("rule not found", f"<h1>No rule {html.escape(rule_id)}</h1><p><a href='/rules'>All rules</a></p>",
                     404)
    e = html.escape
    fires = "".join(_example(x) for x in rule.fires[:3]) or "<p>(none recorded)</p>"
    silent = "".join(_example(x) for x in rule.silent[:3]) or "<p>(none recorded)</p>"
    body = (f"<p><a href='/rules'>All rules</a></p><h1>{e(rule.id)}: <code>{e(rule.code)}</code></h1>"
            f"<dl><dt>Severity</dt><dd>{e(rule.severity)}</dd>"
            f"<dt>What it checks</dt><dd>{e(rule.message)}</dd>"
            f"<dt>Why</dt><dd>{e(rule.why or WHY)}</dd>"
            f"<dt>How to fix</dt><dd>{e(rule.fix)}</dd><dt>Source</dt><dd>{e(rule.source)}</dd></dl>"
            f"<h2>Raises it</h2>{fires}<h2>Does not raise it</h2>{silent}")
    return _page(f"scribe rule {rule.id}", body)
