"""Shared fixtures (the only conftest at the top level; server tests keep their own)."""
from __future__ import annotations

import pytest

from scribe import Encounter, build_engine


@pytest.fixture(scope="session")
def engine():
    return build_engine()


@pytest.fixture(scope="session")
def check(engine):
    """check(text, cpt=[...], icd10=[...], modifiers=[...], site=...) -> result dict."""

    def run(text, cpt=(), icd10=(), modifiers=(), site="office"):
        enc = Encounter.from_dict({"cpt": list(cpt), "icd10": list(icd10), "modifiers": list(modifiers), "site": site})
        return engine.check(text, enc).to_dict()

    return run


def gap_codes(result) -> set[str]:
    return {g["code"] for g in result["gaps"]}
