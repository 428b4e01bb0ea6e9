"""The whole reply loop with the loopback LLM at a fixed latency.

N messages go in over HTTP, are drafted by the in-process worker, approved over HTTP and delivered.
Baseline (same run): the LLM's own time per call, measured by calling the loopback server directly with
the same client settings. Printed: per-message overhead beyond the LLM (median, p95) and the ratio of
actual to ideal throughput, where ideal = one LLM call per message back to back on the single worker.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import openai
from sqlmodel import Session, col, select

from desk.models import Job
from knowledge.ingest import ingest_paths
from knowledge.store import KnowledgeStore
from testkit.live import SAMPLES, LiveServer, make_settings, wait_for
from testkit.llm_scripts import grounded_reply
from testkit.openai_stub import OpenAIStub

N_MESSAGES = int(os.environ.get("BENCH_LOOP_MESSAGES", "60"))
LLM_LATENCY = float(os.environ.get("BENCH_LLM_LATENCY", "0.2"))
QUESTIONS = [
    "how long does shipping to the UK take?",
    "what's your return window?",
    "how long does the Cargo take to charge?",
    "is there a student discount?",
    "can I store the battery in my garage over winter?",
    "how do I pair the app?",
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _llm_baseline(stub: OpenAIStub, calls: int = 10) -> float:
    client = openai.OpenAI(base_url=stub.base_url, api_key="bench", timeout=10, max_retries=0)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        client.chat.completions.create(
            model="stub", messages=[{"role": "user", "content": "SOURCES:\n[faq-x] Q? A."}]
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="replydesk-bench-"))
    with OpenAIStub() as stub:
        stub.latency = LLM_LATENCY
        stub.reply_with(grounded_reply)
        llm_seconds = _llm_baseline(stub)
        settings = make_settings(workdir, llm_base_url=stub.base_url, llm_api_key="bench", llm_timeout=10.0)
        ingest_paths(KnowledgeStore(settings), [SAMPLES / "knowledge", SAMPLES / "guidelines"], "default")
        server = LiveServer(settings).start()
        try:
            with server.client("cm") as client:
                started = time.perf_counter()
                for i in range(N_MESSAGES):
                    body = {"external_id": f"bench-{i}", "platform": "x", "text": QUESTIONS[i % len(QUESTIONS)],
                            "author": {"id": f"u{i}", "handle": f"user{i}"}}
                    assert client.post("/v1/messages", json=body).status_code == 202
                wait_for(lambda: client.get("/v1/drafts", params={"status": "pending"}).json()["count"] == N_MESSAGES,
                         timeout=N_MESSAGES * (LLM_LATENCY + 5), interval=0.1)
                drafted = time.perf_counter()
                for draft in client.get("/v1/drafts", params={"limit": 200}).json()["data"]:
                    client.post(f"/v1/drafts/{draft['id']}/approve", headers={"If-Match": str(draft["version"])})
                wait_for(lambda: client.get("/v1/deliveries", params={"status": "delivered"}).json()["count"]
                         == N_MESSAGES, timeout=300, interval=0.1)
                finished = time.perf_counter()
            with Session(server.engine) as session:
                jobs = session.exec(select(Job).where(col(Job.status) == "done")).all()
        finally:
            server.stop()
    shutil.rmtree(workdir, ignore_errors=True)

    per_message: dict[int, float] = {}
    for job in jobs:
        assert job.started_at is not None
        seconds = (job.updated_at - job.started_at).total_seconds()
        per_message[job.message_id or 0] = per_message.get(job.message_id or 0, 0.0) + seconds
    overhead = [total - llm_seconds for total in per_message.values()]
    draft_phase = drafted - started
    ideal = N_MESSAGES * llm_seconds
    print(f"messages: {N_MESSAGES}, LLM latency setting {LLM_LATENCY * 1000:.0f} ms, "
          f"measured LLM call (baseline) {llm_seconds * 1000:.1f} ms")
    print(f"per-message overhead beyond the LLM (draft + resume jobs): "
          f"median {statistics.median(overhead) * 1000:.1f} ms, p95 {_percentile(overhead, 0.95) * 1000:.1f} ms "
          f"({statistics.median(overhead) / llm_seconds:.2f}x the LLM call)")
    print(f"drafting phase: {draft_phase:.2f} s for {N_MESSAGES} messages; ideal {ideal:.2f} s; "
          f"actual/ideal throughput {ideal / draft_phase:.2f}")
    print(f"whole loop incl. approve + delivery: {finished - started:.2f} s "
          f"({N_MESSAGES / (finished - started):.1f} messages/s)")
