"""Stored eval runs, read-only (``evals/`` writes them; the API never imports ``evals``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.contract import AUTHENTICATED, COMMON, NOT_FOUND, IdPath, Offset, responses
from api.deps import ContextDep, Viewer, scope_of
from api.schemas_evals import EvalCasePublic, EvalRunDetail, EvalRunList, EvalRunPublic
from desk import reads

# Eval runs are installation-level (see desk.reads): installation-wide keys read them, scoped keys get 403.
router = APIRouter(prefix="/v1/evals", tags=["evals"], responses=responses(COMMON, AUTHENTICATED))


@router.get("/runs", response_model=EvalRunList)
def list_runs(
    ctx: ContextDep,
    key: Viewer,
    suite: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> EvalRunList:
    rows, count = reads.eval_runs(ctx.engine, suite=suite, status=status, offset=offset, limit=limit,
                                  scope=scope_of(key))
    return EvalRunList(data=[EvalRunPublic.model_validate(r, from_attributes=True) for r in rows], count=count)


@router.get("/runs/{run_id}", response_model=EvalRunDetail, responses=NOT_FOUND)
def get_run(
    run_id: IdPath,
    ctx: ContextDep,
    key: Viewer,
    verdict: Annotated[str | None, Query(pattern="^(pass|fail|flaky|error)$")] = None,
) -> EvalRunDetail:
    run, cases = reads.eval_run(ctx.engine, run_id, verdict, scope=scope_of(key))
    public = EvalRunPublic.model_validate(run, from_attributes=True)
    return EvalRunDetail(**public.model_dump(),
                         cases=[EvalCasePublic.model_validate(c, from_attributes=True) for c in cases])
