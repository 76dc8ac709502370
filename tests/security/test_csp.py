"""Content-Security-Policy (issue 14, item 5): the pages carry a policy that allows only
the service's own scripts, styles and connections (no inline script, no eval), and
``frame-ancestors`` of the service itself plus the EHR origins configured in
``SCRIBE_FRAME_ANCESTORS``; the pages themselves hold no inline script, style or event
handler (so the policy costs them nothing; the browser tests run under it)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import start_live

STATIC = Path(__file__).resolve().parents[2] / "server" / "static"
PAGES = ("/sidebar", "/review", "/dashboard", "/static/sidebar.js", "/api/me", "/healthz", "/no-such-page")
EHR = "https://ehr.example.org"


def policy(live, path: str) -> dict[str, list[str]]:
    _, headers, _ = live.request("GET", path)
    raw = headers.get("Content-Security-Policy")
    assert raw, f"{path} has no Content-Security-Policy"
    return {part.split()[0]: part.split()[1:] for part in raw.split(";") if part.strip()}


def test_csp_pages_allow_only_their_own_scripts_and_self_framing(live):
    for path in PAGES:
        csp = policy(live, path)
        assert csp["default-src"] == ["'none'"] and csp["script-src"] == ["'self'"], path
        assert csp["style-src"] == ["'self'"] and csp["connect-src"] == ["'self'"], path
        assert csp["frame-ancestors"] == ["'self'"] and csp["base-uri"] == ["'none'"], path
        assert not [v for values in csp.values() for v in values if "unsafe" in v], path
    # FastAPI's own documentation pages keep their inline script; framing is still limited
    assert policy(live, "/docs") == {"frame-ancestors": ["'self'"]}


@pytest.fixture(scope="module")
def framed(tmp_path_factory):
    live = start_live(tmp_path_factory.mktemp("framed"), SCRIBE_FRAME_ANCESTORS=f"{EHR} https://emr.example.net")
    yield live
    live.server.stop()
    live.close()


def test_csp_frame_ancestors_are_configurable_for_ehr_origins(framed):
    for path in ("/sidebar", "/docs"):
        assert policy(framed, path)["frame-ancestors"] == ["'self'", EHR, "https://emr.example.net"]


def test_csp_the_pages_hold_no_inline_code():
    pages = sorted(STATIC.glob("*.html"))
    assert {p.name for p in pages} >= {"sidebar.html", "review.html", "dashboard.html"}
    for page in pages:
        html = page.read_text(encoding="utf-8")
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S | re.I)
        assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts), page.name
        assert not re.search(r"<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:", html, flags=re.I), page.name
    for script in STATIC.glob("*.js"):
        code = script.read_text(encoding="utf-8")
        assert not re.search(r"\beval\(|new Function\(|setAttribute\(\s*[\"']style|\.innerHTML\s*=", code), script.name
