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
