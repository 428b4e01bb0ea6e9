"""An eval run: suites → samples (case x repeat) in parallel under the LLM gate → scores → stored run."""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.graph import AgentRuntime
from agent.llm import LLMDrafter
from agent.runner import ReplyRunner
from desk.eval_tables import EvalCaseResult
from evals import store
from evals.casework import SampleContext, draft_sample, retrieval_sample
from evals.errors import EvalError, SuiteUnavailable
from evals.gate import LLMGate, ResponseCache
from evals.judge import Judge, JudgeConfig, judge_prompt_hash
from evals.kb import EvalKnowledge, agent_settings, scratch_dir
from evals.provenance import git_state, load_prompt
from evals.scorers import SimilarityScorer
from evals.stats import aggregate
from evals.suites import Case, Suite, load_suite
from evals.summary import build_summary
from ground.settings import Settings
from knowledge.store import KnowledgeStore


@dataclass
class RunOptions:
    suites: list[str]
    repeats: int = 1
    concurrency: int | None = None
    rate_limit: float | None = None
    prompt_file: Path | None = None
    judge: bool = True
    cache: bool = True
    label: str = ""
    limit: int | None = None


@dataclass
class RunResult:
    run_id: int
    summary: dict[str, Any]
    notes: list[str]
    skipped: list[str] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)  # "suite/case_id" → pass | fail | flaky | error


def load_suites(names: list[str], settings: Settings, limit: int | None = None) -> tuple[list[Suite], list[str]]:
    suites, skipped = [], []
    for name in names:
        try:
            suite = load_suite(name, settings.eval_shared_data)
        except SuiteUnavailable as exc:
            skipped.append(str(exc))
            continue
        if limit:
            suite.cases = suite.cases[:limit]
        suites.append(suite)
    return suites, skipped


