"""Service benchmarks: prints numbers; it is not a test.

    .venv/bin/python benchmarks/bench_server.py            # everything, full length (about 6-8 minutes)
    .venv/bin/python benchmarks/bench_server.py --quick    # everything, short (about 1 minute)
    .venv/bin/python benchmarks/bench_server.py --only segment memory
    .venv/bin/python benchmarks/bench_server.py --only load --clients 300 --duration 120
    .venv/bin/python benchmarks/bench_server.py --only ramp --ramp-start 300 --ramp-step 300 --ramp-duration 30

Sections:
  segment  per final segment of 10 words on a 50-word and a 5,000-word note: server time
           in-process (JSON in, engine session, database commit, JSON out; the engine's
           share shown apart) and the round trip over loopback to a real `scribe serve`.
           The note is kept at its size: each measured segment is removed again by an
           (unmeasured) edit, and every segment has new words (no sentence-cache hits).
  load     N clients (default 300), each a dictation sending a 10-word final segment
           every 4 s for D seconds (default 120), against `scribe serve` on 127.0.0.1:
           errors, round-trip p50/p95/p99/max, server CPU and memory.
  ramp     the same load with more clients per step until p99 crosses 100 ms.
  memory   resident memory per open dictation (in-process, notes of 50, 500, 5,000 words).

The clients of load and ramp run in processes of their own (``benchmarks/loadgen.py``,
``--load-procs``, default 2), the server in another; all on the same 2-core machine.
Several worker processes on PostgreSQL: ``benchmarks/bench_workers.py``.
Notes are words from the MTSamples spine corpora (../shared/corpora), else the examples.
The server uses a SQLite file in a temp folder unless --db names another database.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))   # loadgen
ENCOUNTER = {"cpt": ["72100"], "icd10": ["M54.50"], "site": "office", "provider": "Dr Bench"}


# -- material ---------------------------------------------------------------------------------
from loadgen import corpus_words  # noqa: E402  (one reader of the corpus for every benchmark)


class Words:
    """Consecutive slices of the corpus, never the same twice (cycling with a suffix)."""

    def __init__(self, words: list[str]):
        self.words, self.pos, self.round = words, 0, 0

    def take(self, n: int) -> str:
        if self.pos + n > len(self.words):
            self.pos, self.round = 0, self.round + 1
        out = self.words[self.pos:self.pos + n]
        self.pos += n
        if self.round:
            out = [f"{w}{self.round}" if w.isalpha() else w for w in out]
        return " ".join(out) + " "


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def fmt(values: list[float]) -> str:
    return (f"p50 {pct(values, 50):6.2f} ms  p99 {pct(values, 99):6.2f} ms  max {max(values):6.2f} ms  "
            f"mean {statistics.fmean(values):6.2f} ms  (n={len(values)})")


# -- the server under test -------------------------------------------------------------------------
class Server:
    def __init__(self, db: str | None, tmp: Path, extra_env: dict | None = None):
        self.tmp = tmp
        self.db = db or f"sqlite:///{tmp / 'bench.sqlite'}"
        self.port = _free_port()
        # one token and one address hold every simulated dictation: lift the connection caps
        env = {**os.environ, "SCRIBE_DATA_DIR": str(tmp), "SCRIBE_LOG_LEVEL": "WARNING",
               "SCRIBE_MAX_CONNECTIONS_PER_TOKEN": "100000", "SCRIBE_MAX_CONNECTIONS_PER_ADDRESS": "100000",
               **(extra_env or {})}
        env.pop("SCRIBE_DB_URL", None)
        self.token = _make_token(self.db, env)
        self.proc = subprocess.Popen([sys.executable, "-m", "scribe.cli", "serve", "--port", str(self.port),
                                      "--db", self.db, "--log-level", "WARNING"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait()

    def _wait(self) -> None:
        import urllib.request

        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit("scribe serve exited")
                time.sleep(0.1)
        raise SystemExit("scribe serve did not start")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/dictation"

    def rss_mb(self) -> float:
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def cpu_seconds(self) -> float:
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_token(db: str, env: dict) -> str:
    out = subprocess.run([sys.executable, "-m", "scribe.cli", "token", "create", "--role", "physician", "--name",
                          "bench", "--db", db], env=env, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[-1]


def _inproc_hub(name: str, **hub_options):
    """The engine, warmed as `scribe serve` warms it at start, and a dictation hub on a fresh
    SQLite file, for the in-process sections; and the physician they dictate as."""
    from scribe import build_engine
    from scribe_server.hub import DictationHub
    from scribe_server.store import Principal, Store

    engine = build_engine()
    engine.warm()   # the tokenizer is not loaded during a measured segment
    store = Store(f"sqlite:///{Path(tempfile.mkdtemp(prefix='scribe-bench-')) / (name + '.sqlite')}")
    store.migrate()
    return engine, DictationHub(engine, store, **hub_options), Principal(1, "bench", "physician")


# -- section: per-segment cost -------------------------------------------------------------------
def bench_segment(args, words: Words) -> None:
    print("\n== per-segment cost (10-word final segments; note kept at its size) ==")
    from scribe import Encounter
    from scribe_server.protocol import Connection

    engine, hub, who = _inproc_hub("inproc")
    results = {}
    for size in (50, 5000):
        conn = Connection(hub, who, max_bytes=10**7, rate=1e9, burst=10**9)
        conn.handle(json.dumps({"type": "start", "encounter": ENCOUNTER}))
        seq = 1
        conn.handle(json.dumps({"type": "segment", "seq": seq, "text": words.take(size), "final": True}))
        total, engine_only, sizes = [], [], []
        session = hub._get(who, conn.dictation_id).session
        for _ in range(args.segments):
            seq += 1
            text = words.take(10)
            length = len(session.final_text)
            msg = json.dumps({"type": "segment", "seq": seq, "text": text, "final": True})
            t0 = time.perf_counter()
            answer = conn.handle(msg)
            total.append(1000 * (time.perf_counter() - t0))
            sizes.append(len(answer))
            conn.handle(json.dumps({"type": "edit", "start": length, "end": length + len(text), "text": ""}))
            # the engine's share, on a scratch session of the same note
        scratch = engine.new_session(Encounter.from_dict(ENCOUNTER))
        scratch.segment(1, session.final_text, True)
        for i in range(args.segments):
            text = words.take(10)
            length = len(scratch.final_text)
            t0 = time.perf_counter()
            scratch.segment(i + 2, text, True)
            engine_only.append(1000 * (time.perf_counter() - t0))
            scratch.edit(length, length + len(text), "")
        results[size] = (total, engine_only)
        print(f"{size:>5}-word note, server time in-process: {fmt(total)}")
        print(f"{'':>5}       engine session share:     {fmt(engine_only)}   state frame {statistics.fmean(sizes) / 1024:.1f} KiB")
    ratio = statistics.fmean(results[5000][0]) / statistics.fmean(results[50][0])
    eng_ratio = statistics.fmean(results[5000][1]) / statistics.fmean(results[50][1])
    print(f"cost ratio 5,000 / 50 words (mean): server {ratio:.2f}x, engine alone {eng_ratio:.2f}x (target <= 2x)")
    hub.store.dispose()

    server = Server(args.db, Path(tempfile.mkdtemp(prefix="scribe-bench-")),
                    {"SCRIBE_RATE_PER_SECOND": "100000", "SCRIBE_RATE_BURST": "100000"})
    try:
        rtts = asyncio.run(_rtt(server, words, args.segments))
    finally:
        server.stop()
    for size, values in rtts.items():
        print(f"{size:>5}-word note, loopback round trip:    {fmt(values)}")
    print(f"round-trip p99 target < 10 ms: 50 words {'met' if pct(rtts[50], 99) < 10 else 'NOT met'}, "
          f"5,000 words {'met' if pct(rtts[5000], 99) < 10 else 'NOT met'}")


async def _rtt(server: Server, words: Words, n: int) -> dict[int, list[float]]:
    import websockets

    out = {}
    for size in (50, 5000):
        async with websockets.connect(server.url, additional_headers={"Authorization": f"Bearer {server.token}"},
                                      max_size=2**24) as ws:
            await ws.send(json.dumps({"type": "start", "encounter": ENCOUNTER}))
            await ws.recv()
            await ws.send(json.dumps({"type": "segment", "seq": 1, "text": words.take(size), "final": True}))
            state = json.loads(await ws.recv())
            length = state["final_length"]
            values = []
            for i in range(n):
                text = words.take(10)
                t0 = time.perf_counter()
                await ws.send(json.dumps({"type": "segment", "seq": i + 2, "text": text, "final": True}))
                answer = await ws.recv()
                values.append(1000 * (time.perf_counter() - t0))
                assert answer.startswith('{"type":"state"'), answer[:200]
                await ws.send(json.dumps({"type": "edit", "start": length, "end": length + len(text), "text": ""}))
                await ws.recv()
            out[size] = values
    return out


# -- sections: load and ramp ------------------------------------------------------------------------
def _load(server: Server, clients: int, duration: float, period: float, procs: int) -> dict:
    """Every client connected and its dictation opened (not measured), then ``duration`` s of
    load from ``procs`` processes of the load generator (``benchmarks/loadgen.py``)."""
    from loadgen import Load, run

    window: dict = {}

    def started() -> None:
        window.update(rss=server.rss_mb(), cpu=server.cpu_seconds(), t=time.monotonic())

    r = run(Load(port=server.port, tokens=[server.token], clients=clients, duration=duration, period=period,
                 procs=procs, per_address=10**6), on_start=started)
    elapsed = time.monotonic() - window.get("t", time.monotonic() - duration)
    return {"clients": clients, "lat": r.latencies, "errors": r.errors, "rss_start": window.get("rss", 0.0),
            "rss_end": server.rss_mb(), "cpu": (server.cpu_seconds() - window.get("cpu", 0.0)) / elapsed}


def _report_load(r: dict) -> None:
    lat = r["lat"]
    print(f"{r['clients']:>5} clients: {len(lat)} segments, {len(r['errors'])} errors; round trip "
          f"p50 {pct(lat, 50):.1f} ms  p95 {pct(lat, 95):.1f} ms  p99 {pct(lat, 99):.1f} ms  max {max(lat or [0]):.1f} ms;"
          f" server CPU {100 * r['cpu']:.0f}% of a core, RSS {r['rss_start']:.0f} -> {r['rss_end']:.0f} MB")
    for e in sorted(set(r["errors"]))[:3]:
        print(f"      error: {e}")


def bench_load(args, corpus: list[str]) -> None:
    print(f"\n== load: {args.clients} clients, a 10-word segment every {args.period:g} s each, "
          f"for {args.duration:g} s ==")
    server = Server(args.db, Path(tempfile.mkdtemp(prefix="scribe-bench-")), args.env)
    try:
        r = _load(server, args.clients, args.duration, args.period, args.load_procs)
    finally:
        server.stop()
    _report_load(r)
    ok = not r["errors"] and pct(r["lat"], 99) < 50
    print(f"target (no errors, p99 < 50 ms): {'met' if ok else 'NOT met'}")


def bench_ramp(args, corpus: list[str]) -> None:
    print(f"\n== ramp: clients from {args.ramp_start} by {args.ramp_step}, {args.ramp_duration:g} s a step, "
          f"until p99 > 100 ms ==")
    clients, last_ok = args.ramp_start, None
    while clients <= args.ramp_max:
        server = Server(args.db, Path(tempfile.mkdtemp(prefix="scribe-bench-")), args.env)
        try:
            r = _load(server, clients, args.ramp_duration, args.period, args.load_procs)
        finally:
            server.stop()
        _report_load(r)
        if pct(r["lat"], 99) > 100 or r["errors"]:
            print(f"p99 crosses 100 ms between {last_ok or 0} and {clients} simultaneous dictations")
            return
        last_ok, clients = clients, clients + args.ramp_step
    print(f"p99 stayed under 100 ms up to {last_ok} simultaneous dictations (raise --ramp-max)")


# -- section: memory -------------------------------------------------------------------------
def bench_memory(args, words: Words) -> None:
    print("\n== memory per open dictation (in-process, resident set growth / dictations) ==")
    import psutil

    _, hub, who = _inproc_hub("mem", max_cached=10**6)
    proc = psutil.Process()
    warm, _ = hub.start(who, ENCOUNTER)
    hub.segment(who, warm, 1, words.take(500), True)
    for size, count in ((50, args.mem_dictations), (500, args.mem_dictations), (5000, max(10, args.mem_dictations // 10))):
        gc.collect()
        before = proc.memory_info().rss
        for _ in range(count):
            did, _ = hub.start(who, ENCOUNTER)
            for seq, i in enumerate(range(0, size, 10), 1):       # dictated in 10-word segments
                hub.segment(who, did, seq, words.take(min(10, size - i)), True)
        gc.collect()
        grown = proc.memory_info().rss - before
        print(f"{size:>5}-word dictations: {count} open, {grown / count / 1024:.0f} KiB each "
              f"(includes their sentences in the engine's shared cache)")
    hub.store.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short runs of every section (about a minute)")
    p.add_argument("--only", nargs="+", choices=["segment", "load", "ramp", "memory"])
    p.add_argument("--db", help="database URL for the server (default: a SQLite file in a temp folder)")
    p.add_argument("--segments", type=int, default=300, help="measured segments per note size")
    p.add_argument("--clients", type=int, default=300)
    p.add_argument("--duration", type=float, default=120.0, help="seconds of the load section")
    p.add_argument("--period", type=float, default=4.0, help="seconds between a client's segments")
    p.add_argument("--ramp-start", type=int, default=400)
    p.add_argument("--ramp-step", type=int, default=200)
    p.add_argument("--ramp-max", type=int, default=3000)
    p.add_argument("--ramp-duration", type=float, default=30.0)
    p.add_argument("--mem-dictations", type=int, default=200)
    p.add_argument("--load-procs", type=int, default=2, help="processes of the load generator (load, ramp)")
    p.add_argument("--server-env", nargs="*", default=[], metavar="KEY=VALUE",
                   help="settings for the server, e.g. SCRIBE_WORKER_THREADS=2")
    args = p.parse_args()
    args.env = dict(kv.split("=", 1) for kv in args.server_env)
    if args.quick:
        args.segments, args.duration, args.ramp_duration, args.mem_dictations = 100, 15.0, 10.0, 50
    sections = args.only or ["segment", "memory", "load", "ramp"]
    words = corpus_words()
    print(f"scribe service benchmark on {os.cpu_count()} cores; corpus {len(words)} words; "
          f"sections: {', '.join(sections)}")
    if "segment" in sections:
        bench_segment(args, Words(words))
    if "memory" in sections:
        bench_memory(args, Words(words))
    if "load" in sections:
        bench_load(args, words)
    if "ramp" in sections:
        bench_ramp(args, words)


if __name__ == "__main__":
    main()
