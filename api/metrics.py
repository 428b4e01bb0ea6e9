"""Prometheus metrics. Queue-wide figures are read from the database at scrape time, so they are right
however many worker processes there are; request latency is per API process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.db import read_session
from api.models import Delivery, Draft, Job, Message, utcnow

_SECONDS_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
_LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


def _histogram(session: Session, column: Any, buckets: tuple[float, ...], name: str, doc: str) -> HistogramMetricFamily:
    """Cumulative buckets computed in SQL over a numeric column (non-null values only)."""
    sums = [func.sum(case((column <= b, 1), else_=0)) for b in buckets]
    row = tuple(session.exec(select(func.count(column), func.coalesce(func.sum(column), 0.0), *sums)).one())
    count, total, cumulative = row[0], row[1], list(row[2:])
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], [(str(float(b)), float(c or 0)) for b, c in zip(buckets, cumulative, strict=True)]
                      + [("+Inf", float(count or 0))], float(total or 0))
    return family


class QueueCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        with read_session(self.engine) as session:
            for name, model, doc in (
                ("replydesk_queue_depth", Draft, "Drafts by status (the approval queue)."),
                ("replydesk_messages", Message, "Inbound messages by status."),
                ("replydesk_jobs", Job, "Worker jobs by status."),
            ):
                gauge = GaugeMetricFamily(name, doc, labels=["status"])
                for status, count in session.exec(select(col(model.status), func.count()).group_by(col(model.status))):
                    gauge.add_metric([status], float(count))
                yield gauge
            deliveries = CounterMetricFamily("replydesk_deliveries", "Outbox rows by outcome.", labels=["outcome"])
            attempts = CounterMetricFamily("replydesk_delivery_attempts", "Delivery attempts made.")
            total_attempts = 0
            for status, count, tries in session.exec(
                select(col(Delivery.status), func.count(), func.coalesce(func.sum(Delivery.attempts), 0))
                .group_by(col(Delivery.status))
            ):
                deliveries.add_metric([status], float(count))
                total_attempts += int(tries or 0)
            attempts.add_metric([], float(total_attempts))
            yield deliveries
            yield attempts
            breached = GaugeMetricFamily("replydesk_sla_breached", "Open drafts past their due time.")
            breached.add_metric([], float(session.exec(
                select(func.count()).where(col(Draft.status).in_(("pending", "regenerating")),
                                           col(Draft.due_at) < utcnow())
            ).one()))
            yield breached
            yield _histogram(session, col(Draft.draft_seconds), _SECONDS_BUCKETS, "replydesk_time_to_draft_seconds",
                             "Message accepted → draft in the queue.")
            yield _histogram(session, col(Draft.decision_seconds), _SECONDS_BUCKETS,
                             "replydesk_time_to_decision_seconds", "Draft in the queue → approved or rejected.")
            yield _histogram(session, col(Draft.graph_seconds), _LLM_BUCKETS, "replydesk_draft_graph_seconds",
                             "Time the graph took to draft (includes the LLM call when one is used).")
            tokens = CounterMetricFamily("replydesk_llm_tokens", "LLM tokens used for drafts.", labels=["kind"])
            prompt, completion = session.exec(
                select(func.coalesce(func.sum(Draft.prompt_tokens), 0),
                       func.coalesce(func.sum(Draft.completion_tokens), 0))
            ).one()
            tokens.add_metric(["prompt"], float(prompt))
            tokens.add_metric(["completion"], float(completion))
            yield tokens


class Metrics:
    """One registry per app: the queue collector plus in-process request latency."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(QueueCollector(engine))
        self.requests = Histogram(
            "replydesk_http_request_seconds", "HTTP request latency in this API process.",
            labelnames=("method", "route", "status"), registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
