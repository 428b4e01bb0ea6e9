"""The reply graph: triage → retrieve → draft → check → review (interrupt) → deliver.

One configurable graph. Dependencies (knowledge store, drafter) come from :class:`AgentRuntime`,
built once per process by the caller; nothing is constructed at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from agent.checks import run_checks
from agent.composer import compose_offline
from agent.errors import DraftingError
from agent.guidelines import brand_rules, platform_profile
from agent.llm import LLMDrafter
from agent.state import (
    Citation,
    DraftResult,
    GraphState,
    InboundMessage,
    ReviewDecision,
    ReviewRequest,
    Triage,
)
from agent.triage import triage_message
from knowledge.search import search_knowledge
from knowledge.store import KnowledgeStore
from replydesk.settings import Settings

CONTEXT_TURNS = 3


@dataclass
class AgentRuntime:
    settings: Settings
    store: KnowledgeStore
    llm: LLMDrafter | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AgentRuntime:
        return cls(
            settings=settings,
            store=KnowledgeStore(settings),
            llm=LLMDrafter(settings) if settings.llm_enabled else None,
        )


def thread_context(message: InboundMessage) -> str:
    """The recent thread, so "there"/"that one" keep their referent."""
    return "\n".join(t.text for t in message.thread[-CONTEXT_TURNS:])


def build_graph(runtime: AgentRuntime, checkpointer: Any) -> Any:
    settings = runtime.settings

    def triage(state: GraphState) -> dict[str, Any]:
        message = InboundMessage.model_validate(state["message"])
        return {"triage": triage_message(message).model_dump()}

    def after_triage(state: GraphState) -> Literal["retrieve", "review"]:
        return "retrieve" if state["triage"]["route"] == "draft" else "review"

    def retrieve(state: GraphState) -> dict[str, Any]:
        message = InboundMessage.model_validate(state["message"])
        hits = search_knowledge(
            runtime.store, message.text, message.workspace, k=settings.retrieve_k, context=thread_context(message)
        )
        guidelines = runtime.store.by_kind(message.workspace, "guideline")
        return {
            "hits": [h.model_dump() for h in hits],
            "guidelines": [g.model_dump() | {"content_hash": g.content_hash} for g in guidelines],
        }

    def draft(state: GraphState) -> dict[str, Any]:
        message = InboundMessage.model_validate(state["message"])
        hits, guidelines = state.get("hits", []), state.get("guidelines", [])
        profile = platform_profile(message.platform, guidelines)
        instructions = state.get("instructions")
        previous = DraftResult.model_validate(state["draft"]) if state.get("draft") and instructions else None
        result: DraftResult | None = None
        note = ""
        if runtime.llm is not None:
            try:
                result = runtime.llm.draft(message, hits, profile, brand_rules(guidelines), instructions)
            except DraftingError as exc:
                note = f"LLM unavailable, offline composer used ({exc})."
        if result is None:
            result = compose_offline(
                message,
                hits,
                profile,
                sentiment=state["triage"]["sentiment"],
                min_score=settings.min_answer_score,
                # Offline regeneration offers the next-best source instead of the same answer again.
                skip_ids=tuple(previous.citations) if previous else (),
                note=note,
            )
        return {"draft": result.model_dump()}

    def check(state: GraphState) -> dict[str, Any]:
        message = InboundMessage.model_validate(state["message"])
        guidelines = state.get("guidelines", [])
        results = run_checks(
            DraftResult.model_validate(state["draft"]),
            state.get("hits", []),
            platform_profile(message.platform, guidelines),
            brand_rules(guidelines),
        )
        return {"checks": [r.model_dump() for r in results]}

    def review(state: GraphState) -> Command[Literal["draft", "deliver", "__end__"]]:
        # Nothing with a side effect may come before interrupt(): this node re-runs on resume.
        request = review_request(state)
        decision: ReviewDecision = interrupt(request.model_dump(), response_schema=ReviewDecision)
        update: dict[str, Any] = {"decision": decision.model_dump()}
        if decision.action == "approve":
            return Command(update=update | {"final_text": decision.text}, goto="deliver")
        if decision.action == "regenerate":
            return Command(update=update | {"instructions": decision.instructions or ""}, goto="draft")
        return Command(update=update | {"outcome": "rejected"}, goto="__end__")

    def deliver(state: GraphState) -> dict[str, Any]:
        # The agent sends nothing: the API wrote the outbox row in the approval's transaction and its
        # relay delivers. This node closes the thread with the approved text as its outcome.
        return {"outcome": "approved"}

    builder = StateGraph(GraphState)
    builder.add_node("triage", triage)
    builder.add_node("retrieve", retrieve)
    builder.add_node("draft", draft)
    builder.add_node("check", check)
    builder.add_node("review", review)
    builder.add_node("deliver", deliver)
    builder.add_edge(START, "triage")
    builder.add_conditional_edges("triage", after_triage)
    builder.add_edge("retrieve", "draft")
    builder.add_edge("draft", "check")
    builder.add_edge("check", "review")
    builder.add_edge("deliver", END)
    return builder.compile(checkpointer=checkpointer)


def review_request(state: GraphState) -> ReviewRequest:
    triage = Triage.model_validate(state["triage"])
    message = InboundMessage.model_validate(state["message"])
    if triage.route != "draft":
        return ReviewRequest(
            message_id=message.id,
            route=triage.route,
            text="",
            triage=triage.model_dump(),
            note=f"Routed to {triage.route}: {triage.route_reason}."
            + (f" Escalate to {triage.escalate_to}." if triage.escalate_to else ""),
            allowed_actions=["approve", "reject"],
        )
    result = DraftResult.model_validate(state["draft"])
    hits = {h["id"]: h for h in state.get("hits", [])}
    citations = [
        Citation(
            id=cid,
            source=str(hits[cid].get("source", "")),
            title=str(hits[cid].get("title", "")),
            content_hash=str(hits[cid].get("content_hash", "")),
        )
        for cid in result.citations
        if cid in hits
    ]
    return ReviewRequest(
        message_id=message.id,
        route="draft",
        text=result.text,
        citations=citations,
        checks=state.get("checks", []),
        triage=triage.model_dump(),
        composer=result.composer,
        needs_human_answer=result.needs_human_answer,
        note=result.note,
        model=result.model,
        usage=result.usage,
    )
