"""The manager dashboard (/dashboard) in chromium against a real `scribe serve`:
dictations made over the WebSocket, numbers checked against the API and against what a
dismissal changes, hover tooltips, CSV downloads, role refusal and the absence of note
text; and `scribe serve --demo` started twice (no duplicates) for the screenshot."""
from __future__ import annotations

import csv
import io
import json
import urllib.request

import pytest
from playwright.sync_api import expect

from ..live import Server, dictate_and_finalize, http_get
from .conftest import screenshot

pytestmark = pytest.mark.browser

SIGNED = ("EXAM: Lumbar spine, 3 views.\nIndication: low back pain after a fall from a step.\n"
          "Ordering physician: Ana Ruiz, MD.\nTechnique: AP, lateral and coned L5-S1 lateral views.\n"
          "Comparison: none.\nFindings: Normal alignment. Vertebral heights preserved. No fracture.\n"
          "Impression: No acute abnormality of the lumbar spine.\nElectronically signed by Lee Park, MD")
UNSIGNED = SIGNED.replace("Electronically signed by", "Dictated by")          # SIGNATURE_MISSING
FOUR_VIEWS = ("EXAM: Lumbar spine, 4 views.\nIndication: low back pain for two weeks.\n"
              "Ordering physician: Ana Ruiz, MD.\nTechnique: AP, lateral and both oblique views.\nComparison: none.\n"
              "Findings: Mild disc space narrowing at L4-L5. Pars intact. No fracture.\n"
              "Impression: Mild degenerative change at L4-L5.\nElectronically signed by Jae Kim, MD")
TWO_VIEWS = FOUR_VIEWS.replace("4 views", "radiographs").replace("Technique: AP, lateral and both oblique views",
                                                                 "Views: AP and lateral")  # VIEWS_MISMATCH
NOTE_FRAGMENTS = ("low back pain", "Normal alignment", "Vertebral heights", "oblique", "Dictated by", "Lee Park",
                  "Ana Ruiz", "degenerative change")
DICTATIONS = [  # id, provider, cpt, text, gap codes open at finalization
    ("d-lee-1", "Dr Lee", "72100", SIGNED, []),
    ("d-lee-2", "Dr Lee", "72100", UNSIGNED, ["SIGNATURE_MISSING"]),
    ("d-kim-1", "Dr Kim", "72110", FOUR_VIEWS, []),
    ("d-kim-2", "Dr Kim", "72110", TWO_VIEWS, ["VIEWS_MISMATCH"]),
]


def dictate(server: Server, token: str, did: str, provider: str, cpt: str, text: str) -> list[dict]:
    encounter = {"cpt": [cpt], "icd10": ["M54.50"], "site": "office", "provider": provider}
    return dictate_and_finalize(server, token, did, encounter, text)


@pytest.fixture(scope="module")
def practice(served):
    token = served.page_tokens()["physician"]
    for did, provider, cpt, text, codes in DICTATIONS:
        assert [g["code"] for g in dictate(served, token, did, provider, cpt, text)] == codes, did
    return served


def fees(server: Server) -> dict[str, float]:
    table = http_get(server.base + "/api/stats/fee-schedule", server.page_tokens()["manager"])[1]
    return {c["cpt"]: c["payment"] for c in table["codes"]}


def open_dashboard(page, server: Server, role: str = "manager", query: str = "", loads: int = 1):
    page.goto(f"{server.base}/dashboard?access_token={server.page_tokens()[role]}{query}")
    page.wait_for_selector("body[data-ready]", state="attached")


def kpi(page, name: str) -> str:
    return page.get_by_test_id(f"kpi-{name}-value").inner_text()


def bar(page, plot: str, key: str):
    return page.get_by_test_id(f"plot-{plot}").locator(f'[data-testid=bar][data-key="{key}"]')


def hover_text(page, locator) -> str:
    locator.hover()
    tip = page.get_by_test_id("chart-tooltip")
    expect(tip).to_be_visible()
    return tip.inner_text()


