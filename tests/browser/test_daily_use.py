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


def http_post(url: str, token: str, body: dict) -> tuple[int, dict]:
    import json
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def dictate_in_page(page, served, text: str) -> str:
    box = open_at(page, served)
    box.click()
    page.keyboard.type(text)
    wait_synced(page)
    return dictation_id(page)


def open_item(page, did: str):
    return page.locator(f'[data-testid="open-dictation"][data-id="{did}"]')


def test_opening_the_link_again_lists_open_dictations_to_reopen_or_discard(browser, served):
    """Item 2: the printed link opened again shows the physician's open dictations (encounter,
    start time, first words) with reopen and discard, instead of hiding them."""
    context = browser.new_context()
    first = context.new_page()
    did = dictate_in_page(first, served, "Lumbar spine, three views. Indication: low back pain after a fall")
    gone = dictate_in_page(context.new_page(), served, "Cervical spine, two views. Indication: neck pain")

    page = context.new_page()
    open_at(page, served)                          # the printed link again: a new, empty dictation
    panel = page.get_by_test_id("open-dictations")
    expect(panel).to_be_visible()
    expect(page.get_by_test_id("open-count")).to_have_text(re.compile(r"^[1-9]\d*$"))
    panel.locator("summary").click()                # one line until opened
    expect(panel).to_have_js_property("open", True)
    item = open_item(page, did)
    expect(item).to_contain_text("CPT 72100")
    expect(item).to_contain_text("Started today")
    expect(item.get_by_test_id("open-words")).to_contain_text("Lumbar spine, three views. Indication: low back pain")
    assert open_item(page, dictation_id(page)).count() == 0        # not the one on screen

    # discard takes two clicks and the dictation leaves the list for good
    other = open_item(page, gone)
    other.get_by_test_id("open-discard").click()
    expect(other.get_by_test_id("open-discard")).to_have_text("Discard for good")
    other.get_by_test_id("open-discard").click()
    expect(open_item(page, gone)).to_have_count(0)
    status, body = http_get(f"{served.base}/api/dictations/{gone}", physician(served))
    assert body["status"] == "discarded"

    # reopen goes on with that dictation, its text in the box
    item.get_by_test_id("open-reopen").click()
    wait_synced(page)
    assert dictation_id(page) == did
    expect(page.get_by_test_id("dictation")).to_have_value("Lumbar spine, three views. Indication: low back pain after a fall")
    context.close()


def test_a_dictation_left_open_is_listed_for_the_scribe(browser, tmp_path, monkeypatch):
    """Item 2: an open dictation with no change for SCRIBE_STALE_OPEN_MINUTES shows on the review page."""
    from ..live import Server

    monkeypatch.setenv("SCRIBE_STALE_OPEN_MINUTES", "0.01")
    server = Server(tmp_path, f"sqlite:///{tmp_path / 'stale.sqlite'}")
    server.start()
    try:
        context = browser.new_context()
        dictate_in_page(context.new_page(), server, "Thoracic spine, three views. Indication: mid back pain")
        page = context.new_page()
        page.wait_for_timeout(1200)
        page.goto(f"{server.base}/review?access_token={server.page_tokens()['scribe']}")
        page.wait_for_selector("body[data-ready]", state="attached")
        left = page.get_by_test_id("left-open")
        expect(left).to_be_visible()
        expect(left.get_by_test_id("left-open-item")).to_have_count(1)
        expect(left.get_by_test_id("left-open-item")).to_contain_text("Dr Lee")
        expect(left.get_by_test_id("left-open-words")).to_contain_text("Thoracic spine, three views.")
        context.close()
    finally:
        server.stop()


NO_SIGNATURE = ("Lumbar spine, 3 views. Indication: low back pain after a fall, rule out fracture. "
                "Ordering physician: Maya Chen, MD. Technique: AP, lateral and coned lateral views. Comparison: none. "
                "Findings: normal alignment, no fracture. Impression: no acute abnormality. ")


