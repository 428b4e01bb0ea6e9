"""SQLModel tables: the queue is ours (the checkpointer cannot be queried or serialise resumes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    id: int | None = Field(default=None, primary_key=True)
    name: str = ""
    prefix: str = Field(index=True)
    key_hash: str = Field(unique=True)
    role: str
    # Where the key may act: "*" (every workspace, installation admins) or comma-separated workspace names.
    workspaces: str = Field(default="*", sa_column_kwargs={"server_default": "*"})
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    # Revision 0010: console sessions of this key issued before this time are over (sign-out).
    signed_out_at: datetime | None = None


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("workspace", "platform", "external_id", name="uq_message_external"),
        Index("ix_messages_author", "workspace", "platform", "author_id", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(default="default", index=True)
    platform: str = Field(index=True)
    external_id: str
    author: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Revision 0013: author["id"] again, indexed, for the author's earlier messages (the worker's history).
    author_id: str | None = None
    text: str
    thread: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    thread_id: str | None = Field(default=None, index=True)
    public: bool = True
    received_at: datetime = Field(default_factory=utcnow)
    created_at: datetime = Field(default_factory=utcnow)
    status: str = Field(default="queued", index=True)  # queued | processing | drafted | failed
    error: str | None = None


class Draft(SQLModel, table=True):
    __tablename__ = "drafts"
    __table_args__ = (
        Index("ix_drafts_queue_priority", "status", "priority", "id"),
        Index("ix_drafts_queue_due", "status", "due_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", unique=True)
    workspace: str = Field(default="default", index=True)
    platform: str = Field(index=True)
    # pending | regenerating | approved | rejected | delivered | delivery_failed
    status: str = Field(default="pending", index=True)
    route: str = "draft"
    text: str = ""
    drafted_text: str = ""
    citations: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    checks: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    triage: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    composer: str | None = None
    needs_human_answer: bool = False
    note: str = ""
    model: str | None = None
    usage: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Revision 0005: the thread summary, provenance/cost and an optional second variant.
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    provenance: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    variants: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    version: int = 1
    graph_thread: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    decided_by: str | None = None
    reject_reason: str | None = None
    # Revision 0010: why a CM rejected, one of desk.decisions.REJECT_CATEGORIES (the note stays in reject_reason).
    reject_category: str | None = Field(default=None, index=True)
    # Queue semantics (migration 0002): set by the worker when the draft is recorded.
    priority: int = Field(default=0, index=True)
    due_at: datetime | None = Field(default=None, index=True)  # always set when a draft is recorded
    response_target_hours: float | None = None
    intent: str | None = Field(default=None, index=True)
    assignee: str | None = Field(default=None, index=True)
    assigned_until: datetime | None = None
    last_editor: str | None = None
    stale_reason: str | None = None
    # Timings for /metrics: accepted → drafted, graph run time, drafted → decided; LLM tokens.
    draft_seconds: float | None = None
    graph_seconds: float | None = None
    decision_seconds: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    id: int | None = Field(default=None, primary_key=True)
    kind: str  # draft | resume
    dedupe_key: str = Field(unique=True)
    message_id: int | None = Field(default=None, foreign_key="messages.id", index=True)
    draft_id: int | None = Field(default=None, foreign_key="drafts.id", index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="queued", index=True)  # queued | running | done | failed
    attempts: int = 0
    fence: int = 0  # bumped on every claim: a worker whose lease expired cannot finish the job
    worker: str | None = None
    lease_until: datetime | None = None
    started_at: datetime | None = None  # when the current attempt was claimed
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    """The outbox: written in the approval's transaction, delivered by the relay."""

    __tablename__ = "deliveries"
    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(unique=True)  # sent as webhook-id so the receiver can dedupe
    draft_id: int = Field(foreign_key="drafts.id", unique=True)
    message_id: int = Field(foreign_key="messages.id")
    workspace: str = "default"
    platform: str
    text: str
    status: str = Field(default="pending", index=True)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    target: str = ""
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None
    # Revision 0011: a reply posted by a platform connector — the platform's id and address of our post.
    platform_post_id: str | None = None
    platform_url: str | None = None


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str
    role: str
    action: str
    draft_id: int | None = Field(default=None, index=True)
    message_id: int | None = None
    from_version: int | None = None
    to_version: int | None = None
    text_hash: str | None = None
    request_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_text_hash: str | None = None
    workspace: str | None = Field(default=None, index=True)


class DraftVersion(SQLModel, table=True):
    """Every version's text, so an edit history can be shown and diffed."""

    __tablename__ = "draft_versions"
    __table_args__ = (UniqueConstraint("draft_id", "version", name="uq_draft_version"),)
    id: int | None = Field(default=None, primary_key=True)
    draft_id: int = Field(foreign_key="drafts.id", index=True)
    version: int
    text: str
    action: str
    actor: str
    at: datetime = Field(default_factory=utcnow)


class DraftRiskFlag(SQLModel, table=True):
    """A draft's triage risk flags, one row each (revision 0012), so the queue's risk filter is an index
    lookup rather than a scan of every draft's triage JSON. Written with the triage, by the worker."""

    __tablename__ = "draft_risk_flags"
    __table_args__ = (Index("ix_draft_risk_flags_flag", "flag", "draft_id"),)
    draft_id: int = Field(foreign_key="drafts.id", primary_key=True)
    flag: str = Field(primary_key=True)


class IdempotencyRecord(SQLModel, table=True):
    """A POST's stored result, replayed for a retry with the same Idempotency-Key (Stripe's scheme)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),)
    id: int | None = Field(default=None, primary_key=True)
    scope: str  # a hash of the caller's credentials: keys are per caller
    key: str
    method: str
    path: str
    request_hash: str
    status: str = "running"  # running | done
    response_status: int | None = None
    response_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    response_headers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(default_factory=utcnow, index=True)


class WorkspaceConfig(SQLModel, table=True):
    """Per-workspace settings an admin changes over the API."""

    __tablename__ = "workspace_configs"
    workspace: str = Field(primary_key=True)
    four_eyes: bool = False  # the last editor of a draft cannot approve it
    webhook_url: str | None = None
    # Signing secrets are derived from the server's secret key and this generation, never stored.
    secret_generation: int = 1
    updated_at: datetime = Field(default_factory=utcnow)


class WebhookSource(SQLModel, table=True):
    """A platform connector allowed to POST /v1/webhooks/{source}; its secret is derived, not stored."""

    __tablename__ = "webhook_sources"
    source: str = Field(primary_key=True)
    workspace: str = "default"
    secret_generation: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
