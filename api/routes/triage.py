"""POST /v1/triage: batch triage without queueing anything (intent, sentiment, urgency, language, route).

Sentiment here is always the offline model (VADER), so a 100-item request stays bounded in time and cost;
``replydesk triage`` and drafted messages use the LLM's read when one is configured.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from agent.state import Author, InboundMessage, ThreadTurn
from agent.taxonomy import TaxonomyStore
from agent.triage import Triager
from api.contract import AUTHENTICATED, BAD_REQUEST, COMMON, responses
from api.deps import ContextDep, Viewer, scope_of
from api.schemas import Strict
from ground.names import WORKSPACE_PATTERN

router = APIRouter(prefix="/v1/triage", tags=["triage"], responses=responses(COMMON, AUTHENTICATED, BAD_REQUEST))
MAX_ITEMS = 100


class TriageItem(Strict):
    id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=20_000)
    context: str | None = Field(default=None, max_length=20_000)
    platform: str = Field(default="other", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    public: bool = True
    author: Author | None = None


class TriageRequest(Strict):
    items: list[TriageItem] = Field(min_length=1, max_length=MAX_ITEMS)
    workspace: str | None = Field(default=None, pattern=WORKSPACE_PATTERN)


class TriageResponse(BaseModel):
    data: list[dict[str, Any]]
    count: int


def _triager(ctx: ContextDep) -> Triager:
    # One per process: the community model is fitted once; team taxonomies reload when their file changes.
    triager: Triager | None = ctx.extras.get("triager")
    if triager is None:
        triager = ctx.extras["triager"] = Triager(TaxonomyStore(ctx.settings))
    return triager


@router.post("", response_model=TriageResponse)
def triage(body: TriageRequest, ctx: ContextDep, key: Viewer) -> TriageResponse:
    """Triage with the named workspace's guidelines (within the key's scope)."""
    workspace = scope_of(key).workspace_for(body.workspace, ctx.settings.workspace)
    messages = [
        InboundMessage(
            id=0, workspace=workspace, platform=item.platform.lower(), external_id=item.id,
            author=item.author or Author(id="unknown", handle="unknown"), text=item.text,
            thread=[ThreadTurn(author="thread", text=item.context)] if item.context else [], public=item.public,
        )
        for item in body.items
    ]
    guidelines = ctx.store.by_kind_records(workspace, "guideline")
    results = _triager(ctx).triage_many(messages, guidelines, contexts=[i.context for i in body.items])
    data = [{"id": item.id} | result.model_dump() for item, result in zip(body.items, results, strict=True)]
    return TriageResponse(data=data, count=len(data))
