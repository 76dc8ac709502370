"""The dashboard compares a retrospective audit with live completeness, in chromium against a
real `scribe serve`: live dictations made over the WebSocket, `scribe audit` results loaded with
`scribe audit-load` into the running service's database, the audit shown with its own source
and dates beside the live numbers (never added to them), per gap code and per provider."""
from __future__ import annotations

import subprocess
import sys

import pytest
from playwright.sync_api import expect

from scribe.audit import run_audit

from ..live import dictate_and_finalize
from ..test_audit import SIGNED, UNSIGNED, good_cases, write_jsonl
from .conftest import screenshot
from .test_dashboard import bar, hover_text, open_dashboard

pytestmark = pytest.mark.browser
LIVE = [("live-1", SIGNED, []), ("live-2", UNSIGNED, ["SIGNATURE_MISSING"]), ("live-3", UNSIGNED, ["SIGNATURE_MISSING"])]


@pytest.fixture(scope="module")
def live(served):
    token = served.page_tokens()["physician"]
    encounter = {"cpt": ["72100"], "icd10": ["M54.50"], "site": "office", "provider": "Dr Lee"}
    for did, text, codes in LIVE:
        assert [g["code"] for g in dictate_and_finalize(served, token, did, encounter, text)] == codes
    return served


def load_audit(server, tmp_path) -> str:
    inp = write_jsonl(tmp_path / "spine-2025.jsonl", good_cases(8))
    run_audit(inp, tmp_path / "results", progress=False, partition_rows=3)
    done = subprocess.run([sys.executable, "-m", "scribe.cli", "audit-load", str(tmp_path / "results"), "--db",
                           server.db_url, "--name", "Spine audit 2025"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.screenshot
def test_the_dashboard_compares_an_audit_with_live_completeness(page, live, tmp_path):
    open_dashboard(page, live)
    page.wait_for_selector("body[data-audit-loads]", state="attached")
    expect(page.get_by_test_id("audit-empty")).to_be_visible()
    expect(page.get_by_test_id("kpi-completeness-value")).to_have_text("33.3%")

    assert "8 cases" in load_audit(live, tmp_path)
    open_dashboard(page, live)
    page.wait_for_selector("body[data-audit-loads='1']", state="attached")
    expect(page.get_by_test_id("audit-empty")).to_be_hidden()
    expect(page.get_by_test_id("audit-select")).to_contain_text("Spine audit 2025 (2025-03-04 to 2025-04-02)")
    expect(page.get_by_test_id("audit-kpi-audit-value")).to_have_text("50%")
    expect(page.get_by_test_id("audit-kpi-audit-detail")).to_have_text(
        "4 of 8 cases complete in Spine audit 2025 (spine-2025.jsonl, 2025-03-04 to 2025-04-02)")
    expect(page.get_by_test_id("audit-kpi-live-value")).to_have_text("33.3%")
    expect(page.get_by_test_id("audit-kpi-live-detail")).to_contain_text("1 of 3 finalized dictations complete")
    # the live figures above are the live dictations only: the audit's 8 cases are not in them
    expect(page.get_by_test_id("kpi-completeness-detail")).to_have_text("1 of 3 finalized dictations complete")

    compare = page.get_by_test_id("table-audit-compare")
    sig = compare.locator("tr", has_text="SIGNATURE_MISSING")
    expect(sig).to_contain_text("8")
    expect(sig.locator("td").nth(1)).to_have_text("75%")
    expect(sig.locator("td").nth(3)).to_have_text("33.3%")
    expect(sig.locator("td").nth(4)).to_have_text("-41.7 pts")
    views = compare.locator("tr", has_text="VIEWS_MISMATCH")
    expect(views.locator("td").nth(2)).to_have_text("0")          # no live dictation of that code
    assert "Audit: 75% of cases without this gap (6 of 8)" in hover_text(
        page, bar(page, "audit-audit", "SIGNATURE_MISSING"))
    assert "Live: 33.3% of dictations without this gap (1 of 3)" in hover_text(
        page, bar(page, "audit-live", "SIGNATURE_MISSING"))
    screenshot(page, "dashboard-audit")

    page.get_by_test_id("audit-by").select_option("provider")
    kim = compare.locator("tr", has_text="Dr Kim")
    expect(kim.locator("td").nth(1)).to_have_text("50%")
    expect(kim.locator("td").nth(3)).to_have_text("n/a")
    page.get_by_test_id("filter-provider").select_option("Dr Lee")
    expect(page.get_by_test_id("audit-kpi-audit-detail")).to_contain_text("2 of 4 cases complete")
    expect(compare.locator("tr", has_text="Dr Kim")).to_have_count(0)
