"""Claim lines in the pages, in chromium against a real `scribe serve`: the sidebar's encounter
form edits lines (add a line, side buttons RT / LT / both, modifier chips, remove a line) and
shows each gap about a line on that line's row; the review page lists a case's lines and which
line a gap is about."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..live import dictate_and_finalize
from .test_review import open_review
from .test_sidebar import gap, open_sidebar, paste, wait_synced

pytestmark = pytest.mark.browser

SIGNATURE = "Ordered by Dr Lee.\nElectronically signed by Lee Park, MD\n"
# the left knee and the left tibia and fibula in one session: two codes, each on its own line
KNEE_AND_LEG = ("EXAM: Left knee, 3 views, and left tibia and fibula, 2 views.\n"
                "Indication: left leg pain after a fall, rule out fracture.\n"
                "Technique: AP, lateral and sunrise views of the left knee; AP and lateral views of the left tibia "
                "and fibula.\nComparison: none.\nFindings: No fracture.\nImpression: No acute abnormality.\n" + SIGNATURE)
BOTH_KNEES = ("EXAM: Both knees, 3 views each.\nIndication: bilateral knee pain after a fall, rule out fracture.\n"
              "Technique: AP, lateral and sunrise views of both knees.\nComparison: none.\n"
              "Findings: No fracture. Joint spaces preserved.\nImpression: No acute abnormality of either knee.\n"
              + SIGNATURE)
RIGHT_KNEE = BOTH_KNEES.replace("Both knees, 3 views each", "Right knee, 3 views").replace(
    "bilateral knee pain", "right knee pain").replace("of both knees", "of the right knee").replace(
    "of either knee", "of the right knee")


def row(page, i: int):
    return page.get_by_test_id("claim-line").nth(i)


def line_gap(page, i: int, code: str):
    return row(page, i).locator(f'[data-testid="line-gap"][data-code="{code}"]')


def open_with_note(page, served, query: str, note: str):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.base)
    text = open_sidebar(page, served, query, width=480)
    text.click()
    paste(page, note)
    wait_synced(page)
    return text


def test_sidebar_add_a_line_and_press_lt_clears_that_lines_missing_modifier(page, served):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    open_with_note(page, served, "lines=73562-LT&site=office&provider=Dr%20Lee", KNEE_AND_LEG)
    expect(page.get_by_test_id("claim-line")).to_have_count(1)
    expect(row(page, 0).get_by_test_id("modifier-chip")).to_have_text(re.compile(r"^LT"))
    expect(row(page, 0).get_by_test_id("side-LT")).to_have_attribute("aria-pressed", "true")
    expect(gap(page, "MODIFIER_REQUIRED")).to_have_count(0)

    page.locator("#encounter-box > summary").click()
    page.get_by_test_id("add-line").click()
    expect(page.get_by_test_id("claim-line")).to_have_count(2)
    cpt = row(page, 1).get_by_label("CPT, line 2")
    expect(cpt).to_be_focused()                                   # the new line's code box, by keyboard too
    cpt.fill("73590")
    cpt.press("Tab")
    wait_synced(page)
    # the note names the left side and line 2 carries none: the gap is on line 2's row, not line 1's
    expect(line_gap(page, 1, "MODIFIER_REQUIRED")).to_have_count(1)
    expect(line_gap(page, 1, "MODIFIER_REQUIRED")).to_contain_text("LT")
    expect(line_gap(page, 0, "MODIFIER_REQUIRED")).to_have_count(0)
    expect(gap(page, "MODIFIER_REQUIRED")).to_contain_text("line 2")

    lt = row(page, 1).get_by_role("button", name="Left side (LT), line 2")
    lt.focus()
    page.keyboard.press("Enter")                                    # keyboard works the side buttons
    wait_synced(page)
    expect(line_gap(page, 1, "MODIFIER_REQUIRED")).to_have_count(0)
    expect(gap(page, "MODIFIER_REQUIRED")).to_have_count(0)
    expect(row(page, 1).get_by_test_id("side-LT")).to_have_attribute("aria-pressed", "true")
    expect(row(page, 1).get_by_test_id("side-LT")).to_be_focused()
    expect(page.get_by_test_id("encounter-summary")).to_contain_text("73562-LT, 73590-LT")

    # a chip removes its modifier: the gap comes back on that line; removing the line takes it away
    row(page, 1).get_by_role("button", name="Remove modifier LT from line 2").click()
    wait_synced(page)
    expect(line_gap(page, 1, "MODIFIER_REQUIRED")).to_have_count(1)
    row(page, 1).get_by_role("button", name="Remove line 2").click()
    wait_synced(page)
    expect(page.get_by_test_id("claim-line")).to_have_count(1)
    expect(gap(page, "MODIFIER_REQUIRED")).to_have_count(0)
    assert not errors, errors


def test_sidebar_both_makes_an_rt_line_and_an_lt_line(page, served):
    open_with_note(page, served, "cpt=73562&site=office&provider=Dr%20Lee", BOTH_KNEES)
    expect(line_gap(page, 0, "MODIFIER_REQUIRED")).to_have_count(1)
    page.locator("#encounter-box > summary").click()
    row(page, 0).get_by_role("button", name=re.compile("^Both sides")).click()
    wait_synced(page)
    expect(page.get_by_test_id("claim-line")).to_have_count(2)
    expect(row(page, 0).get_by_test_id("side-RT")).to_have_attribute("aria-pressed", "true")
    expect(row(page, 1).get_by_test_id("side-LT")).to_have_attribute("aria-pressed", "true")
    expect(row(page, 1).get_by_label("CPT, line 2")).to_have_value("73562")
    expect(page.get_by_test_id("gaps-empty")).to_be_visible()
    # a code of both knees by definition offers no side; a spine code neither
    row(page, 1).get_by_role("button", name="Remove line 2").click()
    first = row(page, 0).get_by_label("CPT, line 1")
    first.fill("73565")
    first.press("Tab")
    expect(row(page, 0).get_by_test_id("line-sides")).to_have_count(0)
    expect(row(page, 0).get_by_test_id("line-note")).to_contain_text("Both sides by definition")
    first.fill("72100")
    first.press("Tab")
    expect(row(page, 0).get_by_test_id("line-sides")).to_have_count(0)
    expect(row(page, 0).get_by_test_id("line-note")).to_have_count(0)


def test_review_page_shows_the_lines_and_the_line_a_gap_is_about(page, served):
    lines = [{"cpt": "73562", "modifiers": ["RT"]}, {"cpt": "73562", "modifiers": ["LT"]}]
    gaps = dictate_and_finalize(served, served.page_tokens()["physician"], "knee-lines",
                                {"lines": lines, "icd10": [], "site": "office", "provider": "Dr Ortiz"}, RIGHT_KNEE)
    assert [(g["code"], g.get("line")) for g in gaps] == [("LATERALITY_MISMATCH", 1)], gaps
    open_review(page, served)
    item = page.locator('[data-testid=queue-item][data-dictation-id="knee-lines"]')
    expect(item.get_by_test_id("queue-codes")).to_contain_text("CPT 73562-RT, 73562-LT")
    expect(item.get_by_test_id("queue-gap")).to_contain_text("(line 2)")
    item.click()
    shown = page.get_by_test_id("claim-line")
    expect(shown).to_have_count(2)
    expect(shown.nth(0)).to_contain_text("73562")
    expect(shown.nth(0)).to_contain_text("modifiers RT")
    expect(shown.nth(1)).to_contain_text("modifiers LT")
    expect(shown.nth(1).get_by_test_id("claim-line-gaps")).to_have_count(1)
    expect(shown.nth(0).get_by_test_id("claim-line-gaps")).to_have_count(0)
    card = page.locator('[data-testid=gap][data-gap-code="LATERALITY_MISMATCH"]')
    expect(card).to_have_attribute("data-line", "1")
    expect(card.get_by_test_id("gap-code")).to_contain_text("claim line 2: 73562-LT")
