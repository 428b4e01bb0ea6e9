from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.contract import AUTHENTICATED, BAD_REQUEST, COMMON, NOT_FOUND, responses
from api.deps import Admin, ContextDep, actor_of, scope_of
from api.schemas_admin import WorkspaceConfigPublic, WorkspaceConfigUpdate
from desk.workspaces import read_config, rotate_webhook_secret, update_config
from ground.names import WORKSPACE_PATTERN

router = APIRouter(prefix="/v1/workspaces", tags=["workspaces"],
                   responses=responses(COMMON, AUTHENTICATED, NOT_FOUND))
WorkspacePath = Annotated[str, Path(pattern=WORKSPACE_PATTERN)]


@router.get("/{workspace}/config", response_model=WorkspaceConfigPublic)
def get_config(workspace: WorkspacePath, ctx: ContextDep, key: Admin) -> WorkspaceConfigPublic:
    config = read_config(ctx.engine, workspace, scope=scope_of(key))
    return WorkspaceConfigPublic.model_validate(config, from_attributes=True)


@router.put("/{workspace}/config", response_model=WorkspaceConfigPublic, responses=BAD_REQUEST)
def put_config(
    workspace: WorkspacePath, body: WorkspaceConfigUpdate, ctx: ContextDep, key: Admin
) -> WorkspaceConfigPublic:
    """Change the four-eyes rule or the webhook; a new webhook URL comes back with its signing secret."""
    config, secret = update_config(ctx.engine, ctx.settings, workspace, body.model_dump(exclude_unset=True),
                                   actor_of(key), scope=scope_of(key))
    out = WorkspaceConfigPublic.model_validate(config, from_attributes=True)
    out.webhook_secret = secret
    return out


@router.post("/{workspace}/webhook-secret", response_model=WorkspaceConfigPublic)
def rotate_secret(workspace: WorkspacePath, ctx: ContextDep, key: Admin) -> WorkspaceConfigPublic:
    """A new signing secret for the workspace's deliveries (the old one stops at once)."""
    config, secret = rotate_webhook_secret(ctx.engine, ctx.settings, workspace, actor_of(key), scope=scope_of(key))
    out = WorkspaceConfigPublic.model_validate(config, from_attributes=True)
    out.webhook_secret = secret
    return out
