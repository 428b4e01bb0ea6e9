"""``replydesk insights ...``: summaries, health, knowledge gaps, digests and alerts from the command line."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ground.outbound import OutboundPolicy, OutboundRefused
from ground.settings import get_settings
from replydesk.cli_common import migrated_engine

insights_app = typer.Typer(help="What the community is saying: summaries, health, gaps, digests, alerts.",
                           no_args_is_help=True)
gaps_app = typer.Typer(help="Knowledge-gap suggestions: list, refresh, accept, dismiss.", no_args_is_help=True)
alerts_app = typer.Typer(help="Spike alerts: list them, or check the current window now.", no_args_is_help=True)
insights_app.add_typer(gaps_app, name="gaps")
insights_app.add_typer(alerts_app, name="alerts")
console = Console()
err = Console(stderr=True)

WorkspaceOpt = Annotated[str | None, typer.Option("--workspace", "-w", help="Workspace (default: settings).")]
SinceOpt = Annotated[str | None, typer.Option(help="Start, ISO-8601 (default: one period before --until).")]
UntilOpt = Annotated[str | None, typer.Option(help="End, ISO-8601 (default: now).")]
PeriodOpt = Annotated[str, typer.Option(help="day | week | month (used when --since is not given).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


def _store() -> Any:
    from knowledge.store import KnowledgeStore

    return KnowledgeStore(get_settings())


def _scope(workspace: str | None, since: str | None, until: str | None, period: str) -> tuple[str, Any]:
    from insights.errors import InsightsError
    from insights.period import make_period
    from knowledge.errors import KnowledgeError
    from knowledge.store import check_workspace

    try:
        return check_workspace(workspace or get_settings().workspace), make_period(since, until, period)
    except (InsightsError, KnowledgeError) as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


def _counts(title: str, counts: dict[str, int]) -> Table:
    table = Table(title, "count")
    for key, value in counts.items():
        table.add_row(key, str(value))
    return table


@insights_app.command()
def summary(
    workspace: WorkspaceOpt = None, since: SinceOpt = None, until: UntilOpt = None, period: PeriodOpt = "week",
    prose: Annotated[str, typer.Option(help="auto (LLM when configured) | extractive | none")] = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Volume, sentiment, themes, top questions, escalations and unanswered items for a period."""
    from insights.summary import build_summary

    if prose not in ("auto", "extractive", "none"):
        _fail(f"--prose must be auto, extractive or none, not {prose!r}")
    ws, window = _scope(workspace, since, until, period)
    result = build_summary(migrated_engine(), get_settings(), ws, window, prose=prose)
    if as_json:
        print(result.model_dump_json())
        return
    console.print(f"[bold]{ws}[/bold] {window.label()} — {result.total} messages, "
                  f"{result.negative_share * 100:.0f}% negative ({result.prose_source} summary)")
    console.print(result.prose)
    for title, counts in (("platform", result.by_platform), ("intent", result.by_intent), ("route", result.by_route)):
        console.print(_counts(title, counts))
    table = Table("count", "neg", "theme", "representative quote", title="top themes")
    for theme in result.themes:
        table.add_row(str(theme.count), f"{theme.negative_share * 100:.0f}%", theme.label, theme.quote[:100])
    console.print(table)
    console.print(f"escalations: {result.escalations.total} {result.escalations.by_team}; "
                  f"unanswered: {result.unanswered.total} {result.unanswered.by_state}")


