from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.contract import AUTHENTICATED, BAD_REQUEST, COMMON, NOT_FOUND, VERSIONED, IdPath, IdQuery, Offset, responses
from api.deps import CM, ContextDep, VersionDep, Viewer, actor_of, scope_of
from api.draft_view import DRAFT_FIELDS, MESSAGE_FIELDS, draft_public
from api.pagination import aware, decode_cursor, encode_cursor
from api.schemas import (
    DraftApprove,
    DraftEdit,
    DraftList,
    DraftPublic,
    DraftRegenerate,
    DraftReject,
    RejectCategory,
)
from desk.decisions import approve_draft, edit_draft, regenerate_draft, reject_draft
from desk.drafts import SORT_FIELD, DraftFilter, Sort, draft_page, load_draft
from desk.models import Draft, Message, utcnow
from ground.redact import redact_url

router = APIRouter(prefix="/v1/drafts", tags=["drafts"], responses=responses(COMMON, AUTHENTICATED))
DECISION = responses(NOT_FOUND, VERSIONED)


def _public(draft: Draft, message: Message | None, response: Response | None = None) -> DraftPublic:
    if response is not None:
        response.headers["ETag"] = f'"{draft.version}"'
    return draft_public(draft, message, utcnow())


@router.get("", response_model=DraftList, responses=BAD_REQUEST)
def list_drafts(
    ctx: ContextDep,
    key: Viewer,
    status: Annotated[str | None, Query(max_length=200, description="One status or several, comma-separated.")] = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    workspace: Annotated[str | None, Query(max_length=48)] = None,
    intent: Annotated[str | None, Query(max_length=64)] = None,
    route: Annotated[str | None, Query(max_length=32)] = None,
    reject_category: Annotated[RejectCategory | None, Query(description="Rejected for this reason.")] = None,
    assignee: Annotated[str | None, Query(max_length=200, description="A CM, or 'none' for unclaimed.")] = None,
    min_priority: Annotated[int | None, Query(ge=0, le=100)] = None,
    due_before: datetime | None = None,
    breached: bool | None = None,
    message_id: IdQuery = None,
    sort: Sort = "id",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> Response:
    """The queue: only drafts of the key's workspaces (a workspace filter outside them is refused)."""
    now = utcnow()
    where = DraftFilter(
        statuses=tuple(s.strip() for s in (status or "").split(",") if s.strip()),
        platform=platform.lower() if platform else None, workspace=workspace, intent=intent, route=route,
        reject_category=reject_category, assignee=assignee, min_priority=min_priority,
        due_before=aware(due_before), breached=breached, message_id=message_id,
    )
    page = draft_page(ctx.engine, where, sort=sort, after=decode_cursor(cursor, sort) if cursor else None,
                      offset=offset, limit=limit, now=now, draft_fields=DRAFT_FIELDS, message_fields=MESSAGE_FIELDS,
                      scope=scope_of(key))
    rows = page.rows
    next_cursor = None
    if page.more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(sort, last[SORT_FIELD[sort.lstrip("-")]], last["id"])
    body = DraftList.model_validate({"data": rows, "count": page.count, "next_cursor": next_cursor})
    # Serialised by pydantic-core directly (response_model still documents the shape).
    return Response(body.model_dump_json(), media_type="application/json")


@router.get("/{draft_id}", response_model=DraftPublic, responses=NOT_FOUND)
def get_draft(draft_id: IdPath, ctx: ContextDep, key: Viewer, response: Response) -> DraftPublic:
    draft, message = load_draft(ctx.engine, draft_id, scope=scope_of(key))
    return _public(draft, message, response)


@router.patch("/{draft_id}", response_model=DraftPublic, responses=DECISION)
def update_draft(
    draft_id: IdPath, body: DraftEdit, key: CM, version: VersionDep, ctx: ContextDep, response: Response
) -> DraftPublic:
    draft = edit_draft(ctx.engine, draft_id, version, body.text, actor_of(key), scope=scope_of(key))
    return _public(draft, None, response)


@router.post("/{draft_id}/approve", response_model=DraftPublic, responses=DECISION)
def approve(
    draft_id: IdPath, key: CM, version: VersionDep, ctx: ContextDep, response: Response,
    body: DraftApprove | None = None,
) -> DraftPublic:
    draft = approve_draft(ctx.engine, draft_id, version, body.text if body else None, actor_of(key),
                          delivery_target_name(ctx), scope=scope_of(key))
    return _public(draft, None, response)


@router.post("/{draft_id}/reject", response_model=DraftPublic, responses=DECISION)
def reject(
    draft_id: IdPath, body: DraftReject, key: CM, version: VersionDep, ctx: ContextDep, response: Response
) -> DraftPublic:
    draft = reject_draft(ctx.engine, draft_id, version, body.reason, actor_of(key), scope=scope_of(key),
                         category=body.category)
    return _public(draft, None, response)


@router.post("/{draft_id}/regenerate", response_model=DraftPublic, responses=DECISION)
def regenerate(
    draft_id: IdPath, key: CM, version: VersionDep, ctx: ContextDep, response: Response,
    body: DraftRegenerate | None = None,
) -> DraftPublic:
    instructions = body.instructions if body else ""
    draft = regenerate_draft(ctx.engine, draft_id, version, instructions, actor_of(key), scope=scope_of(key))
    return _public(draft, None, response)


def delivery_target_name(ctx: ContextDep) -> str:
    """Recorded on the outbox row for the CM's information; the relay resolves the workspace's target."""
    url = ctx.settings.webhook_url
    return redact_url(url) if url else f"log:{ctx.settings.delivery_log}"