def dismiss(server: Server, did: str, code: str, reason: str) -> None:
    token = server.page_tokens()["scribe"]
    detail = http_get(f"{server.base}/api/review/{did}", token)[1]
    gap = next(g for g in detail["gaps"] if g["code"] == code)
    req = urllib.request.Request(f"{server.base}/api/review/gaps/{gap['id']}/dismiss", method="POST",
                                 data=json.dumps({"reason": reason}).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def test_numbers_hover_and_the_effect_of_a_dismissal(page, practice):
    fee = fees(practice)
    open_dashboard(page, practice)
    expect(page.get_by_test_id("kpi-completeness-value")).to_have_text("50%")
    expect(page.get_by_test_id("kpi-completeness-detail")).to_have_text("2 of 4 finalized dictations complete")
    at_risk = fee["72100"] + fee["72110"]
    expect(page.get_by_test_id("kpi-money-value")).to_have_text(f"${at_risk:,.2f}")
    expect(page.get_by_test_id("kpi-dismissal-value")).to_have_text("0%")
    # charts, with the numbers on hover (and on keyboard focus)
    assert "50% complete: 1 of 2 dictations" in hover_text(page, bar(page, "completeness-provider", "Dr Kim"))
    assert f"${fee['72110']:,.2f} at risk" in hover_text(page, bar(page, "money-provider", "Dr Kim"))
    assert f"${fee['72100']:,.2f} at risk" in hover_text(page, bar(page, "money-gap_code", "SIGNATURE_MISSING"))
    bar(page, "completeness-cpt", "72110").focus()
    expect(page.get_by_test_id("chart-tooltip")).to_contain_text("CPT 72110")
    expect(page.get_by_test_id("chart-tooltip")).to_contain_text("1 of 2 dictations")
    assert page.get_by_test_id("plot-completeness-week").locator("[data-testid=bar]").count() == 1

    dismiss(practice, "d-kim-2", "VIEWS_MISMATCH", "false_positive")
    open_dashboard(page, practice)
    expect(page.get_by_test_id("kpi-completeness-value")).to_have_text("75%")
    expect(page.get_by_test_id("kpi-money-value")).to_have_text(f"${fee['72100']:,.2f}")
    expect(page.get_by_test_id("kpi-dismissal-value")).to_have_text("50%")
    expect(page.get_by_test_id("kpi-dismissal-detail")).to_have_text("1 of 2 gaps found at finalization was dismissed")
    assert "100% complete: 2 of 2 dictations" in hover_text(page, bar(page, "completeness-provider", "Dr Kim"))
    assert bar(page, "money-provider", "Dr Kim").count() == 0
    tip = hover_text(page, bar(page, "dismissals", "VIEWS_MISMATCH"))
    assert "100% dismissed: 1 of 1 gap" in tip and "the note does document it (checker mistake): 1" in tip


def test_filters_change_the_numbers(page, practice):
    open_dashboard(page, practice)
    page.get_by_test_id("filter-provider").select_option("Dr Lee")
    expect(page.get_by_test_id("kpi-completeness-detail")).to_have_text("1 of 2 finalized dictations complete")
    assert page.get_by_test_id("plot-completeness-provider").locator("[data-testid=bar]").count() == 1
    page.get_by_test_id("filter-clear").click()
    expect(page.get_by_test_id("kpi-completeness-detail")).to_contain_text("of 4 finalized dictations")
    page.get_by_test_id("filter-cpt").select_option("72110")
    expect(page.get_by_test_id("kpi-completeness-detail")).to_contain_text("of 2 finalized dictations")
    page.get_by_test_id("filter-clear").click()
    page.get_by_test_id("filter-date-to").fill("2000-01-31")
    expect(page.get_by_test_id("kpi-completeness-detail")).to_have_text("No finalized dictation matches the filters.")


def test_csv_exports_match_the_api(page, practice):
    token = practice.page_tokens()["manager"]
    open_dashboard(page, practice)
    exports = {
        "completeness-provider": "/api/stats/clean-share?by=provider&ignore_dismissed=true",
        "completeness-week": "/api/stats/clean-share?by=week&ignore_dismissed=true",
        "dismissals": "/api/stats/dismissals",
        "money-month": "/api/stats/money-at-risk?severity=error&severity=warning",
    }
    for name, path in exports.items():
        with page.expect_download() as download:
            page.get_by_test_id(f"csv-{name}").click()
        rows = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
        assert download.value.suggested_filename.endswith(".csv")
        data = http_get(practice.base + path, token)[1]
        if name.startswith("completeness"):
            assert rows[1:] == [[r["key"], str(r["finalized"]), str(r["clean"]), str(r["share"])] for r in data]
        elif name == "dismissals":
            assert [r[:3] for r in rows[1:]] == [[r["gap_code"], str(r["gaps"]), str(r["dismissed"])] for r in data]
        else:
            assert rows[1:] == [[r["month"], str(r["lines"]), str(r["dollars"]), str(r["unpriced_lines"])]
                                for r in data["by_month"]]


def test_fee_table_is_named_with_year_and_source(page, practice):
    open_dashboard(page, practice)
    source = page.get_by_test_id("fee-source").inner_text()
    assert "2026" in source and "CMS" in source and "33.4009" in source and "RVU" in source
    page.get_by_test_id("fee-table").locator("summary").click()
    expect(page.get_by_test_id("fee-codes")).to_contain_text("72100")


@pytest.mark.parametrize("role", ["physician", "scribe"])
def test_other_roles_get_a_clear_message_and_no_data(page, practice, role):
    calls = []
    page.on("request", lambda r: calls.append(r.url))
    open_dashboard(page, practice, role=role)
    expect(page.get_by_test_id("notice")).to_contain_text("needs the manager role")
    assert page.locator("[data-testid=bar]").count() == 0 and page.get_by_test_id("kpis").count() == 0
    assert not [u for u in calls if "/api/stats" in u]
    assert "Dr Lee" not in page.content()


def test_the_manager_sees_no_note_text(page, practice):
    responses = []
    page.on("response", lambda r: responses.append(r))
    open_dashboard(page, practice)
    page.get_by_test_id("fee-table").locator("summary").click()
    for b in page.locator("[data-testid=bar]").all()[:6]:
        b.hover()
    api = [r for r in responses if "/api/" in r.url]
    assert api and all("/api/stats/" in r.url or r.url.endswith(("/api/me", "/api/session")) for r in api)
    bodies = [r.text() for r in api]
    dom = page.content()
    for fragment in NOTE_FRAGMENTS:
        assert fragment not in dom, fragment
        assert not [b for b in bodies if fragment in b], fragment
    for body in bodies:
        assert '"evidence"' not in body and '"message"' not in body and '"text"' not in body


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`scribe serve --demo`, stopped and started again with --demo: nothing is duplicated."""
    tmp = tmp_path_factory.mktemp("dashboard-demo")
    server = Server(tmp, f"sqlite:///{tmp / 'demo.sqlite'}")
    server.start("--demo")
    assert any("9 example dictations loaded" in line for line in server.output), "".join(server.output)
    tokens = server.page_tokens()
    server.stop()
    server.output.clear()
    server.start("--demo")
    assert any("already loaded" in line for line in server.output), "".join(server.output)
    server.page_tokens = lambda: tokens                 # the second start prints no first-start tokens
    yield server
    server.stop()


@pytest.mark.screenshot
def test_demo_data_fills_the_dashboard_once_and_screenshot(page, demo):
    rows = http_get(demo.base + "/api/stats/clean-share?by=provider", demo.page_tokens()["manager"])[1]
    assert sum(r["finalized"] for r in rows) == 9 and len(rows) == 3
    open_dashboard(page, demo)
    expect(page.get_by_test_id("kpi-completeness-detail")).to_contain_text("of 9 finalized dictations")
    assert page.get_by_test_id("plot-completeness-week").locator("[data-testid=bar]").count() >= 4
    assert page.get_by_test_id("plot-dismissals").locator("[data-testid=bar]").count() >= 4
    bar(page, "completeness-provider", "Dr Okafor").hover()
    expect(page.get_by_test_id("chart-tooltip")).to_be_visible()
    screenshot(page, "dashboard")
