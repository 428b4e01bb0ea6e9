"""The whole reply loop in one process (API + worker + relay, SQLite) against a loopback LLM.

Scenarios (each in its own data directory, same run):
  * single lane — the sequential worker (``worker_concurrency=1``), the reference for memory and
    drafts/s: ideal = N x LLM call;
  * wide — N messages posted at once, the endpoint at 1.0 s per call allowing 32 concurrent requests
    (429 beyond), 32 lanes: ideal = N / 32 x LLM call; every draft approved and delivered afterwards;
  * narrow — the same endpoint allowing only 8, still 32 lanes: the limiter absorbs the 429s; ideal = N / 8.
Baseline (same run): the LLM's own time per call, measured by calling the loopback server directly.
The loopback LLM and the clients posting the messages are the outside world: each runs in a process of its
own (spawned), so that their Python work does not share the measured process's interpreter lock; they do
share the machine's cores, and their CPU time while drafting is printed beside the measured process's. The
measured process hosts what `replydesk serve` does: the API, the worker lanes and the relay.
``BENCH_POLL`` sets the worker's and relay's poll interval (default 0.02 s, the testkit's; the product's
default is 0.2 s). Printed per scenario: actual/ideal drafting time, per-message overhead beyond the LLM
(drafting job time minus one LLM call; median, p95; also for the jobs started after the last POST was
answered, i.e. with intake no longer competing for the interpreter), POST latency while drafting, 5xx count,
lost and duplicated drafts, 429s, peak in-flight at the endpoint, RSS.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import openai
from sqlalchemy import func
from sqlmodel import Session, col, select

from agent.limits import limiter_states
from bench import traffic
from desk.db import read_session
from desk.models import Delivery, Draft, Job, Message
from insights.period import as_utc  # SQLite hands timestamps back without their zone
from knowledge.ingest import ingest_paths
from knowledge.store import KnowledgeStore
from testkit.live import SAMPLES, LiveServer, make_settings, wait_for
from testkit.llm_scripts import grounded_reply
from testkit.openai_stub import OpenAIStub

N_MESSAGES = int(os.environ.get("BENCH_LOOP_MESSAGES", "500"))
SINGLE_MESSAGES = int(os.environ.get("BENCH_LOOP_SINGLE_MESSAGES", "30"))
LLM_LATENCY = float(os.environ.get("BENCH_LLM_LATENCY", "1.0"))
LANES = 32
SPAWN = multiprocessing.get_context("spawn")  # children import afresh: no copy of this process's threads


@dataclass
class Outcome:
    name: str
    messages: int
    ideal: float
    drafting: float
    overhead: list[float]
    overhead_after_intake: list[float]  # of the jobs that started after the last POST was answered
    errors_5xx: int
    lost: int
    duplicated: int
    failed: int
    offline: int
    rate_limited: int
    peak_in_flight: int
    cpu_seconds: float
    llm_calls: int
    peak_rss_mb: float
    rss_mb: float
    post_latency: list[float]
    posting: float
    outside_cpu: tuple[float, float]  # CPU seconds of the posting clients and of the loopback LLM, same cores
    delivered: int | None = None


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _rss_mb() -> tuple[float, float]:
    """(current, peak) resident set of this process in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _serve_stub(conn: Connection) -> None:
    """Child process: an OpenAIStub answering grounded replies, configured and read over ``conn``."""
    with OpenAIStub() as stub:
        conn.send(stub.base_url)
        while True:
            command, argument = conn.recv()
            if command == "configure":
                latency, limit = argument
                stub.reset()
                stub.latency, stub.max_concurrent = latency, limit
                stub.reply_with(grounded_reply)
                conn.send(None)
            elif command == "peak":
                conn.send(stub.max_in_flight)
            elif command == "calls":
                conn.send(stub.calls)
            elif command == "cpu":
                conn.send(time.process_time())
            else:
                return


