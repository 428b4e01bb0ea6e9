from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import Admin, ContextDep, actor_of
from api.errors import NotFound
from api.schemas_admin import KeyCreate, KeyCreated, KeyList, KeyPublic
from desk.keys import issue_key, list_keys, revoke_key

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.get("", response_model=KeyList)
def keys(ctx: ContextDep, _key: Admin) -> KeyList:
    rows = list_keys(ctx.engine)
    return KeyList(data=[KeyPublic.model_validate(r, from_attributes=True) for r in rows], count=len(rows))


@router.post("", response_model=KeyCreated, status_code=status.HTTP_201_CREATED)
def create(body: KeyCreate, ctx: ContextDep, key: Admin) -> KeyCreated:
    """The key is in this answer only; the server keeps its SHA-256."""
    record, plaintext = issue_key(ctx.engine, body.role, body.name, actor_of(key))
    return KeyCreated.model_validate(record.model_dump() | {"key": plaintext})


@router.delete("/{key_id}", response_model=KeyPublic)
def revoke(key_id: int, ctx: ContextDep, key: Admin) -> KeyPublic:
    try:
        record = revoke_key(ctx.engine, key_id, actor_of(key))
    except KeyError as exc:
        raise NotFound("key not found") from exc
    return KeyPublic.model_validate(record, from_attributes=True)
