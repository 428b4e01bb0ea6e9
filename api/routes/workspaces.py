from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.audit import audit_other
from api.db import session_scope
from api.deps import Admin, ContextDep, actor_of
from api.models import WorkspaceConfig, utcnow
from api.schemas_admin import SOURCE_PATTERN, WorkspaceConfigPublic, WorkspaceConfigUpdate
from api.workspaces import webhook_secret, workspace_config

router = APIRouter(prefix="/v1/workspaces", tags=["workspaces"])
WorkspacePath = Annotated[str, Path(pattern=SOURCE_PATTERN)]


@router.get("/{workspace}/config", response_model=WorkspaceConfigPublic)
def get_config(workspace: WorkspacePath, ctx: ContextDep, _key: Admin) -> WorkspaceConfigPublic:
    with session_scope(ctx.engine) as session:
        config = workspace_config(session, workspace)
        return WorkspaceConfigPublic.model_validate(config, from_attributes=True)


@router.put("/{workspace}/config", response_model=WorkspaceConfigPublic)
def put_config(
    workspace: WorkspacePath, body: WorkspaceConfigUpdate, ctx: ContextDep, key: Admin
) -> WorkspaceConfigPublic:
    """Change the four-eyes rule or the webhook; a new webhook URL comes back with its signing secret."""
    with session_scope(ctx.engine) as session:
        config = session.get(WorkspaceConfig, workspace) or WorkspaceConfig(workspace=workspace)
        changes = body.model_dump(exclude_unset=True)
        new_url = "webhook_url" in changes and (changes["webhook_url"] or None) != config.webhook_url
        if "four_eyes" in changes and changes["four_eyes"] is not None:
            config.four_eyes = changes["four_eyes"]
        if "webhook_url" in changes:
            config.webhook_url = changes["webhook_url"] or None
        config.updated_at = utcnow()
        session.add(config)
        audit_other(session, actor_of(key), "workspace.config", workspace, **changes)
        out = WorkspaceConfigPublic.model_validate(config, from_attributes=True)
        if new_url and config.webhook_url:
            out.webhook_secret = webhook_secret(ctx.settings, config)
        return out


@router.post("/{workspace}/webhook-secret", response_model=WorkspaceConfigPublic)
def rotate_secret(workspace: WorkspacePath, ctx: ContextDep, key: Admin) -> WorkspaceConfigPublic:
    """A new signing secret for the workspace's deliveries (the old one stops at once)."""
    with session_scope(ctx.engine) as session:
        config = session.get(WorkspaceConfig, workspace) or WorkspaceConfig(workspace=workspace)
        config.secret_generation += 1
        config.updated_at = utcnow()
        session.add(config)
        audit_other(session, actor_of(key), "workspace.rotate_secret", workspace,
                    generation=config.secret_generation)
        out = WorkspaceConfigPublic.model_validate(config, from_attributes=True)
        out.webhook_secret = webhook_secret(ctx.settings, config)
        return out
