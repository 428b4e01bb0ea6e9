"""Queue-wide figures read from the database (so they are right however many worker processes there are):
rows by status, deliveries by outcome, SLA breaches, timing distributions and LLM tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from desk.db import read_session
from desk.drafts import OPEN
from desk.models import Delivery, Draft, Job, Message, utcnow

SECONDS_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


@dataclass
class Distribution:
    """Cumulative counts per upper bound, as a Prometheus histogram wants them."""

    buckets: list[tuple[float, int]]
    count: int
    total: float


@dataclass
class QueueStats:
    drafts: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    delivery_attempts: int = 0
    sla_breached: int = 0
    time_to_draft: Distribution | None = None
    time_to_decision: Distribution | None = None
    graph_seconds: Distribution | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _distribution(session: Session, column: Any, buckets: tuple[float, ...]) -> Distribution:
    """Computed in SQL over a numeric column (non-null values only)."""
    sums = [func.sum(case((column <= b, 1), else_=0)) for b in buckets]
    row = tuple(session.exec(select(func.count(column), func.coalesce(func.sum(column), 0.0), *sums)).one())
    return Distribution(buckets=[(float(b), int(c or 0)) for b, c in zip(buckets, row[2:], strict=True)],
                        count=int(row[0] or 0), total=float(row[1] or 0))


def _by_status(session: Session, model: Any) -> dict[str, int]:
    return {status: int(count) for status, count in
            session.exec(select(col(model.status), func.count()).group_by(col(model.status)))}


def queue_stats(engine: Engine) -> QueueStats:
    stats = QueueStats()
    with read_session(engine) as session:
        stats.drafts, stats.messages, stats.jobs = (_by_status(session, m) for m in (Draft, Message, Job))
        for status, count, tries in session.exec(
            select(col(Delivery.status), func.count(), func.coalesce(func.sum(Delivery.attempts), 0))
            .group_by(col(Delivery.status))
        ):
            stats.deliveries[status] = int(count)
            stats.delivery_attempts += int(tries or 0)
        stats.sla_breached = int(session.exec(
            select(func.count()).where(col(Draft.status).in_(OPEN), col(Draft.due_at) < utcnow())
        ).one())
        stats.time_to_draft = _distribution(session, col(Draft.draft_seconds), SECONDS_BUCKETS)
        stats.time_to_decision = _distribution(session, col(Draft.decision_seconds), SECONDS_BUCKETS)
        stats.graph_seconds = _distribution(session, col(Draft.graph_seconds), LLM_BUCKETS)
        prompt, completion = session.exec(
            select(func.coalesce(func.sum(Draft.prompt_tokens), 0), func.coalesce(func.sum(Draft.completion_tokens), 0))
        ).one()
        stats.prompt_tokens, stats.completion_tokens = int(prompt), int(completion)
    return stats
