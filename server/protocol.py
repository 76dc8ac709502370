"""The streaming protocol of ``/ws/dictation`` (see the README, "Live dictation"), independent of
the transport: a ``Connection`` turns one received frame into exactly one answer.

Frame checks that cost nothing (binary, size, rate) run on the event loop through
``Connection.precheck``; ``Connection.handle`` (JSON decoding, the engine's session,
the database) runs in a worker thread. The analysis itself lives in the engine's
session; the hub persists; this module only routes messages and shapes answers.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

import orjson

from scribe import InputError

from .access import MESSAGES as ACCESS_MESSAGES
from .hub import DictationHub, ProtocolError
from .store import Principal

log = logging.getLogger("scribe.server.protocol")
CLIENT_TYPES = ("start", "segment", "edit", "context", "resume", "finalize", "watch", "unwatch")


def dumps(message: dict) -> str:
    """One compact JSON frame. orjson: a state carries every indication of the note, and
    encoding it with the standard library would cost more per message as the note grows."""
    return orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS).decode()


def error(code: str, message: str, *, seq: Any = None, **details: Any) -> dict:
    """An ``error`` answer; ``details`` say where (``line`` and ``cpt`` of a claim line at fault)."""
    out: dict[str, Any] = {"type": "error", "code": code, "message": message, **details}
    if isinstance(seq, int) and not isinstance(seq, bool):
        out["seq"] = seq
    return out


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; one token per message."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self.tokens, self.stamp = float(burst), clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Connection:
    def __init__(self, hub: DictationHub, who: Principal, *, max_bytes: int, rate: float, burst: int,
                 push: Callable[[dict], None] | None = None, check: Callable[[Principal], str | None] | None = None):
        self.hub = hub
        self.check = check                     # is the token still valid? None, or the error code
        self.ended: str | None = None          # the code that ended the connection (token revoked/expired)
        self.push = push                       # delivers a message this connection did not ask for
        self.watching: str | None = None
        self.who = who
        self.max_bytes = max_bytes
        self.bucket = TokenBucket(rate, burst)
        self.dictation_id: str | None = None   # the hub's key of the open dictation
        self.ref: str | None = None            # the owner's id for it (what answers show)
        self.watching_ref: str | None = None
        self.finalized: str | None = None      # the dictation this connection finalized last
        self.explain = False                   # traces on states: asked for with "explain": true

    # -- on the event loop ----------------------------------------------------------------
    def precheck(self, text: str | None, data: bytes | None) -> dict | None:
        """An error answer for a frame that must not be processed, else None."""
        if self.ended is not None:
            return error(self.ended, ACCESS_MESSAGES[self.ended])
        if not self.bucket.take():
            return error("RATE_LIMITED", f"more than {self.bucket.rate:g} messages a second (bursts up to "
                         f"{self.bucket.burst:g}); this message was not applied, send it again later")
        if text is None:
            return error("BINARY_FRAME", "binary frames are not accepted; send each message as a JSON text frame")
        if len(text) * 4 > self.max_bytes and len(text.encode("utf-8")) > self.max_bytes:
            return error("MESSAGE_TOO_LARGE", f"a message may have at most {self.max_bytes} bytes; split the text "
                         "into several segments")
        return None

    def close(self) -> None:
        self._attach(None)
        self._unwatch()

    def _unwatch(self) -> None:
        if self.watching is not None and self.push is not None:
            self.hub.unwatch(self.watching, self.push)
        self.watching = None

    # -- in a worker thread ---------------------------------------------------------------
    def handle(self, text: str) -> str:
        """One text frame in, one JSON answer out (never raises)."""
        msg: Any = None
        try:
            ended = self.ended or (self.check(self.who) if self.check is not None else None)
            if ended is not None:       # the token was revoked or expired: nothing more is served
                self.ended = ended
                return dumps(error(ended, ACCESS_MESSAGES[ended]))
            try:
                # orjson: strict JSON (no NaN), no lone surrogates (they could not be stored or
                # sent back), nesting capped at 1024 levels (json.loads would recurse and fail)
                msg = orjson.loads(text)
            except ValueError as exc:
                return dumps(error("INVALID_JSON", f"the frame is not valid JSON ({getattr(exc, 'msg', 'bad text')}"
                                   f" at character {getattr(exc, 'pos', 0)})"))
            if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                return dumps(error("BAD_MESSAGE", "a message must be a JSON object with a string 'type'"))
            return dumps(self._dispatch(msg))
        except InputError as exc:
            return dumps(error(exc.code, exc.message, seq=_seq_of(msg), **exc.details))
        except ProtocolError as exc:
            return dumps(error(exc.code, exc.message, seq=_seq_of(msg)))
        except Exception as exc:  # a bug must not kill the connection (logged, so BLE001 is satisfied)
            log.error("internal error handling a %s message: %s", _type_of(msg), type(exc).__name__,
                      exc_info=log.isEnabledFor(logging.DEBUG))
            if self.dictation_id:    # the session may be half-changed: rebuild it from the database
                self.hub.forget(self.dictation_id)
            return dumps(error("INTERNAL_ERROR", "the server failed on this message; it was not applied"))

    def _dispatch(self, msg: dict) -> dict:
        kind, hub, who = msg["type"], self.hub, self.who
        if kind == "start":
            key, started, state = hub.start(who, msg.get("encounter"), msg.get("dictation_id"))
            self._attach(key, started)
            self.finalized = None
            return self._explained(msg, _state(started, state))
        if kind == "resume":
            key, state = hub.resume(who, msg.get("dictation_id"))
            self._attach(key, msg["dictation_id"])
            self.finalized = None
            return self._explained(msg, _state(msg["dictation_id"], state))
        if kind == "watch":
            if self.push is None:
                return error("UNSUPPORTED", "this connection cannot receive pushed states")
            self._unwatch()
            key, state = hub.watch(who, msg.get("dictation_id"), self.push)
            self.watching, self.watching_ref = key, msg["dictation_id"]
            return {**_state(msg["dictation_id"], state), "watching": True}
        if kind == "unwatch":
            if self.watching is None:
                return error("NOT_WATCHING", "this connection watches no dictation")
            watched = self.watching_ref
            self._unwatch()
            return {"type": "unwatched", "dictation_id": watched}
        if kind not in CLIENT_TYPES:
            return error("UNKNOWN_TYPE", f"unknown message type {kind[:40]!r}; expected one of "
                         f"{', '.join(CLIENT_TYPES)}")
        did = self.dictation_id
        ref = self.ref
        if did is None and self.finalized is not None:
            return error("DICTATION_FINALIZED", f"dictation {self.finalized} is finalized; send 'start' to begin "
                         "a new one", seq=_seq_of(msg))
        if did is None:
            return error("NO_DICTATION", f"'{kind}' needs an open dictation: send 'start' or 'resume' first",
                         seq=_seq_of(msg))
        if kind == "segment":
            state = hub.segment(who, did, msg.get("seq"), msg.get("text"), msg.get("final"))
        elif kind == "edit":
            state = hub.edit(who, did, msg.get("start"), msg.get("end"), msg.get("text"))
        elif kind == "context":
            state = hub.context(who, did, msg.get("encounter"))
        else:
            done = hub.finalize(who, did)
            self._attach(None)
            self.finalized = ref
            answer = {"type": "finalized", **done}
            hub.publish(did, {**answer, "pushed": True}, exclude=self.push)
            return answer
        answer = _state(ref, state)
        hub.publish(did, {**answer, "pushed": True}, exclude=self.push)
        return self._explained(msg, answer)

    def _explained(self, msg: dict, answer: dict) -> dict:
        """With ``"explain": true`` (sticky for the connection until a message says false), a state
        carries a ``trace`` on each gap and indication; off by default, so the wire stays small."""
        if "explain" in msg:
            self.explain = msg.get("explain") is True
        if not self.explain or answer.get("type") != "state" or not self.dictation_id:
            return answer
        traces = self.hub.traces(self.who, self.dictation_id)
        gaps = [{**g, "trace": t} for g, t in zip(answer.get("gaps", []), traces["gaps"])]
        indications = [{**i, "trace": t} for i, t in zip(answer.get("indications", []), traces["indications"])]
        return {**answer, "gaps": gaps, "indications": indications}

    def _attach(self, dictation_id: str | None, ref: str | None = None) -> None:
        if self.dictation_id is not None:
            self.hub.attach(self.dictation_id, -1)
        self.dictation_id, self.ref = dictation_id, ref
        if dictation_id is not None:
            self.hub.attach(dictation_id, +1)


def _state(dictation_id: str | None, state: dict) -> dict:
    return {"type": "state", "dictation_id": dictation_id, **state}


def _seq_of(msg: Any) -> Any:
    return msg.get("seq") if isinstance(msg, dict) and msg.get("type") == "segment" else None


def _type_of(msg: Any) -> str:
    kind = msg.get("type") if isinstance(msg, dict) else None
    return kind if kind in CLIENT_TYPES else "malformed"
