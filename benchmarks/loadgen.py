"""The load generator of the service benchmarks: simulated dictations in processes of their own.

    from loadgen import Load, run
    result = run(Load(port=8000, tokens=[...], clients=1000, duration=120, period=4.0, procs=2))

Each of ``procs`` processes (multiprocessing, spawned: no state shared with the caller)
runs an asyncio loop with its share of the clients, so the clients never compete with a
server process for its interpreter lock, nor with each other for one. A client opens a
WebSocket, starts a dictation, waits until every client of every process has, then sends
a 10-word final segment every ``period`` seconds (spread at random over the first period)
for ``duration`` seconds, timing each round trip. Words are consecutive slices of the
MTSamples spine corpus (``../shared/corpora``), else of the shipped examples.

Bounded and local by construction: loopback addresses only (the clients spread over
127.0.0.2-127.0.0.255 as their source addresses, ``per_address`` each, so that the
service's per-address cap can stay at its default), at most ``MAX_CLIENTS`` clients,
``MAX_PROCS`` processes and ``MAX_SECONDS`` of load; every process ends by itself when
the load ends, and is terminated if it has not 60 s later.
"""
from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_CLIENTS, MAX_PROCS, MAX_SECONDS = 20_000, 8, 1800
LOOPBACK = ("127.0.0.1", "localhost", "::1")
ENCOUNTER = {"cpt": ["72100"], "icd10": ["M54.50"], "site": "office", "provider": "Dr Bench"}


@dataclass
class Load:
    port: int
    tokens: list[str]                   # client i uses tokens[i % len(tokens)]
    clients: int
    duration: float
    period: float = 4.0
    procs: int = 2
    words: int = 10                     # per segment
    host: str = "127.0.0.1"
    per_address: int = 250              # clients per source address (127.0.0.2, .3, ...)
    seed: int = 1
    compression: bool = True            # offer permessage-deflate, as browsers do

    def check(self) -> None:
        if self.host not in LOOPBACK:
            raise ValueError(f"the load generator only drives a server on loopback, not {self.host}")
        if not 1 <= self.clients <= MAX_CLIENTS or not 1 <= self.procs <= MAX_PROCS:
            raise ValueError(f"1-{MAX_CLIENTS} clients over 1-{MAX_PROCS} processes")
        if not 0 < self.duration <= MAX_SECONDS or self.period <= 0:
            raise ValueError(f"the load lasts 0-{MAX_SECONDS} s")
        if not self.tokens:
            raise ValueError("no token")


@dataclass
class Result:
    clients: int
    latencies: list[float] = field(default_factory=list)    # ms, every measured segment
    errors: list[str] = field(default_factory=list)
    client_cpu: float = 0.0                                 # seconds of CPU of the client processes


def corpus_words() -> list[str]:
    words: list[str] = []
    for path in sorted((ROOT.parent / "shared" / "corpora").glob("*.jsonl")):
        seen = set()
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                text = json.loads(line)["text"]
                if text not in seen:
                    seen.add(text)
                    words += text.split()
    if not words:
        base = (ROOT / "examples" / "lumbar_flexion_extension.txt").read_text().split()
        words = [f"{w}{i // len(base)}" if w.isalpha() and i % 7 == 0 else w for i, w in enumerate(base * 3000)]
    return words


