"""Run history in the database (tables in api/eval_models.py, migration 0006)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from desk.db import make_engine, migrate, session_scope
from desk.eval_tables import EvalCaseResult, EvalRun
from evals.errors import RunNotFound
from ground.settings import Settings


def open_engine(settings: Settings) -> Engine:
    migrate(settings)
    return make_engine(settings)


def create_run(engine: Engine, **fields: Any) -> int:
    with session_scope(engine) as session:
        run = EvalRun(**fields)
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def finish_run(
    engine: Engine, run_id: int, *, status: str, summary: dict[str, Any], notes: list[str],
    cases: list[EvalCaseResult],
) -> None:
    with session_scope(engine) as session:
        run = session.get(EvalRun, run_id)
        if run is None:
            raise RunNotFound(f"eval run {run_id} not found")
        for case in cases:
            session.add(case)
        run.status, run.summary, run.notes = status, summary, notes
        run.finished_at = datetime.now(UTC)
        session.add(run)


def get_run(engine: Engine, ref: str | int) -> EvalRun:
    """A run by id, or 'latest' (the newest finished run)."""
    with Session(engine) as session:
        if str(ref).lower() in ("latest", "last"):
            run = session.exec(
                select(EvalRun).where(col(EvalRun.status) == "finished").order_by(col(EvalRun.id).desc()).limit(1)
            ).first()
        else:
            try:
                run = session.get(EvalRun, int(ref))
            except ValueError:
                raise RunNotFound(f"{ref!r} is not a run id (a number, or 'latest')") from None
    if run is None:
        raise RunNotFound(f"eval run {ref} not found")
    return run


def get_cases(engine: Engine, run_id: int) -> list[EvalCaseResult]:
    with Session(engine) as session:
        return list(session.exec(
            select(EvalCaseResult).where(col(EvalCaseResult.run_id) == run_id).order_by(col(EvalCaseResult.id))
        ).all())


def recent_runs(engine: Engine, limit: int = 20, before: int | None = None) -> list[EvalRun]:
    with Session(engine) as session:
        query = select(EvalRun).where(col(EvalRun.status) == "finished")
        if before is not None:
            query = query.where(col(EvalRun.id) <= before)
        return list(session.exec(query.order_by(col(EvalRun.id).desc()).limit(limit)).all())
