"""Issue 13, the physician's and the scribe's daily use, in chromium against a real `scribe serve`
(real SQLite, real WebSocket): what a new user tripped over, step by step."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..live import http_get
from .test_sidebar import ENCOUNTER_QUERY, dictation_id, gap, sidebar_url, wait_synced

pytestmark = pytest.mark.browser

# the issue's own words: one finished sentence, then an unfinished one (a pending partial)
ISSUE_TEXT = ("Lumbar spine flexion and extension radiographs, two lateral views. "
              "Findings: mild disc narrowing at L4-L5 and moderate facet")


def physician(served) -> str:
    return served.page_tokens()["physician"]


def open_at(page, served, query: str = ENCOUNTER_QUERY, *, width: int = 400, height: int = 800):
    page.set_viewport_size({"width": width, "height": height})
    page.goto(sidebar_url(served, physician(served), query))
    wait_synced(page)
    return page.get_by_test_id("dictation")


def test_text_survives_closing_the_page_and_comes_back_on_reopen(page, served):
    """Item 1: type, wait for "Up to date", close the tab, reopen its address: the unfinished
    sentence is back in the text box and Findings missing is not raised again."""
    box = open_at(page, served, "cpt=72120&icd10=M43.16&site=office&provider=Dr%20Lee")
    box.click()
    page.keyboard.type(ISSUE_TEXT)
    wait_synced(page)
    expect(gap(page, "FINDINGS_MISSING")).to_have_count(0)
    address = page.url
    did = dictation_id(page)
    status, body = http_get(f"{served.base}/api/dictations/{did}", physician(served))
    assert status == 200 and body["text"] + (body["partial"] or "") == ISSUE_TEXT   # "Up to date" = stored
    context = page.context
    page.close()                                  # no prompt: nothing was left unsent

    again = context.new_page()
    again.set_viewport_size({"width": 400, "height": 800})
    again.goto(address)
    wait_synced(again)
    expect(again.get_by_test_id("dictation")).to_have_value(ISSUE_TEXT)
    expect(gap(again, "FINDINGS_MISSING")).to_have_count(0)
    expect(gap(again, "SIGNATURE_MISSING")).to_have_count(1)          # the warnings are those of the text
    expect(again.get_by_test_id("live")).to_contain_text("restored")
    assert dictation_id(again) == did
    # typing on finishes the same sentence in the same dictation
    again.get_by_test_id("dictation").press("End")
    again.keyboard.type(" arthropathy. ")
    wait_synced(again)
    status, body = http_get(f"{served.base}/api/dictations/{did}", physician(served))
    assert body["text"] == ISSUE_TEXT + " arthropathy. "


NOTE_WITH_EVIDENCE = ("Lumbar spine x-rays, lateral view only.\nHistory: back pain, grade 1 anterolisthesis of L4 on L5.\n"
                      "Findings: 4 mm anterolisthesis of L4 on L5.\nElectronically signed by Lee Park, MD.\n")


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 40) <= height


def test_at_400_px_a_gap_shows_its_evidence_without_moving_the_text_box(page, served):
    """Item 3: clicking a warning shows its evidence in a compact line under it; the page does
    not scroll, so the text box stays in view."""
    box = open_at(page, served)
    box.fill(NOTE_WITH_EVIDENCE)
    box.press("End")
    page.keyboard.type(" ")
    wait_synced(page)
    item = gap(page, "VIEWS_MISMATCH")
    expect(item).to_have_count(1)
    before = page.evaluate("window.scrollY")
    assert in_viewport(page, box) and in_viewport(page, item)
    item.get_by_test_id("gap-button").click()
    expect(item).to_have_attribute("data-selected", "true")
    line = item.get_by_test_id("gap-evidence")
    expect(line.get_by_test_id("evidence-mark").first).to_contain_text(re.compile("lateral", re.I))
    expect(line.get_by_test_id("evidence-context").first).to_contain_text("x-rays")   # in its sentence
    page.wait_for_timeout(300)
    # (the click itself may nudge the button out from under the fixed footer; the issue saw 1,450 px)
    assert abs(page.evaluate("window.scrollY") - before) < 100
    assert in_viewport(page, box), "the text box left the screen"
    assert in_viewport(page, line), "the evidence is not on the screen"
    # the checked text marks it as well (scrolled inside its own box)
    expect(page.get_by_test_id("note-view").get_by_test_id("highlight").first).to_contain_text(re.compile("lateral", re.I))


def test_at_400_px_the_filled_encounter_folds_to_one_line(page, served):
    """Item 3: the encounter form typed by hand folds to its one-line summary once left."""
    box = open_at(page, served, "")
    enc = page.locator("#encounter-box")
    expect(enc).to_have_js_property("open", True)
    page.get_by_test_id("enc-cpt").fill("72100")
    page.get_by_test_id("enc-icd10").fill("M54.50")
    page.get_by_test_id("enc-provider").fill("Dr Lee Park, Northside Spine and Orthopaedic Associates")
    box.click()
    expect(enc).to_have_js_property("open", False)
    summary = page.get_by_test_id("encounter-summary")
    expect(summary).to_contain_text("72100")
    line_height = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#encounter-summary')).lineHeight)"
                                " || 20")
    assert summary.bounding_box()["height"] <= line_height * 1.5          # one line, however long
    wait_synced(page)
    assert in_viewport(page, box)
    # Enter in the form folds it too and goes on to the dictation
    page.locator("#encounter-box > summary").click()
    expect(enc).to_have_js_property("open", True)
    page.get_by_test_id("enc-modifiers").fill("26")
    page.get_by_test_id("enc-modifiers").press("Enter")
    expect(enc).to_have_js_property("open", False)
    expect(box).to_be_focused()


def test_keyboard_shortcuts_finalize_and_jump_between_text_and_gaps(page, served):
    """Item 6: Alt+W to the gaps, Alt+T back to the text box, Ctrl+Enter finalizes; the page names them."""
    box = open_at(page, served)
    expect(page.get_by_test_id("finalize")).to_have_attribute("aria-keyshortcuts", "Control+Enter")
    expect(page.get_by_test_id("finalize")).to_have_attribute("title", re.compile("Ctrl\\+Enter"))
    expect(box).to_have_attribute("aria-keyshortcuts", "Alt+T")
    expect(page.get_by_test_id("gaps")).to_have_attribute("aria-keyshortcuts", "Alt+W")
    expect(page.get_by_test_id("keys")).to_contain_text("Ctrl+Enter finalize, Alt+W gaps, Alt+T text")
    box.click()
    page.keyboard.type("Lumbar spine, 3 views. Indication: low back pain. ")
    wait_synced(page)
    page.keyboard.press("Alt+W")
    focused = page.evaluate("document.activeElement.dataset.testid")
    assert focused == "gap-button"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Alt+T")
    expect(box).to_be_focused()
    page.keyboard.type("Findings: normal alignment.")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id("finalized")).to_be_visible()
    did = page.get_by_test_id("status")
    expect(did).to_have_attribute("data-state", "finalized")
