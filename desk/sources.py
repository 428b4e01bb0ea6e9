"""Inbound webhook sources: each has its own signing secret, derived by the server from the master key and
a generation that rotation bumps (so the secret is never stored)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from desk.audit import Actor, audit_other
from desk.db import read_session, session_scope
from desk.errors import BadRequest, Conflict, NotFound
from desk.models import WebhookSource, utcnow
from desk.scope import Scope
from desk.signing import derive_secret
from ground.settings import Settings


def source_secret(settings: Settings, source: WebhookSource) -> str:
    return derive_secret(settings, "inbound", source.source, source.secret_generation)


def list_sources(engine: Engine, *, scope: Scope, workspace: str | None = None) -> list[WebhookSource]:
    scope.check_filter(workspace)
    query = select(WebhookSource).where(*scope.condition(WebhookSource.workspace))
    if workspace:
        query = query.where(col(WebhookSource.workspace) == workspace)
    with read_session(engine) as session:
        return list(session.exec(query.order_by(col(WebhookSource.source))).all())


def _in_scope(row: WebhookSource | None, scope: Scope) -> WebhookSource:
    if row is None or not scope.allows(row.workspace):
        raise NotFound("webhook source not found")
    return row


def active_source(engine: Engine, name: str) -> WebhookSource:
    with read_session(engine) as session:
        row = session.get(WebhookSource, name)
    if row is None or row.revoked_at is not None:
        raise NotFound(f"unknown webhook source {name!r}")
    return row


def create_source(engine: Engine, name: str, workspace: str, actor: Actor, *, scope: Scope) -> WebhookSource:
    """A new source (or a revoked one of the caller's workspaces brought back with a new secret). Source
    names are one namespace for the installation: a name another workspace holds is taken."""
    if name == "sources":
        raise BadRequest("'sources' is reserved; choose another source name")
    scope.check_filter(workspace)
    with session_scope(engine) as session:
        existing = session.get(WebhookSource, name)
        if existing is not None and not scope.allows(existing.workspace):
            raise Conflict(f"source name {name!r} is taken; choose another")
        if existing is not None and existing.revoked_at is None:
            raise Conflict(f"source {name!r} exists; rotate its secret instead")
        source = existing or WebhookSource(source=name, workspace=workspace)
        if existing is not None:
            source.secret_generation += 1
            source.revoked_at = None
            source.workspace = workspace
        session.add(source)
        audit_other(session, actor, "webhook_source.create", workspace, source=name)
        session.flush()
        session.refresh(source)
        return source


def rotate_source(engine: Engine, name: str, actor: Actor, *, scope: Scope) -> WebhookSource:
    with session_scope(engine) as session:
        row = _in_scope(session.get(WebhookSource, name), scope)
        if row.revoked_at is not None:
            raise NotFound("webhook source not found")
        row.secret_generation += 1
        session.add(row)
        audit_other(session, actor, "webhook_source.rotate", row.workspace, source=name)
        session.flush()
        session.refresh(row)
        return row


def revoke_source(engine: Engine, name: str, actor: Actor, *, scope: Scope) -> WebhookSource:
    with session_scope(engine) as session:
        row = _in_scope(session.get(WebhookSource, name), scope)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(row)
            audit_other(session, actor, "webhook_source.revoke", row.workspace, source=name)
        session.flush()
        session.refresh(row)
        return row
