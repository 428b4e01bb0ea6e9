"""What insights returns (HTTP responses, CLI ``--json`` and the digest all share these models)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ground.redact import Redacted


class Theme(BaseModel):
    label: str = Field(description="Top terms of the theme, joined.")
    terms: list[str]
    count: int
    share: float = Field(description="Share of the period's messages (or questions) in this theme.")
    negative_share: float
    quote: str = Field(description="The member closest to the theme's centre (links and @mentions removed).")
    quote_message_id: int
    platforms: dict[str, int]
    message_ids: list[int] = Field(description="Up to 20 members, for drilling down.")


class TrendPoint(BaseModel):
    start: datetime
    count: int
    negative: int
    mean_sentiment: float | None


class Escalation(BaseModel):
    message_id: int
    draft_id: int | None
    platform: str
    team: str | None = Field(description="The team's stable id (slug), as routing and the API use it.")
    team_name: str | None = Field(default=None, description="The team's display name.")
    reason: str
    status: str
    received_at: datetime
    text: str


class Escalations(BaseModel):
    total: int
    by_team: dict[str, int] = Field(description="Escalations per team id (slug).")
    team_names: dict[str, str] = Field(default_factory=dict, description="Display name per team id.")
    items: list[Escalation]


class OpenItem(BaseModel):
    message_id: int
    draft_id: int | None
    platform: str
    state: str
    route: str
    received_at: datetime
    age_hours: float
    text: str


class Unanswered(BaseModel):
    total: int
    by_state: dict[str, int]
    items: list[OpenItem] = Field(description="The oldest open items.")


class PreviousPeriod(BaseModel):
    since: datetime
    until: datetime
    total: int
    negative_share: float


class Summary(BaseModel):
    workspace: str
    since: datetime
    until: datetime
    generated_at: datetime
    total: int
    by_platform: dict[str, int]
    by_intent: dict[str, int]
    by_route: dict[str, int]
    by_sentiment: dict[str, int]
    negative_share: float
    mean_sentiment: float | None
    bucket: Literal["hour", "day", "week"]
    sentiment_trend: list[TrendPoint]
    previous: PreviousPeriod
    themes: list[Theme]
    top_questions: list[Theme]
    escalations: Escalations
    unanswered: Unanswered
    prose: str
    prose_source: Literal["llm", "extractive"]
    prose_note: str = ""


class PlatformHealth(BaseModel):
    platform: str
    target_hours: float | None = Field(description="From the platform guideline's response_target_hours.")
    messages: int
    delivered: int
    median_hours: float | None
    p90_hours: float | None
    within_target: int
    late: int = Field(description="Delivered after the target.")
    open_past_target: int = Field(description="Still without a reply, older than the target.")


class CMActivity(BaseModel):
    cm: str
    approved: int
    rejected: int
    edited: int


class Health(BaseModel):
    workspace: str
    since: datetime
    until: datetime
    generated_at: datetime
    messages: int
    response_time: list[PlatformHealth]
    sla_breaches: int = Field(description="Late deliveries plus open items past their platform's target.")
    decided: int
    approved: int
    rejected: int
    rejected_by_reason: dict[str, int] = Field(
        default_factory=dict, description="Rejections per reason category ('unstated' when none was given).")
    approval_rate: float | None
    edit_base: int = Field(description="Approved drafts that had drafted text to edit.")
    edited: int
    edit_rate: float | None
    edit_distance_mean: float | None = Field(description="Normalised Levenshtein distance draft → sent, 0..1.")
    edit_distance_median: float | None
    edit_chars_mean: float | None
    per_cm: list[CMActivity]
    replied: int = Field(description="Items with an approved reply.")
    answered_from_kb: int = Field(description="Approved replies grounded in a knowledge source.")
    deflection_rate: float | None
    answered_from_kb_unedited: int
    unedited_deflection_rate: float | None
    open_items: int


class Suggestion(BaseModel):
    """A knowledge-gap suggestion: a proposed FAQ entry for questions retrieval could not answer."""

    id: int
    workspace: str
    status: str
    question: str
    answer: str | None
    answer_draft_id: int | None
    count: int
    message_ids: list[int]
    examples: list[str]
    terms: list[str]
    chunk_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    note: str


class AlertOut(BaseModel):
    id: int
    uid: str
    workspace: str
    kind: str
    signals: list[str]
    window_start: datetime
    window_end: datetime
    detail: dict[str, object]
    status: str
    attempts: int
    target: Redacted
    last_error: Redacted | None
    created_at: datetime
    delivered_at: datetime | None
