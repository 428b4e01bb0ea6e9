from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.db import read_session
from api.deps import CM, ContextDep, Viewer
from api.errors import NotFound
from api.models import Message
from api.queue import submit_message
from api.schemas import MessageAccepted, MessageCreate, MessagePublic

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
    with read_session(ctx.engine) as session:
        message = session.get(Message, message_id)
    if message is None:
        raise NotFound("message not found")
    return message
