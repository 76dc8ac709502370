"""The review queue page (/review) in chromium against a real `scribe serve`: dictations
are made over the WebSocket by a physician, then a scribe filters the queue, reads a
note with its evidence highlighted and resolves, dismisses and queries gaps."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from ..live import Server, dictate_and_finalize
from .conftest import screenshot

pytestmark = pytest.mark.browser

HEAD = ("EXAM: Lumbar spine, 3 views.\nIndication: low back pain after a fall from a step.\n"
        "Ordering physician: Ana Ruiz, MD.\nTechnique: AP, lateral and coned L5-S1 lateral views.\nComparison: none.\n"
        "Findings: Normal alignment. Vertebral heights preserved. No fracture.\n"
        "Impression: No acute abnormality of the lumbar spine.\n")
UNSIGNED = HEAD + "Dictated by Lee Park, MD"                                  # SIGNATURE_MISSING
SIGNED = HEAD + "Electronically signed by Lee Park, MD"                       # clean
TWO_VIEWS = ("EXAM: Lumbar spine radiographs.\nIndication: low back pain for two weeks.\n"
             "Ordering physician: Ana Ruiz, MD.\nViews: AP and lateral.\nComparison: none.\n"
             "Findings: Mild disc space narrowing at L4-L5. No fracture or listhesis.\n"
             "Impression: Mild degenerative change at L4-L5.\nElectronically signed by Jae Kim, MD")  # VIEWS_MISMATCH
CERVICAL = ("EXAM: Cervical spine, 2 views.\nIndication: neck pain after a fall.\nOrdering physician: Ana Ruiz, MD.\n"
            "Technique: AP and lateral views.\nComparison: none.\nFindings: Alignment is normal from C1 to C7. "
            "No fracture.\nImpression: No acute cervical spine abnormality.\nDictated by Jae Kim, MD")  # no signature

DICTATIONS = [  # id, provider, cpt, text, the gap codes open at finalization (in the order dictated)
    ("lee-clean", "Dr Lee", "72100", SIGNED, []),
    ("lee-unsigned", "Dr Lee", "72100", UNSIGNED, ["SIGNATURE_MISSING"]),
    ("kim-views", "Dr Kim", "72110", TWO_VIEWS, ["VIEWS_MISMATCH"]),
    ("kim-cervical", "Dr Kim", "72040", CERVICAL, ["SIGNATURE_MISSING"]),
    ("ng-dismiss", "Dr Nguyen", "72110", TWO_VIEWS.replace("Jae Kim", "Thu Nguyen"), ["VIEWS_MISMATCH"]),
    ("ng-resolve", "Dr Nguyen", "72100", UNSIGNED.replace("Lee Park", "Thu Nguyen"), ["SIGNATURE_MISSING"]),
    ("ade-query", "Dr Adeyemi", "72100", UNSIGNED.replace("Lee Park", "Ola Adeyemi"), ["SIGNATURE_MISSING"]),
]
READ_ONLY = ["kim-cervical", "kim-views", "lee-unsigned"]       # no test acts on these (newest first)


def dictate(server: Server, token: str, did: str, provider: str, cpt: str, text: str) -> list[dict]:
    encounter = {"cpt": [cpt], "icd10": ["M54.2" if cpt == "72040" else "M54.50"], "site": "office",
                 "provider": provider}
    return dictate_and_finalize(server, token, did, encounter, text)


@pytest.fixture(scope="module")
def dictations(served):
    token = served.page_tokens()["physician"]
    for did, provider, cpt, text, codes in DICTATIONS:
        gaps = dictate(served, token, did, provider, cpt, text)
        assert [g["code"] for g in gaps] == codes, (did, gaps)
    return {d[0]: d for d in DICTATIONS}


def open_review(page, server: Server, role: str = "scribe", query: str = ""):
    page.goto(f"{server.base}/review?access_token={server.page_tokens()[role]}{query}")
    page.wait_for_selector("body[data-ready]", state="attached")


def queue_ids(page) -> list[str]:
    return page.locator("[data-testid=queue-item]").evaluate_all("els => els.map(e => e.dataset.dictationId)")


def item(page, did: str):
    return page.locator(f'[data-testid=queue-item][data-dictation-id="{did}"]')


def card(page, code: str):
    return page.locator(f'[data-testid=gap][data-gap-code="{code}"]')


def test_queue_shows_finalized_dictations_with_their_gap_codes(page, served, dictations):
    open_review(page, served)
    ids = queue_ids(page)
    assert "lee-clean" not in ids                                              # no gaps: not in the queue
    assert [i for i in ids if i in READ_ONLY] == READ_ONLY                       # newest first
    for did in READ_ONLY:
        codes = [c.get_attribute("data-code") for c in item(page, did).get_by_test_id("queue-gap").all()]
        assert codes == dictations[did][4]
        expect(item(page, did)).to_contain_text(dictations[did][1])
        expect(item(page, did)).to_contain_text(f"CPT {dictations[did][2]}")
    expect(page.get_by_test_id("queue-total")).to_have_text(f"({len(ids)})")


def test_filters_narrow_the_queue(page, served, dictations):
    open_review(page, served)
    everything = len(queue_ids(page))
    page.get_by_test_id("filter-provider").select_option("Dr Kim")
    expect(page.get_by_test_id("queue-item")).to_have_count(2)
    assert set(queue_ids(page)) == {"kim-views", "kim-cervical"}
    page.get_by_test_id("filter-cpt").select_option("72040")
    expect(page.get_by_test_id("queue-item")).to_have_count(1)
    assert queue_ids(page) == ["kim-cervical"]
    assert "provider=Dr+Kim" in page.url and "cpt=72040" in page.url         # the filters are in the address
    page.get_by_test_id("filter-clear").click()
    expect(page.get_by_test_id("queue-item")).to_have_count(everything)
    page.get_by_test_id("filter-gap-code").select_option("VIEWS_MISMATCH")
    expect(page.get_by_test_id("queue-item")).not_to_have_count(everything)
    assert "kim-views" in queue_ids(page) and "lee-unsigned" not in queue_ids(page)
    page.get_by_test_id("filter-clear").click()
    page.get_by_test_id("filter-severity-warning").check()
    expect(page.get_by_test_id("queue-empty")).to_be_visible()                  # every gap here is an error
    page.get_by_test_id("filter-severity-error").check()
    expect(page.get_by_test_id("queue-item")).to_have_count(everything)
    page.get_by_test_id("filter-clear").click()
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    page.get_by_test_id("filter-date-from").fill(tomorrow)
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    page.get_by_test_id("filter-date-from").fill((date.today() - timedelta(days=1)).isoformat())
    page.get_by_test_id("filter-date-to").fill(tomorrow)
    expect(page.get_by_test_id("queue-item")).to_have_count(everything)
    # a reload keeps the filters of the address
    page.get_by_test_id("filter-provider").select_option("Dr Lee")
    expect(page.get_by_test_id("queue-item")).to_have_count(1)
    page.reload()
    page.wait_for_selector("body[data-ready]", state="attached")
    expect(page.get_by_test_id("queue-item")).to_have_count(1)
    assert page.get_by_test_id("filter-provider").input_value() == "Dr Lee"


def test_detail_shows_the_note_with_evidence_highlighted(page, served, dictations):
    open_review(page, served)
    item(page, "kim-views").click()
    expect(page.get_by_test_id("detail-heading")).to_contain_text("Dr Kim")
    note = page.get_by_test_id("note-text")
    assert note.inner_text().strip() == TWO_VIEWS.strip()
    marks = note.get_by_test_id("evidence")
    assert marks.all_inner_texts() == ["AP", "lateral"]                         # the evidence offsets, in place
    assert all(m.get_attribute("data-gap-codes") == "VIEWS_MISMATCH" for m in marks.all())
    assert "sev-error" in marks.first.get_attribute("class")
    gap = card(page, "VIEWS_MISMATCH")
    expect(gap.get_by_test_id("gap-message")).to_contain_text("72110 needs 4 or more views")
    expect(gap.get_by_test_id("gap-fix")).not_to_be_empty()
    expect(gap.get_by_test_id("gap-source")).not_to_be_empty()
    gap.get_by_test_id("show-evidence").click()
    expect(marks.first).to_have_class(re.compile(r"\bactive\b"))
    item(page, "lee-unsigned").click()
    expect(page.get_by_test_id("note-text").get_by_test_id("evidence")).to_have_text(["Dictated by"])


def test_keyboard_opens_a_dictation_and_its_action_forms(page, served, dictations):
    open_review(page, served, query="&provider=Dr%20Kim")
    expect(page.get_by_test_id("queue-item")).to_have_count(2)
    page.get_by_test_id("queue-item").first.focus()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.dictationId") == "kim-views"
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("detail-heading")).to_be_focused()
    button = card(page, "VIEWS_MISMATCH").get_by_test_id("open-dismiss")
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(card(page, "VIEWS_MISMATCH").get_by_test_id("dismiss-reason")).to_be_focused()
    page.keyboard.press("Escape")
    expect(card(page, "VIEWS_MISMATCH").get_by_test_id("dismiss-form")).to_be_hidden()
    expect(button).to_be_focused()
    # every control of a form has a label
    for control in card(page, "VIEWS_MISMATCH").locator("textarea, select").all():
        assert control.evaluate("e => e.labels.length") == 1


def test_dismiss_with_a_reason_takes_the_gap_off_the_queue(page, served, dictations):
    open_review(page, served)
    item(page, "ng-dismiss").click()
    gap = card(page, "VIEWS_MISMATCH")
    gap.get_by_test_id("open-dismiss").click()
    reasons = gap.get_by_test_id("dismiss-reason").locator("option").all_inner_texts()
    assert "the note does document it (checker mistake)" in reasons
    gap.get_by_test_id("dismiss-reason").select_option("other")
    gap.get_by_test_id("dismiss-submit").click()                                 # 'other' needs a note
    expect(gap.get_by_test_id("gap-result")).to_contain_text("Say why")
    gap.get_by_test_id("dismiss-reason").select_option("false_positive")
    gap.get_by_test_id("dismiss-note").fill("Obliques are on the second cassette")
    gap.get_by_test_id("dismiss-submit").click()
    expect(card(page, "VIEWS_MISMATCH")).to_have_attribute("data-status", "dismissed")
    expect(card(page, "VIEWS_MISMATCH").get_by_test_id("gap-status")).to_have_text("dismissed")
    history = page.get_by_test_id("history-item")
    expect(history).to_have_count(1)
    text = history.first.inner_text()
    assert "local (scribe) dismissed VIEWS_MISMATCH" in text and "checker mistake" in text
    assert "Obliques are on the second cassette" in text
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d", text)                        # when
    assert history.first.locator("time").get_attribute("datetime").startswith(date.today().isoformat()[:4])
    expect(page.get_by_test_id("detail-status")).to_contain_text("left the queue")
    expect(item(page, "ng-dismiss")).to_have_count(0)
    assert "ng-dismiss" not in queue_ids(page)


def test_resolve_rechecks_the_addendum_and_closes_the_gap(page, served, dictations):
    open_review(page, served)
    item(page, "ng-resolve").click()
    gap = card(page, "SIGNATURE_MISSING")
    gap.get_by_test_id("open-resolve").click()
    gap.get_by_test_id("addendum").fill("Patient tolerated the exam well.")
    gap.get_by_test_id("resolve-submit").click()
    expect(gap.get_by_test_id("gap-result")).to_contain_text("Not resolved")
    expect(gap.get_by_test_id("gap-result")).to_contain_text("SIGNATURE_MISSING")
    expect(gap).to_have_attribute("data-status", "open")
    gap.get_by_test_id("addendum").fill("Electronically signed by Thu Nguyen, MD")
    gap.get_by_test_id("resolve-submit").click()
    resolved = card(page, "SIGNATURE_MISSING")
    expect(resolved).to_have_attribute("data-status", "resolved")
    expect(resolved.get_by_test_id("gap-result")).to_contain_text("no longer has it")
    expect(page.get_by_test_id("addendum-text")).to_contain_text("Electronically signed by Thu Nguyen, MD")
    expect(page.get_by_test_id("history-item")).to_contain_text(["local (scribe) resolved SIGNATURE_MISSING"])
    expect(item(page, "ng-resolve")).to_have_count(0)


def test_query_sends_the_gap_back_to_the_physician(page, served, dictations):
    open_review(page, served)
    item(page, "ade-query").click()
    gap = card(page, "SIGNATURE_MISSING")
    gap.get_by_test_id("open-query").click()
    gap.get_by_test_id("query-text").fill("Please sign the report.")
    gap.get_by_test_id("query-submit").click()
    expect(card(page, "SIGNATURE_MISSING").get_by_test_id("gap-status")).to_have_text("open, queried")
    expect(page.get_by_test_id("history-item")).to_contain_text(["queried the physician about SIGNATURE_MISSING"])
    expect(item(page, "ade-query").get_by_test_id("queue-gap")).to_have_text(["Signature missing (queried)"])
    status, queries = _physician_queries(served)
    assert status == 200 and [q["question"] for q in queries if q["dictation_id"] == "ade-query"] == [
        "Please sign the report."]


def _physician_queries(server: Server):
    from ..live import http_get

    return http_get(server.base + "/api/queries", server.page_tokens()["physician"])


@pytest.mark.parametrize("role", ["physician", "manager"])
def test_other_roles_get_no_queue(page, served, dictations, role):
    open_review(page, served, role=role)
    expect(page.get_by_test_id("notice")).to_contain_text("needs the scribe role")
    assert page.get_by_test_id("queue-item").count() == 0
    assert "Lumbar" not in page.content()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("review-demo")
    server = Server(tmp, f"sqlite:///{tmp / 'demo.sqlite'}")
    server.start("--demo")
    yield server
    server.stop()


@pytest.mark.screenshot
def test_screenshot_with_demo_data(page, demo):
    open_review(page, demo)
    assert len(queue_ids(page)) >= 4
    item(page, "demo-02").click()
    expect(page.get_by_test_id("note-text").get_by_test_id("evidence")).to_have_text(["AP", "lateral"])
    card(page, "VIEWS_MISMATCH").get_by_test_id("open-dismiss").click()
    page.mouse.move(0, 0)
    screenshot(page, "review")