class RemoteStub:
    """The loopback LLM in a spawned process of its own (the endpoint is not part of the measured process)."""

    def __init__(self) -> None:
        self._conn, child = SPAWN.Pipe()
        self._process = SPAWN.Process(target=_serve_stub, args=(child,), daemon=True)
        self._process.start()
        self.base_url: str = self._conn.recv()

    def configure(self, latency: float, limit: int | None) -> None:
        self._conn.send(("configure", (latency, limit)))
        self._conn.recv()

    @property
    def max_in_flight(self) -> int:
        self._conn.send(("peak", None))
        return int(self._conn.recv())

    @property
    def calls(self) -> int:
        """Chat requests the server took in since the last configure() (not those refused with 429)."""
        self._conn.send(("calls", None))
        return int(self._conn.recv())

    @property
    def cpu_seconds(self) -> float:
        """CPU time the loopback server's process has used so far (all its threads)."""
        self._conn.send(("cpu", None))
        return float(self._conn.recv())

    def __enter__(self) -> RemoteStub:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._conn.send(("stop", None))
        self._process.join(timeout=10)


def _llm_baseline(stub: RemoteStub, calls: int = 5) -> float:
    client = openai.OpenAI(base_url=stub.base_url, api_key="bench", timeout=10, max_retries=0)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        client.chat.completions.create(
            model="stub", messages=[{"role": "user", "content": "SOURCES:\n[faq-x] Q? A."}]
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _poster_ready() -> None:
    """Run in the posting process before any clock starts: unpickling it there imports this module (and what
    it imports: ~3 s of CPU), which the first ``_post_all`` did inside the drafting clock before. (A spawned
    child does not import a package's ``__main__``, so it imports this module on the first call it gets.)"""


def _post_all(base_url: str, key: str, count: int, prefix: str,
              first: int) -> tuple[list[int], list[float], float, float]:
    """Post ``count`` messages from 16 client threads (run in a process of its own): their statuses, each
    POST's latency, how long posting them all took and the CPU time the posting took (seconds)."""
    cpu_started = time.process_time()
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        def post(i: int) -> tuple[int, float]:
            body = {"external_id": f"{prefix}-{i}", "platform": "x", "text": traffic.text(first + i),
                    "author": {"id": f"u{i}", "handle": f"user{i}"}}
            started = time.perf_counter()
            status = client.post("/v1/messages", json=body).status_code
            return status, time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(post, range(count)))
        return ([s for s, _t in answers], [t for _s, t in answers], time.perf_counter() - started,
                time.process_time() - cpu_started)


