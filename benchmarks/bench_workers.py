"""The live service on several worker processes (PostgreSQL): prints numbers; it is not a test.

    .venv/bin/python benchmarks/bench_workers.py                     # load and ramp, 1/2/4 workers (~25 min)
    .venv/bin/python benchmarks/bench_workers.py --quick             # short runs of each (~6 min)
    .venv/bin/python benchmarks/bench_workers.py --only load --workers 2 --clients 1000 --duration 120
    .venv/bin/python benchmarks/bench_workers.py --only ramp --workers 1 2 4 --ramp-start 600 --ramp-step 200
    .venv/bin/python benchmarks/bench_workers.py --only segment --segments 200

Sections:
  load   ``--clients`` simultaneous dictations (default 1,000), each a 10-word final segment
         every 4 s, for ``--duration`` s against ``scribe serve --workers N`` for each N of
         ``--workers``: errors, round trip p50/p95/p99/max, CPU and resident memory of each
         worker (after start-up, with the engine built, and at the end of the load).
  ramp   the same with more dictations per step, a fresh server and database each step,
         until p99 crosses 100 ms (or an error), for each N of ``--workers``.
  segment  server time per 10-word final segment on a 50-word and a 5,000-word note, in
           process, through the hub as a worker runs it on PostgreSQL (JSON in, the locked
           read of the dictation's version, engine session, commit, JSON out), the engine's
           share apart; the ratio of the two (target <= 1.5x). The note is kept at its size:
           each measured segment is removed again by an unmeasured edit; every segment has
           new words (no sentence-cache hits).

The server is `scribe serve --workers N` on 127.0.0.1 with a throwaway PostgreSQL 15
cluster of its own (default durability: fsync and synchronous_commit on, unless
``--synchronous-commit off``; ``--db`` names another database instead). The clients run in ``--load-procs`` processes of their own
(``benchmarks/loadgen.py``), on the same 2-core machine as the server and the database:
every figure includes that sharing. Each 16 dictations share a physician token (the
default per-token cap) and each 250 a source address (127.0.0.2, .3, ...; the default
per-address cap is 256), so the service runs with its default settings.
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import Load, run  # the benchmarks folder is not a package

ENCOUNTER = {"cpt": ["72100"], "icd10": ["M54.50"], "site": "office", "provider": "Dr Bench"}

PG_BIN_DIRS = ("/usr/local/bin", "/usr/lib/postgresql/15/bin")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


# -- the database ------------------------------------------------------------------------------
class Postgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (as the postgres user when run as root)."""

    def __init__(self) -> None:
        initdb, self.pg_ctl = self._binary("initdb"), self._binary("pg_ctl")
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.base = Path(tempfile.mkdtemp(prefix="scribe-bench-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self.port = _free_port()
        self.data = self.base / "data"
        subprocess.run(self.prefix + [initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres"], check=True,
                       capture_output=True, timeout=120)
        subprocess.run(self.prefix + [self.pg_ctl, "-D", str(self.data), "-l", str(self.base / "log"), "-w", "-t", "60",
                                      "-o", f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                                      "-c max_connections=200", "start"], check=True, capture_output=True, timeout=90)
        self.count = 0

    @staticmethod
    def _binary(name: str) -> str:
        found = shutil.which(name) or next((os.path.join(d, name) for d in PG_BIN_DIRS
                                            if os.access(os.path.join(d, name), os.X_OK)), None)
        if found is None:
            raise SystemExit(f"PostgreSQL's {name} not found (or pass --db)")
        return found

    def new_database(self, synchronous_commit: str = "on") -> str:
        import psycopg

        self.count += 1
        name = f"bench_{self.count}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
            if synchronous_commit != "on":    # what an operator may choose for the service's database
                c.execute(f"ALTER DATABASE {name} SET synchronous_commit = {synchronous_commit}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run(self.prefix + [self.pg_ctl, "-D", str(self.data), "-m", "fast", "stop"], capture_output=True,
                       timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


# -- the server ----------------------------------------------------------------------------------
class Service:
    """`scribe serve --workers N` on 127.0.0.1, and the tokens of its simulated physicians."""

    def __init__(self, db: str, workers: int, clients: int, env: dict | None = None):
        from scribe_server.config import Settings
        from scribe_server.store import Store

        self.tmp = Path(tempfile.mkdtemp(prefix="scribe-bench-"))
        self.port, self.workers = _free_port(), workers
        store = Store(Settings(db_url=db).database_url)
        store.migrate()
        self.tokens = [store.create_token(name=f"bench_{i}", role="physician")[0] for i in range(math.ceil(clients / 16))]
        store.dispose()
        run_env = {**os.environ, "SCRIBE_DATA_DIR": str(self.tmp), "PYTHONUNBUFFERED": "1", **(env or {})}
        run_env.pop("SCRIBE_DB_URL", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "scribe.cli", "serve", "--port", str(self.port), "--db", db,
                                      "--workers", str(workers), "--log-level", "INFO"], env=run_env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.ready = 0
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 300
        while self.ready < workers:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("scribe serve did not start:\n" + "".join(self.lines[-30:]))
            time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=10):
            pass

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "scribe service ready" in line:
                self.ready += 1
            if len(self.lines) < 2000:
                self.lines.append(line)

    def worker_processes(self):
        import psutil

        procs = psutil.Process(self.proc.pid).children(recursive=True)
        # uvicorn's spawn start method adds a resource tracker process: not a worker
        return [p for p in procs if "resource_tracker" not in " ".join(p.cmdline())] if self.workers > 1 else \
            [psutil.Process(self.proc.pid)]

    def sample(self) -> list[tuple[float, float]]:
        """(cpu seconds, resident MB) of each worker."""
        out = []
        for p in self.worker_processes():
            t = p.cpu_times()
            out.append((t.user + t.system, p.memory_info().rss / 2**20))
        return out

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- one measured load ------------------------------------------------------------------------------
def measure(db: str, workers: int, clients: int, duration: float, args) -> dict:
    service = Service(db, workers, clients, args.env)
    try:
        at_start = service.sample()
        window: dict = {}

        def started() -> None:          # every dictation open: the measured window begins
            window["sample"], window["t"] = service.sample(), time.monotonic()

        load = Load(port=service.port, tokens=service.tokens, clients=clients, duration=duration, period=args.period,
                    procs=args.load_procs, compression=not args.no_deflate)
        result = run(load, on_start=started)
        elapsed = time.monotonic() - window.get("t", time.monotonic() - duration)
        at_end = service.sample()
        load_avg = os.getloadavg()[0]
    finally:
        service.stop()
    begin = window.get("sample", at_start)
    cpu = [(e[0] - s[0]) / elapsed for s, e in zip(begin, at_end)]
    return {"workers": workers, "clients": clients, "lat": result.latencies, "errors": result.errors,
            "cpu": cpu, "rss_start": [s[1] for s in at_start], "rss_end": [e[1] for e in at_end],
            "client_cpu": result.client_cpu / max(1.0, elapsed), "load_avg": load_avg}


def report(r: dict) -> None:
    lat = r["lat"]
    cpu = " + ".join(f"{100 * c:.0f}%" for c in r["cpu"])
    rss = ", ".join(f"{s:.0f}->{e:.0f}" for s, e in zip(r["rss_start"], r["rss_end"]))
    print(f"  {r['workers']} worker(s), {r['clients']:>5} dictations: {len(lat)} segments, {len(r['errors'])} errors; "
          f"round trip p50 {pct(lat, 50):.1f} ms  p95 {pct(lat, 95):.1f} ms  p99 {pct(lat, 99):.1f} ms  "
          f"max {max(lat or [0]):.1f} ms", flush=True)
    print(f"      server CPU {cpu} of a core, load generator {100 * r['client_cpu']:.0f}% (with connecting); "
          f"worker RSS MB (start->end) {rss}; machine load average {r['load_avg']:.1f} (1 min, "
          f"{os.cpu_count()} cores)", flush=True)
    for e in sorted(set(r["errors"]))[:3]:
        print(f"      error: {e}", flush=True)


def bench_load(args, new_db) -> None:
    for workers in args.workers:
        print(f"\n== load: {args.clients} dictations, a 10-word segment every {args.period:g} s each, "
              f"{args.duration:g} s, {workers} worker(s) ==", flush=True)
        r = measure(new_db(), workers, args.clients, args.duration, args)
        report(r)
        ok = not r["errors"] and pct(r["lat"], 99) < 50
        print(f"  target (no errors, p99 < 50 ms): {'met' if ok else 'NOT met'}", flush=True)


def bench_ramp(args, new_db) -> None:
    for workers in args.workers:
        print(f"\n== ramp, {workers} worker(s): dictations from {args.ramp_start} by {args.ramp_step}, "
              f"{args.ramp_duration:g} s a step, until p99 > 100 ms ==", flush=True)
        clients, last_ok = args.ramp_start, None
        while clients <= args.ramp_max:
            r = measure(new_db(), workers, clients, args.ramp_duration, args)
            report(r)
            if pct(r["lat"], 99) > 100 or r["errors"]:
                print(f"  {workers} worker(s): p99 crosses 100 ms between {last_ok or 0} and {clients} "
                      "simultaneous dictations", flush=True)
                break
            last_ok, clients = clients, clients + args.ramp_step
        else:
            print(f"  {workers} worker(s): p99 stayed under 100 ms up to {last_ok} (raise --ramp-max)", flush=True)


def bench_segment(args, new_db) -> None:
    import gc
    import json
    import statistics

    from bench_server import Words, corpus_words, fmt

    from scribe import Encounter, build_engine
    from scribe_server.config import Settings
    from scribe_server.hub import DictationHub
    from scribe_server.protocol import Connection
    from scribe_server.shared import Notifier
    from scribe_server.store import Principal, Store

    print(f"\n== per-segment server time, 10-word final segments, {args.segments} per note size, one process, "
          "shared mode on PostgreSQL ==", flush=True)
    engine = build_engine()
    engine.warm()
    store = Store(Settings(db_url=new_db()).database_url)
    store.migrate()
    hub = DictationHub(engine, store, shared=True)
    hub.notify = notifier = Notifier(store.engine.url.render_as_string(hide_password=False), hub.origin)  # as served
    who = Principal(1, "bench", "physician")
    words = Words(corpus_words())
    results: dict[int, tuple[list[float], list[float]]] = {}
    for size in (50, 5000):
        conn = Connection(hub, who, max_bytes=10**7, rate=1e9, burst=10**9)
        conn.handle(json.dumps({"type": "start", "encounter": ENCOUNTER}))
        conn.handle(json.dumps({"type": "segment", "seq": 1, "text": words.take(size), "final": True}))
        session = hub._get(who, conn.dictation_id).session
        total, engine_only = [], []
        gc.collect()
        for seq in range(2, args.segments + 2):
            text = words.take(10)
            length = len(session.final_text)
            msg = json.dumps({"type": "segment", "seq": seq, "text": text, "final": True})
            t0 = time.perf_counter()
            answer = conn.handle(msg)
            total.append(1000 * (time.perf_counter() - t0))
            assert answer.startswith('{"type":"state"'), answer[:200]
            conn.handle(json.dumps({"type": "edit", "start": length, "end": length + len(text), "text": ""}))
        scratch = engine.new_session(Encounter.from_dict(ENCOUNTER))     # the engine's share, same note
        scratch.segment(1, session.final_text, True)
        for seq in range(2, args.segments + 2):
            text = words.take(10)
            length = len(scratch.final_text)
            t0 = time.perf_counter()
            scratch.segment(seq, text, True)
            engine_only.append(1000 * (time.perf_counter() - t0))
            scratch.edit(length, length + len(text), "")
        results[size] = (total, engine_only)
        print(f"  {size:>5}-word note, server time: {fmt(total)}", flush=True)
        print(f"  {'':>5}  engine session share: {fmt(engine_only)}", flush=True)
    ratio = statistics.fmean(results[5000][0]) / statistics.fmean(results[50][0])
    median = statistics.median(results[5000][0]) / statistics.median(results[50][0])
    engine_ratio = statistics.fmean(results[5000][1]) / statistics.fmean(results[50][1])
    print(f"  5,000 / 50 words: server {ratio:.2f}x (mean), {median:.2f}x (median); engine alone {engine_ratio:.2f}x; "
          f"target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'}", flush=True)
    notifier.close()
    store.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short runs (about 6 minutes)")
    p.add_argument("--only", nargs="+", choices=["load", "ramp", "segment"])
    p.add_argument("--db", help="a PostgreSQL URL to use (each run adds its tables and rows); default: a throwaway "
                   "cluster with a fresh database per run")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--duration", type=float, default=120.0)
    p.add_argument("--period", type=float, default=4.0)
    p.add_argument("--load-procs", type=int, default=2, help="processes of the load generator")
    p.add_argument("--no-deflate", action="store_true", help="clients that do not offer permessage-deflate "
                   "(browsers do; without it the server does not compress each state)")
    p.add_argument("--synchronous-commit", choices=["on", "off"], default="on",
                   help="the throwaway database's synchronous_commit (off: a commit is acknowledged before it is "
                   "flushed to disk; see the README)")
    p.add_argument("--segments", type=int, default=300, help="measured segments per note size (segment)")
    p.add_argument("--ramp-start", type=int, default=600)
    p.add_argument("--ramp-step", type=int, default=200)
    p.add_argument("--ramp-max", type=int, default=4000)
    p.add_argument("--ramp-duration", type=float, default=40.0)
    p.add_argument("--server-env", nargs="*", default=[], metavar="KEY=VALUE",
                   help="settings for the server, e.g. SCRIBE_WORKER_THREADS=2")
    args = p.parse_args()
    args.env = dict(kv.split("=", 1) for kv in args.server_env)
    if args.quick:
        args.duration, args.ramp_duration, args.ramp_step, args.segments = 30.0, 20.0, 400, 100
    sections = args.only or ["load", "ramp", "segment"]
    print(f"scribe service on worker processes, {os.cpu_count()} cores; sections: {', '.join(sections)}; "
          f"load generator: {args.load_procs} processes; PostgreSQL synchronous_commit {args.synchronous_commit}",
          flush=True)
    pg = None if args.db else Postgres()
    new_db = (lambda: args.db) if pg is None else (lambda: pg.new_database(args.synchronous_commit))
    try:
        if "load" in sections:
            bench_load(args, new_db)
        if "ramp" in sections:
            bench_ramp(args, new_db)
        if "segment" in sections:
            bench_segment(args, new_db)
    finally:
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    main()
