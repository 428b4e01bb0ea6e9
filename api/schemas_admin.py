"""Request and response models of the admin API: keys, audit log, workspace config, webhook sources."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas import Strict
from ground.names import WORKSPACE_PATTERN

SOURCE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,47}$"  # a webhook source's name (not a workspace)


class KeyCreate(Strict):
    role: Literal["admin", "cm", "viewer"]
    name: str = Field(default="", max_length=200)


class KeyPublic(BaseModel):
    id: int
    name: str
    prefix: str
    role: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The key itself: shown this once, stored only as a hash.")


class KeyList(BaseModel):
    data: list[KeyPublic]
    count: int


class AuditPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    workspace: str | None
    draft_id: int | None
    message_id: int | None
    from_version: int | None
    to_version: int | None
    text_hash: str | None
    prev_text_hash: str | None
    request_id: str | None
    detail: dict[str, Any]


class AuditList(BaseModel):
    data: list[AuditPublic]
    next_cursor: str | None = None


class WorkspaceConfigUpdate(Strict):
    four_eyes: bool | None = None
    webhook_url: str | None = Field(default=None, max_length=2000, pattern=r"^(https?://\S+)?$",
                                    description="Where approved replies are POSTed; empty string removes it.")


class WorkspaceConfigPublic(BaseModel):
    workspace: str
    four_eyes: bool
    webhook_url: str | None
    secret_generation: int
    updated_at: datetime
    webhook_secret: str | None = Field(default=None, description="Only in the answer that creates or rotates it.")


class WebhookSourceCreate(Strict):
    source: str = Field(pattern=SOURCE_PATTERN)
    workspace: str = Field(default="default", pattern=WORKSPACE_PATTERN)


class WebhookSourcePublic(BaseModel):
    source: str
    workspace: str
    secret_generation: int
    created_at: datetime
    revoked_at: datetime | None
    secret: str | None = Field(default=None, description="Only in the answer that creates or rotates it.")


class WebhookSourceList(BaseModel):
    data: list[WebhookSourcePublic]
