"""Stored eval runs, read-only (``evals/`` writes them; the API never imports ``evals``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ContextDep, Viewer
from api.schemas_evals import EvalCasePublic, EvalRunDetail, EvalRunList, EvalRunPublic
from desk import reads

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
    rows, count = reads.eval_runs(ctx.engine, suite=suite, status=status, offset=offset, limit=limit)
    return EvalRunList(data=[EvalRunPublic.model_validate(r, from_attributes=True) for r in rows], count=count)


@router.get("/runs/{run_id}", response_model=EvalRunDetail)
def get_run(
    run_id: int,
    ctx: ContextDep,
    _key: Viewer,
    verdict: Annotated[str | None, Query(pattern="^(pass|fail|flaky|error)$")] = None,
) -> EvalRunDetail:
    run, cases = reads.eval_run(ctx.engine, run_id, verdict)
    public = EvalRunPublic.model_validate(run, from_attributes=True)
    return EvalRunDetail(**public.model_dump(),
                         cases=[EvalCasePublic.model_validate(c, from_attributes=True) for c in cases])
