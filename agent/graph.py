"""The reply graph: triage → retrieve → draft → check (→ revise → draft, bounded) → review (interrupt) → deliver.

One configurable graph. Dependencies (knowledge store, drafter, triager, example memory) come from
:class:`AgentRuntime`, built once per process by the caller; nothing is constructed at import time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from agent.checks import REVISABLE, CheckContext, run_checks
from agent.composer import compose_offline, offline_variant
from agent.errors import DraftingError
from agent.guard import injection_signals, load_canary
from agent.guidelines import brand_rules, platform_profile
from agent.llm import LLMDrafter
from agent.llm_client import warn_fallback
from agent.memory import ExampleMemory, open_store
from agent.prompts import REVISE, SECOND_ANGLE
from agent.resilience import LLMGuard
from agent.review import review_request
from agent.state import CheckResult, DraftResult, GraphState, InboundMessage, ReviewDecision, Variant
from agent.summary import extractive_summary
from agent.taxonomy import TaxonomyStore
from agent.triage import Triager
from ground.settings import Settings
from knowledge.search import search_knowledge
from knowledge.store import KnowledgeStore

CONTEXT_TURNS = 3
log = logging.getLogger("replydesk.agent.graph")
__all__ = ["AgentRuntime", "build_graph", "review_request"]


@dataclass
class AgentRuntime:
    settings: Settings
    store: KnowledgeStore
    llm: LLMDrafter | None = None
    triager: Triager = field(default_factory=Triager)
    memory: ExampleMemory | None = None
    canary: str = ""
    _closers: list[Any] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings) -> AgentRuntime:
        kv, manager = open_store(settings)
        canary = load_canary(settings)
        llm = LLMDrafter(settings, LLMGuard(settings, kv), canary) if settings.llm_enabled else None
        return cls(
            settings=settings,
            store=KnowledgeStore(settings),
            llm=llm,
            triager=Triager(TaxonomyStore(settings), llm),
            memory=ExampleMemory(kv),
            canary=canary,
            _closers=[manager] if manager is not None else [getattr(kv, "conn", None)],
        )

    def close(self) -> None:
        for closer in self._closers:
            if hasattr(closer, "__exit__"):
                closer.__exit__(None, None, None)
            elif hasattr(closer, "close"):
                closer.close()


def thread_context(message: InboundMessage) -> str:
    """The recent thread, so "there"/"that one" keep their referent."""
    return "\n".join(t.text for t in message.thread[-CONTEXT_TURNS:])


def _timed(name: str, node: Callable[[GraphState], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def wrapper(state: GraphState) -> dict[str, Any]:
        started = time.perf_counter()
        update = node(state)
        timings = dict(state.get("timings") or {})
        timings[name] = timings.get(name, 0.0) + (time.perf_counter() - started) * 1000
        return update | {"timings": timings}

    return wrapper


def build_graph(runtime: AgentRuntime, checkpointer: Any) -> Any:
    settings = runtime.settings

    def triage(state: GraphState) -> dict[str, Any]:
        message = InboundMessage.model_validate(state["message"])
        guidelines = [g.model_dump() | {"content_hash": g.content_hash}
                      for g in runtime.store.by_kind(message.workspace, "guideline")]
        result = runtime.triager.triage(message, guidelines)
        return {"triage": result.model_dump(), "guidelines": guidelines}

    def after_triage(state: GraphState) -> Literal["retrieve", "review"]:
        return "retrieve" if state["triage"]["route"] == "draft" else "review"

    def retrieve(state: GraphState) -> dict[str, Any]:
        message = InboundMessage.model_validate(state["message"])
        hits = search_knowledge(
            runtime.store, message.text, message.workspace, k=settings.retrieve_k, context=thread_context(message)
        )
        # Knowledge is data too: a chunk that addresses the model is withheld from drafting and shown.
        suspicious = [h.id for h in hits if injection_signals(h.text)]
        examples: list[dict[str, Any]] = []
        if runtime.memory is not None:
            try:
                examples = runtime.memory.similar(
                    message.workspace, message.text, min_similarity=settings.example_min_similarity,
                    exclude=f"message-{message.id}",
                )
            except Exception:  # learned examples are a help, never a reason to lose a draft
                log.exception("example memory unavailable")
        return {"hits": [h.model_dump() for h in hits], "examples": examples,
                "flags": {"suspicious_sources": suspicious}}

    def draft(state: GraphState) -> dict[str, Any]:
        message = InboundMessage.model_validate(state["message"])
        suspicious = set((state.get("flags") or {}).get("suspicious_sources", []))
        hits = [h for h in state.get("hits", []) if h["id"] not in suspicious]
        guidelines, examples = state.get("guidelines", []), state.get("examples", [])
        profile, brand = platform_profile(message.platform, guidelines), brand_rules(guidelines)
        instructions = state.get("instructions")
        asked = "\n".join(p for p in (instructions, state.get("feedback")) if p) or None
        previous = DraftResult.model_validate(state["draft"]) if state.get("draft") and instructions else None
        result: DraftResult | None = None
        note = ""
        if runtime.llm is not None:
            try:
                result = runtime.llm.draft(message, hits, profile, brand, asked, examples)
            except DraftingError as exc:
                warn_fallback(log, exc, "draft", "the offline composer")
                note = f"LLM unavailable, offline composer used: {exc.reason}."
        if result is None:
            result = compose_offline(
                message, hits, profile, sentiment=state["triage"]["sentiment"], min_score=settings.min_answer_score,
                # Offline regeneration offers the next-best source instead of the same answer again.
                skip_ids=tuple(previous.citations) if previous else (),
                prefer_ids=tuple(c for e in examples for c in e.get("citations", [])),
                examples=tuple(e["id"] for e in examples), note=note,
            )
        if result.suggested_route == "escalate":
            result.note = f"{result.note} The model suggests escalating: {result.route_reason}".strip()
        result.summary = result.summary or extractive_summary(message, result)
        update: dict[str, Any] = {"draft": result.model_dump()}
        if result.sentiment:
            update["triage"] = state["triage"] | {"sentiment": result.sentiment, "sentiment_source": "llm"}
        if settings.draft_variants and not state.get("feedback"):
            update["variants"] = _variant(message, hits, profile, brand, result, asked, examples, state)
        return update

    def _variant(message: InboundMessage, hits: list[dict[str, Any]], profile: Any, brand: Any,
                 first: DraftResult, asked: str | None, examples: list[dict[str, Any]],
                 state: GraphState) -> list[dict[str, Any]]:
        if runtime.llm is not None and first.composer == "llm":
            try:
                other = runtime.llm.draft(message, hits, profile, brand, "\n".join(filter(None, [asked, SECOND_ANGLE])),
                                          examples)
                return [Variant(angle="a different angle", text=other.text, citations=other.citations,
                                composer="llm").model_dump()]
            except DraftingError as exc:
                warn_fallback(log, exc, "second variant", "an offline variant")
        made = offline_variant(message, hits, profile, first, sentiment=state["triage"]["sentiment"],
                               min_score=settings.min_answer_score)
        if made is None:
            return []
        angle, other = made
        return [Variant(angle=angle, text=other.text, citations=other.citations, composer="offline").model_dump()]

    def check(state: GraphState) -> dict[str, Any]:
        message = InboundMessage.model_validate(state["message"])
        guidelines = state.get("guidelines", [])
        ctx = CheckContext(
            message=message, hits=state.get("hits", []), profile=platform_profile(message.platform, guidelines),
            brand=brand_rules(guidelines), guidelines=guidelines, canary=runtime.canary,
            system_prompt=runtime.llm.system_prompt if runtime.llm is not None else "",
            suspicious_sources=(state.get("flags") or {}).get("suspicious_sources", []),
        )
        results = run_checks(DraftResult.model_validate(state["draft"]), ctx)
        variants = []
        for variant in state.get("variants", []):
            candidate = DraftResult(text=variant["text"], citations=variant["citations"], composer=variant["composer"])
            variants.append(variant | {"checks": [r.model_dump() for r in run_checks(candidate, ctx)]})
        return {"checks": [r.model_dump() for r in results], "variants": variants}

    def after_check(state: GraphState) -> Literal["revise", "review"]:
        checks = [CheckResult.model_validate(c) for c in state.get("checks", [])]
        failed = {c.name for c in checks if not c.passed and c.severity == "block"}
        unsafe = {"injection", "system_prompt_canary"} & failed  # never "fix" evidence of an attack away
        if (state["draft"].get("composer") == "llm" and failed & REVISABLE and not unsafe
                and state.get("revisions", 0) < settings.max_revisions):
            return "revise"
        return "review"

    def revise(state: GraphState) -> dict[str, Any]:
        problems = [f"- {c['name']}: {c['detail']}" for c in state.get("checks", [])
                    if not c["passed"] and c["name"] in REVISABLE]
        return {"feedback": REVISE.format(problems="\n".join(problems)), "revisions": state.get("revisions", 0) + 1}

    def review(state: GraphState) -> Command[Literal["draft", "deliver", "__end__"]]:
        # Nothing with a side effect may come before interrupt(): this node re-runs on resume.
        request = review_request(state)
        decision: ReviewDecision = interrupt(request.model_dump(), response_schema=ReviewDecision)
        update: dict[str, Any] = {"decision": decision.model_dump()}
        if decision.action == "approve":
            return Command(update=update | {"final_text": decision.text}, goto="deliver")
        if decision.action == "regenerate":
            regen = {"instructions": decision.instructions or "", "feedback": "", "revisions": 0}
            return Command(update=update | regen, goto="draft")
        return Command(update=update | {"outcome": "rejected"}, goto="__end__")

    def deliver(state: GraphState) -> dict[str, Any]:
        # The agent sends nothing: the API wrote the outbox row in the approval's transaction and its
        # relay delivers. This node closes the thread and, for drafted replies, remembers the approved
        # text as an example for similar messages (reviewed-only learning).
        if runtime.memory is not None and state["triage"]["route"] == "draft" and state.get("draft"):
            message = InboundMessage.model_validate(state["message"])
            drafted = DraftResult.model_validate(state["draft"])
            try:
                runtime.memory.remember(
                    workspace=message.workspace, message_id=message.id, platform=message.platform,
                    message_text=message.text, reply=state.get("final_text", ""), drafted=drafted.text,
                    citations=drafted.citations, actor=(state.get("decision") or {}).get("actor", ""),
                )
            except Exception:
                log.exception("could not store the approved reply as an example")
        return {"outcome": "approved"}

    builder = StateGraph(GraphState)
    for name, node in (("triage", triage), ("retrieve", retrieve), ("draft", draft), ("check", check)):
        builder.add_node(name, _timed(name, node))
    builder.add_node("revise", revise)
    builder.add_node("review", review)
    builder.add_node("deliver", deliver)
    builder.add_edge(START, "triage")
    builder.add_conditional_edges("triage", after_triage)
    builder.add_edge("retrieve", "draft")
    builder.add_edge("draft", "check")
    builder.add_conditional_edges("check", after_check)
    builder.add_edge("revise", "draft")
    builder.add_edge("deliver", END)
    return builder.compile(checkpointer=checkpointer)
