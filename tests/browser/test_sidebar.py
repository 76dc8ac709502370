"""The physician's sidebar (/sidebar) in chromium against a real `scribe serve`: a note is
typed, pasted and corrected in the page, and the gaps, checklist, conditions found, live
announcements and finalization follow what a physician sees."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from ..live import ask, http_get
from .conftest import screenshot

pytestmark = pytest.mark.browser

ENCOUNTER_QUERY = "cpt=72100&icd10=M54.50&modifiers=&site=office&provider=Dr%20Lee"
# An invented note, dictated in steps (72100: lumbar spine, 2-3 views).
TITLE = "Lumbar spine x-rays, lateral view only.\n"                         # 1 view: VIEWS_MISMATCH
HISTORY = "History: back pain, grade 1 anterolisthesis of L4 on L5.\n"       # a reason; M43.16 suggested
VIEWS_FIXED = "lateral views in flexion and extension"                       # 2 dynamic views
FINDINGS = "Findings: 4 mm anterolisthesis of L4 on L5 without change between flexion and extension.\n"
IMPRESSION = "Impression: stable grade 1 anterolisthesis at L4-5."


def sidebar_url(served, token: str, query: str = ENCOUNTER_QUERY) -> str:
    return f"{served.base}/sidebar?access_token={token}" + (f"&{query}" if query else "")


def gap(page, code: str):
    return page.locator(f'[data-testid="gap"][data-code="{code}"]')


def check_item(page, item_id: str):
    return page.locator(f'[data-testid="check-item"][data-id="{item_id}"]')


def expect_announced(page, pattern: str) -> None:
    """One line of the live region (the polite log of raised/resolved gaps) matches ``pattern``."""
    lines = page.get_by_test_id("live").locator(".live-line").filter(has_text=re.compile(pattern))
    expect(lines.first).to_be_attached()


def wait_synced(page) -> None:
    """The status says the server has checked everything typed."""
    expect(page.get_by_test_id("status")).to_have_attribute("data-synced", "true", timeout=15_000)


def open_sidebar(page, served, query: str = ENCOUNTER_QUERY, *, width: int = 410):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(sidebar_url(served, served.page_tokens()["physician"], query))
    wait_synced(page)
    return page.get_by_test_id("dictation")


def paste(page, text: str) -> None:
    """A real clipboard paste (Ctrl+V) into the focused element."""
    page.evaluate("t => navigator.clipboard.writeText(t)", text)
    page.keyboard.press("Control+V")


def dictation_id(page) -> str:
    return parse_qs(urlsplit(page.url).query)["dictation_id"][0]


def server_text(served, page) -> str:
    status, body = http_get(f"{served.base}/api/dictations/{dictation_id(page)}", served.page_tokens()["physician"])
    assert status == 200
    return body["text"]


@pytest.mark.screenshot
def test_sidebar_dictation_from_first_words_to_finalize(page, served):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.base)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    text = open_sidebar(page, served)

    # the encounter comes from the URL (an EHR opening the panel)
    assert page.get_by_test_id("enc-cpt").input_value() == "72100"
    assert page.get_by_test_id("enc-icd10").input_value() == "M54.50"
    assert page.get_by_test_id("enc-provider").input_value() == "Dr Lee"
    assert page.get_by_test_id("enc-site").input_value() == "office"
    expect(page.get_by_test_id("encounter-summary")).to_contain_text("72100")
    expect(page.get_by_test_id("encounter-summary")).to_contain_text("Dr Lee")
    expect(gap(page, "FINDINGS_MISSING")).to_be_visible()      # an empty note lacks everything

    # typed: one view only for a 2-3 view code
    text.click()
    text.press_sequentially(TITLE, delay=5)
    wait_synced(page)
    views = gap(page, "VIEWS_MISMATCH")
    expect(views).to_be_visible()
    expect(views).to_have_attribute("data-severity", "error")
    expect(views).to_contain_text("Error")                      # severity in words, not colour alone
    expect(views).to_contain_text("1 view")
    expect(views).to_contain_text("Fix:")
    expect(check_item(page, "views")).to_have_attribute("data-met", "false")
    expect(page.get_by_test_id("supported-cpt")).to_contain_text("72020")
    expect_announced(page, r"^New gap.*: Views do not match the code \(error\)")
    # most severe first
    severities = [g.get_attribute("data-severity") for g in page.get_by_test_id("gap").all()]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)

    # selecting the gap marks its evidence in the checked text
    views.get_by_test_id("gap-button").click()
    expect(views.get_by_test_id("gap-button")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("note-view").get_by_test_id("highlight")).to_have_text(["lateral"])
    expect(views.get_by_test_id("gap-evidence").get_by_test_id("evidence-mark")).to_have_text(["lateral"])

    # pasted: the history gives a reason for the exam and a condition with a code
    text.click()
    page.keyboard.press("Control+End")
    paste(page, HISTORY)
    wait_synced(page)
    expect(gap(page, "INDICATION_MISSING")).to_have_count(0)
    expect(check_item(page, "indication")).to_have_attribute("data-met", "true")
    expect(check_item(page, "indication").get_by_test_id("check-evidence")).to_contain_text("anterolisthesis")
    condition = page.locator('[data-testid="indication"][data-code="M43.16"]')
    expect(condition).to_contain_text("anterolisthesis")
    expect(condition).to_contain_text("present")
    expect(condition).to_contain_text("Spondylolisthesis")
    views.get_by_test_id("gap-button").focus()                   # the representative moment for the docs
    expect(page.get_by_test_id("note-view").get_by_test_id("highlight")).to_have_text(["lateral"])
    screenshot(page, "sidebar")

    # corrected: the view count is fixed inside text that is already final (an 'edit')
    value = text.input_value()
    start = value.index("lateral view only")
    text.evaluate("(t, r) => { t.focus(); t.setSelectionRange(r[0], r[1]); }", [start, start + len("lateral view only")])
    page.keyboard.type(VIEWS_FIXED)
    wait_synced(page)
    expect(gap(page, "VIEWS_MISMATCH")).to_have_count(0)
    expect(check_item(page, "views")).to_have_attribute("data-met", "true")
    expect(page.get_by_test_id("supported-cpt")).to_be_hidden()
    not_supporting = gap(page, "DX_NOT_SUPPORTING")            # dynamic views need a matching diagnosis
    expect(not_supporting).to_be_visible()
    expect(not_supporting).to_have_attribute("data-new", "true")
    expect(not_supporting.get_by_test_id("gap-new")).to_be_visible()
    expect_announced(page, r"^New gap.*Diagnosis codes do not support the study \(warning\)")
    expect_announced(page, r"Resolved: .*Views do not match the code")

    # the rest of the note, typed at the end; the impression requirement ticks with its sentence
    text.press("Control+End")
    text.press_sequentially(FINDINGS + IMPRESSION, delay=2)
    wait_synced(page)
    expect(gap(page, "IMPRESSION_MISSING")).to_have_count(0)
    expect(gap(page, "FINDINGS_MISSING")).to_have_count(0)
    impression = check_item(page, "impression")
    expect(impression).to_have_attribute("data-met", "true")
    impression.get_by_test_id("check-evidence").click()
    expect(page.get_by_test_id("note-view").get_by_test_id("highlight").first).to_contain_text("anterolisthesis at L4-5")

    # one click adds the suggested code; the encounter changes and the gaps are checked again
    condition.get_by_test_id("add-icd10").click()
    expect(page.get_by_test_id("enc-icd10")).to_have_value("M54.50, M43.16")
    expect(page.get_by_test_id("encounter-summary")).to_contain_text("M43.16")
    expect(gap(page, "DX_NOT_SUPPORTING")).to_have_count(0)
    expect(condition.get_by_test_id("icd10-in-encounter")).to_be_visible()
    expect_announced(page, r"Resolved: .*Diagnosis codes do not support the study")
    wait_synced(page)

    # the server holds exactly the text of the page
    assert server_text(served, page) == text.input_value()

    # finalize: the gaps left open are listed and dictation stops
    page.get_by_test_id("finalize").click()
    finalized = page.get_by_test_id("finalized")
    expect(finalized).to_be_visible()
    left = [g.get_attribute("data-code") for g in page.get_by_test_id("finalized-gap").all()]
    assert "SIGNATURE_MISSING" in left and "VIEWS_MISMATCH" not in left
    expect(page.get_by_test_id("finalized-summary")).to_contain_text(f"{len(left)} gaps left open")
    expect(text).not_to_be_editable()
    expect(page.get_by_test_id("finalize")).to_be_hidden()
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "finalized")
    expect(page.get_by_test_id("new-dictation")).to_be_visible()
    expect_announced(page, r"^Dictation finalized\. \d+ gaps left open")

    assert not errors
    note_words = {"anterolisthesis", "flexion", "lateral", "Impression"}
    assert not [line for line in console if any(w in line for w in note_words)]   # no note text in the console
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0


def test_sidebar_gap_by_keyboard_only_and_reload_resumes(page, served):
    text = open_sidebar(page, served)
    text.focus()
    page.keyboard.type("Lumbar spine x-rays, lateral view only.\nIndication: low back pain for six weeks.\n")
    wait_synced(page)

    # Tab leaves the dictation (committing it) for the first gap; arrows move, Enter selects
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.testid") == "gap-button":
            break
    first = page.evaluate("document.activeElement.closest('[data-testid=gap]').dataset.code")
    assert first == "FINDINGS_MISSING"        # errors first
    while page.evaluate("document.activeElement.closest('[data-testid=gap]').dataset.code") != "VIEWS_MISMATCH":
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    views = gap(page, "VIEWS_MISMATCH")
    expect(views.get_by_test_id("gap-button")).to_have_attribute("aria-pressed", "true")
    expect(views.get_by_test_id("gap-button")).to_be_focused()
    expect(page.get_by_test_id("highlight")).to_have_text(["lateral"])
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"                  # focus is visible
    page.keyboard.press("Escape")
    expect(views.get_by_test_id("gap-button")).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_test_id("highlight")).to_have_count(0)

    # from an open checklist item to the gap that keeps it open
    link = check_item(page, "views").get_by_test_id("check-gap")
    expect(link).to_contain_text("Views do not match the code")
    link.focus()
    page.keyboard.press("Enter")
    expect(views.get_by_test_id("gap-button")).to_be_focused()
    expect(views.get_by_test_id("gap-button")).to_have_attribute("aria-pressed", "true")

    # a reload resumes the same dictation from the server (the page stores no note text)
    wait_synced(page)
    before = text.input_value()
    assert "dictation_id=" in page.url
    page.reload()
    wait_synced(page)
    expect(text).to_have_value(before)
    expect(gap(page, "VIEWS_MISMATCH")).to_be_visible()
    text.press("Control+End")
    text.press_sequentially("Technique: AP and lateral views.\n")
    wait_synced(page)
    expect(gap(page, "VIEWS_MISMATCH")).to_have_count(0)
    assert server_text(served, page) == text.input_value()


def test_sidebar_corrections_keep_the_server_text_equal_to_the_page(page, served):
    """Corrections anywhere (inside final text, across the final/partial boundary, select-all
    paste, undo, characters outside the BMP) leave the server with exactly the page's text."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.base)
    text = open_sidebar(page, served)

    def settle(expected: str | None = None) -> None:
        page.get_by_test_id("note-view").click()                   # leaving the dictation commits it
        wait_synced(page)
        value = text.input_value()
        if expected is not None:
            assert value == expected
        assert server_text(served, page) == value

    def select(first: str, last: str = "") -> None:
        """Select from the start of ``first`` to the start of ``last`` (or the end of ``first``)."""
        text.evaluate("""(t, [a, b]) => { const i = t.value.indexOf(a);
            t.focus(); t.setSelectionRange(i, b ? t.value.indexOf(b) : i + a.length); }""", [first, last])

    text.click()
    text.press_sequentially("Lumbar spine \U0001F9B4 x-rays, AP and lateral views. Indication: low back pain")
    wait_synced(page)                      # the last words are a partial, not final yet
    select("AP and", "back pain")                                  # from final text into the partial
    page.keyboard.type("lateral view only. Indication: chronic ")
    settle("Lumbar spine \U0001F9B4 x-rays, lateral view only. Indication: chronic back pain")
    expect(gap(page, "VIEWS_MISMATCH")).to_be_visible()

    text.press("Control+End")
    for _ in range(4):                                            # "pain" (final text) goes
        page.keyboard.press("Backspace")
    page.keyboard.type("neck pain \U0001F62C.\n")
    settle("Lumbar spine \U0001F9B4 x-rays, lateral view only. Indication: chronic back neck pain \U0001F62C.\n")

    select("lateral view only")
    page.keyboard.type("AP and lateral views")                   # after a character outside the BMP
    settle()
    expect(gap(page, "VIEWS_MISMATCH")).to_have_count(0)

    page.keyboard.press("Control+Z")                              # undo comes back as an edit
    settle()

    text.focus()
    page.keyboard.press("Control+A")
    paste(page, "Cervical spine, 2 views.\nIndication: neck pain after a fall.\n")
    settle("Cervical spine, 2 views.\nIndication: neck pain after a fall.\n")
    expect(gap(page, "REGION_MISMATCH")).to_be_visible()           # 72100 is a lumbar code


