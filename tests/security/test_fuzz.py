"""Protocol fuzz (issue 14): at least 20,000 mutated protocol messages (fields deleted,
wrong types, huge numbers, odd unicode, deep nesting, broken JSON, binary and oversized
frames) over real WebSockets on loopback against a real `scribe serve` (SQLite). Every
message is answered exactly once, in order; no answer is INTERNAL_ERROR and the server
logs no error or traceback; what was refused changed nothing: at checkpoints and at the
end, each dictation resumed on another connection equals the last state that was
accepted for it. The figures go in the README ("Reliability")."""
from __future__ import annotations

import collections
import json
import random
import threading
import time

import pytest

from .conftest import start_live

CONNECTIONS = 4
MESSAGES_PER_CONNECTION = 6_000          # 24,000 in all
WINDOW = 12                              # messages in flight per connection (answers come in order)
CHECK_EVERY = 1_250
SEED = 14
NOTE = ("EXAM: Lumbar spine, 3 views. Indication: low back pain after a fall, rule out fracture. "
        "Technique: AP, lateral and coned lateral views. Comparison: none. Findings: Normal alignment. "
        "No fracture. Impression: No acute abnormality. Electronically signed by Lee Park, MD. ").split(" ")
CPTS = ["72100", "72110", "72040", "72120", "99999", "7210", "72100X"]
ICDS = ["M54.50", "M54.5", "S32.000A", "Z99.999", "m54.50", ""]
ODD = ["\u202e", "\ufeff", "\u0000", "\u200d", "e\u0301", "\U0001d518\U0001d52b", "\U0001f469\u200d\U0001f52c",
       "\uffff", "\U0010ffff", "\u2028", "Ω" * 300, "ｆｕｌｌ", "\t\r\n", "'; DROP TABLE dictations; --"]
NUMBERS = [0, -1, 1, 2 ** 31, 2 ** 53, 2 ** 63, 2 ** 64 - 1, 10 ** 30, -(10 ** 30), 1e308, -1e-308, 0.5, -0.0]
TYPES = ["start", "segment", "edit", "context", "resume", "watch", "unwatch", "SEGMENT", "segment ", "", "state",
         "error", "finalise", "\u0000segment", "s\u0301egment", "🙂"]


def deep(levels: int, leaf=1):
    value = leaf
    for i in range(levels):
        value = [value] if i % 2 else {"a": value}
    return value


def wrong_value(rng: random.Random):
    pick = rng.randrange(9)
    if pick == 0:
        return rng.choice(NUMBERS)
    if pick == 1:
        return rng.choice([None, True, False])
    if pick == 2:
        return rng.choice(ODD) * rng.choice([1, 3, 50])
    if pick == 3:
        return deep(rng.choice([5, 100, 300, 450]))
    if pick == 4:
        return rng.choice([[], {}, [1, "a", None], {"cpt": ["72100"]}])
    if pick == 5:
        return "x" * rng.choice([0, 1, 65, 5000])
    if pick == 6:
        return [rng.choice(CPTS) for _ in range(rng.randrange(4))]
    if pick == 7:
        return {"cpt": wrong_value_shallow(rng), "icd10": wrong_value_shallow(rng), "site": rng.choice(
            ["office", "facility", "home", 3, None])}
    return rng.choice(ODD) + rng.choice(NOTE)


def wrong_value_shallow(rng: random.Random):
    return rng.choice([None, 1, "72100", ["72100"], [rng.choice(CPTS)], [None], {"a": 1}, rng.choice(ODD)])