class EvalRunner:
    def __init__(self, settings: Settings, options: RunOptions,
                 on_progress: Callable[[int, int], None] | None = None) -> None:
        if options.repeats < 1:
            raise EvalError("--repeats must be at least 1")
        self.settings, self.options, self.on_progress = settings, options, on_progress
        self.concurrency = options.concurrency or settings.eval_concurrency
        cache = ResponseCache(settings.data_dir / "evals" / "cache") if options.cache else None
        self.gate = LLMGate(cache, self.concurrency, options.rate_limit or settings.eval_rate_limit)
        self.prompt = load_prompt(options.prompt_file)
        self.notes: list[str] = []
        self.judge_config: JudgeConfig | None = None
        if options.judge and settings.judge_enabled:
            self.judge_config = JudgeConfig(
                model=settings.eval_judge_model or settings.llm_model,
                base_url=settings.eval_judge_base_url or settings.llm_base_url,
                timeout=settings.eval_judge_timeout, max_retries=settings.eval_judge_max_retries,
                prompt_hash=judge_prompt_hash(),
            )
        self._runners: dict[tuple[str, int], ReplyRunner] = {}
        self._runner_lock = threading.Lock()
        self._judge_clients: dict[int, Any] = {}
        self._judge: Judge | None = None

    # Clients and agent runners are built lazily, one per repeat index: the repeat index is part of
    # every cache key, so repeats are separate samples.
    def _judge_client(self, repeat: int) -> Any:
        config = self.judge_config
        assert config is not None
        with self._runner_lock:
            if repeat not in self._judge_clients:
                self._judge_clients[repeat] = self.gate.client(
                    config.base_url, self.settings.eval_judge_api_key or self.settings.llm_api_key,
                    role="judge", repeat=repeat, timeout=config.timeout, max_retries=config.max_retries)
            return self._judge_clients[repeat]

    def _runner(self, agent: Settings, kb_hash: str, repeat: int) -> ReplyRunner:
        with self._runner_lock:
            key = (kb_hash, repeat)
            if key not in self._runners:
                llm = None
                if agent.llm_enabled:
                    client = self.gate.client(agent.llm_base_url, agent.llm_api_key, role="draft", repeat=repeat,
                                              timeout=agent.llm_timeout, max_retries=agent.llm_max_retries)
                    llm = LLMDrafter(agent, client=client, prompt_override=self.prompt.override)
                runner = ReplyRunner(agent, AgentRuntime(settings=agent, store=KnowledgeStore(agent), llm=llm))
                # Throwaway checkpoints: skip fsync (it serialised parallel samples on the saver's lock).
                conn = getattr(runner.checkpointer, "conn", None)
                if conn is not None:
                    conn.execute("PRAGMA synchronous=OFF")
                self._runners[key] = runner
            return self._runners[key]

    def execute(self) -> RunResult:
        started = time.perf_counter()
        settings, options = self.settings, self.options
        suites, skipped = load_suites(options.suites, settings, options.limit)
        self.notes.extend(skipped)
        if not suites:
            raise EvalError("no suite could run: " + "; ".join(skipped))
        knowledge: dict[tuple[str, ...], EvalKnowledge] = {}
        for suite in suites:
            paths = tuple(str(p) for p in suite.knowledge_paths())
            if paths not in knowledge:
                knowledge[paths] = EvalKnowledge.load([Path(p) for p in paths])
        kb_of = {s.name: knowledge[tuple(str(p) for p in s.knowledge_paths())] for s in suites}
        if self.judge_config is None and any(s.rubric or any(c.expect.rubric for c in s.cases) for s in suites):
            self.notes.append("no judge endpoint configured: LLM-judge checklist items were not scored; "
                              "only deterministic and semantic scorers ran")
        if not settings.llm_enabled and any(s.mode == "draft" for s in suites):
            self.notes.append("drafts written by the offline composer (no drafting LLM configured)")
        commit, dirty = git_state()
        engine = store.open_engine(settings)
        run_id = store.create_run(
            engine, label=options.label, suites=[s.name for s in suites], config=self._config(suites),
            git_commit=commit, git_dirty=dirty, prompt_hash=self.prompt.hash,
            knowledge_hash=hashlib.sha256("".join(sorted(k.hash for k in knowledge.values())).encode())
            .hexdigest()[:16] if len(knowledge) > 1 else next(iter(knowledge.values())).hash,
            judge_prompt_hash=self.judge_config.prompt_hash if self.judge_config else None,
        )
        scratch = scratch_dir(settings)
        try:
            samples, phase = self._run_samples(run_id, suites, kb_of, scratch)
        except BaseException:
            store.finish_run(engine, run_id, status="failed", summary={}, notes=self.notes, cases=[])
            raise
        finally:
            for runner in self._runners.values():
                runner.close()
            shutil.rmtree(scratch, ignore_errors=True)
        cases = []
        for (suite_name, case_id), items in samples.items():
            outcome = aggregate(items)
            cases.append(EvalCaseResult(
                run_id=run_id, suite=suite_name, case_id=case_id, verdict=outcome.verdict,
                pass_rate=outcome.pass_rate, mean_score=outcome.mean_score, spread=outcome.spread,
                repeats=len(items), errors=outcome.errors, scores=outcome.scores,
                samples=sorted(items, key=lambda s: s["repeat"]),
            ))
        summary = build_summary(cases, self.gate, settings, judge=self.judge_config is not None)
        self.notes.extend(self.gate.notes())
        if self._judge is not None and not self._judge.seed_supported:
            self.notes.append("the judge endpoint rejected `seed`: judged at temperature 0 without a seed")
        self.gate.close()
        summary["duration_seconds"] = round(time.perf_counter() - started, 3)
        summary["sample_phase_seconds"] = round(phase, 3)
        store.finish_run(engine, run_id, status="finished", summary=summary, notes=self.notes, cases=cases)
        engine.dispose()
        return RunResult(run_id, summary, self.notes, skipped, {f"{c.suite}/{c.case_id}": c.verdict for c in cases})

    def _run_samples(self, run_id: int, suites: list[Suite], kb_of: dict[str, EvalKnowledge],
                     scratch: Path) -> tuple[dict[tuple[str, str], list[dict[str, Any]]], float]:
        settings, repeats = self.settings, self.options.repeats
        similarity = SimilarityScorer()
        results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="eval-judge") as judge_pool, \
                ThreadPoolExecutor(self.concurrency, thread_name_prefix="eval-case") as pool:
            judge = self._judge = (Judge(self.judge_config, self._judge_client, settings)
                                     if self.judge_config else None)
            tasks: list[tuple[SampleContext, Settings, Case, int, int]] = []
            for suite in suites:
                kb = kb_of[suite.name]
                agent = agent_settings(settings, kb, suite.workspace, scratch / kb.hash)
                ctx = SampleContext(suite, kb, self.prompt.system, agent.llm_enabled, judge, judge_pool, similarity,
                                    set(suite.scorers) if suite.scorers is not None else None)
                # Retrieval is deterministic: one sample per case, whatever --repeats says.
                count = 1 if suite.mode == "retrieval" else repeats
                tasks.extend((ctx, agent, case, index, r)
                             for index, case in enumerate(suite.cases) for r in range(count))

            def one(ctx: SampleContext, agent: Settings, case: Case, index: int, repeat: int) -> dict[str, Any]:
                if ctx.suite.mode == "retrieval":
                    return retrieval_sample(ctx, KnowledgeStore(agent), case, index)
                thread = f"eval-{run_id}-{ctx.suite.name}-{case.id}-r{repeat}"
                runner = self._runner(agent, ctx.knowledge.hash, repeat)
                return draft_sample(ctx, runner, case, index, repeat, thread)

            started = time.perf_counter()
            futures = [(task[0].suite.name, task[2].id, pool.submit(one, *task)) for task in tasks]
            for done, (suite_name, case_id, future) in enumerate(futures, start=1):
                results.setdefault((suite_name, case_id), []).append(future.result())
                if self.on_progress:
                    self.on_progress(done, len(tasks))
            return results, time.perf_counter() - started

    def _config(self, suites: list[Suite]) -> dict[str, Any]:
        settings, options = self.settings, self.options
        return {
            "suites": [{"name": s.name, "source": s.source, "cases": len(s.cases), "mode": s.mode} for s in suites],
            "repeats": options.repeats, "concurrency": self.concurrency,
            "rate_limit": options.rate_limit or settings.eval_rate_limit, "cache": options.cache,
            "limit": options.limit,
            "drafting": {"llm": settings.llm_enabled, "model": settings.llm_model if settings.llm_enabled else None,
                         "base_url": settings.llm_base_url,
                         "prompt": self.prompt.source, "prompt_hash": self.prompt.hash},
            "judge": self.judge_config.as_dict() if self.judge_config else None,
            "retrieve_k": settings.retrieve_k, "min_answer_score": settings.min_answer_score,
        }