def test_sidebar_opens_a_dictation_by_id(page, served):
    token = served.page_tokens()["physician"]
    note = "Lumbar spine x-rays, AP and lateral views.\nImpression: no acute abnormality.\n"
    with served.ws(token) as ws:
        assert ask(ws, {"type": "start", "dictation_id": "sidebar-done", "encounter": {
            "cpt": ["72100"], "icd10": ["M54.50"], "site": "facility", "provider": "Dr Lee"}})["type"] == "state"
        assert ask(ws, {"type": "segment", "seq": 1, "text": note, "final": True})["type"] == "state"
        done = ask(ws, {"type": "finalize"})
    # a finalized dictation opens read-only with the gaps it was finalized with
    page.goto(sidebar_url(served, token, "dictation_id=sidebar-done"))
    expect(page.get_by_test_id("finalized")).to_be_visible()
    expect(page.get_by_test_id("dictation")).to_have_value(note)
    expect(page.get_by_test_id("dictation")).not_to_be_editable()
    assert page.get_by_test_id("enc-site").input_value() == "facility"
    codes = sorted(g.get_attribute("data-code") for g in page.get_by_test_id("finalized-gap").all())
    assert codes == sorted(g["code"] for g in done["gaps"])

    # an unknown one says so, and a new dictation can start from there
    page.goto(sidebar_url(served, token, f"{ENCOUNTER_QUERY}&dictation_id=no-such-dictation"))
    expect(page.get_by_test_id("error")).to_contain_text("no-such-dictation")
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "stopped")
    page.get_by_test_id("new-dictation").click()
    wait_synced(page)
    expect(page.get_by_test_id("error")).to_be_hidden()
    expect(page.get_by_test_id("dictation")).to_be_editable()
    assert dictation_id(page) != "no-such-dictation"
    expect(gap(page, "FINDINGS_MISSING")).to_be_visible()


