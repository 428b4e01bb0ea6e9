from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.contract import AUTHENTICATED, COMMON, CONFLICT, NOT_FOUND, IdPath, IdQuery, Offset, responses
from api.deps import CM, ContextDep, Viewer, actor_of, scope_of
from api.schemas import DeliveryList, DeliveryPublic
from desk import reads
from desk.relay import requeue_delivery

router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"], responses=responses(COMMON, AUTHENTICATED))


@router.get("", response_model=DeliveryList)
def list_deliveries(
    ctx: ContextDep,
    key: Viewer,
    draft_id: IdQuery = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    workspace: Annotated[str | None, Query(max_length=48)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> DeliveryList:
    rows, count = reads.list_deliveries(ctx.engine, draft_id=draft_id, status=status, offset=offset, limit=limit,
                                        workspace=workspace, scope=scope_of(key))
    return DeliveryList(data=[DeliveryPublic.model_validate(r, from_attributes=True) for r in rows], count=count)


@router.get("/{delivery_id}", response_model=DeliveryPublic, responses=NOT_FOUND)
def get_delivery(delivery_id: IdPath, ctx: ContextDep, key: Viewer) -> DeliveryPublic:
    row = reads.get_delivery(ctx.engine, delivery_id, scope=scope_of(key))
    return DeliveryPublic.model_validate(row, from_attributes=True)


@router.post("/{delivery_id}/requeue", response_model=DeliveryPublic, responses=responses(NOT_FOUND, CONFLICT))
def requeue(delivery_id: IdPath, ctx: ContextDep, key: CM) -> DeliveryPublic:
    """Send a dead-lettered (failed) delivery again, with the same webhook-id."""
    row = requeue_delivery(ctx.engine, delivery_id, actor_of(key), scope=scope_of(key))
    return DeliveryPublic.model_validate(row, from_attributes=True)
