"""Aggregation over repeats, and the statistics behind compare, gate and calibrate."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scipy import stats as sps


@dataclass
class CaseOutcome:
    verdict: str  # pass | fail | flaky | error
    pass_rate: float | None
    mean_score: float | None
    spread: float | None
    errors: int
    scores: dict[str, Any]


def sample_outcome(scores: list[dict[str, Any]], error: str | None) -> tuple[bool | None, float | None, str | None]:
    """(passed, score, error) of one repeat: an error anywhere makes the repeat an error, not a fail."""
    errors = [s["error"] for s in scores if s.get("error")]
    if error or errors:
        return None, None, error or "; ".join(errors)
    gating = [s for s in scores if s.get("gating", True)]
    values = [float(s["score"]) for s in gating if s.get("score") is not None]
    passed = all(bool(s["passed"]) for s in gating)
    return passed, (sum(values) / len(values) if values else (1.0 if passed else 0.0)), None


def aggregate(samples: list[dict[str, Any]]) -> CaseOutcome:
    """Three-state verdict over the repeats; any errored repeat makes the case an error (never a pass
    or fail by omission). Counts: every sample is either scored or an error."""
    scored = [s for s in samples if s.get("error") is None]
    errors = len(samples) - len(scored)
    passes = sum(1 for s in scored if s["passed"])
    values = [float(s["score"]) for s in scored]
    if errors:
        verdict = "error"
    elif passes == len(scored):
        verdict = "pass"
    elif passes == 0:
        verdict = "fail"
    else:
        verdict = "flaky"
    per_scorer: dict[str, dict[str, Any]] = {}
    for sample in samples:
        for score in sample.get("scores", []):
            entry = per_scorer.setdefault(score["name"], {"kind": score["kind"], "n": 0, "passed": 0, "errors": 0,
                                                          "values": [], "gating": score.get("gating", True)})
            entry["n"] += 1
            if score.get("error"):
                entry["errors"] += 1
                continue
            entry["passed"] += 1 if score.get("passed") else 0
            if score.get("score") is not None:
                entry["values"].append(float(score["score"]))
    for entry in per_scorer.values():
        values_ = entry.pop("values")
        entry["mean"] = sum(values_) / len(values_) if values_ else None
    return CaseOutcome(
        verdict=verdict,
        pass_rate=passes / len(scored) if scored else None,
        mean_score=sum(values) / len(values) if values else None,
        spread=statistics.pstdev(values) if len(values) > 1 else (0.0 if values else None),
        errors=errors,
        scores=per_scorer,
    )


def verdict_counts(verdicts: Sequence[str]) -> dict[str, Any]:
    counts = {v: sum(1 for x in verdicts if x == v) for v in ("pass", "fail", "flaky", "error")}
    decided = counts["pass"] + counts["fail"] + counts["flaky"]
    return counts | {"cases": len(verdicts), "pass_rate": counts["pass"] / decided if decided else None}


@dataclass
class McNemar:
    pass_to_fail: int
    fail_to_pass: int
    p_value: float

    @property
    def regressed(self) -> bool:
        return self.pass_to_fail > self.fail_to_pass


def mcnemar_exact(before: Sequence[bool], after: Sequence[bool]) -> McNemar:
    """Exact McNemar: a two-sided binomial test on the discordant pairs."""
    b = sum(1 for x, y in zip(before, after, strict=True) if x and not y)
    c = sum(1 for x, y in zip(before, after, strict=True) if y and not x)
    p = 1.0 if b + c == 0 else float(sps.binomtest(min(b, c), b + c, 0.5).pvalue)
    return McNemar(b, c, min(p, 1.0))


def spearman(xs: Sequence[float], ys: Sequence[float]) -> tuple[float | None, float | None]:
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None, None  # undefined for constant inputs: reported as n/a, not 0
    result = sps.spearmanr(xs, ys)
    return float(result.statistic), float(result.pvalue)


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    n = len(a)
    if n == 0:
        return None
    labels = sorted(set(a) | set(b), key=str)
    observed = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    expected = sum((list(a).count(label) / n) * (list(b).count(label) / n) for label in labels)
    if expected >= 1.0:
        return None  # both raters used one label only: kappa is undefined
    return (observed - expected) / (1 - expected)
