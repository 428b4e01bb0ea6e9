from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.deps import CM, ContextDep, VersionDep, Viewer, actor_of
from api.errors import NotFound
from api.models import Draft, Message
from api.queue import approve_draft, edit_draft, regenerate_draft, reject_draft
from api.schemas import (
    DraftApprove,
    DraftEdit,
    DraftList,
    DraftPublic,
    DraftRegenerate,
    DraftReject,
    MessagePublic,
)

router = APIRouter(prefix="/v1/drafts", tags=["drafts"])


def _public(draft: Draft, message: Message | None, response: Response | None = None) -> DraftPublic:
    if response is not None:
        response.headers["ETag"] = f'"{draft.version}"'
    out = DraftPublic.model_validate(draft, from_attributes=True)
    if message is not None:
        out.message = MessagePublic.model_validate(message, from_attributes=True)
    return out


def _load(ctx: ContextDep, draft_id: int) -> tuple[Draft, Message | None]:
    with Session(ctx.engine) as session:
        draft = session.get(Draft, draft_id)
        if draft is None:
            raise NotFound("draft not found")
        return draft, session.get(Message, draft.message_id)


@router.get("", response_model=DraftList)
def list_drafts(
    ctx: ContextDep,
    _key: Viewer,
    status: Annotated[str | None, Query(max_length=32)] = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    workspace: Annotated[str | None, Query(max_length=48)] = None,
    message_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DraftList:
    conditions = []
    if status:
        conditions.append(col(Draft.status) == status)
    if platform:
        conditions.append(col(Draft.platform) == platform.lower())
    if workspace:
        conditions.append(col(Draft.workspace) == workspace)
    if message_id is not None:
        conditions.append(col(Draft.message_id) == message_id)
    with Session(ctx.engine) as session:
        count = session.exec(select(func.count()).select_from(Draft).where(*conditions)).one()
        rows = session.exec(
            select(Draft, Message)
            .join(Message, col(Message.id) == col(Draft.message_id))
            .where(*conditions)
            .order_by(col(Draft.id))
            .offset(offset)
            .limit(limit)
        ).all()
    return DraftList(data=[_public(d, m) for d, m in rows], count=int(count))


@router.get("/{draft_id}", response_model=DraftPublic)
def get_draft(draft_id: int, ctx: ContextDep, _key: Viewer, response: Response) -> DraftPublic:
    draft, message = _load(ctx, draft_id)
    return _public(draft, message, response)


@router.patch("/{draft_id}", response_model=DraftPublic)
def update_draft(
    draft_id: int, body: DraftEdit, version: VersionDep, ctx: ContextDep, key: CM, response: Response
) -> DraftPublic:
    draft = edit_draft(ctx.engine, draft_id, version, body.text, actor_of(key))
    return _public(draft, None, response)


@router.post("/{draft_id}/approve", response_model=DraftPublic)
def approve(
    draft_id: int, version: VersionDep, ctx: ContextDep, key: CM, response: Response,
    body: DraftApprove | None = None,
) -> DraftPublic:
    target = ctx.settings.webhook_url or f"log:{ctx.settings.delivery_log}"
    draft = approve_draft(ctx.engine, draft_id, version, body.text if body else None, actor_of(key), target)
    return _public(draft, None, response)


@router.post("/{draft_id}/reject", response_model=DraftPublic)
def reject(
    draft_id: int, body: DraftReject, version: VersionDep, ctx: ContextDep, key: CM, response: Response
) -> DraftPublic:
    draft = reject_draft(ctx.engine, draft_id, version, body.reason, actor_of(key))
    return _public(draft, None, response)


@router.post("/{draft_id}/regenerate", response_model=DraftPublic)
def regenerate(
    draft_id: int, version: VersionDep, ctx: ContextDep, key: CM, response: Response,
    body: DraftRegenerate | None = None,
) -> DraftPublic:
    instructions = body.instructions if body else ""
    draft = regenerate_draft(ctx.engine, draft_id, version, instructions, actor_of(key))
    return _public(draft, None, response)
