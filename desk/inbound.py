"""An inbound message as the queue takes it, from HTTP, a webhook, a connector or the CLI."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.state import Author, ThreadTurn
from ground.names import WORKSPACE_PATTERN


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(min_length=1, max_length=200)
    platform: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    author: Author
    text: str = Field(min_length=1, max_length=20_000)
    thread_id: str | None = Field(default=None, max_length=200)
    thread: list[ThreadTurn] = Field(default_factory=list, max_length=100)
    public: bool = True
    received_at: datetime | None = None
    workspace: str | None = Field(default=None, pattern=WORKSPACE_PATTERN)

    @field_validator("platform")
    @classmethod
    def _lower(cls, value: str) -> str:
        value = value.lower()
        return "x" if value == "twitter" else value

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value

    @field_validator("received_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # A timestamp without an offset is taken as UTC rather than refused (or stored ambiguously).
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
