"""An eval run of N cases (default 500) against the loopback LLM at a fixed latency, concurrency 16.

Every case runs the real agent graph (retrieval, LLM draft, checks) and a 3-item judge checklist
(one call per item). Baseline (same run): the LLM's own time per call, measured by calling the
loopback server directly. Ideal time = live calls x that call time ÷ concurrency, i.e. the endpoint
kept exactly full. Printed: actual ÷ ideal for the whole run (setup, scoring and storing included) and
for the sample phase alone; then a second, identical run: cache hit rate and calls made (must be 0);
then 50 new cases under a rate limit: achieved calls per second.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import openai
import yaml

from evals.runner import EvalRunner, RunOptions
from testkit.eval_scripts import eval_model
from testkit.live import make_settings
from testkit.openai_stub import OpenAIStub

N_CASES = int(os.environ.get("BENCH_EVAL_CASES", "500"))
LLM_LATENCY = float(os.environ.get("BENCH_LLM_LATENCY", "0.2"))
CONCURRENCY = int(os.environ.get("BENCH_EVAL_CONCURRENCY", "16"))
RATE = float(os.environ.get("BENCH_EVAL_RATE_LIMIT", "40"))
QUESTIONS = [
    ("how much is delivery to the UK and how long does it take?", "faq-shipping-uk"),
    ("how many days do I have to return the bike?", "faq-return-window"),
    ("how long does the battery take to charge?", "faq-charging-time"),
    ("is there a student discount?", "faq-discounts"),
    ("how do I store the battery over winter?", "faq-battery-winter-storage"),
    ("my bike won't pair with the app, help", "faq-app-pairing"),
    ("what's the warranty on the frame?", "faq-warranty-frame"),
    ("how far does the Cargo go on one charge?", "faq-battery-range"),
    ("can I ride in heavy rain?", "faq-waterproofing"),
    ("can I pay monthly?", "faq-financing"),
]
FIRST = ["Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jade", "Kai", "Lina", "Milo", "Nia",
         "Omar", "Pia", "Quin", "Rosa", "Sami", "Tara"]
LAST = ["Abbott", "Baker", "Chen", "Diaz", "Evans", "Fox", "Garcia", "Hughes", "Ito", "Jones", "Khan", "Lopez",
        "Moreau", "Novak", "Olsen", "Patel", "Quinn", "Reyes", "Silva", "Tanaka", "Ueda", "Vega", "Wong", "Xu",
        "Young"]
RUBRIC = [
    "Does the reply address the author by name ({author_name})?",
    "Is every factual claim in the reply supported by the SOURCES?",
    "Does the reply contain no emoji?",
]


def _suite(path: Path, name: str, count: int, suffix: str = "") -> str:
    cases = []
    for i in range(count):
        text, faq = QUESTIONS[i % len(QUESTIONS)]
        # Each author is a distinct name, so each case's prompts (and cache keys) are distinct.
        author = f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]}"
        cases.append({"id": f"c{i:04d}", "message": {"text": text + suffix, "platform": "x",
                      "author": {"id": f"u{i}", "handle": author.lower().replace(" ", "_"), "display_name": author}},
                      "expect": {"knowledge_ids": [faq], "addresses_author": True}})
    path.write_text(yaml.safe_dump({"name": name, "rubric": RUBRIC, "cases": cases}))
    return str(path)


def _llm_baseline(stub: OpenAIStub, calls: int = 10) -> float:
    client = openai.OpenAI(base_url=stub.base_url, api_key="bench", timeout=10, max_retries=0)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        client.chat.completions.create(model="stub", messages=[{"role": "system", "content": "evaluation judge"},
                                                               {"role": "user", "content": "Q\nREPLY:\nhi"}])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="replydesk-bench-evals-"))
    try:
        with OpenAIStub() as stub:
            stub.latency = LLM_LATENCY
            stub.reply_with(eval_model)
            llm_seconds = _llm_baseline(stub)
            settings = make_settings(workdir, llm_base_url=stub.base_url, llm_api_key="bench", llm_timeout=10.0)
            # Warm-up (not timed): embeds the knowledge base once and loads the models, as any earlier run would.
            EvalRunner(settings, RunOptions(suites=[_suite(workdir / "warm.yaml", "warm", 2, suffix=" (warm-up)")],
                                         concurrency=CONCURRENCY)).execute()
            suite = _suite(workdir / "bench.yaml", "bench", N_CASES)
            options = RunOptions(suites=[suite], concurrency=CONCURRENCY)
            calls_before = stub.calls
            started = time.perf_counter()
            first = EvalRunner(settings, options).execute()
            wall = time.perf_counter() - started
            live = first.summary["calls"]["ok"]
            calls_first = stub.calls - calls_before
            calls_before = stub.calls
            started = time.perf_counter()
            second = EvalRunner(settings, options).execute()
            wall_second = time.perf_counter() - started
            calls_second = stub.calls - calls_before
            # The rate limit holds: 50 new cases (200 calls) capped at RATE requests per second.
            limited = EvalRunner(settings, RunOptions(suites=[_suite(workdir / "rl.yaml", "rl", 50, " (rate-limited)")],
                                                      concurrency=CONCURRENCY, rate_limit=RATE)).execute()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ideal = live * llm_seconds / CONCURRENCY
    phase = first.summary["sample_phase_seconds"]
    totals = first.summary["totals"]
    print(f"cases: {N_CASES}, concurrency {CONCURRENCY}, LLM latency setting {LLM_LATENCY * 1000:.0f} ms, "
          f"measured LLM call (baseline) {llm_seconds * 1000:.1f} ms")
    print(f"first run: {live} live LLM calls ({calls_first} seen by the server), verdicts {totals}")
    print(f"ideal {ideal:.2f} s; whole run {wall:.2f} s → {wall / ideal:.3f}x ideal; "
          f"sample phase {phase:.2f} s → {phase / ideal:.3f}x ideal")
    nominal = live * LLM_LATENCY / CONCURRENCY
    print(f"(against the nominal {LLM_LATENCY * 1000:.0f} ms instead of the measured call: ideal {nominal:.2f} s, "
          f"whole run {wall / nominal:.3f}x)")
    hits = second.summary["calls"]
    print(f"second run: {wall_second:.2f} s, cache hits {hits['cache_hits']}, live calls {hits['ok']}, "
          f"hit rate {hits['cache_hit_rate']:.1%}, calls seen by the server {calls_second}")
    rl_calls, rl_phase = limited.summary["calls"]["ok"], limited.summary["sample_phase_seconds"]
    print(f"rate limit {RATE:g}/s: {rl_calls} calls in {rl_phase:.2f} s = {rl_calls / rl_phase:.1f} calls/s")
