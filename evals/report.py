"""``replydesk eval report RUN``: one self-contained HTML file (inline SVG charts, inline CSS, no
scripts), a Markdown summary for CI logs and pull requests, and the full run as JSON."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from desk.eval_tables import EvalCaseResult, EvalRun
from evals import charts, store

_ORDER = {"error": 0, "fail": 1, "flaky": 2, "pass": 3}
CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #ddd;padding:4px 6px;
vertical-align:top;text-align:left}th{background:#f5f5f5}.v-pass{color:#2e7d32}.v-fail{color:#c62828}
.v-flaky{color:#f9a825}.v-error{color:#6d4c41}.note{background:#fff8e1;padding:6px 10px;margin:4px 0}
.reply{white-space:pre-wrap;background:#fafafa;padding:4px}.charts{display:flex;flex-wrap:wrap;gap:1.5rem}
code{font-size:12px}"""


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


def _case_rows(cases: list[EvalCaseResult]) -> str:
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
        rows.append(
            f'<tr><td>{escape(case.suite)}</td><td><code>{escape(case.case_id)}</code></td>'
            f'<td class="v-{case.verdict}"><b>{case.verdict}</b></td><td>{_pct(case.pass_rate)}</td>'
            f'<td>{"n/a" if case.mean_score is None else f"{case.mean_score:.3f}"}{spread}</td>'
            f'<td><div class="reply">{escape(str(sample.get("text") or "(no draft)"))}</div>'
            f'<small>route {escape(str(sample.get("route")))}, cites {escape(", ".join(sample.get("citations", [])))}'
            f'</small></td><td>{"<br>".join(escape(p[:400]) for p in problems[:8])}</td></tr>'
        )
    return "".join(rows)


def render_html(engine: Engine, run: EvalRun, cases: list[EvalCaseResult]) -> str:
    summary = run.summary
    suites = [(name, row) for name, row in summary.get("suites", {}).items()]
    scorers = sorted(summary.get("scorers", {}).items())
    calls, tokens, cost = summary.get("calls", {}), summary.get("tokens", {}), summary.get("cost", {})
    usd = "unknown (no price for " + ", ".join(cost.get("unknown_models", [])) + ")" if cost.get("usd") is None \
        else f"${cost['usd']:.4f}"
    notes = "".join(f'<div class="note">{escape(n)}</div>' for n in run.notes)
    suite_rows = "".join(
        f"<tr><td>{escape(n)}</td><td>{r['cases']}</td><td>{r['pass']}</td><td>{r['fail']}</td><td>{r['flaky']}</td>"
        f"<td>{r['error']}</td><td>{_pct(r['pass_rate'])}</td><td>"
        + ", ".join(f"{escape(k)} {v:.3f}" for k, v in r.get("metrics", {}).items()) + "</td></tr>"
        for n, r in suites
    )
    config = escape(json.dumps(run.config, indent=2, default=str))
    totals = summary.get("totals", {})
    scorer_bars = [(n, r["pass_rate"] if r["gating"] else r["mean"], bool(r["gating"])) for n, r in scorers]
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Eval run {run.id}</title><style>{CSS}</style></head><body>
<h1>Eval run {run.id}{f" — {escape(run.label)}" if run.label else ""}</h1>
<p>{escape(", ".join(run.suites))} · {run.created_at:%Y-%m-%d %H:%M} UTC ·
commit <code>{escape(run.git_commit or "n/a")}</code>{" (uncommitted changes)" if run.git_dirty else ""} ·
knowledge <code>{escape(run.knowledge_hash)}</code> · prompt <code>{escape(run.prompt_hash)}</code> ·
judge prompt <code>{escape(run.judge_prompt_hash or "no judge")}</code></p>
<p><b>{totals.get("cases", 0)} cases</b>: {totals.get("pass", 0)} pass, {totals.get("fail", 0)} fail,
{totals.get("flaky", 0)} flaky, {totals.get("error", 0)} error — pass rate {_pct(totals.get("pass_rate"))}</p>
{notes}
<div class="charts"><section><h2>Verdicts per suite</h2>{charts.stacked_bars(suites)}</section>
<section><h2>Score distribution</h2>{charts.histogram([c.mean_score for c in cases if c.mean_score is not None])}
</section><section><h2>Run-over-run pass rate</h2>{charts.trend(_trend(engine, run))}</section>
<section><h2>Pass rate per scorer</h2>{charts.rate_bars(scorer_bars)}</section></div>
<h2>Suites</h2><table><tr><th>suite</th><th>cases</th><th>pass</th><th>fail</th><th>flaky</th><th>error</th>
<th>pass rate</th><th>metrics</th></tr>{suite_rows}</table>
<h2>Calls, tokens, cost</h2><p>{calls.get("ok", 0)} live calls ({calls.get("failed_attempts", 0)} failed attempts),
{calls.get("cache_hits", 0)} from cache (hit rate {_pct(calls.get("cache_hit_rate"))});
tokens {tokens.get("prompt", 0)} in / {tokens.get("completion", 0)} out
(cached: {tokens.get("cached_prompt", 0)} / {tokens.get("cached_completion", 0)});
cost {usd}; {summary.get("duration_seconds", 0):.1f} s.</p>
<h2>Cases</h2><table><tr><th>suite</th><th>case</th><th>verdict</th><th>pass rate</th><th>score</th><th>draft</th>
<th>what failed</th></tr>{_case_rows(cases)}</table>
<h2>Configuration</h2><pre>{config}</pre></body></html>"""


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
