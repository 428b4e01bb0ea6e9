"""Compare two runs case by case, and decide whether the second regressed (the CI gate)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from evals import store
from evals.stats import mcnemar_exact

PASS_SHARE = 0.5  # a case counts as passing in the paired test when at least half its repeats pass


@dataclass
class CaseDelta:
    suite: str
    case_id: str
    before: str
    after: str
    score_before: float | None
    score_after: float | None

    @property
    def delta(self) -> float | None:
        if self.score_before is None or self.score_after is None:
            return None
        return round(self.score_after - self.score_before, 4)

    @property
    def flip(self) -> str | None:
        return None if self.before == self.after else f"{self.before}→{self.after}"


@dataclass
class Comparison:
    run_a: int
    run_b: int
    paired: int
    pass_rate_a: float | None
    pass_rate_b: float | None
    pass_to_fail: int
    fail_to_pass: int
    p_value: float
    alpha: float
    regression: bool
    reason: str
    errors_a: int
    errors_b: int
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    deltas: list[CaseDelta] = field(default_factory=list)

    def flips(self) -> list[CaseDelta]:
        return [d for d in self.deltas if d.flip]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["deltas"] = [asdict(d) | {"delta": d.delta, "flip": d.flip} for d in self.deltas]
        out["flips"] = [f"{d.suite}/{d.case_id}: {d.flip}" for d in self.flips()]
        return out


def _passes(pass_rate: float | None) -> bool:
    return pass_rate is not None and pass_rate >= PASS_SHARE


def compare_runs(engine: Engine, ref_a: str | int, ref_b: str | int, alpha: float = 0.05,
                 max_drop: float | None = None) -> Comparison:
    run_a, run_b = store.get_run(engine, ref_a), store.get_run(engine, ref_b)
    assert run_a.id is not None and run_b.id is not None
    cases_a = {(c.suite, c.case_id): c for c in store.get_cases(engine, run_a.id)}
    cases_b = {(c.suite, c.case_id): c for c in store.get_cases(engine, run_b.id)}
    deltas, before, after = [], [], []
    errors_a = errors_b = 0
    for key in sorted(cases_a.keys() & cases_b.keys()):
        a, b = cases_a[key], cases_b[key]
        deltas.append(CaseDelta(key[0], key[1], a.verdict, b.verdict, a.mean_score, b.mean_score))
        errors_a += a.verdict == "error"
        errors_b += b.verdict == "error"
        if "error" in (a.verdict, b.verdict):
            continue  # an error is not a pass or a fail: it is reported, not paired
        before.append(_passes(a.pass_rate))
        after.append(_passes(b.pass_rate))
    test = mcnemar_exact(before, after)
    rate_a = sum(before) / len(before) if before else None
    rate_b = sum(after) / len(after) if after else None
    regression, reason = False, "no significant drop"
    if test.regressed and test.p_value < alpha:
        regression = True
        reason = (f"{test.pass_to_fail} cases went pass→fail and {test.fail_to_pass} fail→pass "
                  f"(exact McNemar p={test.p_value:.4g} < {alpha})")
    elif max_drop is not None and rate_a is not None and rate_b is not None and rate_a - rate_b > max_drop:
        regression = True
        reason = f"pass rate dropped {rate_a - rate_b:.1%} > {max_drop:.1%} allowed"
    elif test.regressed:
        reason = f"drop not significant (exact McNemar p={test.p_value:.4g} ≥ {alpha})"
    return Comparison(
        run_a=run_a.id, run_b=run_b.id, paired=len(before), pass_rate_a=rate_a, pass_rate_b=rate_b,
        pass_to_fail=test.pass_to_fail, fail_to_pass=test.fail_to_pass, p_value=test.p_value, alpha=alpha,
        regression=regression, reason=reason, errors_a=errors_a, errors_b=errors_b,
        only_in_a=[f"{s}/{c}" for s, c in sorted(cases_a.keys() - cases_b.keys())],
        only_in_b=[f"{s}/{c}" for s, c in sorted(cases_b.keys() - cases_a.keys())],
        deltas=deltas,
    )
