"""Engineering errors with stable codes.

Clinical findings are *gaps* (rule ids, gap codes); these are problems with the
input or the data files. The two namespaces never mix.
"""
from __future__ import annotations


class ScribeError(Exception):
    """Base class: every error carries a stable upper-case ``code``."""

    code = "SCRIBE_ERROR"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code
        self.message = message

    def __str__(self) -> str:  # one readable line, no traceback noise
        return f"[{self.code}] {self.message}"


class InputError(ScribeError):
    """The caller's input cannot be used (unknown CPT, malformed ICD-10, empty note...)."""

    code = "BAD_INPUT"


class LexiconError(ScribeError):
    """A lexicon file is invalid; raised at load time, never during a request."""

    code = "LEXICON_INVALID"