def run(load: Load, on_start=None) -> Result:
    """Run the load; returns every round trip and error of every client process.
    ``on_start()`` is called when every dictation is open, just before the measured load."""
    load.check()
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    shares = [range(i, load.clients, load.procs) for i in range(load.procs)]
    procs = [ctx.Process(target=_process, args=(load, list(share), ready, go, start_at, results), daemon=True)
             for share in shares if len(share)]
    for p in procs:
        p.start()
    opened = 0
    deadline = time.monotonic() + 300 + load.clients * 0.05
    while opened < load.clients:
        if time.monotonic() > deadline:
            go.set()
            break
        try:
            opened += ready.get(timeout=5)
        except Exception:  # noqa: BLE001 - queue.Empty: check the deadline and processes again
            if not any(p.is_alive() for p in procs):
                break
    if on_start is not None:
        on_start()
    start_at.value = time.time() + 0.5          # every process starts its clock at the same moment
    go.set()
    out = Result(load.clients)
    for _ in procs:
        try:
            lat, errors, cpu = results.get(timeout=load.duration + 2 * load.period + 120)
        except Exception:  # noqa: BLE001 - a process that never reported: counted as an error
            out.errors.append("a load process did not report")
            continue
        out.latencies += lat
        out.errors += errors
        out.client_cpu += cpu
    for p in procs:
        p.join(timeout=60)
        if p.is_alive():
            p.terminate()
    return out


def _process(load: Load, indexes: list[int], ready, go, start_at, results) -> None:
    words = corpus_words()
    lat: list[float] = []
    errors: list[str] = []
    try:
        asyncio.run(_clients(load, indexes, words, ready, go, start_at, lat, errors))
    finally:
        results.put((lat, errors, time.process_time()))


async def _clients(load: Load, indexes, words, ready, go, start_at, lat, errors) -> None:
    loop = asyncio.get_running_loop()
    started: asyncio.Queue = asyncio.Queue()
    clock = {"start": 0.0, "stop": float("inf")}
    begin = asyncio.Event()
    tasks = []
    rng = random.Random(load.seed * 1000 + indexes[0])
    for n, i in enumerate(indexes):
        offset = rng.randrange(0, max(1, len(words) - 4000))
        source = f"127.0.0.{2 + i // load.per_address}" if load.host == "127.0.0.1" else None
        tasks.append(asyncio.create_task(_client(load, load.tokens[i % len(load.tokens)], source,
                                                 words[offset:offset + 4000], lat, errors, started, begin, clock, rng)))
        if n % 25 == 24:
            await asyncio.sleep(0.05)           # do not open every socket in one instant
    count = 0
    for _ in indexes:
        count += await started.get()
        if count % 50 == 0:
            ready.put(50)
    if count % 50:
        ready.put(count % 50)
    await loop.run_in_executor(None, go.wait)
    clock["start"] = start_at.value
    clock["stop"] = start_at.value + load.duration
    begin.set()
    await asyncio.gather(*tasks)


async def _client(load: Load, token: str, source: str | None, words: list[str], lat, errors, started, begin, clock,
                  rng) -> None:
    import websockets

    url = f"ws://{load.host}:{load.port}/ws/dictation"
    try:
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=2**24,
                                      open_timeout=120, ping_interval=None,
                                      compression="deflate" if load.compression else None,
                                      local_addr=(source, 0) if source else None) as ws:
            await ws.send(json.dumps({"type": "start", "encounter": ENCOUNTER}))
            first = await ws.recv()
            if not first.startswith('{"type":"state"'):
                errors.append(first[:120])
            started.put_nowait(1)
            await begin.wait()
            due = clock["start"] + rng.uniform(0, load.period)     # spread the clients over the period
            await asyncio.sleep(max(0.0, due - time.time()))
            seq, pos = 0, 0
            while due <= clock["stop"]:
                seq += 1
                text = " ".join(words[pos:pos + load.words]) + " "
                pos = (pos + load.words) % max(1, len(words) - load.words)
                t0 = time.perf_counter()
                await ws.send(json.dumps({"type": "segment", "seq": seq, "text": text, "final": True}))
                answer = await ws.recv()
                lat.append(1000 * (time.perf_counter() - t0))
                if not answer.startswith('{"type":"state"'):
                    errors.append(answer[:120])
                due += load.period
                await asyncio.sleep(max(0.0, due - time.time()))
    except Exception as exc:  # noqa: BLE001 - counted, reported
        errors.append(f"{type(exc).__name__}: {exc}"[:120])
        started.put_nowait(0)
