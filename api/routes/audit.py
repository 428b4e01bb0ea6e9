from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlmodel import col, select

from api.db import read_session
from api.deps import Admin, ContextDep
from api.models import AuditEvent
from api.pagination import aware, decode_cursor, encode_cursor
from api.schemas_admin import AuditList, AuditPublic

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", response_model=AuditList)
def audit_log(
    ctx: ContextDep,
    _key: Admin,
    draft_id: Annotated[int | None, Query(ge=1)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    workspace: Annotated[str | None, Query(max_length=48)] = None,
    request_id: Annotated[str | None, Query(max_length=128)] = None,
    since: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditList:
    """The append-only log, oldest first; follow next_cursor for more."""
    conditions: list[Any] = []
    if draft_id is not None:
        conditions.append(col(AuditEvent.draft_id) == draft_id)
    if actor:
        conditions.append(col(AuditEvent.actor) == actor)
    if action:
        conditions.append(col(AuditEvent.action) == action)
    if workspace:
        conditions.append(col(AuditEvent.workspace) == workspace)
    if request_id:
        conditions.append(col(AuditEvent.request_id) == request_id)
    if since is not None:
        conditions.append(col(AuditEvent.at) >= aware(since))
    if cursor:
        _key_value, last_id = decode_cursor(cursor, "audit")
        conditions.append(col(AuditEvent.id) > last_id)
    with read_session(ctx.engine) as session:
        rows = session.exec(
            select(AuditEvent).where(*conditions).order_by(col(AuditEvent.id)).limit(limit + 1)
        ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor("audit", None, rows[-1].id or 0) if more and rows else None
    return AuditList(data=[AuditPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=next_cursor)
