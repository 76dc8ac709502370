"""Browser tests: Debian's chromium (/usr/bin/chromium) driven by Playwright for Python,
against a real `scribe serve` on 127.0.0.1 with a real SQLite database.

`.ci/system-deps` installs chromium; on a machine without it these tests skip and say why.
"""
from __future__ import annotations

import os
import shutil

import pytest

from ..live import Server

CHROMIUM = os.environ.get("SCRIBE_CHROMIUM", "/usr/bin/chromium")
DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs")


def _chromium() -> str | None:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def browser():
    path = _chromium()
    if path is None:
        pytest.skip("chromium not installed (Debian package 'chromium'; `.ci/system-deps` installs it): "
                    "browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`scribe serve` on a fresh SQLite database; `served.page_tokens()` gives the
    first-start tokens ({'physician', 'scribe', 'manager'} of the account 'local')."""
    tmp = tmp_path_factory.mktemp("browser")
    s = Server(tmp, f"sqlite:///{tmp / 'browser.sqlite'}")
    s.start()
    yield s
    s.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(15_000)
    yield p
    context.close()


def screenshot(page, name: str) -> None:
    """Save docs/<name>.png (the README shows them)."""
    os.makedirs(DOCS, exist_ok=True)
    page.screenshot(path=os.path.join(DOCS, f"{name}.png"), full_page=True)
