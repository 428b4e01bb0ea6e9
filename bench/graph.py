"""The graph's own CPU cost per message, LLM excluded, on the sample brand.

Messages are drafted by the real graph (checkpointer, triage, retrieval, drafting through the loopback
LLM at zero latency, every check) one after another in this process. Baseline (same run): a direct call
to the loopback server with the same client, which is subtracted as the LLM's share. Printed: per-message
graph time beyond the LLM call (median, p95). ``BENCH_PROFILE=1`` also prints a cProfile listing.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path

import openai

from agent.runner import ReplyRunner
from agent.state import Author, InboundMessage
from bench import traffic
from knowledge.ingest import ingest_paths
from knowledge.store import KnowledgeStore
from testkit.live import SAMPLES, make_settings
from testkit.llm_scripts import grounded_reply
from testkit.openai_stub import OpenAIStub

N_MESSAGES = int(os.environ.get("BENCH_GRAPH_MESSAGES", "60"))
WARMUP = 5


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _llm_call_seconds(stub: OpenAIStub, calls: int = 20) -> tuple[float, float]:
    client = openai.OpenAI(base_url=stub.base_url, api_key="bench", timeout=10, max_retries=0)
    times, cpu = [], []
    for _ in range(calls):
        started, started_cpu = time.perf_counter(), time.process_time()
        client.chat.completions.create(
            model="stub", messages=[{"role": "user", "content": "SOURCES:\n[faq-x] Q? A."}]
        )
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(times), statistics.median(cpu)


def _message(i: int) -> InboundMessage:
    return InboundMessage(id=i + 1, workspace="default", platform=("x", "instagram", "reddit")[i % 3],
                          external_id=f"graph-{i}", author=Author(id=f"u{i}", handle=f"rider{i}"),
                          text=traffic.text(i), thread=[], public=True)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="replydesk-bench-graph-"))
    with OpenAIStub() as stub:
        stub.reply_with(grounded_reply)
        settings = make_settings(workdir, llm_base_url=stub.base_url, llm_api_key="bench", llm_timeout=10.0)
        ingest_paths(KnowledgeStore(settings), [SAMPLES / "knowledge", SAMPLES / "guidelines"], "default")
        llm_seconds, llm_cpu = _llm_call_seconds(stub)
        runner = ReplyRunner(settings)
        try:
            for i in range(WARMUP):
                runner.start(f"warm-{i}", _message(4_000 + i))
            profiler = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
            if profiler is not None:
                profiler.enable()
            times, cpu = [], []
            calls_before = stub.calls
            for i in range(N_MESSAGES):
                started, started_cpu = time.perf_counter(), time.process_time()
                runner.start(f"graph-{i}", _message(i))
                times.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
            calls = (stub.calls - calls_before) / N_MESSAGES
            if profiler is not None:
                profiler.disable()
                pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "cumulative")).print_stats(45)
        finally:
            runner.close()
    overhead = [t - calls * llm_seconds for t in times]
    cpu_overhead = [t - calls * llm_cpu for t in cpu]
    print(f"messages: {N_MESSAGES}, LLM calls per message {calls:.2f}, loopback LLM call (baseline) "
          f"{llm_seconds * 1000:.1f} ms wall, {llm_cpu * 1000:.1f} ms CPU")
    print(f"graph wall time per message beyond the LLM: median {statistics.median(overhead) * 1000:.1f} ms, "
          f"p95 {_percentile(overhead, 0.95) * 1000:.1f} ms (goal: median <= 30 ms)")
    print(f"graph CPU time per message beyond the LLM (this process, all threads): median "
          f"{statistics.median(cpu_overhead) * 1000:.1f} ms, p95 {_percentile(cpu_overhead, 0.95) * 1000:.1f} ms")
