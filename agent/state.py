"""Types that cross the graph's edges, including the review request/decision shared with ``api/``.

Graph state itself stays JSON-native (dicts of these models' dumps): nested pydantic models in
checkpointed state draw serializer warnings and may come back as dicts anyway.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from pydantic import BaseModel, Field, model_validator

Route = Literal["draft", "escalate", "moderate", "ignore"]
Composer = Literal["llm", "offline"]
ReviewAction = Literal["approve", "reject", "regenerate"]
_ALL_ACTIONS: tuple[ReviewAction, ...] = ("approve", "reject", "regenerate")


class Author(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    handle: str = Field(min_length=1, max_length=200)
    display_name: str | None = Field(default=None, max_length=200)
    followers: int | None = Field(default=None, ge=0, description="Audience size, when the platform says.")
    verified: bool = Field(default=False, description="A platform-verified account (a VIP signal).")

    @property
    def name(self) -> str:
        """How to address the author: first word of the display name, else the handle."""
        if self.display_name and self.display_name.strip():
            return self.display_name.strip().split()[0]
        return self.handle.lstrip("@")


class ThreadTurn(BaseModel):
    author: str = Field(max_length=200)
    text: str = Field(max_length=20_000)


class InboundMessage(BaseModel):
    """What the graph needs to know about one inbound message."""

    id: int
    workspace: str = "default"
    platform: str
    external_id: str
    author: Author
    text: str
    thread: list[ThreadTurn] = Field(default_factory=list)
    public: bool = True
    author_history: list[str] = Field(
        default_factory=list, description="The author's earlier messages in this workspace, oldest first."
    )


class Triage(BaseModel):
    intent: str = Field(description="The team's intent when the workspace has a taxonomy, else the category.")
    confidence: float
    category: str = Field(default="other", description="The built-in community category.")
    category_confidence: float = 0.0
    taxonomy: Literal["team", "community"] = "community"
    out_of_scope: bool = False
    top_intent: str | None = Field(default=None, description="Best team intent even when out of scope.")
    alternatives: list[dict[str, Any]] = Field(default_factory=list)
    sentiment: str
    sentiment_score: float
    sentiment_source: Literal["vader", "llm"] = "vader"
    sentiment_note: str = Field(default="", description="Why the LLM's read was not used, when one was asked for.")
    urgency: Literal["low", "normal", "high"]
    language: str = "und"
    language_confidence: float = 0.0
    route: Route
    route_reason: str
    reason_category: str = "answerable"
    escalate_to: str | None = Field(default=None, description="The team's stable id (a slug): route on this.")
    escalate_to_name: str | None = Field(default=None, description="The team's display name, for people.")
    forward_to: str | None = Field(default=None, description="A team that also gets the message (product feedback).")
    forward_to_name: str | None = None
    suggested_action: str | None = None
    risk_flags: list[str] = Field(default_factory=list)


class Citation(BaseModel):
    id: str
    source: str
    title: str = ""
    content_hash: str = ""


class CheckResult(BaseModel):
    name: str
    passed: bool
    detail: str = ""
    severity: Literal["info", "warn", "block"] = Field(
        default="warn", description="block: the draft must not be approved as is; warn: read before approving."
    )


class ThreadSummary(BaseModel):
    wants: str = Field(default="", description="What the author wants.")
    said: str = Field(default="", description="What was said so far in the thread.")
    open_questions: list[str] = Field(default_factory=list)
    source: Literal["llm", "extractive"] = "extractive"


class Variant(BaseModel):
    """A second draft with a different angle, for the CM to pick or borrow from."""

    angle: str
    text: str
    citations: list[str] = Field(default_factory=list)
    composer: Composer = "offline"
    checks: list[CheckResult] = Field(default_factory=list)


class DraftResult(BaseModel):
    """A drafted reply and the decisions around it, kept apart from the text."""

    text: str
    citations: list[str] = Field(default_factory=list)
    composer: Composer
    needs_human_answer: bool = False
    confidence: float = 0.0
    note: str = Field(default="", description="Why the composer did what it did (fallbacks, holds).")
    model: str | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    move_to_dm: bool = Field(default=False, description="The reply offers to continue in private.")
    reply_kind: Literal["answer", "hold", "acknowledge"] = Field(
        default="answer", description="answer: grounded in cited sources; hold: a human must answer; "
        "acknowledge: thanks for praise or feedback, no facts.")
    suggested_route: Route = "draft"
    route_reason: str = ""
    sentiment: str | None = Field(default=None, description="The model's read of the author's sentiment.")
    summary: ThreadSummary | None = None
    examples: list[str] = Field(default_factory=list, description="Approved examples shown to the model.")


class ReviewRequest(BaseModel):
    """What the graph asks a human at the review step (the interrupt payload)."""

    message_id: int
    route: Route
    text: str
    citations: list[Citation] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)
    triage: dict[str, Any] = Field(default_factory=dict)
    composer: Composer | None = None
    needs_human_answer: bool = False
    reply_kind: Literal["answer", "hold", "acknowledge"] | None = None
    note: str = ""
    model: str | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    summary: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)
    variants: list[dict[str, Any]] = Field(default_factory=list)
    allowed_actions: list[ReviewAction] = Field(default_factory=lambda: list(_ALL_ACTIONS))


class ReviewDecision(BaseModel):
    """A human's answer to a :class:`ReviewRequest`; anything else is refused."""

    action: ReviewAction
    text: str | None = Field(default=None, max_length=20_000)
    reason: str | None = Field(default=None, max_length=2_000)
    instructions: str | None = Field(default=None, max_length=2_000)
    actor: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _text_for_approval(self) -> ReviewDecision:
        if self.action == "approve" and not (self.text and self.text.strip()):
            raise ValueError("an approval needs the final reply text")
        return self


class GraphState(TypedDict, total=False):
    message: dict[str, Any]
    triage: dict[str, Any]
    hits: list[dict[str, Any]]
    guidelines: list[dict[str, Any]]
    draft: dict[str, Any]
    checks: list[dict[str, Any]]
    instructions: str
    feedback: str
    decision: dict[str, Any]
    final_text: str
    outcome: str
    examples: list[dict[str, Any]]
    variants: list[dict[str, Any]]
    revisions: int
    timings: dict[str, float]
    flags: dict[str, Any]
