"""One sample: run the real agent graph on a case (or retrieval only), then score what came back."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from agent.graph import thread_context
from agent.runner import ReplyRunner
from agent.state import Author, InboundMessage, ReviewRequest, ThreadTurn
from evals.judge import Judge, JudgeInput
from evals.kb import EvalKnowledge
from evals.scorers import Score, SimilarityScorer, score_retrieval, score_routing, score_text
from evals.stats import sample_outcome
from evals.suites import Case, Suite
from knowledge.search import search_knowledge
from knowledge.store import KnowledgeStore


def to_message(case: Case, suite: Suite, index: int) -> InboundMessage:
    spec = case.message
    return InboundMessage(
        id=index + 1,
        workspace=suite.workspace,
        platform=spec.platform.lower(),
        external_id=case.id,
        author=Author(id=spec.author.id, handle=spec.author.handle, display_name=spec.author.display_name),
        text=spec.text,
        thread=[ThreadTurn(author=t.author, text=t.text) for t in spec.thread],
        public=spec.public,
    )


def rubric_items(case: Case, suite: Suite, message: InboundMessage) -> list[str]:
    items = [*suite.rubric, *case.expect.rubric]
    return [item.replace("{author_name}", message.author.name) for item in dict.fromkeys(items)]


@dataclass
class SampleContext:
    """Everything a sample needs that is shared across the run."""

    suite: Suite
    knowledge: EvalKnowledge
    system_prompt: str
    llm_drafting: bool
    judge: Judge | None
    judge_pool: Executor | None
    similarity: SimilarityScorer
    allowed: set[str] | None  # scorer names the suite restricts itself to


def wants(allowed: set[str] | None, name: str) -> bool:
    """Whether a suite restricted to ``allowed`` scorers runs this one (recall@k and mrr: 'retrieval')."""
    if allowed is None or name in allowed:
        return True
    return name.split("@")[0] in ("recall", "mrr") and "retrieval" in allowed


def _allowed(ctx: SampleContext, scores: list[Score]) -> list[Score]:
    return [s for s in scores if wants(ctx.allowed, s.name)]


def _guidelines(ctx: SampleContext, platform: str) -> str:
    chosen = [g for g in (ctx.knowledge.brand_voice(), ctx.knowledge.platform_guideline(platform)) if g]
    return "\n\n".join(g.text for g in chosen)


def _checklist(ctx: SampleContext, case: Case, message: InboundMessage, request: ReviewRequest,
               repeat: int) -> Score | None:
    items = rubric_items(case, ctx.suite, message)
    if not items or ctx.judge is None or ctx.judge_pool is None:
        return None
    data = JudgeInput(
        platform=message.platform, public=message.public, author_name=message.author.name,
        author_handle=message.author.handle, thread="\n".join(f"{t.author}: {t.text}" for t in message.thread),
        message=message.text, guidelines=_guidelines(ctx, message.platform), reply=request.text,
        sources="\n".join(f"[{c.id}] {ctx.knowledge.text_of(c.id)}" for c in request.citations),
    )
    futures = [ctx.judge_pool.submit(ctx.judge.check, item, data, repeat) for item in items]
    results = [f.result() for f in futures]
    errors = [r for r in results if r.error]
    passed = sum(1 for r in results if r.passed)
    score = Score("checklist", "judge", None, None, items=[r.as_dict() for r in results])
    if errors:
        score.error = f"{len(errors)} of {len(items)} checklist items could not be judged: {errors[0].error}"
        return score
    score.passed, score.score = passed == len(items), passed / len(items)
    score.detail = "; ".join(f"fails: {r.item}" for r in results if not r.passed)
    return score


def draft_sample(
    ctx: SampleContext, runner: ReplyRunner, case: Case, index: int, repeat: int, thread_id: str
) -> dict[str, Any]:
    message = to_message(case, ctx.suite, index)
    sample: dict[str, Any] = {"repeat": repeat}
    try:
        request = runner.start(thread_id, message)
    except Exception as exc:  # the agent under test failed: record it on this sample, keep the run going
        return _finish(sample, [], f"agent failed: {type(exc).__name__}: {str(exc)[:300]}")
    if request is None:
        return _finish(sample, [], "the agent did not stop at review")
    sample |= _describe(request)
    if ctx.llm_drafting and request.route == "draft" and request.composer != "llm":
        # The agent falls back to its offline composer when the LLM fails; scoring that draft as the
        # model's would be a silent fallback.
        return _finish(sample, [], f"drafting LLM failed, offline composer used instead: {request.note[:300]}")
    scores = score_routing(case, request)
    if request.route == "draft":
        scores += score_text(case, ctx.suite, request, ctx.knowledge, ctx.system_prompt)
        if case.expect.reference and wants(ctx.allowed, "reference_similarity"):
            threshold = case.expect.min_similarity or ctx.suite.min_similarity
            scores.append(ctx.similarity.score(request.text, case.expect.reference, threshold))
        if case.expect.knowledge_ids and wants(ctx.allowed, "recall"):
            ranked = [str(h["id"]) for h in runner.final_state(thread_id).get("hits", [])]
            sample["retrieved"] = ranked
            scores += score_retrieval(case, ranked, gating=False)
        checklist = _checklist(ctx, case, message, request, repeat) if wants(ctx.allowed, "checklist") else None
        if checklist is not None:
            scores.append(checklist)
    return _finish(sample, _allowed(ctx, scores), None)


def retrieval_sample(ctx: SampleContext, store: KnowledgeStore, case: Case, index: int) -> dict[str, Any]:
    message = to_message(case, ctx.suite, index)
    k = max(case.expect.retrieval_k, 10)
    try:
        hits = search_knowledge(store, message.text, message.workspace, k=k, context=thread_context(message))
    except Exception as exc:  # record, don't abort the run
        return _finish({"repeat": 0}, [], f"retrieval failed: {type(exc).__name__}: {str(exc)[:300]}")
    ranked = [h.id for h in hits]
    return _finish({"repeat": 0, "retrieved": ranked}, score_retrieval(case, ranked), None)


def _describe(request: ReviewRequest) -> dict[str, Any]:
    triage = request.triage
    return {
        "route": request.route,
        "text": request.text,
        "citations": [c.id for c in request.citations],
        "composer": request.composer,
        "needs_human_answer": request.needs_human_answer,
        "triage": {k: triage.get(k) for k in ("intent", "route", "escalate_to", "risk_flags", "sentiment")},
        "checks": [{"name": c.name, "passed": c.passed} for c in request.checks],
        "usage": request.usage,
    }


def _finish(sample: dict[str, Any], scores: list[Score], error: str | None) -> dict[str, Any]:
    dumped = [s.as_dict() for s in scores]
    passed, value, problem = sample_outcome(dumped, error)
    return sample | {"scores": dumped, "passed": passed, "score": value, "error": problem}