@insights_app.command()
def health(
    workspace: WorkspaceOpt = None, since: SinceOpt = None, until: UntilOpt = None, period: PeriodOpt = "week",
    as_json: JsonOpt = False,
) -> None:
    """Response times vs targets, SLA breaches, approval/edit rates, drafts per CM, deflection."""
    from insights.health import build_health

    ws, window = _scope(workspace, since, until, period)
    result = build_health(migrated_engine(), _store(), ws, window)
    if as_json:
        print(result.model_dump_json())
        return
    table = Table("platform", "target h", "delivered", "median h", "p90 h", "late", "open past target")
    for p in result.response_time:
        table.add_row(p.platform, str(p.target_hours), str(p.delivered), str(p.median_hours), str(p.p90_hours),
                      str(p.late), str(p.open_past_target))
    console.print(table)
    console.print(f"SLA breaches {result.sla_breaches}; approval rate {result.approval_rate}; "
                  f"edit rate {result.edit_rate} (mean distance {result.edit_distance_mean}); "
                  f"deflection {result.deflection_rate}")
    for cm in result.per_cm:
        console.print(f"  {cm.cm}: {cm.approved} approved, {cm.rejected} rejected, {cm.edited} edited")


def _print_gaps(rows: list[Any], as_json: bool) -> None:
    from insights.schemas import Suggestion

    out = [Suggestion.model_validate(r, from_attributes=True) for r in rows]
    if as_json:
        print(json.dumps([s.model_dump(mode="json") for s in out]))
        return
    table = Table("id", "status", "asked", "question", "answer")
    for s in out:
        table.add_row(str(s.id), s.status, str(s.count), s.question[:80], (s.answer or "—")[:60])
    console.print(table)


@gaps_app.command("list")
def gaps_list(
    workspace: WorkspaceOpt = None,
    status: Annotated[str, typer.Option(help="pending | accepted | dismissed | all")] = "pending",
    as_json: JsonOpt = False,
) -> None:
    """List suggestions (most asked first)."""
    from insights.gaps import list_gaps

    ws = workspace or get_settings().workspace
    _print_gaps(list_gaps(migrated_engine(), ws, None if status == "all" else status), as_json)


@gaps_app.command("refresh")
def gaps_refresh(
    workspace: WorkspaceOpt = None, since: SinceOpt = None, until: UntilOpt = None, period: PeriodOpt = "week",
    as_json: JsonOpt = False,
) -> None:
    """Cluster the period's unanswerable questions into suggestions."""
    from insights.gaps import refresh_gaps

    ws, window = _scope(workspace, since, until, period)
    _print_gaps(refresh_gaps(migrated_engine(), get_settings(), ws, window), as_json)


@gaps_app.command("accept")
def gaps_accept(
    suggestion_id: Annotated[int, typer.Argument(help="Suggestion id.")],
    question: Annotated[str | None, typer.Option(help="Edited question.")] = None,
    answer: Annotated[str | None, typer.Option(help="The answer (required when none was approved).")] = None,
) -> None:
    """Accept a suggestion: it is ingested into the knowledge base as a FAQ entry."""
    from desk.scope import INSTALLATION
    from insights.errors import InsightsError
    from insights.gaps import accept_gap

    try:
        row = accept_gap(migrated_engine(), _store(), suggestion_id, f"cli:{getpass.getuser()}", question, answer,
                         scope=INSTALLATION)
    except InsightsError as exc:
        _fail(str(exc))
        return
    console.print(f"accepted suggestion {row.id}: knowledge chunk {row.chunk_id} in {row.workspace}")


@gaps_app.command("dismiss")
def gaps_dismiss(
    suggestion_id: Annotated[int, typer.Argument(help="Suggestion id.")],
    reason: Annotated[str, typer.Option(help="Why (kept with the suggestion).")] = "",
) -> None:
    """Dismiss a suggestion; its questions are not suggested again."""
    from desk.scope import INSTALLATION
    from insights.errors import InsightsError
    from insights.gaps import dismiss_gap

    try:
        row = dismiss_gap(migrated_engine(), suggestion_id, f"cli:{getpass.getuser()}", reason, scope=INSTALLATION)
    except InsightsError as exc:
        _fail(str(exc))
        return
    console.print(f"dismissed suggestion {row.id}")


