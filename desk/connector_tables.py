"""Connector tables: a platform account configured for a workspace, which message came through which
connector (and where its reply goes), and the pollers' cursors. The logic lives in ``connectors/``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from desk.models import utcnow


class Connector(SQLModel, table=True):
    """One platform account of one workspace. ``config`` holds plain settings (base URL, username,
    subreddits, channels); ``secrets`` holds, per credential, ``{"env": NAME}`` (read from the environment at
    use) or ``{"enc": token}`` (Fernet, keyed from the master secret): never a credential in clear."""

    __tablename__ = "connectors"
    __table_args__ = (UniqueConstraint("workspace", "name", name="uq_connector_name"),)
    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(index=True)
    name: str
    platform: str  # discord | reddit | meta | discourse
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    secrets: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    removed_at: datetime | None = None
    last_error: str | None = None  # the last intake failure (redacted), shown to admins


class ConnectorLink(SQLModel, table=True):
    """Which connector a message came through and where its reply goes (the platform's parent ids)."""

    __tablename__ = "connector_links"
    message_id: int = Field(foreign_key="messages.id", primary_key=True)
    connector_id: int = Field(foreign_key="connectors.id", index=True)
    reply_to: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    permalink: str | None = None


class ConnectorCursor(SQLModel, table=True):
    """A poller's position in one stream (a subreddit's comments, the inbox): it advances only after the
    items before it are stored, so a killed poller resumes with no gap."""

    __tablename__ = "connector_cursors"
    connector_id: int = Field(foreign_key="connectors.id", primary_key=True)
    stream: str = Field(primary_key=True)
    cursor: str
    updated_at: datetime = Field(default_factory=utcnow)
