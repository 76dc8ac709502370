"""The manager's dashboard in chromium shows, per rule, the review queue's dismissal rate beside
the order-time override rate the EHR reported (the data of tests/ehr/test_outcomes.py: Dr
Outcome's dismissed DX_NOT_SUPPORTING gap and overridden DX_NOT_SUPPORTING card)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..ehr.conftest import ehr_pair  # noqa: F401 - the EHR double and its scribe
from ..ehr.test_outcomes import PROVIDER, outcomes  # noqa: F401 - the outcomes fixture

pytestmark = pytest.mark.browser


def test_dashboard_puts_order_time_overrides_beside_dismissals(page, outcomes):  # noqa: F811
    scribe = outcomes["scribe"]
    page.goto(f"{scribe.base}/dashboard?access_token={outcomes['manager']}&provider={PROVIDER.replace(' ', '%20')}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    row = page.locator(f"[data-testid=table-rule-outcomes] tr[data-rule='{outcomes['rule']}']")
    expect(row).to_contain_text("DX_NOT_SUPPORTING")
    expect(row.get_by_test_id("review-rate")).to_have_text("100%")
    expect(row.get_by_test_id("override-rate")).to_have_text("100%")
    expect(row).to_contain_text("the payer does not require it: 1")
    accepted = page.locator(f"[data-testid=table-rule-outcomes] tr[data-rule='{outcomes['accept_rule']}']")
    expect(accepted.get_by_test_id("override-rate")).to_have_text("0%")
    link = row.locator("a")
    expect(link).to_have_attribute("href", f"/rules/{outcomes['rule']}")
    expect(page.get_by_test_id("plot-outcomes-review")).to_be_visible()
    expect(page.get_by_test_id("plot-outcomes-order")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_test_id("csv-rule-outcomes").click()
    assert download.value.suggested_filename == "outcomes-by-rule.csv"
