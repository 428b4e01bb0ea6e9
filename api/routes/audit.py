from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.contract import AUTHENTICATED, BAD_REQUEST, COMMON, IdQuery, responses
from api.deps import Admin, ContextDep, scope_of
from api.pagination import aware, decode_cursor, encode_cursor
from api.schemas_admin import AuditList, AuditPublic
from desk import reads

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=responses(COMMON, AUTHENTICATED, BAD_REQUEST))


@router.get("", response_model=AuditList)
def audit_log(
    ctx: ContextDep,
    key: Admin,
    draft_id: IdQuery = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    workspace: Annotated[str | None, Query(max_length=48)] = None,
    request_id: Annotated[str | None, Query(max_length=128)] = None,
    since: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditList:
    """The append-only log, oldest first; follow next_cursor for more. A workspace admin sees the events of
    its workspaces; installation events (keys, say) only installation-wide admins."""
    after_id = decode_cursor(cursor, "audit")[1] if cursor else None
    rows = reads.audit_events(ctx.engine, draft_id=draft_id, actor=actor, action=action, workspace=workspace,
                              request_id=request_id, since=aware(since), after_id=after_id, limit=limit + 1,
                              scope=scope_of(key))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor("audit", None, rows[-1].id or 0) if more and rows else None
    return AuditList(data=[AuditPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=next_cursor)
