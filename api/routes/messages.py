from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.contract import AUTHENTICATED, COMMON, NOT_FOUND, TOO_LARGE, IdPath, responses
from api.deps import CM, ContextDep, Viewer, scope_of
from api.schemas import MessageAccepted, MessagePublic
from desk import reads
from desk.inbound import MessageCreate
from desk.models import Message
from desk.queue import submit_message

router = APIRouter(prefix="/v1/messages", tags=["messages"], responses=responses(COMMON, AUTHENTICATED))


@router.post("", response_model=MessageAccepted, status_code=status.HTTP_202_ACCEPTED, responses=TOO_LARGE)
def create_message(body: MessageCreate, ctx: ContextDep, key: CM, response: Response) -> MessageAccepted:
    """Accept an inbound message; drafting happens in the worker, not in this request. Without a workspace,
    the installation's default (or the key's only workspace)."""
    scope = scope_of(key)
    workspace = scope.workspace_for(body.workspace, ctx.settings.workspace)
    message, created = submit_message(ctx.engine, body, workspace, scope=scope)
    if not created:
        response.status_code = status.HTTP_200_OK
    return MessageAccepted(id=message.id or 0, status=message.status, duplicate=not created)


@router.get("/{message_id}", response_model=MessagePublic, responses=NOT_FOUND)
def get_message(message_id: IdPath, ctx: ContextDep, key: Viewer) -> Message:
    message = reads.get_message(ctx.engine, message_id, scope=scope_of(key))
    return message
