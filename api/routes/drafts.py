from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import func, or_
from sqlmodel import col, select

from api.db import read_session
from api.decisions import approve_draft, edit_draft, regenerate_draft, reject_draft
from api.deps import CM, ContextDep, VersionDep, Viewer, actor_of
from api.draft_view import OPEN, draft_public, fetch_page
from api.errors import NotFound
from api.models import Draft, Message, utcnow
from api.pagination import after, aware, decode_cursor, encode_cursor
from api.schemas import (
    DraftApprove,
    DraftEdit,
    DraftList,
    DraftPublic,
    DraftRegenerate,
    DraftReject,
)

router = APIRouter(prefix="/v1/drafts", tags=["drafts"])
Sort = Literal["id", "-id", "priority", "-priority", "due", "-due", "created", "-created"]


def _public(draft: Draft, message: Message | None, response: Response | None = None) -> DraftPublic:
    if response is not None:
        response.headers["ETag"] = f'"{draft.version}"'
    return draft_public(draft, message, utcnow())


def _load(ctx: ContextDep, draft_id: int) -> tuple[Draft, Message | None]:
    with read_session(ctx.engine) as session:
        draft = session.get(Draft, draft_id)
        if draft is None:
            raise NotFound("draft not found")
        return draft, session.get(Message, draft.message_id)


def _sort_key(sort: str) -> tuple[Any, bool, str]:
    name = sort.lstrip("-")
    expr: Any = {
        "id": col(Draft.id),
        "priority": col(Draft.priority),
        "due": col(Draft.due_at),
        "created": col(Draft.created_at),
    }[name]
    return expr, sort.startswith("-"), name


@router.get("", response_model=DraftList)
def list_drafts(
    ctx: ContextDep,
    _key: Viewer,
    status: Annotated[str | None, Query(max_length=200, description="One status or several, comma-separated.")] = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    workspace: Annotated[str | None, Query(max_length=48)] = None,
    intent: Annotated[str | None, Query(max_length=64)] = None,
    route: Annotated[str | None, Query(max_length=32)] = None,
    assignee: Annotated[str | None, Query(max_length=200, description="A CM, or 'none' for unclaimed.")] = None,
    min_priority: Annotated[int | None, Query(ge=0, le=100)] = None,
    due_before: datetime | None = None,
    breached: bool | None = None,
    message_id: Annotated[int | None, Query(ge=1)] = None,
    sort: Sort = "id",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    now = utcnow()
    key_expr, descending, sort_name = _sort_key(sort)
    due = col(Draft.due_at)
    conditions: list[Any] = []
    if status:
        conditions.append(col(Draft.status).in_([s.strip() for s in status.split(",") if s.strip()]))
    if platform:
        conditions.append(col(Draft.platform) == platform.lower())
    if workspace:
        conditions.append(col(Draft.workspace) == workspace)
    if intent:
        conditions.append(col(Draft.intent) == intent)
    if route:
        conditions.append(col(Draft.route) == route)
    if assignee == "none":
        conditions.append(or_(col(Draft.assignee).is_(None), col(Draft.assigned_until) < now))
    elif assignee:
        conditions += [col(Draft.assignee) == assignee, col(Draft.assigned_until) >= now]
    if min_priority is not None:
        conditions.append(col(Draft.priority) >= min_priority)
    if due_before is not None:
        conditions.append(due < aware(due_before))
    if breached is not None:
        late = col(Draft.status).in_(OPEN) & (due < now)
        conditions.append(late if breached else ~late)
    if message_id is not None:
        conditions.append(col(Draft.message_id) == message_id)
    page = list(conditions)
    if cursor:
        key, last_id = decode_cursor(cursor, sort)
        page.append(after(key_expr, col(Draft.id), descending, key, last_id))
    order = [key_expr.desc(), col(Draft.id).desc()] if descending else [key_expr.asc(), col(Draft.id).asc()]
    with read_session(ctx.engine) as session:
        count = session.exec(select(func.count()).select_from(Draft).where(*conditions)).one()
        rows = fetch_page(session, page, order, 0 if cursor else offset, limit + 1, now)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        key_value = last[{"due": "due_at", "created": "created_at"}.get(sort_name, sort_name)]
        next_cursor = encode_cursor(sort, key_value, last["id"])
    body = DraftList.model_validate({"data": rows, "count": int(count), "next_cursor": next_cursor})
    # Serialised by pydantic-core directly (response_model still documents the shape).
    return Response(body.model_dump_json(), media_type="application/json")


@router.get("/{draft_id}", response_model=DraftPublic)
def get_draft(draft_id: int, ctx: ContextDep, _key: Viewer, response: Response) -> DraftPublic:
    draft, message = _load(ctx, draft_id)
    return _public(draft, message, response)


@router.patch("/{draft_id}", response_model=DraftPublic)
def update_draft(
    draft_id: int, body: DraftEdit, key: CM, version: VersionDep, ctx: ContextDep, response: Response
) -> DraftPublic:
    draft = edit_draft(ctx.engine, draft_id, version, body.text, actor_of(key))
    return _public(draft, None, response)


@router.post("/{draft_id}/approve", response_model=DraftPublic)
def approve(
    draft_id: int, key: CM, version: VersionDep, ctx: ContextDep, response: Response,
    body: DraftApprove | None = None,
) -> DraftPublic:
    draft = approve_draft(ctx.engine, draft_id, version, body.text if body else None, actor_of(key),
                          delivery_target_name(ctx))
    return _public(draft, None, response)


@router.post("/{draft_id}/reject", response_model=DraftPublic)
def reject(
    draft_id: int, body: DraftReject, key: CM, version: VersionDep, ctx: ContextDep, response: Response
) -> DraftPublic:
    draft = reject_draft(ctx.engine, draft_id, version, body.reason, actor_of(key))
    return _public(draft, None, response)


@router.post("/{draft_id}/regenerate", response_model=DraftPublic)
def regenerate(
    draft_id: int, key: CM, version: VersionDep, ctx: ContextDep, response: Response,
    body: DraftRegenerate | None = None,
) -> DraftPublic:
    instructions = body.instructions if body else ""
    draft = regenerate_draft(ctx.engine, draft_id, version, instructions, actor_of(key))
    return _public(draft, None, response)


def delivery_target_name(ctx: ContextDep) -> str:
    """Recorded on the outbox row for the CM's information; the relay resolves the workspace's target."""
    return ctx.settings.webhook_url or f"log:{ctx.settings.delivery_log}"
