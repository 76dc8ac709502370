"""The EHR launch in chromium: the EHR double's order page, a click on 'Open scribe', the
authorization server's redirects, and scribe's sidebar showing the order's codes (the EHR
double and its `scribe serve` are those of tests/ehr)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..ehr.cases import condition, encounter, service_request
from ..ehr.conftest import double, ehr_pair, scribe  # noqa: F401 - the EHR double and its scribe

pytestmark = pytest.mark.browser


def test_ehr_click_opens_the_sidebar_with_the_orders_codes(browser, scribe, double):  # noqa: F811
    double.add(condition("c-b1", "M43.16", "Spondylolisthesis, lumbar region", patient="pat-b"))
    double.add({**service_request("sr-b1", "72120", patient="pat-b", encounter="enc-b", reason_refs=["c-b1"],
                                  requester="Maya Chen, MD"), "status": "active"})
    double.add(encounter("enc-b", "office", patient="pat-b"))
    launch = double.add_launch(patient="pat-b", encounter="enc-b", service_request="sr-b1")
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{double.base}/ehr?launch={launch}&scribe={scribe.base}")
        page.click("#open-scribe")
        page.wait_for_url(f"{scribe.base}/sidebar?*", timeout=15_000)
        expect(page.get_by_test_id("enc-cpt")).to_have_value("72120", timeout=15_000)
        expect(page.get_by_test_id("enc-icd10")).to_have_value("M43.16")
        expect(page.get_by_test_id("encounter-summary")).to_contain_text("72120")
        expect(page.get_by_test_id("status")).to_have_attribute("data-synced", "true", timeout=15_000)
        page.screenshot(path=str(scribe.tmp_path / "smart-sidebar.png"))
        html = page.content()
        assert not any(t in html for t in double.tokens if t.startswith("at-"))
        cookies = {c["name"] for c in context.cookies()}
        assert "scribe_smart_session" in cookies and "scribe_smart_state" not in cookies
    finally:
        context.close()


def test_a_tampered_state_shows_the_error_page_in_the_browser(browser, scribe, double):  # noqa: F811
    double.add({**service_request("sr-b2", "72100", patient="pat-b", encounter="enc-b"), "status": "active"})
    launch = double.add_launch(patient="pat-b", encounter="enc-b", service_request="sr-b2")
    double.behaviour["state"] = "not-the-state"
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{double.base}/ehr?launch={launch}&scribe={scribe.base}")
        page.click("#open-scribe")
        page.wait_for_url(f"{scribe.base}/smart/callback?*", timeout=15_000)
        expect(page.get_by_test_id("launch-error")).to_have_attribute("data-code", "STATE_MISMATCH")
        expect(page.locator("h1")).to_contain_text("does not match")
    finally:
        context.close()
