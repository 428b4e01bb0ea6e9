"""One scheduler tick for cron (``replydesk insights run-scheduled``), safe to run often and twice at once.

Each tick, per workspace: evaluate spike alerts and deliver pending ones; once a period is over,
refresh knowledge-gap suggestions and render (and post) that period's digest. A period's digest is
claimed with a unique state key first, so overlapping ticks never send it twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from desk.db import session_scope
from desk.insight_tables import InsightState
from ground.settings import Settings
from insights import alerts
from insights.data import workspaces
from insights.digest import build_digest, post_digest, write_digest
from insights.errors import NotifyError
from insights.gaps import refresh_gaps
from insights.period import PERIODS, Period, as_utc
from knowledge.store import KnowledgeStore

log = logging.getLogger("replydesk.insights")


@dataclass
class TickReport:
    alerts: list[str] = field(default_factory=list)
    delivered_alerts: int = 0
    digests: list[str] = field(default_factory=list)
    gap_suggestions: int = 0
    errors: list[str] = field(default_factory=list)


def period_ending(now: datetime, period: str) -> Period:
    """The last whole period before ``now``, aligned to midnight UTC (weeks end on Monday 00:00)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        midnight -= PERIODS["day"] * midnight.weekday()
    elif period == "month":
        midnight = midnight.replace(day=1)
        start = (midnight - PERIODS["day"]).replace(day=1)
        return Period(start, midnight)
    return Period(midnight - PERIODS[period], midnight)


def _claim_digest(engine: Engine, workspace: str, period: str, window: Period, now: datetime) -> str | None:
    key = f"digest:{workspace}:{period}:{window.until:%Y%m%d}"
    try:
        with session_scope(engine) as session:
            session.add(InsightState(key=key, workspace=workspace, last_fired_at=now, updated_at=now))
    except IntegrityError:
        return None
    return key


def _release(engine: Engine, key: str) -> None:
    with session_scope(engine) as session:
        row = session.get(InsightState, key)
        if row is not None:
            session.delete(row)


def run_tick(
    engine: Engine,
    settings: Settings,
    store: KnowledgeStore,
    period: str = "week",
    out_dir: Path | None = None,
    now: datetime | None = None,
) -> TickReport:
    at = as_utc(now or datetime.now(UTC))
    report = TickReport()
    for workspace in workspaces(engine):
        alert = alerts.evaluate(engine, settings, workspace, at)
        if alert is not None:
            report.alerts.append(f"{workspace}: {alert.detail.get('text', '')}")
        window = period_ending(at, period)
        key = _claim_digest(engine, workspace, period, window, at)
        if key is None:
            continue  # this period's digest is done (or another tick is doing it)
        try:
            report.gap_suggestions += len(refresh_gaps(engine, settings, workspace, window))
            digest = build_digest(engine, settings, store, workspace, window)
            _md_path, html_path = write_digest(digest, out_dir or settings.data_dir / "digests")
        except Exception as exc:  # release the claim so the next tick tries this period again
            _release(engine, key)
            log.exception("digest failed for %s", workspace)
            report.errors.append(f"{workspace}: digest failed: {type(exc).__name__}: {exc}")
            continue
        report.digests.append(str(html_path))
        if settings.digest_slack_url:
            try:
                post_digest(digest, settings.digest_slack_url, settings)
            except NotifyError as exc:
                log.warning("digest post failed for %s: %s", workspace, exc)
                report.errors.append(f"{workspace}: digest post failed: {exc}")
    report.delivered_alerts = alerts.deliver(engine, settings)
    return report
