"""The console's pages with 10,000 pending drafts: server time, queries per page, page weight.

One uvicorn server in this process (no worker, no relay) on SQLite with the sample brand's knowledge, and
one client signed in with a session cookie, requesting pages one after another (so the time is the server's
plus loopback, not a queue of waiting requests). Per page: p50/p95 over ``BENCH_CONSOLE_REPEATS`` requests,
the SQL statements it ran (counted by a SQLAlchemy event listener: constant per page means no N+1), and its
weight (HTML; the stylesheet and script are counted once beside it). Baselines in the same run:
``GET /healthz`` (the cheapest answer) and the JSON API's queue list (``GET /v1/drafts``).
Targets (issue 14): queue p95 <= 100 ms first page and each filter; draft page p95 <= 100 ms; page <= 150 KB.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine

from knowledge.ingest import ingest_paths
from knowledge.store import KnowledgeStore
from testkit.live import SAMPLES, LiveServer, make_settings
from testkit.seed import seed_drafts

DRAFTS = int(os.environ.get("BENCH_CONSOLE_DRAFTS", "10000"))
REPEATS = int(os.environ.get("BENCH_CONSOLE_REPEATS", "40"))
TARGET_MS, TARGET_KB = 100.0, 150.0
QUEUE_PAGES = {
    "first page (priority)": {},
    "sort by due": {"sort": "due"},
    "status=approved": {"status": "approved"},
    "platform=x": {"platform": "x"},
    "intent=question": {"intent": "question"},
    "route=draft": {"route": "draft"},
    "risk flag": {"risk": "safety"},
    "unclaimed": {"assignee": "none"},
    "claimed by me": {"assignee": "me"},
    "SLA breached": {"breached": "yes"},
    "workspace=default": {"workspace": "default"},
    "reject reason": {"status": "rejected", "reason": "incorrect"},
}


class QueryCounter:
    """SQL statements executed by any engine in this process while counting."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        event.listen(Engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        with self.lock:
            self.count += 1

    @contextmanager
    def measure(self) -> Iterator[list[int]]:
        box: list[int] = []
        before = self.count
        yield box
        box.append(self.count - before)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _time(client: httpx.Client, counter: QueryCounter, url: str, **params: Any) -> tuple[list[float], set[int], int]:
    client.get(url, params=params)  # warm (template compiled, caches filled)
    times, queries, size = [], set(), 0
    for _ in range(REPEATS):
        with counter.measure() as box:
            start = time.perf_counter()
            response = client.get(url, params=params)
            times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, params, response.status_code)
        queries.add(box[0])
        size = len(response.content)
    return times, queries, size


def _row(name: str, times: list[float], queries: set[int], size: int, base: float) -> str:
    p50, p95 = _pct(times, 0.5), _pct(times, 0.95)
    flag = "" if p95 <= TARGET_MS else "  over target"
    sql = "/".join(str(q) for q in sorted(queries))
    return (f"  {name:<30} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  ({p95 / base:4.1f}x healthz p95)  "
            f"queries {sql:>5}  {size / 1024:6.1f} KB{flag}")


def main() -> None:
    counter = QueryCounter()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        settings = make_settings(Path(tmp), worker_enabled=False, relay_enabled=False)
        ingest_paths(KnowledgeStore(settings), [SAMPLES / "knowledge", SAMPLES / "guidelines"], "default")
        live = LiveServer(settings)
        ids = seed_drafts(live.engine, DRAFTS, prefix="bench-console")
        live.start()
        try:
            with httpx.Client(base_url=live.base_url, timeout=60) as client:
                form = client.get("/signin")
                token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
                assert token is not None
                client.post("/signin", data={"api_key": live.keys["cm"], "csrf_token": token.group(1)})
                health, _, _ = _time(client, counter, "/healthz")
                base = _pct(health, 0.95)
                print(f"{DRAFTS} pending drafts, SQLite, {REPEATS} sequential requests per page; "
                      f"load {os.getloadavg()[0]:.1f}")
                print(f"  {'GET /healthz (baseline)':<30} p50 {_pct(health, 0.5):6.1f} ms  p95 {base:6.1f} ms")
                api = httpx.Client(base_url=live.base_url, timeout=60,
                                   headers={"Authorization": f"Bearer {live.keys['cm']}"})
                times, queries, size = _time(api, counter, "/v1/drafts", status="pending", sort="-priority", limit=50)
                print(_row("JSON API list (50)", times, queries, size, base))
                for name, params in QUEUE_PAGES.items():
                    times, queries, size = _time(client, counter, "/", **params)
                    print(_row(f"queue: {name}", times, queries, size, base))
                first = client.get("/")
                following = re.search(r'href="(/\?[^"]*after=[^"]+)"', first.text)
                if following:
                    times, queries, size = _time(client, counter, following.group(1).replace("&amp;", "&"))
                    print(_row("queue: next page (keyset)", times, queries, size, base))
                draft_times: list[float] = []
                draft_queries: set[int] = set()
                for draft_id in ids[:: max(1, len(ids) // REPEATS)][:REPEATS]:
                    times, queries, size = _time(client, counter, f"/drafts/{draft_id}")
                    draft_times += times[:5]
                    draft_queries |= queries
                print(_row("draft page", draft_times, draft_queries, size, base))
                assets = sum(len(client.get(f"/static/console.{ext}").content) for ext in ("css", "js"))
                print(f"  stylesheet + script (cached after the first page): {assets / 1024:.1f} KB")
        finally:
            live.stop()
