"""Inbound webhooks from platform connectors, signed with the Standard Webhooks scheme.

Authentication is the signature (no API key): each source has its own secret, derived by the server
and shown to an admin when the source is created or rotated. Duplicates (a retried webhook, or the
same platform message twice) are one message.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.contract import AUTHENTICATED, BAD_REQUEST, COMMON, CONFLICT, NOT_FOUND, TOO_LARGE, ErrorOut, responses
from api.deps import Admin, ContextDep, actor_of, scope_of
from api.errors import BadRequest, Unauthorized, UnprocessableEntity
from api.limits import WEBHOOK_BODY, read_capped
from api.schemas import MessageAccepted
from api.schemas_admin import SOURCE_PATTERN, WebhookSourceCreate, WebhookSourceList, WebhookSourcePublic
from desk import sources
from desk.inbound import MessageCreate
from desk.models import WebhookSource
from desk.queue import submit_message
from desk.scope import Scope
from desk.signing import SignatureError, verify
from desk.sources import source_secret
from ground.names import WORKSPACE_PATTERN
from ground.settings import Settings

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=COMMON)
ADMIN = responses(AUTHENTICATED, NOT_FOUND)
SourcePath = Annotated[str, Path(pattern=SOURCE_PATTERN)]


def _public(settings: Settings, source: WebhookSource, with_secret: bool = False) -> WebhookSourcePublic:
    out = WebhookSourcePublic.model_validate(source, from_attributes=True)
    if with_secret:
        out.secret = source_secret(settings, source)
    return out


@router.get("/sources", response_model=WebhookSourceList, responses=AUTHENTICATED)
def list_sources(
    ctx: ContextDep, key: Admin, workspace: Annotated[str | None, Query(pattern=WORKSPACE_PATTERN)] = None
) -> WebhookSourceList:
    rows = sources.list_sources(ctx.engine, scope=scope_of(key), workspace=workspace)
    return WebhookSourceList(data=[_public(ctx.settings, r) for r in rows])


@router.post("/sources", response_model=WebhookSourcePublic, status_code=status.HTTP_201_CREATED,
             responses=responses(AUTHENTICATED, BAD_REQUEST, CONFLICT))
def create_source(body: WebhookSourceCreate, ctx: ContextDep, key: Admin) -> WebhookSourcePublic:
    source = sources.create_source(ctx.engine, body.source, body.workspace, actor_of(key), scope=scope_of(key))
    return _public(ctx.settings, source, with_secret=True)


@router.post("/sources/{source}/rotate", response_model=WebhookSourcePublic, responses=ADMIN)
def rotate_source(source: SourcePath, ctx: ContextDep, key: Admin) -> WebhookSourcePublic:
    row = sources.rotate_source(ctx.engine, source, actor_of(key), scope=scope_of(key))
    return _public(ctx.settings, row, with_secret=True)


@router.delete("/sources/{source}", response_model=WebhookSourcePublic, responses=ADMIN)
def revoke_source(source: SourcePath, ctx: ContextDep, key: Admin) -> WebhookSourcePublic:
    return _public(ctx.settings, sources.revoke_source(ctx.engine, source, actor_of(key), scope=scope_of(key)))


@router.post("/{source}", response_model=MessageAccepted, status_code=status.HTTP_202_ACCEPTED,
             responses=responses(BAD_REQUEST, NOT_FOUND, TOO_LARGE, {
                 401: {"model": ErrorOut, "description": "The signature is missing, wrong or too old."}}))
async def inbound(source: SourcePath, request: Request, ctx: ContextDep, response: Response) -> MessageAccepted:
    """An inbound message (the POST /v1/messages shape), signed by the source's secret."""
    row = await run_in_threadpool(sources.active_source, ctx.engine, source)
    body = await read_capped(request, WEBHOOK_BODY)  # 413 from Content-Length, or as soon as it passes
    try:
        verify(source_secret(ctx.settings, row), request.headers, body, ctx.settings.webhook_tolerance_seconds)
    except SignatureError as exc:
        raise Unauthorized(f"webhook signature rejected: {exc}") from exc
    try:
        message = MessageCreate.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise UnprocessableEntity(f"{where}: {first['msg']}") from exc
    if message.workspace and message.workspace != row.workspace:
        raise BadRequest(f"source {source!r} delivers to workspace {row.workspace!r}, not {message.workspace!r}")
    # A source acts in its own workspace only.
    stored, created = await run_in_threadpool(
        lambda: submit_message(ctx.engine, message, row.workspace, scope=Scope.of([row.workspace]))
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return MessageAccepted(id=stored.id or 0, status=stored.status, duplicate=not created)
