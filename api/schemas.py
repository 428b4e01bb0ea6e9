"""Request and response models of the HTTP API (internal columns never leak)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ground.names import WORKSPACE_PATTERN
from ground.redact import Redacted

Role = Literal["admin", "cm", "viewer"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageAccepted(BaseModel):
    id: int
    status: str
    duplicate: bool = False


class MessagePublic(BaseModel):
    id: int
    workspace: str
    platform: str
    external_id: str
    author: dict[str, Any]
    text: str
    thread_id: str | None
    thread: list[dict[str, Any]]
    public: bool
    received_at: datetime
    status: str
    error: Redacted | None = None


class DraftPublic(BaseModel):
    id: int
    message_id: int
    workspace: str
    platform: str
    status: str
    route: str
    text: str
    drafted_text: str
    citations: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    triage: dict[str, Any]
    composer: str | None
    needs_human_answer: bool
    note: str
    model: str | None
    usage: dict[str, Any]
    summary: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)
    variants: list[dict[str, Any]] = Field(default_factory=list)
    version: int
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reject_reason: str | None
    reject_category: str | None = Field(default=None, description="Why it was rejected (see DraftReject).")
    priority: int = 0
    due_at: datetime | None = None
    response_target_hours: float | None = None
    sla_breached: bool = False
    intent: str | None = None
    assignee: str | None = None
    assigned_until: datetime | None = None
    last_editor: str | None = None
    stale_reason: str | None = None
    message: MessagePublic | None = None


class DraftList(BaseModel):
    data: list[DraftPublic]
    count: int
    next_cursor: str | None = None


class DraftAssign(Strict):
    assignee: str | None = Field(default=None, min_length=1, max_length=200,
                                 description="Who holds the draft; omit to claim it yourself.")
    minutes: float | None = Field(default=None, gt=0, le=24 * 60)


class BulkItem(Strict):
    id: int = Field(ge=1, le=2**63 - 1)
    version: int = Field(ge=1, le=2**63 - 1, description="The draft version this decision is for (If-Match per item).")
    text: str | None = Field(default=None, min_length=1, max_length=20_000)


class BulkDecision(Strict):
    action: Literal["approve", "reject"]
    items: list[BulkItem] = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, min_length=1, max_length=2_000)


class BulkItemResult(BaseModel):
    id: int
    status_code: int
    status: str | None = None
    version: int | None = None
    detail: str | None = None


class BulkResult(BaseModel):
    results: list[BulkItemResult]
    succeeded: int
    failed: int


class DraftVersionPublic(BaseModel):
    version: int
    text: str
    action: str
    actor: str
    at: datetime


class DraftHistory(BaseModel):
    draft_id: int
    data: list[DraftVersionPublic]


class DraftDiff(BaseModel):
    draft_id: int
    from_version: int
    to_version: int
    diff: str


class DraftEdit(Strict):
    text: str = Field(min_length=1, max_length=20_000)


class DraftApprove(Strict):
    text: str | None = Field(default=None, min_length=1, max_length=20_000)


RejectCategory = Literal["incorrect", "inappropriate", "incomplete", "outdated", "already_answered", "other"]


class DraftReject(Strict):
    reason: str = Field(min_length=1, max_length=2_000)
    category: RejectCategory | None = Field(
        default=None, description="Why, as a category the queue filters on and insights count.")


class DraftRegenerate(Strict):
    instructions: str = Field(default="", max_length=2_000)


class DeliveryPublic(BaseModel):
    id: int
    uid: str
    draft_id: int
    message_id: int
    platform: str
    text: str
    status: str
    attempts: int
    target: Redacted
    last_error: Redacted | None
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None = None
    platform_post_id: str | None = Field(default=None, description="Our reply's id on the platform (connectors).")
    platform_url: Redacted | None = Field(default=None, description="Our reply's address on the platform.")


class DeliveryList(BaseModel):
    data: list[DeliveryPublic]
    count: int


class ContextTurn(Strict):
    author: str | None = Field(default=None, max_length=200)
    text: str = Field(max_length=20_000)


class SearchRequest(Strict):
    query: str = Field(min_length=1, max_length=5_000)
    context: str | list[str | ContextTurn] | None = Field(
        default=None, description="Earlier thread turns: a string (one turn per line) or a list, oldest first."
    )
    k: int = Field(default=5, ge=1, le=50)
    filters: dict[str, str | list[str]] | None = Field(
        default=None, description="kind, platform, locale, source, doc_id, entity, tags: a value or a list."
    )
    min_score: float | None = Field(default=None, ge=-1, le=1, description="Below this: no confident answer.")
    workspace: str | None = Field(default=None, pattern=WORKSPACE_PATTERN)

    @field_validator("context")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        turns = value.splitlines() if isinstance(value, str) else value or []
        if len(turns) > 100 or sum(len(t if isinstance(t, str) else t.text) for t in turns) > 20_000:
            raise ValueError("context is limited to 100 turns and 20,000 characters")
        return value


class SearchHit(BaseModel):
    id: str
    score: float
    kind: str
    source: str
    doc_id: str = ""
    title: str
    text: str
    question: str | None = None
    answer: str | None = None
    platform: str | None = None
    entity: str | None = None
    tags: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    retrievers: list[str] = Field(default_factory=list)


class SearchResponse(BaseModel):
    hits: list[SearchHit]
    confident: bool = True
    entities: list[str] = Field(default_factory=list, description="Entities the thread was resolved to.")


class DocumentPublic(BaseModel):
    id: str
    source: str
    title: str
    kind: str
    chunks: int
    flagged: int
    ingested_at: str


class DocumentList(BaseModel):
    data: list[DocumentPublic]
    count: int


class DocumentUploaded(BaseModel):
    document: DocumentPublic
    workspace: str
    added: int
    updated: int
    unchanged: int
    removed: int
    flagged: int


class DocumentDeleted(BaseModel):
    id: str
    workspace: str
    chunks_deleted: int
