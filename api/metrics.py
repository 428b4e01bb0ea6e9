"""Prometheus metrics: queue-wide figures from desk.stats (right however many worker processes there are),
read at most once per ``REPLYDESK_METRICS_CACHE_SECONDS`` whatever the scrape rate, a fixed handful of
aggregate statements per read; and figures this process keeps as things happen (request latency, and any
gauge registered with :meth:`Metrics.gauge`), which cost a scrape nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from desk.stats import Distribution, QueueStats, queue_stats


def _histogram(dist: Distribution | None, name: str, doc: str) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc)
    if dist is not None:
        family.add_metric([], [(str(bound), float(count)) for bound, count in dist.buckets]
                          + [("+Inf", float(dist.count))], dist.total)
    return family


class QueueCollector(Collector):
    def __init__(self, engine: Engine, cache_seconds: float = 10.0) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._stats = QueueStats()

    def stats(self) -> QueueStats:
        """The queue figures, read again only when the last read is older than the cache (one reader at a
        time: a burst of scrapes costs one read)."""
        with self._lock:
            if time.monotonic() - self._read_at >= self.cache_seconds:
                self._stats = queue_stats(self.engine)
                self._read_at = time.monotonic()
            return self._stats

    def collect(self) -> Iterator[Any]:
        stats = self.stats()
        for name, counts, doc in (
            ("replydesk_queue_depth", stats.drafts, "Drafts by status (the approval queue)."),
            ("replydesk_messages", stats.messages, "Inbound messages by status."),
            ("replydesk_jobs", stats.jobs, "Worker jobs by status."),
        ):
            gauge = GaugeMetricFamily(name, doc, labels=["status"])
            for status, count in counts.items():
                gauge.add_metric([status], float(count))
            yield gauge
        deliveries = CounterMetricFamily("replydesk_deliveries", "Outbox rows by outcome.", labels=["outcome"])
        for status, count in stats.deliveries.items():
            deliveries.add_metric([status], float(count))
        yield deliveries
        attempts = CounterMetricFamily("replydesk_delivery_attempts", "Delivery attempts made.")
        attempts.add_metric([], float(stats.delivery_attempts))
        yield attempts
        breached = GaugeMetricFamily("replydesk_sla_breached", "Open drafts past their due time.")
        breached.add_metric([], float(stats.sla_breached))
        yield breached
        yield _histogram(stats.time_to_draft, "replydesk_time_to_draft_seconds",
                         "Message accepted → draft in the queue.")
        yield _histogram(stats.time_to_decision, "replydesk_time_to_decision_seconds",
                         "Draft in the queue → approved or rejected.")
        yield _histogram(stats.graph_seconds, "replydesk_draft_graph_seconds",
                         "Time the graph took to draft (includes the LLM call when one is used).")
        tokens = CounterMetricFamily("replydesk_llm_tokens", "LLM tokens used for drafts.", labels=["kind"])
        tokens.add_metric(["prompt"], float(stats.prompt_tokens))
        tokens.add_metric(["completion"], float(stats.completion_tokens))
        yield tokens


class Metrics:
    """One registry per app: the queue collector plus in-process request latency."""

    def __init__(self, engine: Engine, cache_seconds: float = 10.0) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(QueueCollector(engine, cache_seconds))
        self.requests = Histogram(
            "replydesk_http_request_seconds", "HTTP request latency in this API process.",
            labelnames=("method", "route", "status"), registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        """A gauge kept up to date by the code that changes it (set/inc/dec as things happen)."""
        return Gauge(name, doc, labelnames=tuple(labels), registry=self.registry)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
