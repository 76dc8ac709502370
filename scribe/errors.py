"""Engineering errors with stable codes.

Clinical findings are *gaps* (rule ids, gap codes); these are problems with the
input or the data files. The two namespaces never mix.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ScribeError(Exception):
    """Base class: every error carries a stable upper-case ``code``."""

    code = "SCRIBE_ERROR"

    def __init__(self, message: str, *, code: str | None = None, **details: Any):
        super().__init__(message)
        if code:
            self.code = code
        self.message = message
        #: where the problem is, for machines (e.g. ``line`` and ``cpt`` of a claim line at fault):
        #: answered next to ``code`` and ``message`` in error rows and messages
        self.details: dict[str, Any] = details

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
    ErrorCode("UNKNOWN_CPT", "the CPT code is not an imaging code scribe checks (on a claim line the message "
              "names the line, and the error carries its `line` index and `cpt`)", _ENGINE_INPUT),
    ErrorCode("DELETED_CPT", "the CPT code was deleted from the code set (the message names its replacement; "
              "the line as for UNKNOWN_CPT)", _ENGINE_INPUT),
    ErrorCode("INVALID_ICD10", "the ICD-10-CM code is malformed or not in the code set", _ENGINE_INPUT),
    ErrorCode("BAD_SITE", "the place of service is not office or facility", _ENGINE_INPUT),
    ErrorCode("BAD_ENCOUNTER", "the encounter (codes, modifiers, claim lines) is malformed: `lines` with `cpt` or "
              "`modifiers` that say otherwise, a line without exactly one code (its `line` index is given)",
              _ENGINE_INPUT),
    ErrorCode("BAD_NOTE", "the note is not text", _ENGINE_INPUT),
    ErrorCode("EMPTY_NOTE", "the note is empty", _ENGINE_INPUT),
    ErrorCode("NOTE_TOO_LARGE", "the note is over the size limit (types.MAX_NOTE_CHARS)", _ENGINE_INPUT),
    ErrorCode("BAD_SEGMENT", "a dictation segment is not text", _ENGINE_INPUT),
    ErrorCode("BAD_EDIT", "an edit of the final text is malformed", _ENGINE_INPUT),
    ErrorCode("EDIT_OUT_OF_RANGE", "an edit's range lies outside the final text", _ENGINE_INPUT),
    ErrorCode("SEQ_REPEATED", "a segment's sequence number was already applied", _ENGINE_INPUT),
    ErrorCode("SEQ_OUT_OF_ORDER", "a segment's sequence number is lower than one already applied", _ENGINE_INPUT),
    ErrorCode("CPT_MISSING", "no study code chosen (`--cpt`, a case without cpt or lines, an empty `lines` "
              "list in a case, a `start` or a `context`)", _ENGINE_INPUT, where="cli"),
    ErrorCode("NO_INPUT", "neither a note file nor --jsonl was given", where="cli"),
    ErrorCode("UNREADABLE_FILE", "the note or cases file cannot be read", where="cli"),
    ErrorCode("NOT_UTF8", "the note file is not UTF-8 text", where="cli"),
    ErrorCode("NO_FHIR", "`scribe check --fhir` without the service package (scribe_server)", where="cli"),
    ErrorCode("BAD_CASE", "a --jsonl line is not a JSON object (the run goes on)", where="cli"),
    ErrorCode("BAD_NCCI_FILE", "the CMS PTP file to import is not in the published layout", where="cli"),
    # retrospective audits (`scribe audit`: one line on stderr and exit 2 before any work; row errors go on)
    ErrorCode("AUDIT_ERROR", "the audit cannot start or go on", where="cli"),
    ErrorCode("SCHEMA_MISMATCH", "the audit's input lacks the case fields (text, cpt or lines) or a column has "
              "another type", where="cli"),
    ErrorCode("RESULTS_MISMATCH", "the results folder holds another audit (another input, partitioning or "
              "lexicons)", where="cli"),
    ErrorCode("RESULTS_LOCKED", "another `scribe audit` is writing the results folder", where="cli"),
    ErrorCode("BAD_RESULTS", "the folder is not an audit's results, or the audit is not finished", where="cli"),
    ErrorCode("AUDIT_INCOMPLETE", "partitions were left uncommitted (run the command again to redo them)",
              where="cli"),
    ErrorCode("AUDIT_LOADED", "these audit results are already in the database", where="cli"),
    ErrorCode("NO_ENGINE", "the distributed engine asked for (Ray, PySpark) is not installed", where="cli"),
    ErrorCode("BAD_DATE", "an audited case's date is not a date (an error row; the audit goes on)", where="cli"),
    ErrorCode("CHECK_FAILED", "the engine failed on an audited case (an error row, logged without note text)",
              where="cli"),
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
    ErrorCode("ORIGIN_NOT_ALLOWED", "a page of another site (its Origin) may not act with the session cookie, "
              "nor open the dictation socket (closed with 4003)", (403,), "http"),
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
    ErrorCode("ANSWER_REQUIRED", "answering a scribe's query needs the answer's text", (422,), "http"),
    # FHIR in (`scribe check --fhir`, POST /api/fhir/check)
    ErrorCode("BAD_BUNDLE", "the FHIR Bundle is not JSON or not a usable Bundle", (422,), "http"),
    ErrorCode("NO_NOTE", "the Bundle has no DocumentReference with the note", (422,), "http"),
    ErrorCode("NOTE_NOT_TEXT", "the note's attachment is not text in the Bundle (another type, or a URL)", (422,),
              "http"),
    # the CDS Hooks service (a CDS client's JWT, answered 401; the hook call and its feedback)
    ErrorCode("WRONG_HOOK", "the CDS service was called with another hook than the one it answers", (400,), "http"),
    ErrorCode("UNKNOWN_CARD", "feedback names no card this service answered to this client", (404,), "http"),
    ErrorCode("BAD_JWT", "the CDS client's bearer token is not a compact JWS with a JSON payload, or too large",
              (401,), "http"),
    ErrorCode("BAD_JWT_ALG", "the JWT's alg is not an accepted asymmetric signature", (401,), "http"),
    ErrorCode("UNKNOWN_ISSUER", "the JWT's issuer is not a registered CDS client", (401,), "http"),
    ErrorCode("UNLISTED_JKU", "the JWT's jku is not on its client's allow-list", (401,), "http"),
    ErrorCode("NO_JWKS", "no JWK Set is configured for the client and the JWT names none (jku)", (401,), "http"),
    ErrorCode("JWKS_UNAVAILABLE", "the JWK Set that signs the JWT (CDS) or the id_token (SMART) could not be read",
              (401, 502), "http"),
    ErrorCode("BAD_SIGNATURE", "the JWT's signature does not verify", (401,), "http"),
    ErrorCode("JWT_EXPIRED", "the CDS client's JWT expired", (401,), "http"),
    ErrorCode("BAD_CLAIMS", "the JWT's claims do not hold (iss, aud, exp, iat, jti, sub, lifetime)", (401,), "http"),
    ErrorCode("JWT_REPLAYED", "the JWT (its jti) was already used", (401,), "http"),
    # the SMART App Launch (an error page with the code)
    ErrorCode("SMART_NOT_CONFIGURED", "no SMART client is configured for launches", (404,), "http"),
    ErrorCode("NO_ISS", "the launch names no FHIR server (iss)", (400,), "http"),
    ErrorCode("UNKNOWN_ISS", "the launch's FHIR server (iss) is not a configured EHR", (403,), "http"),
    ErrorCode("DISCOVERY_FAILED", "the EHR's SMART configuration could not be read", (502,), "http"),
    ErrorCode("NO_PKCE", "the EHR's authorization server does not offer PKCE S256", (502,), "http"),
    ErrorCode("AUTHORIZATION_DENIED", "the EHR's authorization server refused the sign-in", (401,), "http"),
    ErrorCode("BAD_CALLBACK", "the redirect back from the EHR lacks its code or state", (400,), "http"),
    ErrorCode("CODE_REUSED", "the authorization code was already exchanged", (400,), "http"),
    ErrorCode("STATE_MISMATCH", "the state coming back is not the one this browser started with (or expired)",
              (400,), "http"),
    ErrorCode("CODE_REJECTED", "the EHR refused the authorization code (invalid_grant)", (401,), "http"),
    ErrorCode("TOKEN_EXCHANGE_FAILED", "the EHR's token endpoint did not answer, refused or gave no Bearer token",
              (401, 502), "http"),
    ErrorCode("NO_ID_TOKEN", "the token response has no id_token", (401,), "http"),
    ErrorCode("TOKEN_REJECTED", "the EHR's FHIR server refused the access token it had issued for the launch",
              (401,), "http"),
    ErrorCode("BAD_ID_TOKEN", "the id_token does not verify", (401,), "http"),
    ErrorCode("WRONG_AUD", "the id_token is for another client (aud)", (401,), "http"),
    ErrorCode("WRONG_ISS", "the id_token comes from another issuer", (401,), "http"),
    ErrorCode("NO_FHIR_USER", "the id_token names no fhirUser", (401,), "http"),
    ErrorCode("NOT_A_PRACTITIONER", "the signed-in EHR user is not a Practitioner", (403,), "http"),
    ErrorCode("NO_ACCOUNT", "the EHR user maps to no scribe account", (403,), "http"),
    # the dictation socket (an `error` message; the connection stays)
    ErrorCode("INVALID_JSON", "the frame is not JSON", where="ws"),
    ErrorCode("BINARY_FRAME", "a binary frame (messages are JSON text frames)", where="ws"),
    ErrorCode("MESSAGE_TOO_LARGE", "the frame is over the configured message size", where="ws"),
    ErrorCode("TOO_MANY_CONNECTIONS", "the address or the token holds its cap of open sockets (closed with 4429)",
              where="ws"),
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
    ErrorCode("DICTATION_DISCARDED", "the dictation was discarded; it cannot be resumed", where="ws"),
    ErrorCode("RESUME_FAILED", "the stored dictation could not be replayed", where="ws"),
    ErrorCode("STORAGE_UNAVAILABLE", "the database did not take the change; send it again", where="ws"),
    ErrorCode("BUSY", "the dictation is being changed by another connection; send it again", where="ws"),
    ErrorCode("DEMO_CHANGED", "an interrupted demo dictation does not match its text", where="cli"),
)

#: every error code, declared once: code -> ErrorCode
CATALOGUE: dict[str, ErrorCode] = {e.code: e for e in _CODES}
