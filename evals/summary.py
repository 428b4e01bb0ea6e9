"""A run's summary: verdict counts per suite and overall, scorer pass rates, metrics, calls, tokens, cost."""

from __future__ import annotations

from typing import Any

from desk.eval_tables import EvalCaseResult
from evals.gate import LLMGate
from evals.pricing import cost, load_prices
from evals.stats import verdict_counts
from ground.settings import Settings

_METRICS = ("recall@", "mrr", "reference_similarity", "checklist", "required_facts")


def _scorer_table(cases: list[EvalCaseResult]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for case in cases:
        for sample in case.samples:
            for score in sample.get("scores", []):
                row = table.setdefault(score["name"], {"kind": score["kind"], "gating": score.get("gating", True),
                                                       "n": 0, "passed": 0, "failed": 0, "errors": 0, "values": []})
                row["n"] += 1
                row["gating"] = row["gating"] or score.get("gating", True)
                if score.get("error"):
                    row["errors"] += 1
                    continue
                if score.get("passed") is True:
                    row["passed"] += 1
                elif score.get("passed") is False:
                    row["failed"] += 1
                if score.get("score") is not None:
                    row["values"].append(float(score["score"]))
    for row in table.values():
        values = row.pop("values")
        row["mean"] = round(sum(values) / len(values), 4) if values else None
        decided = row["passed"] + row["failed"]
        row["pass_rate"] = round(row["passed"] / decided, 4) if decided and row["gating"] else None
    return table


def _judge_items(cases: list[EvalCaseResult]) -> dict[str, int]:
    counts = {"items": 0, "passed": 0, "failed": 0, "errors": 0}
    for case in cases:
        for sample in case.samples:
            for score in sample.get("scores", []):
                for item in score.get("items", []):
                    counts["items"] += 1
                    if item.get("error"):
                        counts["errors"] += 1
                    elif item.get("passed"):
                        counts["passed"] += 1
                    else:
                        counts["failed"] += 1
    return counts


def build_summary(cases: list[EvalCaseResult], gate: LLMGate, settings: Settings, *, judge: bool) -> dict[str, Any]:
    by_suite: dict[str, list[EvalCaseResult]] = {}
    for case in cases:
        by_suite.setdefault(case.suite, []).append(case)
    suites = {}
    for name, rows in by_suite.items():
        table = _scorer_table(rows)
        metrics = {k: v["mean"] for k, v in table.items() if k.startswith(_METRICS) and v["mean"] is not None}
        suites[name] = verdict_counts([c.verdict for c in rows]) | {"metrics": metrics}
    samples = [s for c in cases for s in c.samples]
    roles = {role: stats.as_dict() for role, stats in gate.stats.items()}
    by_model: dict[str, dict[str, int]] = {}
    for stats in gate.stats.values():
        for model, usage in stats.by_model.items():
            entry = by_model.setdefault(model, {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0})
            for key in entry:
                entry[key] += usage[key]
    hits = sum(s.cache_hits for s in gate.stats.values())
    live = sum(s.ok for s in gate.stats.values())
    attempts = sum(s.attempts for s in gate.stats.values())
    return {
        "totals": verdict_counts([c.verdict for c in cases]),
        "suites": suites,
        "scorers": _scorer_table(cases),
        "samples": {"total": len(samples), "scored": sum(1 for s in samples if s.get("error") is None),
                    "errors": sum(1 for s in samples if s.get("error") is not None)},
        "judge": {"enabled": judge} | _judge_items(cases),
        "llm": roles,
        "calls": {"attempts": attempts, "ok": live, "failed_attempts": attempts - live, "cache_hits": hits,
                  "cache_hit_rate": round(hits / (hits + live), 4) if hits + live else None},
        "tokens": {
            "prompt": sum(s.prompt_tokens for s in gate.stats.values()),
            "completion": sum(s.completion_tokens for s in gate.stats.values()),
            "cached_prompt": sum(s.cached_prompt_tokens for s in gate.stats.values()),
            "cached_completion": sum(s.cached_completion_tokens for s in gate.stats.values()),
            "by_model": by_model,
        },
        "cost": cost(by_model, load_prices(settings.eval_prices)),
        "params_sent": gate.params,
    }
