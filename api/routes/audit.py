from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Admin, ContextDep
from api.pagination import aware, decode_cursor, encode_cursor
from api.schemas_admin import AuditList, AuditPublic
from desk import reads

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
    after_id = decode_cursor(cursor, "audit")[1] if cursor else None
    rows = reads.audit_events(ctx.engine, draft_id=draft_id, actor=actor, action=action, workspace=workspace,
                              request_id=request_id, since=aware(since), after_id=after_id, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor("audit", None, rows[-1].id or 0) if more and rows else None
    return AuditList(data=[AuditPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=next_cursor)
