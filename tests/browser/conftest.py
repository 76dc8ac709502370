"""Browser tests: Debian's chromium (/usr/bin/chromium) driven by Playwright for Python,
against a real `scribe serve` on 127.0.0.1 with a real SQLite database.

`.ci/system-deps` installs chromium; on a machine without it these tests skip and say why.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from ..live import Server

CHROMIUM = os.environ.get("SCRIBE_CHROMIUM", "/usr/bin/chromium")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCS = os.path.join(ROOT, "docs")
REFRESH = "SCRIBE_REFRESH_SCREENSHOTS"      # =1: the screenshots replace docs/*.png (the README's)
OUTPUT = os.environ.get("SCRIBE_SCREENSHOT_DIR") or os.path.join(tempfile.gettempdir(), "scribe-test-screenshots")


def screenshot_dir() -> str:
    """Where ``screenshot`` writes: docs/ only when asked (``python -m tests.browser.screenshots`` or
    SCRIBE_REFRESH_SCREENSHOTS=1), else a test-output folder, so a test run leaves the tree clean."""
    return DOCS if os.environ.get(REFRESH) == "1" else OUTPUT


def docs_status() -> tuple[str, dict[str, bytes]]:
    """What `git status --porcelain docs/` says (empty without git) and the docs' bytes."""
    try:
        status = subprocess.run(["git", "status", "--porcelain", "docs/"], cwd=ROOT, capture_output=True,
                                text=True, timeout=30).stdout
    except OSError:
        status = ""
    files = {}
    for name in sorted(os.listdir(DOCS)) if os.path.isdir(DOCS) else ():
        with open(os.path.join(DOCS, name), "rb") as f:
            files[name] = f.read()
    return status, files


@pytest.fixture(scope="session", autouse=True)
def docs_left_alone():
    """The browser suite must not change docs/ (unless refreshing the screenshots on purpose)."""
    before = docs_status()
    yield
    if os.environ.get(REFRESH) != "1":
        after = docs_status()
        assert after == before, f"the browser tests changed docs/: {after[0] or sorted(set(after[1]) ^ set(before[1]))}"


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


def screenshot(page, name: str) -> str:
    """Save <name>.png in ``screenshot_dir()`` (docs/ when refreshing: the README shows them);
    returns its path."""
    folder = screenshot_dir()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.png")
    page.screenshot(path=path, full_page=True)
    return path
