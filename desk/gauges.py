"""Backpressure figures of this process, kept up to date as things happen (cheap to scrape).

The worker counts the jobs it runs and the drafts it records, with each draft's time from message
accepted to draft queued; ``/metrics`` reads them without touching the database. Time-to-draft
percentiles are over the most recent drafts (a bounded window), which is what an operator watching a
backlog drain wants to see.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

RECENT = 2048


@dataclass(frozen=True)
class WorkerSnapshot:
    lanes: int
    jobs_in_flight: int
    jobs_done: int
    jobs_failed: int
    drafts_recorded: int
    time_to_draft_p50: float | None
    time_to_draft_p95: float | None
    recent_drafts: int


class WorkerGauges:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.lanes = 0
        self.jobs_in_flight = 0
        self.jobs_done = 0
        self.jobs_failed = 0
        self.drafts_recorded = 0
        self._time_to_draft: deque[float] = deque(maxlen=RECENT)

    def set_lanes(self, lanes: int) -> None:
        with self._lock:
            self.lanes = lanes

    def job_started(self) -> None:
        with self._lock:
            self.jobs_in_flight += 1

    def job_finished(self, ok: bool) -> None:
        with self._lock:
            self.jobs_in_flight -= 1
            if ok:
                self.jobs_done += 1
            else:
                self.jobs_failed += 1

    def draft_recorded(self, seconds: float | None) -> None:
        with self._lock:
            self.drafts_recorded += 1
            if seconds is not None:
                self._time_to_draft.append(seconds)

    def snapshot(self) -> WorkerSnapshot:
        with self._lock:
            recent = sorted(self._time_to_draft)
            return WorkerSnapshot(
                lanes=self.lanes, jobs_in_flight=self.jobs_in_flight, jobs_done=self.jobs_done,
                jobs_failed=self.jobs_failed, drafts_recorded=self.drafts_recorded,
                time_to_draft_p50=_quantile(recent, 0.5), time_to_draft_p95=_quantile(recent, 0.95),
                recent_drafts=len(recent),
            )


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


worker_gauges = WorkerGauges()
