from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from api.contract import AUTHENTICATED, BAD_REQUEST, COMMON, NOT_FOUND, IdPath, responses
from api.deps import Admin, ContextDep, actor_of, scope_of
from api.errors import NotFound
from api.schemas_admin import KeyCreate, KeyCreated, KeyList, KeyPublic
from desk.keys import issue_key, list_keys, revoke_key
from desk.scope import Scope
from ground.names import WORKSPACE_PATTERN

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=responses(COMMON, AUTHENTICATED))


@router.get("", response_model=KeyList)
def keys(
    ctx: ContextDep, key: Admin, workspace: Annotated[str | None, Query(pattern=WORKSPACE_PATTERN)] = None
) -> KeyList:
    """The keys this admin may manage (those whose every workspace is one of its own); with ``workspace``,
    the keys that may act there."""
    rows = list_keys(ctx.engine, scope=scope_of(key), workspace=workspace)
    return KeyList(data=[KeyPublic.model_validate(r, from_attributes=True) for r in rows], count=len(rows))


@router.post("", response_model=KeyCreated, status_code=status.HTTP_201_CREATED, responses=BAD_REQUEST)
def create(body: KeyCreate, ctx: ContextDep, key: Admin) -> KeyCreated:
    """The key is in this answer only; the server keeps its SHA-256. ``workspaces`` must lie within the
    creating key's own (default: the same); only installation-wide admins create ``["*"]`` keys."""
    wanted = Scope.of(body.workspaces) if body.workspaces is not None else None
    record, plaintext = issue_key(ctx.engine, body.role, body.name, actor_of(key), workspaces=wanted,
                                  scope=scope_of(key))
    return KeyCreated.model_validate(record.model_dump() | {"key": plaintext})


@router.delete("/{key_id}", response_model=KeyPublic, responses=NOT_FOUND)
def revoke(key_id: IdPath, ctx: ContextDep, key: Admin) -> KeyPublic:
    try:
        record = revoke_key(ctx.engine, key_id, actor_of(key), scope=scope_of(key))
    except KeyError as exc:
        raise NotFound("key not found") from exc
    return KeyPublic.model_validate(record, from_attributes=True)