def test_sidebar_fits_360_px_without_horizontal_scroll(page, served):
    text = open_sidebar(page, served, ENCOUNTER_QUERY.replace("M54.50", "M54.50,M43.16,M51.36,M47.816"), width=360)
    page.locator("#encounter-box > summary").click()        # unfold the encounter form too
    expect(page.get_by_test_id("enc-cpt")).to_be_visible()
    text.click()
    text.press_sequentially("Lumbar spine x-rays, lateral view only. Referring: Dr Averyveryverylongsurname"
                            "withoutanyspacesatallinthisline.\nIndication: sciatica of the left leg.\n")
    wait_synced(page)
    # a click at human speed while the state answering the commit (made as the dictation loses focus)
    # arrives and resolves a gap listed above the one clicked: the list must not move under the pointer
    text.press_sequentially("Electronically signed by Jo Park, MD")       # unfinished: not sent yet
    button = gap(page, "VIEWS_MISMATCH").get_by_test_id("gap-button")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 10)
    page.mouse.down()
    page.wait_for_timeout(300)
    page.mouse.up()
    expect(button).to_have_attribute("aria-pressed", "true")
    wait_synced(page)
    expect(gap(page, "SIGNATURE_MISSING")).to_have_count(0)
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], widths
    box = page.get_by_test_id("dictation").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360