def _scenario(name: str, stub: RemoteStub, posters: ProcessPoolExecutor, llm_seconds: float, messages: int,
              lanes: int, endpoint_limit: int | None, approve: bool, first: int) -> Outcome:
    """``first``: the number of the scenario's first message text (scenarios of up to 1,000 messages do not
    repeat each other's texts; see bench/traffic.py)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"replydesk-bench-{name}-"))
    stub.configure(LLM_LATENCY, endpoint_limit)
    # Each scenario is its own endpoint (the limiter registry is per base URL + model): nothing learned
    # in one scenario carries into the next.
    settings = make_settings(workdir, llm_base_url=stub.base_url, llm_api_key="bench", llm_timeout=30.0,
                             llm_model=f"stub-{name}", worker_concurrency=lanes, llm_concurrency=max(lanes, 1),
                             worker_poll_seconds=float(os.environ.get("BENCH_POLL", "0.02")))
    ingest_paths(KnowledgeStore(settings), [SAMPLES / "knowledge", SAMPLES / "guidelines"], "default")
    server = LiveServer(settings).start()
    statuses: list[int] = []
    delivered = None
    try:
        with server.client("cm") as client:
            # The viral post reaches a server that is up: its models are loaded (GET /readyz), as a load
            # balancer or deploy script would wait for. Loading them costs ~2 s of CPU, not per-draft work.
            wait_for(lambda: client.get("/readyz").status_code == 200, timeout=120, interval=0.1)
            started, cpu_started, stub_cpu_started = datetime.now(UTC), time.process_time(), stub.cpu_seconds
            posted, post_latency, posting, posting_cpu = posters.submit(
                _post_all, server.base_url, server.keys["cm"], messages, name, first).result()
            statuses += posted
            posted_at = datetime.now(UTC)

            def drafted() -> bool:
                # A read: on SQLite a plain session's BEGIN queues for the write lock the measured lanes use.
                with read_session(server.engine) as session:
                    return int(session.exec(select(func.count()).select_from(Draft)).one()) >= messages

            # Looked at four times a second; the drafting time ends when the last draft was recorded (its row
            # says when). Polled every 50 ms, the bench's own count queries were ~5% of the measured process's
            # interpreter samples in a py-spy profile, and the end was only known to the nearest poll anyway.
            wait_for(drafted, timeout=messages * (LLM_LATENCY + 5), interval=0.25)
            with read_session(server.engine) as session:
                last = session.exec(select(func.max(Draft.created_at))).one()
            drafting = (as_utc(last) - started).total_seconds()
            cpu = time.process_time() - cpu_started
            stub_cpu = stub.cpu_seconds - stub_cpu_started
            calls = stub.calls
            if approve:
                with read_session(server.engine) as session:
                    pending = session.exec(select(Draft.id, Draft.version).where(col(Draft.status) == "pending")).all()
                for draft_id, version in pending:
                    statuses.append(client.post(f"/v1/drafts/{draft_id}/approve",
                                                headers={"If-Match": str(version)}).status_code)
                wait_for(lambda: client.get("/v1/deliveries", params={"status": "delivered"}).json()["count"]
                         >= messages, timeout=600, interval=0.2)
                delivered = client.get("/v1/deliveries", params={"status": "delivered"}).json()["count"]
        rss, peak = _rss_mb()
        with Session(server.engine) as session:
            # Drafting jobs only: the approvals' resume jobs (wide) are not drafting time.
            jobs = session.exec(select(Job).where(col(Job.status) == "done", col(Job.kind) == "draft")).all()
            drafts = session.exec(select(Draft.message_id, Draft.composer)).all()
            message_count = int(session.exec(select(func.count()).select_from(Message)).one())
            failed = int(session.exec(select(func.count()).select_from(Message)
                                      .where(col(Message.status) == "failed")).one())
            if approve:
                deliveries = int(session.exec(select(func.count()).select_from(Delivery)).one())
                assert deliveries == messages, f"{deliveries} outbox rows for {messages} approvals"
    finally:
        server.stop()
    state = next((s for s in limiter_states() if s.endpoint.endswith(f"stub-{name}")), None)
    shutil.rmtree(workdir, ignore_errors=True)
    per_message: dict[int, float] = {}
    after_intake: set[int] = set()
    for job in jobs:
        assert job.started_at is not None
        per_message[job.message_id or 0] = per_message.get(job.message_id or 0, 0.0) + (
            job.updated_at - job.started_at).total_seconds()
        if as_utc(job.started_at) >= posted_at:
            after_intake.add(job.message_id or 0)
    drafted_ids = [m for m, _c in drafts]
    allowed = endpoint_limit or lanes
    return Outcome(
        name=name, messages=messages, ideal=messages / min(lanes, allowed) * llm_seconds, drafting=drafting,
        overhead=[t - llm_seconds for t in per_message.values()],
        overhead_after_intake=[t - llm_seconds for m, t in per_message.items() if m in after_intake],
        errors_5xx=sum(1 for s in statuses if s >= 500),
        lost=message_count - len(set(drafted_ids)), duplicated=len(drafted_ids) - len(set(drafted_ids)),
        failed=failed, offline=sum(1 for _m, c in drafts if c != "llm"),
        rate_limited=state.rate_limited if state else 0, peak_in_flight=stub.max_in_flight,
        cpu_seconds=cpu, outside_cpu=(posting_cpu, stub_cpu), llm_calls=calls, peak_rss_mb=peak, rss_mb=rss,
        post_latency=post_latency, posting=posting,
        delivered=delivered,
    )


def _report(outcome: Outcome, llm_seconds: float) -> None:
    o = outcome
    print(f"[{o.name}] {o.messages} messages: drafting {o.drafting:.2f} s, ideal {o.ideal:.2f} s, "
          f"actual/ideal {o.drafting / o.ideal:.3f}; {o.messages / o.drafting:.1f} drafts/s, "
          f"{o.messages / o.drafting / (o.peak_rss_mb / 1024):.1f} drafts/s per GB of peak RSS")
    print(f"[{o.name}] overhead beyond the LLM per message (job time - {llm_seconds * 1000:.0f} ms): "
          f"median {statistics.median(o.overhead) * 1000:.1f} ms, p95 {_percentile(o.overhead, 0.95) * 1000:.1f} ms")
    if o.overhead_after_intake:
        late = o.overhead_after_intake
        print(f"[{o.name}]   of which the {len(late)} jobs started after the last POST was answered: median "
              f"{statistics.median(late) * 1000:.1f} ms, p95 {_percentile(late, 0.95) * 1000:.1f} ms")
    print(f"[{o.name}] intake while drafting: {o.messages} POSTs (16 clients) in {o.posting:.2f} s, latency median "
          f"{statistics.median(o.post_latency) * 1000:.1f} ms, p95 {_percentile(o.post_latency, 0.95) * 1000:.1f} ms")
    print(f"[{o.name}] CPU of the measured process while drafting: {o.cpu_seconds:.1f} s, "
          f"{o.cpu_seconds / o.messages * 1000:.1f} ms per message (intake, graph, records; all threads)")
    cores = os.cpu_count() or 1
    print(f"[{o.name}] CPU of the outside world on the same {cores} cores: posting clients {o.outside_cpu[0]:.1f} s, "
          f"loopback LLM {o.outside_cpu[1]:.1f} s (of {cores * o.drafting:.1f} core-seconds while drafting)")
    print(f"[{o.name}] 5xx {o.errors_5xx}, lost {o.lost}, duplicated {o.duplicated}, failed {o.failed}, "
          f"offline-composer drafts {o.offline}, 429s seen by the limiter {o.rate_limited}, "
          f"peak in flight at the endpoint {o.peak_in_flight}, LLM requests per message "
          f"{o.llm_calls / o.messages:.2f} (429s not counted)"
          + (f", delivered {o.delivered}" if o.delivered is not None else ""))
    print(f"[{o.name}] RSS now {o.rss_mb:.0f} MB, peak so far {o.peak_rss_mb:.0f} MB (whole bench process)")


def main() -> None:
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min)")
    with RemoteStub() as stub, ProcessPoolExecutor(max_workers=1, mp_context=SPAWN) as posters:
        stub.configure(LLM_LATENCY, None)
        posters.submit(_poster_ready).result()  # the posting process starts and imports this module first
        llm_seconds = _llm_baseline(stub)
        print(f"loopback LLM call (baseline): {llm_seconds * 1000:.1f} ms at a {LLM_LATENCY:.1f} s setting")
        runs = [("single", SINGLE_MESSAGES, 1, None, False), ("wide", N_MESSAGES, LANES, 32, True),
                ("narrow", N_MESSAGES, LANES, 8, False)]
        only = os.environ.get("BENCH_LOOP_ONLY")
        for number, (name, messages, lanes, limit, approve) in enumerate(runs):
            if only and name not in only.split(","):
                continue
            _report(_scenario(name, stub, posters, llm_seconds, messages, lanes, limit, approve, number * 1_000),
                    llm_seconds)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min)")
