"""scribe: live documentation-gap checking for dictated imaging notes.

Public API::

    from scribe import build_engine, Encounter
    engine = build_engine()
    result = engine.check(text, Encounter(cpt=("72100",), icd10=("M54.50",)))
    session = engine.new_session(encounter)   # streaming
"""
from .errors import InputError, LexiconError, ScribeError
from .types import CheckResult, Encounter, Evidence, Gap, Indication


def build_engine(*args, **kwargs):
    from .engine import build_engine as _build

    return _build(*args, **kwargs)


__all__ = ["build_engine", "Encounter", "CheckResult", "Gap", "Evidence", "Indication",
           "InputError", "LexiconError", "ScribeError"]
