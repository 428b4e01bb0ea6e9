"""Inbound webhooks from platform connectors, signed with the Standard Webhooks scheme.

Authentication is the signature (no API key): each source has its own secret, derived by the server
and shown to an admin when the source is created or rotated. Duplicates (a retried webhook, or the
same platform message twice) are one message.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import ValidationError
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from api.audit import audit_other
from api.db import read_session, session_scope
from api.deps import Admin, ContextDep, actor_of
from api.errors import BadRequest, Conflict, NotFound, Unauthorized, UnprocessableEntity
from api.models import WebhookSource, utcnow
from api.queue import submit_message
from api.schemas import MessageAccepted, MessageCreate
from api.schemas_admin import SOURCE_PATTERN, WebhookSourceCreate, WebhookSourceList, WebhookSourcePublic
from api.signing import SignatureError, derive_secret, verify
from replydesk.settings import Settings

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
SourcePath = Annotated[str, Path(pattern=SOURCE_PATTERN)]
_MAX_BODY = 256 * 1024


def source_secret(settings: Settings, source: WebhookSource) -> str:
    return derive_secret(settings, "inbound", source.source, source.secret_generation)


def _public(settings: Settings, source: WebhookSource, with_secret: bool = False) -> WebhookSourcePublic:
    out = WebhookSourcePublic.model_validate(source, from_attributes=True)
    if with_secret:
        out.secret = source_secret(settings, source)
    return out


@router.get("/sources", response_model=WebhookSourceList)
def list_sources(ctx: ContextDep, _key: Admin) -> WebhookSourceList:
    with read_session(ctx.engine) as session:
        rows = session.exec(select(WebhookSource).order_by(col(WebhookSource.source))).all()
    return WebhookSourceList(data=[_public(ctx.settings, r) for r in rows])


@router.post("/sources", response_model=WebhookSourcePublic, status_code=status.HTTP_201_CREATED)
def create_source(body: WebhookSourceCreate, ctx: ContextDep, key: Admin) -> WebhookSourcePublic:
    if body.source == "sources":
        raise BadRequest("'sources' is reserved; choose another source name")
    with session_scope(ctx.engine) as session:
        existing = session.get(WebhookSource, body.source)
        if existing is not None and existing.revoked_at is None:
            raise Conflict(f"source {body.source!r} exists; rotate its secret instead")
        source = existing or WebhookSource(source=body.source, workspace=body.workspace)
        if existing is not None:
            source.secret_generation += 1
            source.revoked_at = None
            source.workspace = body.workspace
        session.add(source)
        audit_other(session, actor_of(key), "webhook_source.create", body.workspace, source=body.source)
        session.flush()
        return _public(ctx.settings, source, with_secret=True)


@router.post("/sources/{source}/rotate", response_model=WebhookSourcePublic)
def rotate_source(source: SourcePath, ctx: ContextDep, key: Admin) -> WebhookSourcePublic:
    with session_scope(ctx.engine) as session:
        row = session.get(WebhookSource, source)
        if row is None or row.revoked_at is not None:
            raise NotFound("webhook source not found")
        row.secret_generation += 1
        session.add(row)
        audit_other(session, actor_of(key), "webhook_source.rotate", row.workspace, source=source)
        session.flush()
        return _public(ctx.settings, row, with_secret=True)


@router.delete("/sources/{source}", response_model=WebhookSourcePublic)
def revoke_source(source: SourcePath, ctx: ContextDep, key: Admin) -> WebhookSourcePublic:
    with session_scope(ctx.engine) as session:
        row = session.get(WebhookSource, source)
        if row is None:
            raise NotFound("webhook source not found")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(row)
            audit_other(session, actor_of(key), "webhook_source.revoke", row.workspace, source=source)
        session.flush()
        return _public(ctx.settings, row)


def _active_source(ctx: ContextDep, name: str) -> WebhookSource:
    with read_session(ctx.engine) as session:
        row = session.get(WebhookSource, name)
    if row is None or row.revoked_at is not None:
        raise NotFound(f"unknown webhook source {name!r}")
    return row


@router.post("/{source}", response_model=MessageAccepted, status_code=status.HTTP_202_ACCEPTED)
async def inbound(source: SourcePath, request: Request, ctx: ContextDep, response: Response) -> MessageAccepted:
    """An inbound message (the POST /v1/messages shape), signed by the source's secret."""
    row = await run_in_threadpool(_active_source, ctx, source)
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise BadRequest(f"body larger than {_MAX_BODY} bytes")
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
    stored, created = await run_in_threadpool(submit_message, ctx.engine, message, row.workspace)
    if not created:
        response.status_code = status.HTTP_200_OK
    return MessageAccepted(id=stored.id or 0, status=stored.status, duplicate=not created)