def test_sidebar_server_error_is_shown_and_text_kept(page, served):
    text = open_sidebar(page, served)
    text.click()
    text.press_sequentially("Lumbar spine x-rays, AP and lateral views.\n")
    wait_synced(page)
    page.locator("#encounter-box > summary").click()
    cpt = page.get_by_test_id("enc-cpt")
    cpt.fill("99999")
    cpt.press("Enter")
    error = page.get_by_test_id("error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("UNKNOWN_CPT")
    expect(error).to_contain_text("99999")
    expect(cpt).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("status")).to_contain_text("Encounter not applied")
    expect(text).to_have_value("Lumbar spine x-rays, AP and lateral views.\n")
    # dictation goes on under the last valid encounter; fixing the code clears the message
    text.press("Control+End")
    text.press_sequentially("Impression: normal lumbar spine.\n")
    expect(gap(page, "IMPRESSION_MISSING")).to_have_count(0)
    cpt.fill("72100")
    cpt.press("Enter")
    expect(error).to_be_hidden()
    expect(cpt).not_to_have_attribute("aria-invalid", "true")
    wait_synced(page)


@pytest.mark.parametrize("role", ["scribe", "manager", None])
def test_sidebar_refuses_a_token_that_may_not_dictate(page, served, role):
    if role is None:
        page.goto(f"{served.base}/sidebar?{ENCOUNTER_QUERY}")
    else:
        page.goto(sidebar_url(served, served.page_tokens()[role]))
    error = page.get_by_test_id("error")
    expect(error).to_be_visible()
    if role is None:
        expect(error).to_contain_text("UNAUTHENTICATED")
        expect(error).to_contain_text("no access token")
    else:
        expect(error).to_contain_text("FORBIDDEN")
        expect(error).to_contain_text("needs a physician's token")
        expect(error).to_contain_text(f"a {role}'s")
    expect(page.get_by_test_id("error-dismiss")).to_be_hidden()
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "refused")
    expect(page.get_by_test_id("dictation")).not_to_be_editable()
    expect(page.get_by_test_id("finalize")).to_be_disabled()