class Generator:
    """Base messages of the connection's dictation, then 1-3 mutations each."""

    def __init__(self, rng: random.Random, name: str):
        self.rng, self.name, self.seq, self.final_length, self.refs = rng, name, 1, 0, [f"{name}-0"]

    def base(self) -> dict:
        rng = self.rng
        kind = rng.choices(["segment", "edit", "context", "resume", "watch", "unwatch", "start"],
                           [50, 12, 10, 8, 6, 4, 10])[0]
        if kind == "segment":
            self.seq += rng.choice([1, 1, 1, 2, 0, -1])
            return {"type": "segment", "seq": self.seq, "text": " ".join(rng.sample(NOTE, 4)) + " ",
                    "final": rng.random() < 0.6}
        if kind == "edit":
            start = rng.randrange(self.final_length + 2)
            return {"type": "edit", "start": start, "end": start + rng.randrange(4), "text": rng.choice(NOTE)}
        if kind == "context":
            return {"type": "context", "encounter": {"cpt": [rng.choice(CPTS)], "icd10": [rng.choice(ICDS)],
                                                      "site": rng.choice(["office", "facility"]), "provider": "Dr Lee"}}
        if kind in ("resume", "watch"):
            return {"type": kind, "dictation_id": rng.choice(self.refs + ["nobody", "fz-other-0"])}
        if kind == "unwatch":
            return {"type": "unwatch"}
        ref = f"{self.name}-{len(self.refs)}" if rng.random() < 0.5 else rng.choice(self.refs)
        return {"type": "start", "dictation_id": ref, "encounter": {"cpt": [rng.choice(CPTS)],
                                                                      "icd10": [rng.choice(ICDS)]}}

    def mutate(self, msg: dict):
        rng = self.rng
        for _ in range(rng.choice([1, 1, 2, 3])):
            if not isinstance(msg, dict):
                break
            op = rng.choices(range(8), [3, 4, 4, 2, 2, 1, 2, 1])[0]
            keys = list(msg)
            if op == 0 and keys:
                del msg[rng.choice(keys)]                                     # a field deleted
            elif op in (1, 2) and keys:
                msg[rng.choice(keys)] = wrong_value(rng)                      # a wrong type / value
            elif op == 3:
                msg["type"] = rng.choice(TYPES)
            elif op == 4:
                msg[rng.choice(["extra", "explain", "seq", "final", "\u0000", "type\u200d"])] = wrong_value(rng)
            elif op == 5:
                msg = rng.choice([[msg], {"message": msg}, deep(rng.choice([10, 400]), msg)])   # nested
            elif op == 6 and "encounter" in msg and isinstance(msg["encounter"], dict):
                enc = msg["encounter"]
                enc[rng.choice(["cpt", "icd10", "modifiers", "site", "provider", "lines"])] = wrong_value(rng)
            elif op == 7:
                return rng.choice(NUMBERS + [None, "segment", [], True])         # not an object at all
        if isinstance(msg, dict) and msg.get("type") == "finalize":
            msg["type"] = "finalise"
        return msg

    def frame(self) -> str | bytes:
        """One frame: a mutated message as JSON, or (1 in 8) broken JSON or an odd frame."""
        rng = self.rng
        msg = self.mutate(self.base())
        text = json.dumps(msg, ensure_ascii=rng.random() < 0.5)
        roll = rng.random()
        if roll < 0.02:
            return text.encode()                                              # binary frame
        if roll < 0.03:
            return json.dumps({"type": "segment", "seq": 1, "text": "x" * 70_000, "final": True})   # oversized
        if roll < 0.13:
            cut = rng.randrange(len(text) + 1)
            broken = rng.choice([text[:cut], text[:cut] + rng.choice(["\\ud800", "\\udfff\\ud800", "NaN", "1" * 400,
                                                                      "[" * 2000, "}", "\x00", "\\u00"]) + text[cut:],
                                 "[" * rng.choice([1025, 5000, 30000]) + "]" * 10, "", " ", "nul", "{\"type\": "
                                 "\"segment\", \"seq\": 1e999}", "{\"type\": \"segment\", \"seq\": " + "9" * 500 + "}"])
            return broken
        return text

    def accepted(self, answer: dict) -> None:
        if answer.get("type") == "state":
            self.final_length = answer.get("final_length", self.final_length)
            if isinstance(answer.get("seq"), int):
                self.seq = max(self.seq, answer["seq"])
            if answer.get("dictation_id") not in self.refs:
                self.refs.append(answer["dictation_id"])


def comparable(state: dict) -> dict:
    return {"seq": state.get("seq"), "final_length": state.get("final_length"), "facts": state.get("facts"),
            "gaps": [(g["code"], g.get("cpt"), g.get("message")) for g in state.get("gaps", [])]}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    live = start_live(tmp_path_factory.mktemp("fuzz"), SCRIBE_RATE_PER_SECOND=1_000_000, SCRIBE_RATE_BURST=1_000_000)
    yield live
    live.server.stop()
    live.close()


