"""Route x role x transport (issue 14): every route of the app's own route table has a
rule here (who may call it, whether its answer can hold note text); a route added without
one fails ``test_matrix_every_route_has_a_rule``. Each HTTP route is called as nobody and as
every role over three transports (Bearer header, ``?access_token=``, session cookie), the
WebSocket over four (header, query token, one-time ticket, cookie): an allowed role gets
past authentication, any other role 403 FORBIDDEN (4403), nobody 401 (4401).

Audit completeness (item 7): the note carries a canary word. Every answer of the matrix
that contains it must come from a route declared to return note text, and every call of
such a route, and every WebSocket resume and watch, writes exactly one audit row per
dictation read (who, role, what, when, from where)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount
from websockets.sync.client import connect

from scribe_server.app import create_app
from scribe_server.config import Settings

from ..live import ask, dictate_and_finalize
from .test_sessions import session, ws_url

ROLES = ("physician", "scribe", "manager", "admin")
ANY, PUBLIC = ROLES, ()
CANARY = "Zebraquill"
NOTE = (f"EXAM: Lumbar spine, 3 views.\nIndication: low back pain after a fall ({CANARY} clinic).\n"
        "Technique: AP, lateral and coned lateral views.\nComparison: none.\n"
        f"Findings: Normal alignment, {CANARY} sign absent. No fracture.\nImpression: No acute abnormality.")
ENCOUNTER = {"cpt": ["72100"], "icd10": ["M54.50"], "site": "office", "provider": "Dr Matrix"}

# (method, path as declared): (roles that may call it, whether the answer can hold note text)
RULES = {
    ("GET", "/sidebar"): (PUBLIC, False), ("GET", "/review"): (PUBLIC, False), ("GET", "/dashboard"): (PUBLIC, False),
    ("GET", "/healthz"): (PUBLIC, False), ("GET", "/static"): (PUBLIC, False),
    ("GET", "/docs"): (PUBLIC, False), ("GET", "/docs/oauth2-redirect"): (PUBLIC, False),
    ("GET", "/redoc"): (PUBLIC, False), ("GET", "/openapi.json"): (PUBLIC, False),
    ("POST", "/api/session"): (ANY, False), ("DELETE", "/api/session"): (PUBLIC, False),
    ("POST", "/api/ws-ticket"): (("physician",), False),
    ("GET", "/api/me"): (ANY, False),
    ("GET", "/api/tokens"): (("admin",), False), ("POST", "/api/tokens"): (("admin",), False),
    ("DELETE", "/api/tokens/{token_id}"): (("admin",), False),
    ("POST", "/api/tokens/{token_id}/rotate"): (("admin",), False),
    ("GET", "/api/audit"): (("admin",), False),
    ("GET", "/api/dictations"): (("physician",), False),
    ("GET", "/api/dictations/{dictation_id}"): (("physician",), True),
    ("GET", "/api/queries"): (("physician",), True),
    ("GET", "/api/review"): (("scribe",), False), ("GET", "/api/review/dismiss-reasons"): (("scribe",), False),
    ("GET", "/api/review/facets"): (("scribe",), False),
    ("GET", "/api/review/{dictation_id}"): (("scribe",), True),
    ("POST", "/api/review/gaps/{gap_id}/resolve"): (("scribe",), True),
    ("POST", "/api/review/gaps/{gap_id}/dismiss"): (("scribe",), True),
    ("POST", "/api/review/gaps/{gap_id}/query"): (("scribe",), True),
    ("GET", "/api/stats/clean-share"): (("manager",), False), ("GET", "/api/stats/dismissals"): (("manager",), False),
    ("GET", "/api/stats/money-at-risk"): (("manager",), False),
    ("GET", "/api/stats/audits"): (("manager",), False),
    ("GET", "/api/stats/audits/{audit_id}/compare"): (("manager",), False),
    ("GET", "/api/stats/audits/{audit_id}/money-at-risk"): (("manager",), False),
    ("POST", "/api/stats/money-at-risk"): (("manager",), False),
    ("GET", "/api/stats/fee-schedule"): (("manager",), False), ("GET", "/api/stats/facets"): (("manager",), False),
    ("WS", "/ws/dictation"): (("physician",), True),
    ("GET", "/api/open-dictations"): (("physician",), True),
    ("POST", "/api/dictations/{dictation_id}/discard"): (("physician",), False),
    ("POST", "/api/queries/{query_id}/answer"): (("physician",), False),
    ("GET", "/api/review/open"): (("scribe",), True),
    ("GET", "/api/rules"): (PUBLIC, False), ("GET", "/api/codes"): (PUBLIC, False), ("GET", "/rules"): (PUBLIC, False), ("GET", "/rules/{rule_id}"): (PUBLIC, False),
    ("GET", "/api/stats/order-time"): (("manager",), False), ("GET", "/api/stats/rule-outcomes"): (("manager",), False),
    ("POST", "/api/fhir/check"): (("physician", "scribe"), False),
    ("POST", "/api/check"): (("physician", "scribe"), False),
    ("GET", "/cds-services"): (PUBLIC, False),
}
# routes an EHR calls with credentials of its own (CDS Hooks JWTs, the SMART authorization flow), not scribe
# tokens: tests/ehr checks their authentication; the matrix only requires them to be declared here
OWN_AUTH = {("POST", "/cds-services/{service_id}"), ("POST", "/cds-services/{service_id}/feedback"),
            ("GET", "/smart/launch"), ("GET", "/smart/callback")}
# the queries of some routes, so that CSV exports are called too
EXTRA_QUERIES = {"/api/stats/clean-share": ["?format=csv", "?by=gap_code&format=csv", "?by=family&format=csv"],
                 "/api/stats/dismissals": ["?format=csv"], "/api/stats/rule-outcomes": ["?format=csv"],
                 "/api/stats/money-at-risk": ["?format=csv", "?format=csv&by=provider", "?format=csv&by=family"]}
TRANSPORTS = ("header", "query", "cookie")


def declared_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(db_url="sqlite:///:memory:"))
    out = []
    for ctx in iter_route_contexts(app.routes):
        if isinstance(ctx.original_route, Mount):
            out.append(("GET", ctx.original_route.path))
        elif not ctx.methods:
            out.append(("WS", ctx.path))
        else:
            out += [(m, ctx.path) for m in sorted(ctx.methods) if m != "HEAD"]
    return out


def test_matrix_every_route_has_a_rule():
    routes = declared_routes()
    missing = [r for r in routes if r not in RULES and r not in OWN_AUTH]
    assert not missing, f"routes without a rule in tests/security/test_route_matrix.py: {missing}"
    assert not [r for r in [*RULES, *OWN_AUTH] if r not in routes], "rules for routes that no longer exist"


@pytest.fixture(scope="module")
def world(live):
    """Tokens of every role (the scribe's cookie session too), a finalized dictation with the
    canary and open gaps, a query to the physician."""
    tokens = {role: live.token(role=role, name=f"mx_{role}")[0] for role in ROLES}
    done = dictate_and_finalize(live.server, tokens["physician"], "mx-1", ENCOUNTER, NOTE)
    assert done
    gaps = live.json("GET", "/api/review/mx-1", tokens["scribe"])[1]["gaps"]
    assert CANARY in live.json("GET", "/api/review/mx-1", tokens["scribe"])[1]["text"]
    assert live.json("POST", f"/api/review/gaps/{gaps[-1]['id']}/query", tokens["scribe"],
                     {"question": "Who ordered it?"})[0] == 200
    cookies = {role: session(live, token)[0] for role, token in tokens.items()}
    return {"tokens": tokens, "cookies": cookies, "gap": gaps[0]["id"]}


def body_for(method: str, path: str) -> bytes | None:
    if method not in ("POST", "PUT"):
        return None
    bodies = {"resolve": {"addendum": "Electronically signed by Lee Park, MD"}, "dismiss": {"reason": "false_positive"},
              "query": {"question": "Was it signed?"}, "/api/tokens": {"name": "mx_new", "role": "scribe"},
              "rotate": {"grace_hours": 1}, "money-at-risk": {"fees": {"72100": 30.0}}}
    for key, value in bodies.items():
        if path.endswith(key):
            return json.dumps(value).encode()
    return b"{}"


def concrete(path: str, world) -> str:
    values = {"dictation_id": "mx-1", "gap_id": str(world["gap"]), "token_id": "999999", "query_id": "999999",
              "rule_id": "RPT-001", "audit_id": "999999"}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def call(live, world, method, path, role, transport):
    headers, token = {}, None
    if role is not None and transport == "header":
        token = world["tokens"][role]
    elif role is not None and transport == "query":
        path += ("&" if "?" in path else "?") + f"access_token={world['tokens'][role]}"
    elif role is not None:
        headers = {"Cookie": f"scribe_session={world['cookies'][role]}", "Origin": live.server.base}
    if path.startswith("/static"):
        path += "/page.js"
    return live.request(method, path, token, body_for(method, path), headers)


def audit_rows(live, world) -> list[dict]:
    live.server._drain()        # the server logs every request into a pipe: keep it from filling
    return live.json("GET", "/api/audit?limit=500", world["tokens"]["admin"])[1]


def test_matrix_http_routes_by_role_and_transport_and_audit(live, world):
    cells = 0
    for (method, template), (allowed, text_route) in RULES.items():
        if method == "WS":
            continue
        for query in [""] + EXTRA_QUERIES.get(template, []):
            path = concrete(template, world) + query
            for transport in TRANSPORTS:
                for role in (None, *ROLES):
                    if method == "DELETE" and template == "/api/session" and role is not None:
                        continue                        # would end the cookie of later cells
                    before = {r["id"] for r in audit_rows(live, world)}
                    status, _, raw = call(live, world, method, path, role, transport)
                    after = [r for r in audit_rows(live, world) if r["id"] not in before]
                    where = f"{method} {path} as {role or 'nobody'} by {transport} -> {status}"
                    cells += 1
                    if not allowed or role in allowed:
                        assert status not in (401, 403), where
                    elif role is None:
                        assert status == 401, where
                    else:
                        assert status == 403 and json.loads(raw)["error"]["code"] == "FORBIDDEN", where
                    reads = [r for r in after if r["action"] not in ("open_session", "create_token", "rotate_token",
                                                                     "revoke_token")]
                    if CANARY.encode() in raw:
                        assert text_route, f"{where}: note text from a route not declared to return it"
                    if text_route and status < 300 and raw.strip() != b"[]":
                        assert len(reads) == len({r["dictation_id"] for r in reads}) >= 1, (where, after)
                        for r in reads:
                            assert r["actor"] == f"mx_{role}" and r["role"] == role and r["address"] == "127.0.0.1"
                            assert r["dictation_id"] == "mx-1", (where, r)
                            at = datetime.fromisoformat(r["at"].rstrip("Z"))
                            assert abs(datetime.utcnow() - at) < timedelta(minutes=1)
                    else:
                        assert not reads, (where, reads)
    assert cells >= 600


def test_matrix_websocket_by_role_and_transport_and_audit(live, world):
    for role in ROLES:
        token, cookie = world["tokens"][role], world["cookies"][role]
        ticket = live.json("POST", "/api/ws-ticket", token)[1].get("ticket") if role == "physician" else None
        attempts = {"header": dict(additional_headers={"Authorization": f"Bearer {token}"}),
                    "query": dict(uri=f"?access_token={token}"),
                    "cookie": dict(additional_headers={"Cookie": f"scribe_session={cookie}"}, origin=live.server.base)}
        if ticket:
            attempts["ticket"] = dict(uri=f"?ticket={ticket}")
        for transport, kw in attempts.items():
            uri = ws_url(live, kw.pop("uri", ""))
            with connect(uri, open_timeout=10, **kw) as ws:
                if role != "physician":
                    frame = json.loads(ws.recv(timeout=10))
                    assert frame["code"] == "FORBIDDEN", (role, transport)
                    continue
                before = {r["id"] for r in audit_rows(live, world)}
                for verb in ("resume", "watch"):
                    answer = ask(ws, {"type": verb, "dictation_id": "mx-open"})
                    if answer.get("code") == "DICTATION_NOT_FOUND":
                        assert ask(ws, {"type": "start", "dictation_id": "mx-open", "encounter": ENCOUNTER}
                                   )["type"] == "state"
                        assert ask(ws, {"type": "segment", "seq": 1, "text": NOTE, "final": True})["type"] == "state"
                        answer = ask(ws, {"type": verb, "dictation_id": "mx-open"})
                    assert answer["type"] == "state" and CANARY in json.dumps(answer), (transport, verb)
                after = [r for r in audit_rows(live, world) if r["id"] not in before]
                assert sorted(r["action"] for r in after) == ["resume_dictation", "watch_dictation"], transport
                assert all(r["actor"] == "mx_physician" and r["address"] == "127.0.0.1" for r in after)
    with connect(ws_url(live), open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["code"] == "UNAUTHENTICATED"


def test_matrix_audit_filters_by_dictation_and_by_user(live, world):
    admin = world["tokens"]["admin"]
    assert live.json("GET", "/api/review/mx-1", world["tokens"]["scribe"])[0] == 200
    by_dictation = live.json("GET", "/api/audit?dictation_id=mx-1&limit=500", admin)[1]
    assert by_dictation and {r["dictation_id"] for r in by_dictation} == {"mx-1"}
    by_user = live.json("GET", "/api/audit?actor=mx_scribe&limit=500", admin)[1]
    assert by_user and {r["actor"] for r in by_user} == {"mx_scribe"}
    both = live.json("GET", "/api/audit?actor=mx_scribe&dictation_id=mx-1&action=read_note_text", admin)[1]
    assert both and all(r["action"] == "read_note_text" for r in both)
