"""The approval queue under a team's load: 32 concurrent clients against 10,000 pending drafts.

For SQLite and (when the local server is reachable) PostgreSQL: the drafts are written straight into the
database, the API runs as its own process (uvicorn, no in-process worker; the relay delivers approvals to
the delivery log), and 32 client threads with one key each (32 CMs working the queue at once) run:

- list: ``GET /v1/drafts?status=pending&limit=50`` (first pages and cursor pages, by priority and due);
- approve: ``POST /v1/drafts/{id}/approve`` with the current ``If-Match``, each client its own drafts.

Two load shapes: "team" (each client waits 0.5-1.5 s between requests, as a person reviewing drafts
does: about 32 requests/s offered), which is what the p99 target is for; and "saturation" (no pause, every
client fires its next request at once), which shows the server's capacity (requests/s) and the queueing
latency once it is exceeded. 32 closed-loop clients on a 2-core machine that also runs the clients
measure mostly the queue of waiting requests, not the cost of one.

Printed: p50/p95/p99 latency, errors and throughput per operation; baseline (same run, same clients,
same shape): ``GET /healthz``, the cheapest request the server answers.
Target: team p99 <= 50 ms for list and approve, 0 errors.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from desk.db import make_engine, migrate
from desk.keys import create_key
from testkit import pg
from testkit.live import ROOT, free_port, make_settings, process_env, wait_for
from testkit.seed import seed_drafts

DRAFTS = int(os.environ.get("BENCH_QUEUE_DRAFTS", "10000"))
CLIENTS = int(os.environ.get("BENCH_QUEUE_CLIENTS", "32"))
REQUESTS = int(os.environ.get("BENCH_QUEUE_REQUESTS", "50"))  # per client per operation and shape
THINK = (0.5, 1.5)  # seconds a CM takes between two requests, in the "team" shape
TARGET_MS = 50.0
SHAPES = os.environ.get("BENCH_QUEUE_SHAPES", "team,saturation").split(",")
BACKENDS = os.environ.get("BENCH_QUEUE_BACKENDS", "sqlite,postgresql").split(",")
_SERVER = (
    "import logging, uvicorn; from api.app import create_app; from ground.settings import Settings; "
    "logging.basicConfig(level=logging.WARNING); "
    "uvicorn.run(create_app(Settings()), host='127.0.0.1', port={port}, log_level='warning', access_log=False)"
)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _load(base_url: str, keys: list[str], call: Callable[[httpx.Client, int, int], int],
          think: bool, offset: int = 0) -> tuple[list[float], int, float]:
    """Run ``call(client, client_no, i)`` REQUESTS times on each of the clients at once.

    Returns the latencies, the error count and the throughput (requests/s)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    start = threading.Barrier(len(keys))

    def client_loop(number: int) -> None:
        nonlocal errors
        mine: list[float] = []
        bad = 0
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {keys[number]}"},
                          timeout=60) as client:
            client.get("/healthz")  # connect before the clock starts
            start.wait()
            pause = random.Random(number)
            for i in range(REQUESTS):
                if think:
                    time.sleep(pause.uniform(*THINK))
                began = time.perf_counter()
                status = call(client, number, offset + i)
                mine.append(time.perf_counter() - began)
                bad += status != 200
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(len(keys))]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, len(latencies) / (time.perf_counter() - began)


def _line(name: str, result: tuple[list[float], int, float], baseline_p99: float | None = None,
          judged: bool = False) -> float:
    latencies, errors, rate = result
    p50, p95, p99 = (_percentile(latencies, q) * 1000 for q in (0.5, 0.95, 0.99))
    ratio = f"  p99 {p99 / baseline_p99:5.1f}x healthz" if baseline_p99 else ""
    verdict = ""
    if judged:
        verdict = "  [meets p99 <= 50 ms, 0 errors]" if p99 <= TARGET_MS and not errors else "  [MISSES target]"
    print(f"    {name:<8} n={len(latencies):<5} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:7.1f} ms  "
          f"errors {errors}  {rate:6.1f} req/s{ratio}{verdict}")
    return p99


def run_backend(label: str, database_url: str | None) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="replydesk-bench-queue-"))
    settings = make_settings(workdir, database_url=database_url, worker_enabled=False)
    migrate(settings)
    engine = make_engine(settings)
    started = time.perf_counter()
    draft_ids = seed_drafts(engine, DRAFTS)
    keys = [create_key(engine, "cm", f"bench-{n}") for n in range(CLIENTS)]
    engine.dispose()
    seeded = time.perf_counter() - started
    port = free_port()
    env = process_env(settings, worker_enabled="false")
    server = subprocess.Popen([sys.executable, "-c", _SERVER.replace("{port}", str(port))], cwd=ROOT, env=env)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(base_url), timeout=60, interval=0.2)
        print(f"{label}: {DRAFTS} pending drafts seeded in {seeded:.1f} s; {CLIENTS} concurrent clients, "
              f"{REQUESTS} requests each per operation")
        cursors = _cursors(base_url, keys[0])

        def list_page(client: httpx.Client, number: int, i: int) -> int:
            sort = ("-priority", "due")[(number + i) % 2]
            params: dict[str, str | int] = {"status": "pending", "limit": 50, "sort": sort}
            if i % 4:  # three of four requests are cursor pages somewhere in the queue
                params["cursor"] = cursors[sort][(number * REQUESTS + i) % len(cursors[sort])]
            return client.get("/v1/drafts", params=params).status_code

        per_client = len(draft_ids) // CLIENTS

        def approve(client: httpx.Client, number: int, i: int) -> int:
            draft_id = draft_ids[number * per_client + i]
            return client.post(f"/v1/drafts/{draft_id}/approve", headers={"If-Match": '"1"'}).status_code

        for shape, think in (("team", True), ("saturation", False)):
            if shape not in SHAPES:
                continue
            print(f"  {shape}:")
            baseline = _line("healthz", _load(base_url, keys, lambda c, _n, _i: c.get("/healthz").status_code, think))
            _line("list", _load(base_url, keys, list_page, think), baseline, judged=think)
            _line("approve", _load(base_url, keys, approve, think, offset=0 if think else REQUESTS), baseline,
                  judged=think)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def _cursors(base_url: str, key: str) -> dict[str, list[str]]:
    """Cursors into the queue at varied depths (made before the clock starts)."""
    found: dict[str, list[str]] = {}
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        for sort in ("-priority", "due"):
            found[sort] = []
            for depth in range(1, 200, 7):
                page = client.get("/v1/drafts", params={"status": "pending", "limit": depth, "sort": sort}).json()
                found[sort].append(page["next_cursor"])
    return found


def _up(base_url: str) -> bool:
    try:
        return httpx.get(base_url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    if "sqlite" in BACKENDS:
        run_backend("sqlite", None)
    if "postgresql" not in BACKENDS:
        return
    if not pg.available():
        print(f"postgresql: skipped ({pg.ADMIN_URL} not reachable)")
        return
    name, url = pg.create_database("replydesk_bench")
    try:
        run_backend("postgresql", url)
    finally:
        pg.drop_database(name)