@insights_app.command()
def digest(
    workspace: WorkspaceOpt = None, since: SinceOpt = None, until: UntilOpt = None, period: PeriodOpt = "week",
    out: Annotated[Path | None, typer.Option(help="Where the .md and .html go (default DATA_DIR/digests).")] = None,
    post: Annotated[bool, typer.Option("--post", help="Post to REPLYDESK_DIGEST_SLACK_URL (or --post-url).")] = False,
    post_url: Annotated[str | None, typer.Option(help="A Slack-compatible incoming webhook URL.")] = None,
    refresh_gaps: Annotated[bool, typer.Option(help="Refresh knowledge-gap suggestions first.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Render the period's digest (Markdown + self-contained HTML with charts), optionally post it."""
    from insights.digest import build_digest, post_digest, write_digest
    from insights.errors import NotifyError
    from insights.gaps import refresh_gaps as refresh

    settings = get_settings()
    if post_url:
        try:
            OutboundPolicy.of(settings).check_url(post_url)
        except OutboundRefused as exc:
            _fail(f"--post-url refused: {exc}")
    ws, window = _scope(workspace, since, until, period)
    engine = migrated_engine()
    if refresh_gaps:
        refresh(engine, settings, ws, window)
    result = build_digest(engine, settings, _store(), ws, window)
    md_path, html_path = write_digest(result, out or settings.data_dir / "digests")
    url = post_url or (settings.digest_slack_url if post else None)
    if (post or post_url) and not url:
        _fail("nothing to post to: set REPLYDESK_DIGEST_SLACK_URL or give --post-url")
    if url:
        try:
            post_digest(result, url, settings)
        except NotifyError as exc:
            _fail(f"the digest was written to {html_path} but posting it failed: {exc}")
    if as_json:
        print(json.dumps({"markdown": str(md_path), "html": str(html_path), "posted": bool(url),
                          "messages": result.summary.total}))
        return
    console.print(f"digest for {ws} ({window.label()}): {md_path} and {html_path}" + (" — posted" if url else ""))


@alerts_app.command("list")
def alerts_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Recent alerts, newest first."""
    from insights.alerts import list_alerts
    from insights.schemas import AlertOut

    rows = [AlertOut.model_validate(r, from_attributes=True) for r in list_alerts(migrated_engine(), workspace)]
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    for row in rows:
        console.print(f"{row.id} {row.created_at:%Y-%m-%d %H:%M} [{row.status}] {row.detail.get('text', '')}")


@alerts_app.command("check")
def alerts_check(
    workspace: WorkspaceOpt = None,
    at: Annotated[str | None, typer.Option(help="Evaluate as of this time (ISO-8601; default now).")] = None,
) -> None:
    """Evaluate the current window now and deliver pending alerts."""
    from insights.alerts import check
    from insights.errors import InsightsError
    from insights.period import parse_time

    try:
        when = parse_time(at, "--at") if at else None
    except InsightsError as exc:
        _fail(str(exc))
        return
    alert = check(migrated_engine(), get_settings(), workspace or get_settings().workspace, when)
    console.print(alert.detail.get("text", "alert raised") if alert else "no new alert")


@insights_app.command("run-scheduled")
def run_scheduled(
    period: PeriodOpt = "week",
    out: Annotated[Path | None, typer.Option(help="Directory for digests (default: DATA_DIR/digests).")] = None,
) -> None:
    """One scheduler tick for cron: alerts every run; each finished period's gaps and digest once."""
    from insights.period import PERIODS
    from insights.scheduler import run_tick

    if period not in PERIODS:
        _fail(f"--period must be one of {', '.join(PERIODS)}")
    report = run_tick(migrated_engine(), get_settings(), _store(), period=period, out_dir=out)
    for line in report.alerts:
        console.print(f"alert: {line}")
    for path in report.digests:
        console.print(f"digest: {path}")
    console.print(f"{report.delivered_alerts} alerts delivered, {report.gap_suggestions} gap suggestions open")
    for line in report.errors:
        err.print(f"[yellow]warning:[/yellow] {line}")
