"""Job leases with fencing tokens: at-least-once processing that survives a crashed worker.

A claim bumps ``fence``; finishing a job requires the fence it was claimed with, so a worker whose
lease expired (and whose job another worker re-claimed) cannot overwrite the newer outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from desk.db import session_scope
from desk.models import Job, utcnow


def claim_job(engine: Engine, worker: str, lease_seconds: float, max_attempts: int) -> Job | None:
    now = utcnow()
    with session_scope(engine) as session:
        query = (
            select(Job)
            .where(
                or_(
                    col(Job.status) == "queued",
                    (col(Job.status) == "running") & (col(Job.lease_until) < now),
                ),
                col(Job.attempts) < max_attempts,
            )
            .order_by(col(Job.id))
            .limit(1)
        )
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        job = session.exec(query).first()
        if job is None:
            return None
        job.status = "running"
        job.attempts += 1
        job.fence += 1
        job.worker = worker
        job.lease_until = now + timedelta(seconds=lease_seconds)
        job.started_at = now
        job.updated_at = now
        session.add(job)
        session.flush()
        session.refresh(job)
        return job


def finish_job(session: Session, job: Job, status: str = "done", error: str | None = None) -> bool:
    """Record the outcome if this worker still holds the job; False when the lease was lost.

    Called inside the transaction that stores the job's result, so result and outcome commit together.
    """
    result = session.exec(
        update(Job)
        .where(col(Job.id) == job.id, col(Job.fence) == job.fence, col(Job.status) == "running")
        .values(status=status, last_error=error, lease_until=None, updated_at=utcnow())
    )
    return bool(result.rowcount == 1)


def abandoned_jobs(engine: Engine, max_attempts: int) -> list[Job]:
    """Jobs that ran out of attempts while still marked running (their last worker died)."""
    with session_scope(engine) as session:
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
