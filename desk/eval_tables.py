"""Eval run history: tables written by ``evals/`` and served read-only by the API.

They live in ``desk/`` with every other table (one metadata, one migration history); ``evals/`` writes
them and the API reads them through ``desk/`` without importing ``evals``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from desk.models import utcnow


class EvalRun(SQLModel, table=True):
    __tablename__ = "eval_runs"
    id: int | None = Field(default=None, primary_key=True)
    label: str = ""
    status: str = Field(default="running", index=True)  # running | finished | failed
    suites: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Everything needed to reproduce the run: models, params, judge config, repeats, concurrency, paths.
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    git_commit: str | None = None
    git_dirty: bool = False
    knowledge_hash: str = ""
    prompt_hash: str = ""
    judge_prompt_hash: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    notes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class EvalCaseResult(SQLModel, table=True):
    __tablename__ = "eval_case_results"
    __table_args__ = (UniqueConstraint("run_id", "suite", "case_id", name="uq_eval_case"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="eval_runs.id", index=True)
    suite: str
    case_id: str
    verdict: str  # pass | fail | flaky | error
    pass_rate: float | None = None  # over the repeats that could be scored; None when none could
    mean_score: float | None = None
    spread: float | None = None  # population standard deviation of the repeat scores
    repeats: int = 1
    errors: int = 0
    # Per scorer: {name: {kind, mean, pass_rate, errors}}; per repeat: draft, triage, scores, error.
    scores: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    samples: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
