"""Workspace configuration an admin sets over the API (four-eyes rule, webhook target)."""

from __future__ import annotations

from sqlmodel import Session

from api.models import WorkspaceConfig
from api.signing import derive_secret
from replydesk.settings import Settings


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