def test_a_scribe_query_reaches_the_physician_who_answers_in_place(browser, served):
    """Item 5: the query shows as a badge and a list in the sidebar, is answered there, and the
    answer shows on the gap in the review queue."""
    context = browser.new_context()
    page = context.new_page()
    did = dictate_in_page(page, served, NO_SIGNATURE)
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id("finalized")).to_be_visible()
    scribe = served.page_tokens()["scribe"]
    _, detail = http_get(f"{served.base}/api/review/{did}", scribe)
    gap_id = next(g["id"] for g in detail["gaps"] if g["code"] == "SIGNATURE_MISSING")
    status, _ = http_post(f"{served.base}/api/review/gaps/{gap_id}/query", scribe,
                          {"question": "Did you sign this report?"})
    assert status == 200

    side = context.new_page()
    open_at(side, served)
    expect(side.get_by_test_id("queries")).to_be_visible()
    expect(side.get_by_test_id("queries-badge")).to_have_text(re.compile(r"^[1-9]\d*$"))
    query = side.locator('[data-testid="query"]').filter(has_text="Did you sign this report?")
    expect(query).to_contain_text("Signature missing")             # the plain title, as for gaps
    side.locator("#queries > summary").click()
    query.get_by_test_id("query-answer").fill("Yes: signed on paper at 10:40, scanned into the chart.")
    query.get_by_test_id("query-answer-submit").click()
    expect(query).to_have_count(0)
    expect(side.get_by_test_id("live")).to_contain_text("Answer sent")

    review = context.new_page()
    review.goto(f"{served.base}/review?access_token={scribe}&d={did}")
    review.wait_for_selector("body[data-ready]", state="attached")
    card = review.locator(f'[data-testid="gap"][data-gap-id="{gap_id}"]')
    expect(card.get_by_test_id("gap-answer")).to_contain_text("signed on paper at 10:40")
    expect(card.get_by_test_id("gap-status")).to_contain_text("answered")
    chip = review.locator(f'[data-testid="queue-item"][data-dictation-id="{did}"] [data-testid="queue-gap"]')
    expect(chip.filter(has_text="answered")).to_have_count(1)
    context.close()


def test_titles_are_the_rules_and_sources_link_to_the_rule_page(browser, served):
    """Items 7 and 8: the sidebar and the review page show the same plain titles, served from the
    rules; a gap's source cites public documents and links to scribe's own rule page."""
    from ..live import http_get as get

    _, rules = get(f"{served.base}/api/rules")
    assert rules["titles"]["SIGNATURE_MISSING"] == "Signature missing"
    context = browser.new_context()
    page = context.new_page()
    did = dictate_in_page(page, served, NO_SIGNATURE)
    sig = gap(page, "SIGNATURE_MISSING")
    expect(sig).to_contain_text("Signature missing")
    sig.get_by_test_id("gap-button").click()
    source = sig.get_by_test_id("gap-source")
    expect(source).to_contain_text("CMS Program Integrity Manual")
    for private in ("domain.md", "codes.csv", "contract section"):
        expect(source).not_to_contain_text(private)
    link = source.get_by_test_id("rule-link")
    rule_id = link.get_attribute("href").rsplit("/", 1)[1]
    with page.expect_popup() as popup:
        link.click()
    rule = popup.value
    rule.wait_for_load_state()
    expect(rule.get_by_test_id("rule-title")).to_have_text("Signature missing")
    expect(rule.get_by_test_id("rule-id")).to_have_text(rule_id)
    expect(rule.get_by_test_id("rule-sources")).to_contain_text("CMS Program Integrity Manual Ch. 3")
    page.bring_to_front()
    page.get_by_test_id("finalize").click()
    expect(page.get_by_test_id("finalized")).to_be_visible()

    review = context.new_page()
    review.goto(f"{served.base}/review?access_token={served.page_tokens()['scribe']}&d={did}")
    review.wait_for_selector("body[data-ready]", state="attached")
    card = review.locator('[data-testid="gap"][data-gap-code="SIGNATURE_MISSING"]')
    expect(card.get_by_test_id("gap-title")).to_have_text("Signature missing")
    expect(card.get_by_test_id("rule-link")).to_have_attribute("href", f"/rules/{rule_id}")
    chips = review.locator(f'[data-testid="queue-item"][data-dictation-id="{did}"] [data-testid="queue-gap"]')
    expect(chips.filter(has_text="Signature missing")).to_have_count(1)
    context.close()
