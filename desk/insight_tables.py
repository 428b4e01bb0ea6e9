"""Tables owned by the insights area: knowledge-gap suggestions, alerts, and scheduler/alert state.

Kept in a module apart from desk/models.py (the reply loop's tables) so each reads in one sitting; all
tables share one migration history (desk/migrations).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from desk.models import utcnow


class GapSuggestion(SQLModel, table=True):
    """A cluster of questions the knowledge base could not answer, proposed as a new FAQ entry."""

    __tablename__ = "gap_suggestions"
    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(default="default", index=True)
    status: str = Field(default="pending", index=True)  # pending | accepted | dismissed
    question: str
    answer: str | None = None
    answer_draft_id: int | None = None  # the CM-approved draft the answer came from
    count: int = 0
    message_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    examples: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    terms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    chunk_id: str | None = None  # the knowledge chunk an accepted suggestion became
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    decided_by: str | None = None
    note: str = ""


class InsightAlert(SQLModel, table=True):
    """A spike alert and its delivery (an outbox row: posted at least once, deduped on ``uid``)."""

    __tablename__ = "insight_alerts"
    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(unique=True)
    workspace: str = Field(default="default", index=True)
    kind: str = "spike"
    signals: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    window_start: datetime
    window_end: datetime
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", index=True)  # pending | delivered | failed | logged
    attempts: int = 0
    target: str = ""
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class InsightState(SQLModel, table=True):
    """Small keyed state: an alert episode per workspace (cool-down), the last digest per period.

    Changed only by conditional UPDATEs, so two scheduler runs at once cannot both fire.
    """

    __tablename__ = "insight_state"
    key: str = Field(primary_key=True)
    workspace: str = "default"
    active: bool = False
    last_fired_at: datetime | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