def test_sidebar_shows_a_state_the_server_pushes(page, served):
    """The page watches its dictation: what another connection (say, an external speech
    engine) dictates into it is shown; when it reports final text the page has not seen,
    the page reads the note back into the dictation."""
    text = open_sidebar(page, served)
    text.click()
    text.press_sequentially("Lumbar spine x-rays, AP and lateral views.\n")
    wait_synced(page)
    with served.ws(served.page_tokens()["physician"]) as engine:   # the "speech engine" dictates on
        assert ask(engine, {"type": "resume", "dictation_id": dictation_id(page)})["type"] == "state"
        pushed = ask(engine, {"type": "segment", "seq": 1000, "text": "Impression: no acute abnormality.\n",
                              "final": True})
        assert pushed["type"] == "state"
        expect(text).to_have_value("Lumbar spine x-rays, AP and lateral views.\nImpression: no acute abnormality.\n")
    expect(gap(page, "IMPRESSION_MISSING")).to_have_count(0)
    expect_announced(page, r"Resolved: .*Impression missing")
    text.press("Control+End")                                        # and the physician types on after it
    text.press_sequentially("Comparison: none.\n")
    wait_synced(page)
    expect(gap(page, "COMPARISON_NOT_STATED")).to_have_count(0)
    assert server_text(served, page) == text.input_value()


