"""Platform connectors: admin configuration, the credentials check, and the signed events route that push
platforms (Discourse, Meta) post to. The events route is authenticated by the platform's signature, checked
over the raw (capped) body before anything parses it; api/gate.py lets it through without a key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from api.contract import AUTHENTICATED, BAD_REQUEST, COMMON, CONFLICT, NOT_FOUND, TOO_LARGE, ErrorOut, IdPath, responses
from api.deps import Admin, ContextDep, actor_of, scope_of
from api.limits import WEBHOOK_BODY, read_capped
from api.schemas_admin import (
    ConnectorCheck,
    ConnectorCreate,
    ConnectorIntake,
    ConnectorList,
    ConnectorPublic,
    ConnectorTest,
)
from connectors import config, intake
from ground.names import WORKSPACE_PATTERN

router = APIRouter(prefix="/v1/connectors", tags=["connectors"], responses=COMMON)
ADMIN = responses(AUTHENTICATED, NOT_FOUND)


@router.get("", response_model=ConnectorList, responses=AUTHENTICATED)
def list_connectors(
    ctx: ContextDep, key: Admin, workspace: Annotated[str | None, Query(pattern=WORKSPACE_PATTERN)] = None
) -> ConnectorList:
    rows = config.list_connectors(ctx.engine, scope=scope_of(key), workspace=workspace)
    return ConnectorList(data=[ConnectorPublic.model_validate(config.public_view(r)) for r in rows])


@router.post("", response_model=ConnectorPublic, status_code=status.HTTP_201_CREATED,
             responses=responses(AUTHENTICATED, BAD_REQUEST, CONFLICT))
def add_connector(body: ConnectorCreate, ctx: ContextDep, key: Admin) -> ConnectorPublic:
    scope = scope_of(key)
    row = config.add_connector(
        ctx.settings, ctx.engine, workspace=scope.workspace_for(body.workspace, ctx.settings.workspace),
        name=body.name, platform=body.platform, config=body.config,
        credentials={k: config.Credential(env=c.env, value=c.value) for k, c in body.credentials.items()},
        actor=actor_of(key), scope=scope,
    )
    return ConnectorPublic.model_validate(config.public_view(row))


@router.get("/{connector_id}", response_model=ConnectorPublic, responses=ADMIN)
def get_connector(connector_id: IdPath, ctx: ContextDep, key: Admin) -> ConnectorPublic:
    row = config.get_connector(ctx.engine, connector_id, scope=scope_of(key))
    return ConnectorPublic.model_validate(config.public_view(row))


@router.delete("/{connector_id}", response_model=ConnectorPublic, responses=ADMIN)
def remove_connector(connector_id: IdPath, ctx: ContextDep, key: Admin) -> ConnectorPublic:
    row = config.remove_connector(ctx.engine, connector_id, actor_of(key), scope=scope_of(key))
    return ConnectorPublic.model_validate(config.public_view(row))


@router.post("/{connector_id}/test", response_model=ConnectorTest, responses=ADMIN)
def test_connector(connector_id: IdPath, ctx: ContextDep, key: Admin) -> ConnectorTest:
    checks = config.test_connector(ctx.settings, ctx.engine, connector_id, scope=scope_of(key))
    return ConnectorTest(ok=all(c.ok for c in checks), checks=[ConnectorCheck(**c.__dict__) for c in checks])


@router.post("/{connector_id}/events", response_model=ConnectorIntake,
             responses=responses(BAD_REQUEST, NOT_FOUND, TOO_LARGE, {
                 401: {"model": ErrorOut, "description": "The platform's signature is missing or wrong."},
                 503: {"model": ErrorOut, "description": "The platform could not be read for the event's content; "
                                                         "it sends the event again."}}))
async def receive_events(connector_id: IdPath, request: Request, ctx: ContextDep) -> ConnectorIntake:
    """Events pushed by the platform, signed its way (Discourse, Meta); nothing is parsed before the check."""
    body = await read_capped(request, WEBHOOK_BODY)  # 413 from Content-Length, or as soon as it passes
    headers = {k.lower(): v for k, v in request.headers.items()}
    result = await run_in_threadpool(intake.receive_push, ctx.settings, ctx.engine, connector_id, headers, body)
    return ConnectorIntake(accepted=result.accepted, duplicates=result.duplicates, ignored=result.ignored)


@router.get("/{connector_id}/events", response_model=None, responses=responses(BAD_REQUEST, NOT_FOUND, {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "The challenge, echoed."},
    403: {"model": ErrorOut, "description": "The verify token does not match."}}))
def subscribe_challenge(connector_id: IdPath, request: Request, ctx: ContextDep) -> PlainTextResponse:
    """The platform's subscription handshake (Meta: ``hub.mode``, ``hub.verify_token``, ``hub.challenge``)."""
    params = dict(request.query_params)
    return PlainTextResponse(intake.answer_challenge(ctx.settings, ctx.engine, connector_id, params))
