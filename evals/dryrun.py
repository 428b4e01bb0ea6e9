"""Estimate a run before paying for it: calls and tokens per role, and cost from the price table.

Tokens are estimated at 4 characters per token from the prompts as they would be built (system
prompt, message, thread, the average source chunk times k, guidelines). Nothing is embedded or called;
the cache may serve some of these calls, which the estimate does not assume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.casework import rubric_items, to_message, wants
from evals.judge import JUDGE_SYSTEM, JUDGE_USER
from evals.kb import EvalKnowledge
from evals.pricing import load_prices
from evals.provenance import load_prompt
from evals.runner import RunOptions, load_suites
from ground.settings import Settings

CHARS_PER_TOKEN = 4
DRAFT_COMPLETION_TOKENS = 120
JUDGE_COMPLETION_TOKENS = 30


def _tokens(chars: int) -> int:
    return max(1, chars // CHARS_PER_TOKEN)


def estimate(settings: Settings, options: RunOptions) -> dict[str, Any]:
    suites, skipped = load_suites(options.suites, settings, options.limit)
    prompt = load_prompt(options.prompt_file)
    judge_on = options.judge and settings.judge_enabled
    rows = []
    totals: dict[str, dict[str, int]] = {"draft": {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0},
              "judge": {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0}}
    for suite in suites:
        kb = EvalKnowledge.load([Path(p) for p in suite.knowledge_paths()])
        answers = [c for c in kb.chunks if c.kind != "guideline"]
        mean_chunk = sum(len(c.text) for c in answers) // max(1, len(answers))
        repeats = 1 if suite.mode == "retrieval" else options.repeats
        row: dict[str, Any] = {"suite": suite.name, "cases": len(suite.cases), "mode": suite.mode,
                               "draft_calls": 0, "judge_calls": 0}
        for index, case in enumerate(suite.cases):
            if suite.mode == "retrieval" or (case.expect.route and case.expect.route != "draft"):
                continue  # no draft expected: triage routes it away before any LLM call
            message = to_message(case, suite, index)
            guides = [g for g in (kb.brand_voice(), kb.platform_guideline(message.platform)) if g]
            context = len(message.text) + sum(len(t.text) for t in message.thread) + sum(len(g.text) for g in guides)
            if settings.llm_enabled:
                row["draft_calls"] += repeats
                totals["draft"]["calls"] += repeats
                chars = len(prompt.system) + len(prompt.user) + context + settings.retrieve_k * mean_chunk
                totals["draft"]["prompt_tokens"] += repeats * _tokens(chars)
                totals["draft"]["completion_tokens"] += repeats * DRAFT_COMPLETION_TOKENS
            judged = judge_on and wants(set(suite.scorers) if suite.scorers is not None else None, "checklist")
            items = rubric_items(case, suite, message) if judged else []
            calls = repeats * len(items)
            row["judge_calls"] += calls
            totals["judge"]["calls"] += calls
            chars = len(JUDGE_SYSTEM) + len(JUDGE_USER) + context + mean_chunk + 400 + 80
            totals["judge"]["prompt_tokens"] += calls * _tokens(chars)
            totals["judge"]["completion_tokens"] += calls * JUDGE_COMPLETION_TOKENS
        rows.append(row)
    prices = load_prices(settings.eval_prices)
    models = {"draft": settings.llm_model, "judge": settings.eval_judge_model or settings.llm_model}
    usd: float | None = 0.0
    unknown = []
    for role, model in models.items():
        price = prices.get(model)
        if totals[role]["calls"] == 0:
            continue
        if price is None or usd is None:
            unknown.append(model)
            usd = None
            continue
        usage = totals[role]
        usd += (usage["prompt_tokens"] * price["input"] + usage["completion_tokens"] * price["output"]) / 1e6
    notes = list(skipped)
    if not judge_on:
        notes.append("no judge endpoint configured: checklist items would not be scored")
    if not settings.llm_enabled:
        notes.append("no drafting LLM configured: drafts by the offline composer (no calls)")
    return {
        "suites": rows, "repeats": options.repeats, "models": models, "calls": totals,
        "cost_usd": round(usd, 4) if usd is not None else None, "unknown_price_models": unknown,
        "method": f"{CHARS_PER_TOKEN} characters per token; the cache may serve some calls", "notes": notes,
    }
