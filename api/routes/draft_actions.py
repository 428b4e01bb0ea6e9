"""Claims, bulk decisions and the edit history of drafts."""

from __future__ import annotations

import difflib
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.contract import AUTHENTICATED, COMMON, MAX_ID, NOT_FOUND, VERSIONED, IdPath, responses
from api.deps import CM, ContextDep, VersionDep, Viewer, actor_of, scope_of
from api.errors import DeskError, NotFound, status_of
from api.routes.drafts import _public, delivery_target_name
from api.schemas import (
    BulkDecision,
    BulkItemResult,
    BulkResult,
    DraftAssign,
    DraftDiff,
    DraftHistory,
    DraftPublic,
    DraftVersionPublic,
)
from desk import reads
from desk.decisions import assign_draft, bulk_decide

router = APIRouter(prefix="/v1/drafts", tags=["drafts"], responses=responses(COMMON, AUTHENTICATED))
DECISION = responses(NOT_FOUND, VERSIONED)


@router.post("/bulk", response_model=BulkResult)
def bulk(body: BulkDecision, ctx: ContextDep, key: CM) -> BulkResult:
    """Approve or reject many drafts; each item carries its version and gets its own result (a draft outside
    the key's workspaces is a 404 item)."""
    items = [(item.id, item.version, item.text) for item in body.items]
    outcomes = bulk_decide(ctx.engine, body.action, items, body.reason, actor_of(key), delivery_target_name(ctx),
                           scope=scope_of(key))
    results = [
        BulkItemResult(id=draft_id, status_code=status_of(outcome), detail=outcome.detail)
        if isinstance(outcome, DeskError)
        else BulkItemResult(id=draft_id, status_code=200, status=outcome.status, version=outcome.version)
        for draft_id, outcome in outcomes
    ]
    ok = sum(1 for r in results if r.status_code == 200)
    return BulkResult(results=results, succeeded=ok, failed=len(results) - ok)


@router.post("/{draft_id}/claim", response_model=DraftPublic, responses=DECISION)
def claim(
    draft_id: IdPath, key: CM, version: VersionDep, ctx: ContextDep, response: Response,
    body: DraftAssign | None = None,
) -> DraftPublic:
    """Take a draft (or give it to ``assignee``) with a lock that expires after ``minutes``."""
    actor = actor_of(key)
    assignee = body.assignee if body and body.assignee else actor[0]
    minutes = body.minutes if body and body.minutes else ctx.settings.claim_minutes
    draft = assign_draft(ctx.engine, draft_id, version, assignee, minutes, actor, scope=scope_of(key))
    return _public(draft, None, response)


@router.post("/{draft_id}/release", response_model=DraftPublic, responses=DECISION)
def release(draft_id: IdPath, key: CM, version: VersionDep, ctx: ContextDep, response: Response) -> DraftPublic:
    draft = assign_draft(ctx.engine, draft_id, version, None, 0, actor_of(key), scope=scope_of(key))
    return _public(draft, None, response)


@router.get("/{draft_id}/history", response_model=DraftHistory, responses=NOT_FOUND)
def history(draft_id: IdPath, ctx: ContextDep, key: Viewer) -> DraftHistory:
    rows = reads.draft_versions(ctx.engine, draft_id, scope=scope_of(key))
    return DraftHistory(draft_id=draft_id,
                        data=[DraftVersionPublic.model_validate(r, from_attributes=True) for r in rows])


@router.get("/{draft_id}/diff", response_model=DraftDiff, responses=NOT_FOUND)
def diff(
    draft_id: IdPath, ctx: ContextDep, key: Viewer,
    from_version: Annotated[int, Query(alias="from", ge=1, le=MAX_ID)] = 1,
    to_version: Annotated[int | None, Query(alias="to", ge=1, le=MAX_ID)] = None,
) -> DraftDiff:
    """A unified diff between two versions' texts (default: the first draft against the latest)."""
    rows = {r.version: r for r in reads.draft_versions(ctx.engine, draft_id, scope=scope_of(key))}
    to = to_version or max(rows, default=1)
    for wanted in (from_version, to):
        if wanted not in rows:
            raise NotFound(f"draft {draft_id} has no version {wanted}")
    lines = difflib.unified_diff(
        rows[from_version].text.splitlines(), rows[to].text.splitlines(),
        fromfile=f"v{from_version}", tofile=f"v{to}", lineterm="",
    )
    return DraftDiff(draft_id=draft_id, from_version=from_version, to_version=to, diff="\n".join(lines))
