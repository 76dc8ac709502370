"""Pages and the session cookie (issue 14, items 3 and 5): a page opened with its printed
link (``?access_token=``) exchanges the token for an HttpOnly, SameSite=Strict cookie, takes
it out of the address bar and the history, and works on (a reload included) with the
cookie; the sidebar's WebSocket carries a one-time ticket, never the token; no request after
the exchange carries the token; nothing breaks the Content-Security-Policy."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

ENCOUNTER_QUERY = "cpt=72100&icd10=M54.50&site=office&provider=Dr%20Lee"
PAGES = {"sidebar": ("physician", "status"), "review": ("scribe", "who"), "dashboard": ("manager", "who")}


def watch(page):
    """Requests, WebSocket URLs and console messages of the page."""
    seen = {"requests": [], "sockets": [], "console": []}
    page.on("request", lambda r: seen["requests"].append((r.url, r.headers.get("authorization"))))
    page.on("websocket", lambda ws: seen["sockets"].append(ws.url))
    page.on("console", lambda m: seen["console"].append(m.text))
    return seen


@pytest.mark.parametrize("name", list(PAGES))
def test_page_link_token_becomes_a_cookie_and_leaves_the_url(page, served, name):
    role, ready = PAGES[name]
    token = served.page_tokens()[role]
    seen = watch(page)
    query = f"&{ENCOUNTER_QUERY}" if name == "sidebar" else ""
    page.goto(f"{served.base}/{name}?access_token={token}{query}")
    if name == "sidebar":
        expect(page.get_by_test_id("status")).to_have_attribute("data-synced", "true", timeout=15_000)
    else:
        expect(page.get_by_test_id("who")).to_contain_text(f"({role})")
    assert "access_token" not in page.url and token not in page.url
    if name == "sidebar":
        assert "cpt=72100" in page.url                          # the rest of the link stays
    assert page.evaluate("document.cookie") == ""                # HttpOnly: out of the scripts' reach
    cookie = next(c for c in page.context.cookies() if c["name"] == "scribe_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] != token
    # the token went out once, to the exchange; everything after rides the cookie
    with_token = [url for url, auth in seen["requests"] if token in url or (auth and token in auth)]
    assert len(with_token) == 2 and with_token[1].endswith("/api/session"), with_token
    assert all(token not in url for url in seen["sockets"])
    if name == "sidebar":
        assert seen["sockets"] and all("?ticket=wst_" in url for url in seen["sockets"])
    # a reload (the history entry has no token) signs in with the cookie
    page.reload()
    if name == "sidebar":
        expect(page.get_by_test_id("status")).to_have_attribute("data-synced", "true", timeout=15_000)
    else:
        expect(page.get_by_test_id("who")).to_contain_text(f"({role})")
    assert page.evaluate("history.length") >= 1 and "access_token" not in page.url
    assert not [m for m in seen["console"] if "Content Security Policy" in m or "Refused to" in m], seen["console"]


def test_page_without_link_or_cookie_asks_for_a_token(page, served):
    page.goto(f"{served.base}/review")
    expect(page.get_by_test_id("notice")).to_contain_text("needs an access token")
