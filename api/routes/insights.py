"""Insights over HTTP: summaries, community health, knowledge-gap suggestions and alerts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.contract import AUTHENTICATED, BAD_REQUEST, COMMON, CONFLICT, NOT_FOUND, IdPath, responses
from api.deps import Admin, ContextDep, Viewer, actor_of, scope_of
from api.errors import ApiError, BadRequest, Conflict, NotFound
from desk.models import ApiKey
from ground.names import WORKSPACE_PATTERN
from insights import alerts as alert_ops
from insights.errors import InsightsError, InvalidPeriod, MissingAnswer, SuggestionConflict, SuggestionNotFound
from insights.gaps import accept_gap, dismiss_gap, list_gaps, refresh_gaps
from insights.health import build_health
from insights.period import Period, make_period
from insights.schemas import AlertOut, Health, Suggestion, Summary
from insights.summary import build_summary
from knowledge.store import check_workspace

router = APIRouter(prefix="/v1/insights", tags=["insights"],
                   responses=responses(COMMON, AUTHENTICATED, BAD_REQUEST))

Since = Annotated[datetime | None, Query(description="Start (ISO-8601); default one week before until.")]
Until = Annotated[datetime | None, Query(description="End (ISO-8601); default now.")]
Workspace = Annotated[str | None, Query(max_length=48, pattern=WORKSPACE_PATTERN)]


class SuggestionList(BaseModel):
    data: list[Suggestion]
    count: int


class AlertList(BaseModel):
    data: list[AlertOut]
    count: int


class GapAccept(BaseModel):
    model_config = {"extra": "forbid"}
    question: str | None = Field(default=None, min_length=1, max_length=2_000)
    answer: str | None = Field(default=None, min_length=1, max_length=10_000)


class GapDismiss(BaseModel):
    model_config = {"extra": "forbid"}
    reason: str = Field(default="", max_length=2_000)


@contextmanager
def _translated() -> Iterator[None]:
    """Insights errors become the API's named errors (a clear 4xx, never a 500)."""
    try:
        yield
    except SuggestionNotFound as exc:
        raise NotFound(str(exc)) from exc
    except SuggestionConflict as exc:
        raise Conflict(str(exc)) from exc
    except (InvalidPeriod, MissingAnswer) as exc:
        raise BadRequest(str(exc)) from exc
    except InsightsError as exc:
        raise ApiError(str(exc)) from exc


def _scope(
    ctx: ContextDep, key: ApiKey, workspace: str | None, since: datetime | None, until: datetime | None
) -> tuple[str, Period]:
    """The workspace asked about (within the key's scope, else 403) and the period."""
    ws = scope_of(key).workspace_for(workspace, ctx.settings.workspace)
    with _translated():
        return check_workspace(ws), make_period(since, until)


@router.get("/summary", response_model=Summary)
def summary(
    ctx: ContextDep, key: Viewer, since: Since = None, until: Until = None, workspace: Workspace = None,
    prose: Annotated[Literal["auto", "extractive", "none"], Query()] = "auto",
) -> Summary:
    ws, period = _scope(ctx, key, workspace, since, until)
    return build_summary(ctx.engine, ctx.settings, ws, period, prose=prose)


@router.get("/health", response_model=Health)
def health(
    ctx: ContextDep, key: Viewer, since: Since = None, until: Until = None, workspace: Workspace = None
) -> Health:
    ws, period = _scope(ctx, key, workspace, since, until)
    return build_health(ctx.engine, ctx.store, ws, period)


@router.get("/gaps", response_model=SuggestionList)
def gaps(
    ctx: ContextDep, key: Viewer, workspace: Workspace = None,
    status: Annotated[Literal["pending", "accepted", "dismissed", "all"], Query()] = "pending",
) -> SuggestionList:
    ws = scope_of(key).workspace_for(workspace, ctx.settings.workspace)
    rows = list_gaps(ctx.engine, ws, None if status == "all" else status)
    return SuggestionList(data=[Suggestion.model_validate(r, from_attributes=True) for r in rows], count=len(rows))


@router.post("/gaps/refresh", response_model=SuggestionList)
def refresh(
    ctx: ContextDep, key: Admin, since: Since = None, until: Until = None, workspace: Workspace = None
) -> SuggestionList:
    ws, period = _scope(ctx, key, workspace, since, until)
    rows = refresh_gaps(ctx.engine, ctx.settings, ws, period)
    return SuggestionList(data=[Suggestion.model_validate(r, from_attributes=True) for r in rows], count=len(rows))


@router.post("/gaps/{suggestion_id}/accept", response_model=Suggestion, responses=responses(NOT_FOUND, CONFLICT))
def accept(suggestion_id: IdPath, ctx: ContextDep, key: Admin, body: GapAccept | None = None) -> Suggestion:
    with _translated():
        row = accept_gap(
            ctx.engine, ctx.store, suggestion_id, actor_of(key)[0],
            question=body.question if body else None, answer=body.answer if body else None, scope=scope_of(key),
        )
    return Suggestion.model_validate(row, from_attributes=True)


@router.post("/gaps/{suggestion_id}/dismiss", response_model=Suggestion, responses=responses(NOT_FOUND, CONFLICT))
def dismiss(suggestion_id: IdPath, ctx: ContextDep, key: Admin, body: GapDismiss | None = None) -> Suggestion:
    with _translated():
        row = dismiss_gap(ctx.engine, suggestion_id, actor_of(key)[0], body.reason if body else "",
                          scope=scope_of(key))
    return Suggestion.model_validate(row, from_attributes=True)


@router.get("/alerts", response_model=AlertList)
def alerts(
    ctx: ContextDep, key: Viewer, workspace: Workspace = None, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> AlertList:
    """Newest first; without a workspace, those of every workspace of the key."""
    rows = alert_ops.list_alerts(ctx.engine, workspace, limit, scope=scope_of(key))
    return AlertList(data=[AlertOut.model_validate(r, from_attributes=True) for r in rows], count=len(rows))


@router.post("/alerts/check", response_model=AlertList)
def check_alerts(ctx: ContextDep, key: Admin, workspace: Workspace = None) -> AlertList:
    """Evaluate the current window now (as the scheduler does) and deliver pending alerts."""
    ws = scope_of(key).workspace_for(workspace, ctx.settings.workspace)
    raised = alert_ops.check(ctx.engine, ctx.settings, ws)
    row = alert_ops.get_alert(ctx.engine, raised.id or 0) if raised is not None else None
    data = [AlertOut.model_validate(row, from_attributes=True)] if row is not None else []
    return AlertList(data=data, count=len(data))
