"""One dictation through the three pages, as the people who use scribe see it: the
physician dictates in the sidebar (a gap appears, then resolves as the note grows) and
finalizes with a gap still open; the scribe finds it in the review queue and dismisses
it with a reason; the manager's dashboard numbers move accordingly. Real `scribe serve`
on loopback, real SQLite, real chromium."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..live import Server
from .test_dashboard import kpi, open_dashboard
from .test_review import card, open_review
from .test_sidebar import gap, open_sidebar, wait_synced

pytestmark = pytest.mark.browser

# An invented cervical study, dictated in three pieces; it never gets an impression.
PIECES = [
    "Cervical spine radiographs, AP and lateral views.\n",
    "Ordering physician: Rosa Vance, MD. Indication: neck pain after a fall from a ladder.\n"
    "Comparison: none.\nFindings: Normal alignment. No fracture. Disc spaces preserved.\n",
    "Electronically signed by Omar Haddad, MD\n",
]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    server = Server(tmp, f"sqlite:///{tmp / 'e2e.sqlite'}")
    server.start()
    yield server
    server.stop()


def test_dictate_finalize_review_and_dashboard(page, fresh):
    # -- the physician --------------------------------------------------------------------
    text = open_sidebar(page, fresh, "cpt=72040&icd10=M54.2&site=office&provider=Dr%20Haddad")
    text.click()
    page.keyboard.insert_text(PIECES[0])
    wait_synced(page)
    expect(gap(page, "INDICATION_MISSING")).to_be_visible()         # no reason yet
    expect(gap(page, "SIGNATURE_MISSING")).to_be_visible()
    page.keyboard.insert_text(PIECES[1])
    wait_synced(page)
    expect(gap(page, "INDICATION_MISSING")).to_have_count(0)        # resolved as the note grew
    expect(gap(page, "FINDINGS_MISSING")).to_have_count(0)
    page.keyboard.insert_text(PIECES[2])
    wait_synced(page)
    expect(gap(page, "SIGNATURE_MISSING")).to_have_count(0)
    expect(gap(page, "IMPRESSION_MISSING")).to_be_visible()         # still lacking
    page.get_by_test_id("finalize").click()
    finalized = page.get_by_test_id("finalized")
    expect(finalized).to_be_visible()
    expect(finalized.locator('[data-testid="finalized-gap"][data-code="IMPRESSION_MISSING"]')).to_have_count(1)

    # -- the manager, before review: one dictation, not complete -----------------------------
    open_dashboard(page, fresh)
    assert kpi(page, "completeness").startswith("0")

    # -- the scribe ---------------------------------------------------------------------------
    open_review(page, fresh)
    queued = page.locator("[data-testid=queue-item]")
    expect(queued).to_have_count(1)
    expect(queued.first).to_contain_text("Impression missing")
    queued.first.click()
    impression = card(page, "IMPRESSION_MISSING")
    impression.get_by_test_id("open-dismiss").click()
    impression.get_by_test_id("dismiss-reason").select_option("documented_elsewhere")
    impression.get_by_test_id("dismiss-note").fill("Impression is in the combined report")
    impression.get_by_test_id("dismiss-submit").click()
    expect(card(page, "IMPRESSION_MISSING")).to_have_attribute("data-status", "dismissed")
    expect(page.get_by_test_id("history-item").first).to_contain_text("dismissed IMPRESSION_MISSING")

    # -- the manager, after review: complete, and the dismissal is counted ---------------------
    open_dashboard(page, fresh)
    assert kpi(page, "completeness").startswith("100")
    assert kpi(page, "dismissal").rstrip("%") != "0"
    open_review(page, fresh)
    expect(page.locator("[data-testid=queue-item]")).to_have_count(0)
