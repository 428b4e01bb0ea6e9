from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CM, ContextDep, Viewer, actor_of
from api.schemas import DeliveryList, DeliveryPublic
from desk import reads
from desk.relay import requeue_delivery

router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])


@router.get("", response_model=DeliveryList)
def list_deliveries(
    ctx: ContextDep,
    _key: Viewer,
    draft_id: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DeliveryList:
    rows, count = reads.list_deliveries(ctx.engine, draft_id=draft_id, status=status, offset=offset, limit=limit)
    return DeliveryList(data=[DeliveryPublic.model_validate(r, from_attributes=True) for r in rows], count=count)


@router.get("/{delivery_id}", response_model=DeliveryPublic)
def get_delivery(delivery_id: int, ctx: ContextDep, _key: Viewer) -> DeliveryPublic:
    return DeliveryPublic.model_validate(reads.get_delivery(ctx.engine, delivery_id), from_attributes=True)


@router.post("/{delivery_id}/requeue", response_model=DeliveryPublic)
def requeue(delivery_id: int, ctx: ContextDep, key: CM) -> DeliveryPublic:
    """Send a dead-lettered (failed) delivery again, with the same webhook-id."""
    row = requeue_delivery(ctx.engine, delivery_id, actor_of(key))
    return DeliveryPublic.model_validate(row, from_attributes=True)
