from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import CM, ContextDep, Viewer
from api.schemas import MessageAccepted, MessagePublic
from desk import reads
from desk.inbound import MessageCreate
from desk.models import Message
from desk.queue import submit_message

router = APIRouter(prefix="/v1/messages", tags=["messages"])


@router.post("", response_model=MessageAccepted, status_code=status.HTTP_202_ACCEPTED)
def create_message(body: MessageCreate, ctx: ContextDep, _key: CM, response: Response) -> MessageAccepted:
    """Accept an inbound message; drafting happens in the worker, not in this request."""
    workspace = body.workspace or ctx.settings.workspace
    message, created = submit_message(ctx.engine, body, workspace)
    if not created:
        response.status_code = status.HTTP_200_OK
    return MessageAccepted(id=message.id or 0, status=message.status, duplicate=not created)


@router.get("/{message_id}", response_model=MessagePublic)
def get_message(message_id: int, ctx: ContextDep, _key: Viewer) -> Message:
    message = reads.get_message(ctx.engine, message_id)
    return message
