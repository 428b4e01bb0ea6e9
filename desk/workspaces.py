"""Workspace configuration an admin sets over the API (four-eyes rule, webhook target)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from desk.audit import Actor, audit_other
from desk.db import read_session, session_scope
from desk.errors import UnprocessableEntity
from desk.models import WorkspaceConfig, utcnow
from desk.scope import Scope
from desk.signing import derive_secret
from ground.outbound import OutboundPolicy, OutboundRefused
from ground.settings import Settings


def workspace_config(session: Session, workspace: str) -> WorkspaceConfig:
    """The stored config, or the defaults (not stored) when an admin never set one."""
    return with_defaults(session.get(WorkspaceConfig, workspace), workspace)


def with_defaults(stored: WorkspaceConfig | None, workspace: str) -> WorkspaceConfig:
    """A config row a caller loaded itself (say, joined to a draft), or the defaults when there is none."""
    return stored or WorkspaceConfig(workspace=workspace)


def webhook_secret(settings: Settings, config: WorkspaceConfig) -> str:
    return derive_secret(settings, "outbound", config.workspace, config.secret_generation)


def delivery_target(settings: Settings, config: WorkspaceConfig) -> tuple[str | None, str | None]:
    """(url, secret) for a workspace's deliveries: its own webhook, else the server-wide one, else none
    (the delivery log)."""
    if config.webhook_url:
        return config.webhook_url, webhook_secret(settings, config)
    if settings.webhook_url:
        return settings.webhook_url, settings.webhook_secret
    return None, None


def read_config(engine: Engine, workspace: str, *, scope: Scope) -> WorkspaceConfig:
    scope.check_object(workspace, "workspace")
    with read_session(engine) as session:
        return workspace_config(session, workspace)


def update_config(
    engine: Engine, settings: Settings, workspace: str, changes: dict[str, Any], actor: Actor, *, scope: Scope
) -> tuple[WorkspaceConfig, str | None]:
    """Change the four-eyes rule or the webhook; a new webhook URL comes back with its signing secret.
    A webhook URL the outbound address policy refuses (internal, metadata, ...) is refused here already."""
    scope.check_object(workspace, "workspace")
    if changes.get("webhook_url"):
        try:
            OutboundPolicy.of(settings).check_url(changes["webhook_url"])
        except OutboundRefused as exc:
            raise UnprocessableEntity(f"webhook_url refused: {exc}") from exc
    with session_scope(engine) as session:
        config = session.get(WorkspaceConfig, workspace) or WorkspaceConfig(workspace=workspace)
        new_url = "webhook_url" in changes and (changes["webhook_url"] or None) != config.webhook_url
        if changes.get("four_eyes") is not None:
            config.four_eyes = changes["four_eyes"]
        if "webhook_url" in changes:
            config.webhook_url = changes["webhook_url"] or None
        config.updated_at = utcnow()
        session.add(config)
        audit_other(session, actor, "workspace.config", workspace, **changes)
        session.flush()
        secret = webhook_secret(settings, config) if new_url and config.webhook_url else None
        return config, secret


def rotate_webhook_secret(
    engine: Engine, settings: Settings, workspace: str, actor: Actor, *, scope: Scope
) -> tuple[WorkspaceConfig, str]:
    """A new signing secret for the workspace's deliveries (the old one stops at once)."""
    scope.check_object(workspace, "workspace")
    with session_scope(engine) as session:
        config = session.get(WorkspaceConfig, workspace) or WorkspaceConfig(workspace=workspace)
        config.secret_generation += 1
        config.updated_at = utcnow()
        session.add(config)
        audit_other(session, actor, "workspace.rotate_secret", workspace, generation=config.secret_generation)
        session.flush()
        return config, webhook_secret(settings, config)