def run_connection(live, index: int, token: str, out: dict) -> None:
    from websockets.sync.client import connect

    rng = random.Random(SEED * 100 + index)
    gen = Generator(rng, f"fz{index}")
    model: dict[str, dict] = {}              # dictation ref -> comparable(last accepted state)
    finalized: set[str] = set()
    codes: collections.Counter = collections.Counter()
    sent = answered = 0
    url = f"ws://127.0.0.1:{live.server.port}/ws/dictation"
    headers = {"Authorization": f"Bearer {token}"}

    def take(answer_text: str) -> None:
        nonlocal answered
        answer = json.loads(answer_text)
        answered += 1
        assert isinstance(answer, dict) and "pushed" not in answer, answer
        kind = answer.get("type")
        assert kind in ("state", "error", "finalized", "unwatched"), answer
        codes[answer.get("code", kind)] += 1
        assert answer.get("code") != "INTERNAL_ERROR", answer
        if kind == "state":
            model[answer["dictation_id"]] = comparable(answer)
        elif kind == "finalized":
            finalized.add(answer["dictation_id"])
        gen.accepted(answer)

    def checkpoint() -> None:
        with connect(url, additional_headers=headers, open_timeout=10, max_size=None) as check:
            for ref, expected in model.items():
                if ref in finalized:
                    continue
                check.send(json.dumps({"type": "resume", "dictation_id": ref}))
                got = json.loads(check.recv(timeout=30))
                assert got.get("type") == "state" and comparable(got) == expected, (ref, got.get("code"))
        out.setdefault("checks", 0)
        out["checks"] += len(model) - len(finalized & set(model))

    with connect(url, additional_headers=headers, open_timeout=10, max_size=None) as ws:
        ws.send(json.dumps({"type": "start", "dictation_id": f"fz{index}-0",
                            "encounter": {"cpt": ["72100"], "icd10": ["M54.50"]}}))
        take(ws.recv(timeout=30))
        in_flight = 0
        while sent < MESSAGES_PER_CONNECTION:
            while in_flight < WINDOW and sent < MESSAGES_PER_CONNECTION:
                ws.send(gen.frame())
                sent += 1
                in_flight += 1
                if sent % CHECK_EVERY == 0:
                    break
            while in_flight > (0 if sent % CHECK_EVERY == 0 else WINDOW // 2):
                take(ws.recv(timeout=60))
                in_flight -= 1
            if sent % CHECK_EVERY == 0:
                checkpoint()
        while in_flight:
            take(ws.recv(timeout=60))
            in_flight -= 1
        with pytest.raises(TimeoutError):                     # nothing more than one answer each
            ws.recv(timeout=0.3)
    checkpoint()
    out.update(sent=sent, answered=answered - 1, codes=codes, dictations=len(model))


def test_fuzz_twenty_thousand_mutated_messages(fuzz_server):
    live = fuzz_server
    tokens = [live.token(name=f"dr_fuzz_{i}")[0] for i in range(CONNECTIONS)]
    results = [dict() for _ in range(CONNECTIONS)]
    errors: list[BaseException] = []

    def work(i):
        try:
            run_connection(live, i, tokens[i], results[i])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    sent = sum(r["sent"] for r in results)
    answered = sum(r["answered"] for r in results)
    codes = sum((r["codes"] for r in results), collections.Counter())
    assert sent == answered >= 20_000
    live.server._drain()
    log = "".join(live.server.output)
    assert " ERROR " not in log and "Traceback" not in log and "internal error" not in log, log[-3000:]
    refused = sum(n for c, n in codes.items() if c not in ("state", "finalized", "unwatched"))
    print(f"\nfuzz: {sent} messages over {CONNECTIONS} connections in {seconds:.1f} s "
          f"({sent / seconds:.0f}/s); answered {answered}; refused {refused}; accepted {codes['state']}; "
          f"checkpoint resumes {sum(r.get('checks', 0) for r in results)}; "
          f"dictations {sum(r['dictations'] for r in results)}")
    print("fuzz answers:", dict(codes.most_common()))
    assert refused > sent // 2 and codes["state"] > 1000       # both sides of the protocol were exercised
