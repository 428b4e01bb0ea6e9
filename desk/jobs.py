"""Job leases with fencing tokens: at-least-once processing that survives a crashed worker.

A claim bumps ``fence``; finishing a job requires the fence it was claimed with, so a worker whose
lease expired (and whose job another worker re-claimed) cannot overwrite the newer outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from desk.db import read_session, session_scope
from desk.models import Job, utcnow


def claim_job(engine: Engine, worker: str, lease_seconds: float, max_attempts: int) -> Job | None:
    claimed = claim_jobs(engine, worker, lease_seconds, max_attempts, 1)
    return claimed[0] if claimed else None


def _claim_statements(postgresql: bool) -> tuple[Any, Any]:
    """(probe, claim): built once per dialect with bound parameters and served from SQLAlchemy's compiled
    cache. Building this UPDATE with its subquery and RETURNING list on every claim cost ~0.8 ms of Python
    of a ~3 ms claim of one job (SQLite, measured in isolation)."""
    due = select(col(Job.id)).where(
        or_(
            col(Job.status) == "queued",
            (col(Job.status) == "running") & (col(Job.lease_until) < bindparam("now")),
        ),
        col(Job.attempts) < bindparam("max_attempts"),
    ).order_by(col(Job.id))
    probe = due.limit(1)
    picked = due.limit(bindparam("limit"))
    if postgresql:
        picked = picked.with_for_update(skip_locked=True)
    claim = (
        update(Job)
        .where(col(Job.id).in_(picked.scalar_subquery()))
        .values(status="running", attempts=col(Job.attempts) + 1, fence=col(Job.fence) + 1,
                worker=bindparam("worker"), lease_until=bindparam("lease_until"), started_at=bindparam("now"),
                updated_at=bindparam("now"))
        .returning(*Job.__table__.columns)  # type: ignore[attr-defined]
    )
    return probe, claim


_CLAIM = {postgresql: _claim_statements(postgresql) for postgresql in (False, True)}


def claim_jobs(engine: Engine, worker: str, lease_seconds: float, max_attempts: int, limit: int,
               probe: bool = True) -> list[Job]:
    """Claim up to ``limit`` jobs (oldest first) in one statement: ``UPDATE … WHERE id IN (SELECT … LIMIT n)
    RETURNING``. Each claimed job gets its own fence, exactly as one claim at a time would give it. One
    statement instead of select, flush and refresh per job: a worker with free lanes filled them with a
    transaction each, and on SQLite every one of them queues for the single write lock. ``probe``: on SQLite,
    look with a read first (the caller expects an empty queue, e.g. its last claim found nothing)."""
    now = utcnow()
    postgresql = engine.dialect.name == "postgresql"
    look, claim = _CLAIM[postgresql]
    params = {"now": now, "max_attempts": max_attempts, "limit": max(1, limit), "worker": worker,
              "lease_until": now + timedelta(seconds=lease_seconds)}
    if probe and not postgresql:
        # SQLite has one write lock per database: an idle worker polling with free lanes took it several
        # times a second to claim nothing, queueing the API's inserts and the lanes' records behind it. A
        # read (which never waits under WAL) comes first; only a due job is worth the write. Not while a
        # backlog drains: there the read (~2 ms of Python) would only add to every claim.
        with read_session(engine) as session:
            if session.execute(look, params).first() is None:
                return []
    with session_scope(engine) as session:
        rows = session.execute(claim, params).mappings().all()
    # RETURNING gives no order; claims are handed out oldest first.
    return sorted((Job(**row) for row in rows), key=lambda job: job.id or 0)


_FINISH = (
    update(Job)
    .where(col(Job.id) == bindparam("job_id"), col(Job.fence) == bindparam("job_fence"),
           col(Job.status) == "running")
    .values(status=bindparam("status"), last_error=bindparam("error"), lease_until=None,
            updated_at=bindparam("now"))
)


def finish_job(session: Session, job: Job, status: str = "done", error: str | None = None) -> bool:
    """Record the outcome if this worker still holds the job; False when the lease was lost.

    Called inside the transaction that stores the job's result, so result and outcome commit together.
    """
    result = session.execute(_FINISH, {"job_id": job.id, "job_fence": job.fence, "status": status, "error": error,
                                       "now": utcnow()})
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def abandoned_jobs(engine: Engine, max_attempts: int) -> list[Job]:
    """Jobs that ran out of attempts while still marked running (their last worker died). A read: on SQLite
    it must not queue for the write lock every second while lanes and requests write."""
    with read_session(engine) as session:
        return list(
            session.exec(
                select(Job).where(
                    col(Job.status) == "running", col(Job.attempts) >= max_attempts, col(Job.lease_until) < utcnow()
                )
            ).all()
        )


def extend_lease(engine: Engine, job: Job, lease_seconds: float) -> bool:
    """Heartbeat: push the lease forward while this worker still holds the job (same fence)."""
    with session_scope(engine) as session:
        result = session.exec(
            update(Job)
            .where(col(Job.id) == job.id, col(Job.fence) == job.fence, col(Job.status) == "running")
            .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
        )
        return bool(result.rowcount == 1)


@contextmanager
def keep_lease(engine: Engine, job: Job, lease_seconds: float) -> Iterator[None]:
    """Renew the lease every third of its length while the job runs (a slow LLM call is not a dead
    worker); a killed process stops renewing, so its job is picked up once the lease runs out."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease_seconds / 3):
            try:
                if not extend_lease(engine, job, lease_seconds):
                    return
            except Exception:  # a missed heartbeat only shortens the lease; the job itself goes on
                continue

    thread = threading.Thread(target=beat, name=f"lease-{job.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


class LeaseKeeper:
    """One heartbeat for every job a process is running: each third of the lease, all their leases are
    extended in one transaction (per job, only while its fence still holds). Thirty-two jobs in flight
    cost one short write every lease/3 seconds, not thirty-two threads each writing on its own."""

    def __init__(self, engine: Engine, lease_seconds: float) -> None:
        self.engine = engine
        self.lease_seconds = lease_seconds
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-keeper", daemon=True)
        self._thread.start()

    def add(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id or 0] = job

    def remove(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.id or 0, None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            with self._lock:
                jobs = list(self._jobs.values())
            if not jobs:
                continue
            try:
                lost = extend_leases(self.engine, jobs, self.lease_seconds)
            except Exception:  # a missed heartbeat only shortens the leases; the jobs themselves go on
                continue
            for job in lost:  # another worker holds it now: stop renewing (finish_job will refuse too)
                self.remove(job)


def extend_leases(engine: Engine, jobs: list[Job], lease_seconds: float) -> list[Job]:
    """Extend the leases of jobs still held with their fences; returns the jobs whose lease was lost."""
    lost = []
    with session_scope(engine) as session:
        until = utcnow() + timedelta(seconds=lease_seconds)
        for job in jobs:
            result = session.exec(
                update(Job)
                .where(col(Job.id) == job.id, col(Job.fence) == job.fence, col(Job.status) == "running")
                .values(lease_until=until)
            )
            if result.rowcount != 1:
                lost.append(job)
    return lost
