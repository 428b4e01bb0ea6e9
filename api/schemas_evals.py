"""Response models of the eval routes (the tables live in desk/eval_tables.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class EvalRunPublic(BaseModel):
    id: int
    label: str
    status: str
    suites: list[str]
    config: dict[str, Any]
    git_commit: str | None
    git_dirty: bool
    knowledge_hash: str
    prompt_hash: str
    judge_prompt_hash: str | None
    summary: dict[str, Any]
    notes: list[str]
    created_at: datetime
    finished_at: datetime | None


class EvalCasePublic(BaseModel):
    suite: str
    case_id: str
    verdict: str
    pass_rate: float | None
    mean_score: float | None
    spread: float | None
    repeats: int
    errors: int
    scores: dict[str, Any]
    samples: list[dict[str, Any]]


class EvalRunList(BaseModel):
    data: list[EvalRunPublic]
    count: int


class EvalRunDetail(EvalRunPublic):
    cases: list[EvalCasePublic]
