"""Engineering errors with stable codes.

Clinical findings are *gaps* (rule ids, gap codes); these are problems with the
input or the data files. The two namespaces never mix.
"""
from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True)
class ErrorCode:
    """One error code that the engine, the CLI or the service can emit."""

    code: str
    meaning: str
    http: tuple[int, ...] = ()   # the HTTP status(es) it is answered with, where it is an HTTP answer
    where: str = "engine"        # engine | cli | ws (the dictation socket) | http | lexicons


_ENGINE_INPUT = (422,)   # the engine's input errors, when an HTTP route re-checks a stored dictation

_CODES = (
    # the engine and the batch check (`scribe check`: one line on stderr, exit 2)
    ErrorCode("SCRIBE_ERROR", "an engineering error without a more specific code"),
    ErrorCode("BAD_INPUT", "the caller's input cannot be used", _ENGINE_INPUT),
    ErrorCode("LEXICON_INVALID", "a lexicon file is invalid (its name and key are in the message)", where="lexicons"),
    ErrorCode("UNKNOWN_CPT", "the CPT code is not a spine imaging code scribe knows", _ENGINE_INPUT),
    ErrorCode("DELETED_CPT", "the CPT code was deleted from the code set (the message names its replacement)",
              _ENGINE_INPUT),
    ErrorCode("INVALID_ICD10", "the ICD-10-CM code is malformed or not in the code set", _ENGINE_INPUT),
    ErrorCode("BAD_SITE", "the place of service is not office or facility", _ENGINE_INPUT),
    ErrorCode("BAD_ENCOUNTER", "the encounter (codes, modifiers, claim lines) is malformed", _ENGINE_INPUT),
    ErrorCode("BAD_NOTE", "the note is not text", _ENGINE_INPUT),
    ErrorCode("EMPTY_NOTE", "the note is empty", _ENGINE_INPUT),
    ErrorCode("NOTE_TOO_LARGE", "the note is over the size limit (types.MAX_NOTE_CHARS)", _ENGINE_INPUT),
    ErrorCode("BAD_SEGMENT", "a dictation segment is not text", _ENGINE_INPUT),
    ErrorCode("BAD_EDIT", "an edit of the final text is malformed", _ENGINE_INPUT),
    ErrorCode("EDIT_OUT_OF_RANGE", "an edit's range lies outside the final text", _ENGINE_INPUT),
    ErrorCode("SEQ_REPEATED", "a segment's sequence number was already applied", _ENGINE_INPUT),
    ErrorCode("SEQ_OUT_OF_ORDER", "a segment's sequence number is lower than one already applied", _ENGINE_INPUT),
    ErrorCode("CPT_MISSING", "no study code chosen (`--cpt`, or a case without cpt or lines)", where="cli"),
    ErrorCode("NO_INPUT", "neither a note file nor --jsonl was given", where="cli"),
    ErrorCode("UNREADABLE_FILE", "the note or cases file cannot be read", where="cli"),
    ErrorCode("NOT_UTF8", "the note file is not UTF-8 text", where="cli"),
    ErrorCode("BAD_CASE", "a --jsonl line is not a JSON object (the run goes on)", where="cli"),
    ErrorCode("BAD_NCCI_FILE", "the CMS PTP file to import is not in the published layout", where="cli"),
    # the service's command line (`scribe serve`, `scribe token`, `scribe urls`)
    ErrorCode("BAD_SETTINGS", "a setting (environment variable or option) is invalid", where="cli"),
    ErrorCode("DB_UNAVAILABLE", "the database cannot be opened", where="cli"),
    ErrorCode("BAD_TOKEN_REQUEST", "a token cannot be created as asked (role, account, lifetime)", where="cli"),
    ErrorCode("TOKEN_MISMATCH", "the token given belongs to another account or role", where="cli"),
    ErrorCode("NO_TOKEN", "the account has no token to print links with", where="cli"),
    # access (HTTP answers and the dictation socket)
    ErrorCode("UNAUTHENTICATED", "no token sent", (401,), "http"),
    ErrorCode("BAD_TOKEN", "the token is unknown or revoked", (401,), "http"),
    ErrorCode("TOKEN_EXPIRED", "the token expired", (401,), "http"),
    ErrorCode("TOKEN_REVOKED", "the token was revoked (a connection using it is closed)", (409,), "http"),
    ErrorCode("FORBIDDEN", "the token's role may not do this", (403,), "http"),
    # HTTP
    ErrorCode("BAD_REQUEST", "the request is malformed (the problems are listed)", (400, 422), "http"),
    ErrorCode("NOT_FOUND", "no such dictation, gap, token, account or page", (404,), "http"),
    ErrorCode("METHOD_NOT_ALLOWED", "the route does not take this method", (405,), "http"),
    ErrorCode("HTTP_ERROR", "another HTTP error of the framework", (), "http"),
    ErrorCode("BODY_TOO_LARGE", "the request body is over the configured size", (413,), "http"),
    ErrorCode("INTERNAL_ERROR", "the server failed (logged without note text)", (500,), "http"),
    ErrorCode("GAP_NOT_OPEN", "the gap is already resolved or dismissed", (409,), "http"),
    ErrorCode("GAP_STILL_PRESENT", "the note still lacks what the gap is about", (409,), "http"),
    ErrorCode("NOTE_REQUIRED", "dismissing with reason 'other' needs a note", (422,), "http"),
    # the dictation socket (an `error` message; the connection stays)
    ErrorCode("INVALID_JSON", "the frame is not JSON", where="ws"),
    ErrorCode("BINARY_FRAME", "a binary frame (messages are JSON text frames)", where="ws"),
    ErrorCode("MESSAGE_TOO_LARGE", "the frame is over the configured message size", where="ws"),
    ErrorCode("RATE_LIMITED", "more messages a second than allowed", where="ws"),
    ErrorCode("BAD_MESSAGE", "the message does not fit its type's schema", where="ws"),
    ErrorCode("UNKNOWN_TYPE", "the message type is unknown", where="ws"),
    ErrorCode("UNSUPPORTED", "'watch' on a connection that cannot receive pushed states", where="ws"),
    ErrorCode("NO_DICTATION", "a message about a dictation before 'start' or 'resume'", where="ws"),
    ErrorCode("NOT_WATCHING", "'unwatch' on a connection that watches nothing", where="ws"),
    ErrorCode("BAD_DICTATION_ID", "the dictation id is malformed", where="ws"),
    ErrorCode("DICTATION_EXISTS", "'start' with the id of an existing dictation", where="ws"),
    ErrorCode("DICTATION_NOT_FOUND", "no such dictation (or not the caller's)", where="ws"),
    ErrorCode("DICTATION_FINALIZED", "the dictation is finalized; start a new one", where="ws"),
    ErrorCode("RESUME_FAILED", "the stored dictation could not be replayed", where="ws"),
    ErrorCode("STORAGE_UNAVAILABLE", "the database did not take the change; send it again", where="ws"),
    ErrorCode("BUSY", "the dictation is being changed by another connection; send it again", where="ws"),
    ErrorCode("DEMO_CHANGED", "an interrupted demo dictation does not match its text", where="cli"),
)

#: every error code, declared once: code -> ErrorCode
CATALOGUE: dict[str, ErrorCode] = {e.code: e for e in _CODES}
