from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func
from sqlmodel import col, select

from api.db import read_session
from api.deps import CM, ContextDep, Viewer, actor_of
from api.errors import NotFound
from api.models import Delivery
from api.relay import requeue_delivery
from api.schemas import DeliveryList, DeliveryPublic

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
    conditions = []
    if draft_id is not None:
        conditions.append(col(Delivery.draft_id) == draft_id)
    if status:
        conditions.append(col(Delivery.status) == status)
    with read_session(ctx.engine) as session:
        count = session.exec(select(func.count()).select_from(Delivery).where(*conditions)).one()
        rows = session.exec(
            select(Delivery).where(*conditions).order_by(col(Delivery.id)).offset(offset).limit(limit)
        ).all()
    return DeliveryList(
        data=[DeliveryPublic.model_validate(r, from_attributes=True) for r in rows], count=int(count)
    )


@router.get("/{delivery_id}", response_model=DeliveryPublic)
def get_delivery(delivery_id: int, ctx: ContextDep, _key: Viewer) -> DeliveryPublic:
    with read_session(ctx.engine) as session:
        row = session.get(Delivery, delivery_id)
    if row is None:
        raise NotFound("delivery not found")
    return DeliveryPublic.model_validate(row, from_attributes=True)


@router.post("/{delivery_id}/requeue", response_model=DeliveryPublic)
def requeue(delivery_id: int, ctx: ContextDep, key: CM) -> DeliveryPublic:
    """Send a dead-lettered (failed) delivery again, with the same webhook-id."""
    row = requeue_delivery(ctx.engine, delivery_id, actor_of(key))
    return DeliveryPublic.model_validate(row, from_attributes=True)
