"""``replydesk eval report RUN``: one self-contained HTML file (inline SVG charts, inline CSS, no
scripts; rendered from ``templates/report.html.j2`` with autoescaping), a Markdown summary for CI logs and
pull requests, and the full run as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.engine import Engine

from desk.eval_tables import EvalCaseResult, EvalRun
from evals import store

_ORDER = {"error": 0, "fail": 1, "flaky": 2, "pass": 3}
_TEMPLATES = Environment(loader=PackageLoader("evals", "templates"), autoescape=select_autoescape(["html", "j2"]))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _trend(engine: Engine, run: EvalRun) -> list[tuple[str, float | None]]:
    """Pass rate over this run's suites only, for the recent runs that ran any of them."""
    points = []
    for past in reversed(store.recent_runs(engine, 20, before=run.id)):
        rows = [row for name, row in past.summary.get("suites", {}).items() if name in run.suites]
        if not rows:
            continue
        decided = sum(r["pass"] + r["fail"] + r["flaky"] for r in rows)
        points.append((str(past.id), sum(r["pass"] for r in rows) / decided if decided else None))
    return points


def _case_rows(cases: list[EvalCaseResult]) -> list[dict[str, Any]]:
    rows = []
    for case in sorted(cases, key=lambda c: (_ORDER.get(c.verdict, 9), c.suite, c.case_id)):
        sample = case.samples[0] if case.samples else {}
        seen: dict[str, list[str]] = {}  # the same problem in several repeats is listed once
        for s in case.samples:
            found = [f"error: {s['error']}"] if s.get("error") else []
            for score in s.get("scores", []):
                if score.get("error"):
                    found.append(f"{score['name']}: error: {score['error']}")
                elif score.get("passed") is False:
                    found.append(f"{score['name']}: {score.get('detail', '')}")
            for problem in found:
                seen.setdefault(problem, []).append(str(s["repeat"]))
        many = len(case.samples) > 1
        problems = [f"repeat {','.join(r)}: {p}" if many else p for p, r in seen.items()]
        spread = "" if case.spread is None else f" ± {case.spread:.3f}"
        rows.append({
            "suite": case.suite, "case_id": case.case_id, "verdict": case.verdict, "pass_rate": case.pass_rate,
            "score": ("n/a" if case.mean_score is None else f"{case.mean_score:.3f}") + spread,
            "text": str(sample.get("text") or "(no draft)"), "route": str(sample.get("route")),
            "citations": sample.get("citations", []), "problems": [p[:400] for p in problems[:8]],
        })
    return rows


def render_html(engine: Engine, run: EvalRun, cases: list[EvalCaseResult]) -> str:
    """The run as one self-contained page; every string from a run (drafts, notes, labels) is autoescaped."""
    from evals import charts  # pygal: imported when a report is drawn, not by every process that imports this

    summary = run.summary
    suites = list(summary.get("suites", {}).items())
    scorers = sorted(summary.get("scorers", {}).items())
    cost = summary.get("cost", {})
    usd = "unknown (no price for " + ", ".join(cost.get("unknown_models", [])) + ")" if cost.get("usd") is None \
        else f"${cost['usd']:.4f}"
    scorer_bars = [(n, r["pass_rate"] if r["gating"] else r["mean"], bool(r["gating"])) for n, r in scorers]
    figures = {
        "suites": charts.stacked_bars(suites),
        "scores": charts.histogram([c.mean_score for c in cases if c.mean_score is not None]),
        "trend": charts.trend(_trend(engine, run)),
        "scorers": charts.rate_bars(scorer_bars),
    }
    return _TEMPLATES.get_template("report.html.j2").render(
        run=run, totals=summary.get("totals", {}), suites=suites, calls=summary.get("calls", {}),
        tokens=summary.get("tokens", {}), usd=usd, duration=summary.get("duration_seconds", 0),
        charts=figures, cases=_case_rows(cases), config=json.dumps(run.config, indent=2, default=str), pct=_pct,
    )


def render_markdown(run: EvalRun, cases: list[EvalCaseResult]) -> str:
    summary, totals = run.summary, run.summary.get("totals", {})
    lines = [f"# Eval run {run.id}{f' — {run.label}' if run.label else ''}", "",
             f"commit `{run.git_commit or 'n/a'}`{' (dirty)' if run.git_dirty else ''} · knowledge "
             f"`{run.knowledge_hash}` · prompt `{run.prompt_hash}` · "
             f"judge prompt `{run.judge_prompt_hash or 'none'}`",
             "", f"**{totals.get('cases', 0)} cases: {totals.get('pass', 0)} pass, {totals.get('fail', 0)} fail, "
             f"{totals.get('flaky', 0)} flaky, {totals.get('error', 0)} error — "
             f"pass rate {_pct(totals.get('pass_rate'))}**",
             "", "| suite | cases | pass | fail | flaky | error | pass rate |", "|---|---|---|---|---|---|---|"]
    for name, row in summary.get("suites", {}).items():
        lines.append(f"| {name} | {row['cases']} | {row['pass']} | {row['fail']} | {row['flaky']} | {row['error']} "
                     f"| {_pct(row['pass_rate'])} |")
    lines += [""] + [f"> note: {n}" for n in run.notes]
    bad = [c for c in cases if c.verdict != "pass"]
    if bad:
        lines += ["", "## Not passing", ""]
        for case in sorted(bad, key=lambda c: (_ORDER.get(c.verdict, 9), c.suite, c.case_id))[:100]:
            failed = sorted({s["name"] for smp in case.samples for s in smp.get("scores", [])
                             if s.get("passed") is False or s.get("error")})
            error = next((smp["error"] for smp in case.samples if smp.get("error")), "")
            lines.append(f"- `{case.suite}/{case.case_id}` **{case.verdict}**: {', '.join(failed) or error[:160]}")
    return "\n".join(lines) + "\n"


def run_as_json(run: EvalRun, cases: list[EvalCaseResult]) -> dict[str, Any]:
    return {"run": run.model_dump(mode="json"), "cases": [c.model_dump(mode="json") for c in cases]}


def write_reports(engine: Engine, ref: str | int, out: Path) -> list[Path]:
    run = store.get_run(engine, ref)
    assert run.id is not None
    cases = store.get_cases(engine, run.id)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"eval-run-{run.id}.html", out / f"eval-run-{run.id}.md", out / f"eval-run-{run.id}.json"]
    paths[0].write_text(render_html(engine, run, cases), encoding="utf-8")
    paths[1].write_text(render_markdown(run, cases), encoding="utf-8")
    paths[2].write_text(json.dumps(run_as_json(run, cases), indent=1), encoding="utf-8")
    return paths
