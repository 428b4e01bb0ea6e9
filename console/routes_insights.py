"""Insights and evals: health against each platform's response target, volume and sentiment trends, themes
with a representative quote, rejections by reason, alerts; eval runs, a run's cases, two runs compared, and
a run's HTML report. Charts are the digest's own (pygal, server-side SVG, no script)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from console.deps import PageError, Who, bounded, settings_of
from console.views import page
from desk.reads import eval_run, eval_runs
from evals.compare import compare_runs
from evals.errors import EvalError
from evals.report import render_html
from insights.alerts import list_alerts
from insights.errors import InsightsError
from insights.health import build_health
from insights.period import PERIODS, make_period
from insights.summary import build_summary
from knowledge.store import check_workspace

router = APIRouter(include_in_schema=False)


@router.get("/insights", response_class=HTMLResponse)
def insights(request: Request, who: Who) -> HTMLResponse:
    ctx = request.app.state.ctx
    ws = check_workspace(who.scope.workspace_for(request.query_params.get("workspace") or None,
                                                 settings_of(request).workspace))
    chosen = request.query_params.get("period") or "week"
    try:
        period = make_period(period=chosen if chosen in PERIODS else "week")
        summary = build_summary(ctx.engine, ctx.settings, ws, period, prose="none")
        health = build_health(ctx.engine, ctx.store, ws, period)
    except InsightsError as exc:
        raise PageError(400, str(exc)) from None
    from insights.charts import response_chart, sentiment_chart, themes_chart, volume_chart  # pygal, on first use

    charts = {"response": response_chart(health), "volume": volume_chart(summary),
              "sentiment": sentiment_chart(summary)}
    if summary.themes:
        charts["themes"] = themes_chart(summary)
    # Markup: pygal builds the SVG with an XML library, which escapes every label (message quotes included).
    return page(request, "insights.html", who, workspace=ws, period=chosen, periods=list(PERIODS), summary=summary,
                health=health, charts={k: Markup(v) for k, v in charts.items()},
                alerts=list_alerts(ctx.engine, ws, limit=20, scope=who.scope))


@router.get("/evals", response_class=HTMLResponse)
def evals(request: Request, who: Who) -> HTMLResponse:
    runs, total = eval_runs(request.app.state.ctx.engine, suite=None, status=None, offset=0, limit=50,
                            scope=who.scope)
    compared = None
    first, second = request.query_params.get("a", ""), request.query_params.get("b", "")
    if first and second:
        if not (first.isdigit() and second.isdigit()):
            raise PageError(400, "Pick two runs to compare.")
        try:
            compared = compare_runs(request.app.state.ctx.engine, int(first), int(second))
        except EvalError as exc:
            raise PageError(404, str(exc)) from None
    return page(request, "evals.html", who, runs=runs, total=total, compared=compared, a=first, b=second)


@router.get("/evals/runs/{run_id}", response_class=HTMLResponse)
def run(request: Request, who: Who, run_id: int) -> HTMLResponse:
    run_id = bounded(run_id, "eval run")
    verdict = request.query_params.get("verdict") or None
    found, cases = eval_run(request.app.state.ctx.engine, run_id, verdict, scope=who.scope)
    return page(request, "eval_run.html", who, run=found, cases=cases, verdict=verdict or "")


@router.get("/evals/runs/{run_id}/report", response_class=HTMLResponse)
def report(request: Request, who: Who, run_id: int) -> HTMLResponse:
    run_id = bounded(run_id, "eval run")
    """The run's own HTML report (the one `replydesk evals report` writes), served as is."""
    engine = request.app.state.ctx.engine
    found, cases = eval_run(engine, run_id, None, scope=who.scope)
    return HTMLResponse(render_html(engine, found, cases))
