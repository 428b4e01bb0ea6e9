"""Stored eval runs, read-only (``evals/`` writes them; the API never imports ``evals``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.deps import ContextDep, Viewer
from api.errors import NotFound
from api.eval_models import EvalCasePublic, EvalCaseResult, EvalRun, EvalRunDetail, EvalRunList, EvalRunPublic

router = APIRouter(prefix="/v1/evals", tags=["evals"])


@router.get("/runs", response_model=EvalRunList)
def list_runs(
    ctx: ContextDep,
    _key: Viewer,
    suite: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> EvalRunList:
    conditions = []
    if status:
        conditions.append(col(EvalRun.status) == status)
    with Session(ctx.engine) as session:
        query = select(EvalRun).where(*conditions).order_by(col(EvalRun.id).desc())
        if suite:
            # Suites are a JSON list; filtering in Python keeps this portable across SQLite and Postgres.
            rows = [r for r in session.exec(query).all() if suite in r.suites]
            return EvalRunList(data=[EvalRunPublic.model_validate(r, from_attributes=True)
                                     for r in rows[offset : offset + limit]], count=len(rows))
        count = session.exec(select(func.count()).select_from(EvalRun).where(*conditions)).one()
        rows = list(session.exec(query.offset(offset).limit(limit)).all())
    return EvalRunList(data=[EvalRunPublic.model_validate(r, from_attributes=True) for r in rows], count=int(count))


@router.get("/runs/{run_id}", response_model=EvalRunDetail)
def get_run(
    run_id: int,
    ctx: ContextDep,
    _key: Viewer,
    verdict: Annotated[str | None, Query(pattern="^(pass|fail|flaky|error)$")] = None,
) -> EvalRunDetail:
    with Session(ctx.engine) as session:
        run = session.get(EvalRun, run_id)
        if run is None:
            raise NotFound("eval run not found")
        query = select(EvalCaseResult).where(col(EvalCaseResult.run_id) == run_id)
        if verdict:
            query = query.where(col(EvalCaseResult.verdict) == verdict)
        cases = session.exec(query.order_by(col(EvalCaseResult.id))).all()
    public = EvalRunPublic.model_validate(run, from_attributes=True)
    return EvalRunDetail(**public.model_dump(),
                         cases=[EvalCasePublic.model_validate(c, from_attributes=True) for c in cases])