def test_sidebar_keeps_typing_through_a_server_restart(page, served):
    """Last in the module: it restarts the module's server (kill -9, then start on the same database)."""
    text = open_sidebar(page, served)
    status = page.get_by_test_id("status")
    text.click()
    text.press_sequentially("Lumbar spine x-rays, AP and lateral views.\n")
    wait_synced(page)
    served.kill9()
    expect(status).to_have_attribute("data-state", "offline")
    expect(status).to_contain_text("Your text is kept")
    text.press_sequentially("Impression: no acute abnormality of the lumbar spine.\n")   # typed while down
    expect(status).to_have_attribute("data-synced", "false")
    served.start()
    expect(status).to_have_attribute("data-synced", "true", timeout=30_000)
    expect(gap(page, "IMPRESSION_MISSING")).to_have_count(0)
    expect(check_item(page, "impression")).to_have_attribute("data-met", "true")
    assert server_text(served, page) == text.input_value()


def test_screenshots_go_to_the_test_output_folder_and_docs_stay_clean(page, served, monkeypatch):
    """Issue 13 item 11: a test run writes its screenshots outside the tree; only
    SCRIBE_REFRESH_SCREENSHOTS=1 (`python -m tests.browser.screenshots`) writes docs/*.png."""
    import os

    from . import conftest

    monkeypatch.delenv(conftest.REFRESH, raising=False)
    before = conftest.docs_status()
    page.goto(f"{served.base}/sidebar?access_token={served.page_tokens()['physician']}&cpt=72100")
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "live")
    path = screenshot(page, "sidebar-clean-tree-check")
    assert os.path.dirname(path) == conftest.OUTPUT and not path.startswith(conftest.ROOT + os.sep)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert conftest.docs_status() == before
    assert not os.path.exists(os.path.join(conftest.DOCS, "sidebar-clean-tree-check.png"))
    monkeypatch.setenv(conftest.REFRESH, "1")
    assert conftest.screenshot_dir() == conftest.DOCS


UNSIGNED_NOTE = ("EXAM: Lumbar spine, 3 views.\nOrdering physician: Jo Bell, MD\n"
               "Indication: low back pain after a fall, rule out fracture.\nTechnique: AP, lateral and coned lateral views.\n"
               "Comparison: none.\nFindings: Normal alignment. No fracture.\nImpression: No acute abnormality.\n")
CODE_WORDS = re.compile(r"\bCPT\b|\b7\d{4}\b|chosen code")


