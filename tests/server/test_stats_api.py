"""The statistics API the dashboard reads (completeness with and without dismissed gaps,
money at risk by provider and month, the fee table's provenance, CSV exports, filter
facets), the review-queue facets, the static files of the pages, and the demo data of
`scribe serve --demo`: on SQLite and PostgreSQL, with dictations made over the WebSocket."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest

from scribe_server.config import Settings
from scribe_server.demo import NOTES, load_demo
from scribe_server.store import Filters, Store

from .conftest import ENCOUNTER, NOTE, dictate

UNSIGNED = NOTE.rsplit("\n", 1)[0]                  # SIGNATURE_MISSING (error) + ORDERING_PROVIDER_MISSING (info)
TWO_VIEWS = NOTE.replace("3 views", "2 views").replace("AP, lateral and coned lateral views", "AP and lateral views")
NOTE_FRAGMENTS = ("Lumbar spine", "low back pain", "Normal alignment", "No acute abnormality", "Lee Park")
THIS_MONTH = date.today().strftime("%Y-%m")


@pytest.fixture
def practice(api_any_db):
    """Four finalized dictations of two providers:
    lee-1   Dr Lee  72100  unsigned: SIGNATURE_MISSING (error), ORDERING_PROVIDER_MISSING (info)
    lee-2   Dr Lee  72100  clean (ORDERING_PROVIDER_MISSING, info, only)
    kim-1   Dr Kim  72110  2 views documented: VIEWS_MISMATCH (error)
    kim-2   Dr Kim  72120  POSITIONS_MISSING (error) and more
    """
    api = api_any_db
    cases = [("lee-1", UNSIGNED, ENCOUNTER), ("lee-2", NOTE, ENCOUNTER),
             ("kim-1", TWO_VIEWS, {**ENCOUNTER, "cpt": ["72110"], "provider": "Dr Kim"}),
             ("kim-2", NOTE, {**ENCOUNTER, "cpt": ["72120"], "provider": "Dr Kim"})]
    with api.ws() as ws:
        for did, text, enc in cases:
            assert dictate(ws, text, enc, dictation_id=did)[-1]["type"] == "finalized"
    gaps = {(d, g["code"]): g for d in ("lee-1", "lee-2", "kim-1", "kim-2") for g in api.store.gaps_of(d)}
    assert ("lee-1", "SIGNATURE_MISSING") in gaps and ("kim-1", "VIEWS_MISMATCH") in gaps
    assert ("kim-2", "POSITIONS_MISSING") in gaps
    assert not any(d == "lee-2" and g["severity"] != "info" for (d, _), g in gaps.items())
    api.gaps = gaps
    return api


def rows(api, path, role="manager"):
    r = api.get(path, role)
    assert r.status_code == 200, r.text
    return r.json()


def csv_rows(api, path) -> list[list[str]]:
    r = api.get(path, "manager")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.reader(io.StringIO(r.text)))


def test_completeness_counts_dismissed_gaps_only_when_asked(practice):
    api = practice
    share = lambda qs="": {r["key"]: (r["finalized"], r["clean"], r["share"])
                           for r in rows(api, "/api/stats/clean-share?by=provider" + qs)}
    assert share() == {"Dr Lee": (2, 1, 0.5), "Dr Kim": (2, 0, 0.0)}
    assert share("&ignore_dismissed=true") == share()
    r = api.post(f"/api/review/gaps/{api.gaps[('kim-1', 'VIEWS_MISMATCH')]['id']}/dismiss", "scribe",
                 json={"reason": "false_positive", "note": "coned lateral counted on the requisition"})
    assert r.status_code == 200
    kim_1_others = [c for d, c in api.gaps if d == "kim-1" and c != "VIEWS_MISMATCH"
                    and api.gaps[(d, c)]["severity"] in ("error", "warning")]
    assert share()["Dr Kim"] == (2, 0, 0.0)                       # as dictated: unchanged
    assert share("&ignore_dismissed=true")["Dr Kim"] == ((2, 0, 0.0) if kim_1_others else (2, 1, 0.5))
    by_gap = {r["key"]: r["clean"] for r in rows(api, "/api/stats/clean-share?by=gap_code&ignore_dismissed=true")}
    assert "VIEWS_MISMATCH" not in by_gap or by_gap["VIEWS_MISMATCH"] == 4
    # a gap closed by an addendum still counts: the note was incomplete as dictated
    ok = api.post(f"/api/review/gaps/{api.gaps[('lee-1', 'SIGNATURE_MISSING')]['id']}/resolve", "scribe",
                  json={"addendum": "Electronically signed by Lee Park, MD"})
    assert ok.status_code == 200, ok.text
    assert share("&ignore_dismissed=true")["Dr Lee"] == (2, 1, 0.5)


def test_filters_by_cpt_work_for_every_grouping(practice):
    """Regression: the CPT filter's EXISTS was auto-correlated away (500) when the outer
    query also read dictation_codes (by=cpt, money at risk)."""
    api = practice
    for by in ("provider", "cpt", "gap_code", "week"):
        got = rows(api, f"/api/stats/clean-share?by={by}&cpt=72110")
        assert got and all(r["finalized"] == 1 for r in got), (by, got)
    assert {r["key"] for r in rows(api, "/api/stats/clean-share?by=cpt&cpt=72110")} == {"72110"}
    money = rows(api, "/api/stats/money-at-risk?cpt=72100")
    assert {r["cpt"] for r in money["by_cpt"]} == {"72100"}            # only that code's lines
    assert rows(api, "/api/stats/dismissals?cpt=72120")


def test_money_at_risk_by_provider_month_and_gap_code(practice):
    api = practice
    fees = api.app.state.fees
    money = rows(api, "/api/stats/money-at-risk?severity=error&severity=warning")
    by_provider = {r["provider"]: r for r in money["by_provider"]}
    kim = sum(fees.get(c, 0) for c in ("72110", "72120"))
    assert by_provider["Dr Lee"]["dollars"] == round(fees["72100"], 2) and by_provider["Dr Lee"]["lines"] == 1
    assert by_provider["Dr Kim"]["dollars"] == round(kim, 2) and by_provider["Dr Kim"]["lines"] == 2
    assert money["total_lines"] == 3 and money["total_dollars"] == round(fees["72100"] + kim, 2)
    assert money["by_month"] == [{"month": THIS_MONTH, "lines": 3, "dollars": money["total_dollars"],
                                  "unpriced_lines": 0}]
    assert {r["gap_code"] for r in money["by_gap_code"]} >= {"SIGNATURE_MISSING", "VIEWS_MISMATCH",
                                                             "POSITIONS_MISSING"}
    last_month = (date.today().replace(day=1) - timedelta(days=1)).isoformat()
    assert rows(api, f"/api/stats/money-at-risk?date_to={last_month}")["total_dollars"] == 0
    api.post(f"/api/review/gaps/{api.gaps[('kim-1', 'VIEWS_MISMATCH')]['id']}/dismiss", "scribe",
             json={"reason": "not_applicable"})
    after = rows(api, "/api/stats/money-at-risk?severity=error&severity=warning&provider=Dr%20Kim")
    still = {c for d, c in api.gaps if d == "kim-1" and api.gaps[(d, c)]["severity"] in ("error", "warning")} - {
        "VIEWS_MISMATCH"}
    expected = kim if still else fees["72120"]
    assert after["total_dollars"] == round(expected, 2)
    assert [r["provider"] for r in after["by_provider"]] == ["Dr Kim"]


def test_fee_schedule_names_year_source_and_conversion_factor(practice):
    api = practice
    table = rows(api, "/api/stats/fee-schedule")
    assert table["table"] == "lexicons" and table["year"] == 2026
    assert table["conversion_factor"] == pytest.approx(33.4009) and "CMS" in table["source"]
    codes = {c["cpt"]: c for c in table["codes"]}
    assert codes["72100"]["payment"] == api.app.state.fees["72100"] and codes["72100"]["rvu_total"]
    assert set(codes) == set(api.app.state.fees)
    assert codes["72100"]["paraphrase"] and codes["72100"]["payment_source"]
    for role in ("physician", "scribe", "admin"):
        assert api.get("/api/stats/fee-schedule", role).status_code == 403


def test_fee_schedule_from_a_practice_file(sqlite_url, engine, tmp_path):
    from .conftest import Api, make_api

    fees = tmp_path / "fees.json"
    fees.write_text(json.dumps({"72100": 51.5, "72110": 60.0}))
    client, tokens, app = make_api(sqlite_url, engine, fee_table=fees)
    with client:
        table = Api(client, tokens, app).get("/api/stats/fee-schedule", "manager").json()
    assert table["table"] == "file" and "fees.json" in table["source"] and table["year"] is None
    assert {c["cpt"]: c["payment"] for c in table["codes"]} == {"72100": 51.5, "72110": 60.0}


def test_csv_exports_match_the_json(practice):
    api = practice
    for by in ("provider", "cpt", "gap_code", "week"):
        data = rows(api, f"/api/stats/clean-share?by={by}")
        table = csv_rows(api, f"/api/stats/clean-share?by={by}&format=csv")
        assert table[0] == [by, "finalized", "clean", "share"]
        assert table[1:] == [[r["key"], str(r["finalized"]), str(r["clean"]), str(r["share"])] for r in data]
    dismissals = rows(api, "/api/stats/dismissals")
    table = csv_rows(api, "/api/stats/dismissals?format=csv")
    assert table[0][:4] == ["gap_code", "gaps", "dismissed", "rate"] and "reason:false_positive" in table[0]
    assert [r[0] for r in table[1:]] == [r["gap_code"] for r in dismissals]
    money = rows(api, "/api/stats/money-at-risk?severity=error&severity=warning")
    for by in ("provider", "gap_code", "month"):
        table = csv_rows(api, f"/api/stats/money-at-risk?severity=error&severity=warning&format=csv&by={by}")
        assert table[0] == [by, "lines", "dollars", "unpriced_lines"]
        assert table[1:] == [[r[by], str(r["lines"]), str(r["dollars"]), str(r["unpriced_lines"])]
                             for r in money[f"by_{by}"]]
    table = csv_rows(api, "/api/stats/money-at-risk?format=csv")
    assert table[0] == ["cpt", "lines", "fee", "dollars"]


def test_csv_cells_cannot_become_spreadsheet_formulas(api_any_db):
    api = api_any_db
    with api.ws() as ws:
        dictate(ws, NOTE, {**ENCOUNTER, "provider": "=HYPERLINK(\"http://x\")"}, dictation_id="f-1")
    table = csv_rows(api, "/api/stats/clean-share?by=provider&format=csv")
    assert table[1][0] == "'=HYPERLINK(\"http://x\")"


def test_facets_list_codes_and_names_only(practice):
    api = practice
    stats = rows(api, "/api/stats/facets")
    assert stats["providers"] == ["Dr Kim", "Dr Lee"] and stats["cpt"] == ["72100", "72110", "72120"]
    assert "SIGNATURE_MISSING" in stats["gap_codes"] and stats["first_finalized_at"].endswith("Z")
    for gap in [g for (d, _), g in api.gaps.items() if d in ("lee-1", "lee-2")]:
        api.post(f"/api/review/gaps/{gap['id']}/dismiss", "scribe", json={"reason": "not_applicable"})
    queue = rows(api, "/api/review/facets", "scribe")
    assert queue["providers"] == ["Dr Kim"] and queue["cpt"] == ["72110", "72120"]
    assert "SIGNATURE_MISSING" not in queue["gap_codes"] and "VIEWS_MISMATCH" in queue["gap_codes"]
    assert api.get("/api/review/facets", "manager").status_code == 403
    assert api.get("/api/stats/facets", "scribe").status_code == 403


def test_no_statistics_response_carries_note_text(practice):
    api = practice
    api.post(f"/api/review/gaps/{api.gaps[('kim-1', 'VIEWS_MISMATCH')]['id']}/dismiss", "scribe",
             json={"reason": "other", "note": "Lumbar spine films were 4 views per the tech"})
    bodies = [api.get(p, "manager").text for p in (
        "/api/stats/clean-share?by=provider", "/api/stats/clean-share?by=gap_code&format=csv",
        "/api/stats/dismissals", "/api/stats/dismissals?format=csv", "/api/stats/money-at-risk",
        "/api/stats/money-at-risk?format=csv&by=gap_code", "/api/stats/fee-schedule", "/api/stats/facets")]
    for body in bodies:
        for fragment in NOTE_FRAGMENTS + ("evidence", "message", "per the tech"):
            assert fragment not in body


def test_static_files_of_the_pages_are_served(api):
    for name, kind in (("review.js", "javascript"), ("dashboard.js", "javascript"), ("review.css", "css"),
                       ("dashboard.charts.js", "javascript")):
        r = api.get(f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"], name
    assert api.get("/static/../store.py").status_code == 404
    assert api.get("/static/nothing.js").status_code == 404
    for page in ("review", "dashboard"):
        html = api.get(f"/{page}").text
        assert f"/static/{page}.js" in html and "https://" not in html        # no CDN


def test_demo_data_loads_once_through_the_engine(db_url, engine):
    store = Store(Settings(db_url=db_url).database_url)
    store.migrate()
    try:
        first = load_demo(store, engine)
        assert "9 example dictations loaded" in first[0] and len(first) == 1, first
        assert load_demo(store, engine) == ["scribe: --demo: the 9 example dictations are already loaded"]
        assert store.count_dictations() == len(NOTES) == 9
        everything = Filters()
        providers = {r["key"] for r in store.clean_share(everything, by="provider")}
        cpts = {r["key"] for r in store.clean_share(everything, by="cpt")}
        assert len(providers) == 3 and {"72100", "72110", "72040", "72148", "72081"} <= cpts
        weeks = store.clean_share(everything, by="week")
        assert len(weeks) >= 4                                          # spread over the last weeks
        queue = store.review_queue(everything, limit=50, offset=0)["items"]
        assert 4 <= len(queue) < 9                                     # some clean, some with open gaps
        statuses = [g["status"] for n in NOTES for g in store.gaps_of(n.id)]
        assert statuses.count("dismissed") >= 2 and "resolved" in statuses
        actions = [a for n in NOTES for g in store.gaps_of(n.id) for a in g["actions"]]
        assert all(a["by"] == "demo_scribe" for a in actions) and {"dismiss", "resolve", "query"} <= {
            a["action"] for a in actions}
        for n in NOTES:                                  # the engine's own verdict on the stored text
            row = store.dictation_row(n.id)
            assert row["status"] == "finalized" and row["final_text"] == n.text
    finally:
        store.dispose()


def test_demo_data_stays_out_of_a_database_with_real_dictations(api, engine):
    with api.ws() as ws:
        dictate(ws, NOTE, dictation_id="real-1")
    lines = load_demo(api.store, engine)
    assert "not loading demo data" in lines[0] and api.store.count_dictations() == 1
