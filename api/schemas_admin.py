"""Request and response models of the admin API: keys, audit log, workspace config, webhook sources."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from api.schemas import Strict
from ground.names import WORKSPACE_PATTERN

WORKSPACE_OR_EVERY = "^(?:\\*|" + WORKSPACE_PATTERN[1:-1] + ")$"  # a workspace, or "*" for every one
SOURCE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,47}$"  # a webhook source's name (not a workspace)


class KeyCreate(Strict):
    role: Literal["admin", "cm", "viewer"]
    name: str = Field(default="", max_length=200)
    workspaces: list[Annotated[str, Field(pattern=WORKSPACE_OR_EVERY)]] | None = Field(
        default=None, min_length=1, max_length=100,
        description="Where the key may act: workspace names, or ['*'] for every workspace (installation "
                    "admins only). Default: the creating key's own workspaces.",
    )


class KeyPublic(BaseModel):
    id: int
    name: str
    prefix: str
    role: str
    workspaces: list[str] = Field(description="Where the key may act; ['*']: every workspace.")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @field_validator("workspaces", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return value.split(",") if isinstance(value, str) else value


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


class CredentialIn(Strict):
    """A credential: the name of an environment variable of the server that holds it, or the value itself
    (stored encrypted, never shown again)."""

    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    value: str | None = Field(default=None, min_length=1, max_length=4096)


class ConnectorCreate(Strict):
    name: str = Field(pattern=WORKSPACE_PATTERN)
    platform: Literal["discord", "reddit", "meta", "discourse"]
    workspace: str | None = Field(default=None, pattern=WORKSPACE_PATTERN)
    config: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, CredentialIn] = Field(default_factory=dict)


class ConnectorPublic(BaseModel):
    id: int
    workspace: str
    name: str
    platform: str
    intake: str
    config: dict[str, Any]
    credentials: dict[str, str] = Field(description="Where each credential comes from; never its value.")
    capabilities: dict[str, Any]
    events_path: str | None = Field(description="Where the platform posts events (push connectors).")
    created_at: str
    last_error: str | None


class ConnectorList(BaseModel):
    data: list[ConnectorPublic]


class ConnectorCheck(BaseModel):
    name: str
    ok: bool
    detail: str


class ConnectorTest(BaseModel):
    ok: bool
    checks: list[ConnectorCheck]


class ConnectorIntake(BaseModel):
    accepted: list[int] = Field(description="Ids of the new messages.")
    duplicates: list[int] = Field(description="Ids of messages already taken (a replayed event).")
    ignored: list[str] = Field(description="Why the rest was not taken (our own post, an event type not taken).")