def test_sidebar_without_a_cpt_asks_to_choose_the_study_code(page, served):
    """Issue 13 item 4: no CPT chosen is a visible state; hints read as hints; nothing claims to
    check a code, not even the finalized summary."""
    text = open_sidebar(page, served, "icd10=M54.50&site=office")
    no_cpt = page.get_by_test_id("no-cpt")
    expect(no_cpt).to_be_visible()
    expect(no_cpt).to_contain_text("Choose the study code")
    expect(no_cpt).to_contain_text("nothing is checked against a code")
    expect(page.get_by_test_id("encounter-summary")).to_contain_text("choose the study code")
    for field in ("enc-cpt", "enc-modifiers", "enc-icd10"):
        hint = page.get_by_test_id(field).get_attribute("placeholder")
        assert hint.startswith(("e.g. ", "optional, e.g. ")), (field, hint)
    assert page.get_by_test_id("enc-cpt").evaluate("e => getComputedStyle(e, '::placeholder').fontStyle") == "italic"
    expect(page.locator("#check-cpt")).to_have_text("every report needs (no study code chosen)")

    text.click()
    paste(page, UNSIGNED_NOTE + "Electronically signed by Ana Ruiz, MD\n")
    wait_synced(page)
    messages = page.get_by_test_id("gaps").locator(".gap-msg").all_inner_texts()
    assert not [m for m in messages if CODE_WORDS.search(m)], messages
    expect(page.get_by_test_id("gaps-empty")).to_be_visible()         # every part of a report is there
    ids = [i.get_attribute("data-id") for i in page.get_by_test_id("check-item").all()]
    assert "views" not in ids and "coding" not in ids

    page.get_by_test_id("finalize").click()
    summary = page.get_by_test_id("finalized-summary")
    expect(summary).to_contain_text("No study code was chosen, so nothing was checked against a code")
    expect(summary).not_to_contain_text("complete for the chosen codes")


def test_sidebar_choosing_the_code_ends_the_no_code_state_and_counts_agree(page, served):
    """Issue 13 items 4 and 7: entering the CPT clears the state; one gap reads '1 gap ... It goes'."""
    text = open_sidebar(page, served, "icd10=M54.50&site=office&provider=Dr%20Lee")
    page.get_by_test_id("choose-cpt").click()
    expect(page.get_by_test_id("enc-cpt")).to_be_focused()
    page.get_by_test_id("enc-cpt").fill("72100")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("no-cpt")).to_be_hidden()
    expect(page.locator("#check-cpt")).to_have_text("for 72100")
    text.click()
    paste(page, UNSIGNED_NOTE)
    wait_synced(page)
    expect(page.get_by_test_id("gap")).to_have_count(1)
    expect(gap(page, "SIGNATURE_MISSING")).to_be_visible()
    expect(page.get_by_test_id("gap-summary")).to_have_text("1 error")
    page.get_by_test_id("finalize").click()
    expect(page.get_by_test_id("finalized-summary")).to_have_text("1 gap left open. It goes to the review queue.")
    expect_announced(page, r"^Dictation finalized\. 1 gap left open\.$")


def test_sidebar_dx_not_supporting_says_what_the_codes_lack(page, served):
    """Issue 13 item 7: with a weak reason in the note, the gap names what the codes lack and shows
    the reason as its evidence instead of 'Nothing in the note yet'."""
    text = open_sidebar(page, served, "cpt=72120&icd10=M54.50&site=office")
    text.click()
    paste(page, "EXAM: Lumbar spine flexion and extension lateral views, 2 views.\n"
                "Indication: chronic low back pain.\nOrdering physician: Wen Chen, MD.\nComparison: none.\n"
                "Findings: No abnormal translation.\nImpression: No dynamic instability.\n"
                "Electronically signed by Wen Chen, MD\n")
    wait_synced(page)
    dx = gap(page, "DX_NOT_SUPPORTING")
    expect(dx).to_contain_text("M54.50 codes non-specific pain only")
    expect(dx).to_contain_text("the reason the note states (chronic low back pain) is not specific either")
    expect(dx).to_contain_text("motion views need a code for instability")
    expect(page.get_by_test_id("gap-summary")).to_have_text("2 warnings")
    dx.get_by_test_id("gap-button").click()
    evidence = dx.get_by_test_id("gap-evidence")
    expect(evidence).to_have_text("In the note: Indication: chronic low back pain.")
    expect(evidence.get_by_test_id("evidence-mark")).to_have_text(["chronic low back pain"])
    expect(page.get_by_test_id("note-view").get_by_test_id("highlight")).to_have_text(["chronic low back pain"])
