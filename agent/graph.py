"""The reply graph, as it runs::

    START → triage ─(route: draft)→ retrieve → draft → check ─(revisable failure, bounded)→ revise ─┐
              │                                ↑       │                                           │
              │                                └───────┼───────────────────────────────────────────┘
              └─(any other route)→ review ←────────────┘ (otherwise)
    review (interrupt): approve → record_approved_reply → END · regenerate → draft · reject → END

Each node is a module-level function: graph state in, a state update (or a ``Command`` naming the next
node) out. What the nodes need besides state — knowledge store, drafter, triager, example memory,
settings — is an :class:`AgentRuntime`, built once per process by the caller and handed to every run as
LangGraph's run context (``invoke(..., context=runtime)``); a node reads it from its ``runtime``
argument. Nothing is constructed at import time. The builder and ``compile()`` are at the bottom.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from agent.checks import REVISABLE, CheckContext, run_checks
from agent.composer import compose_offline, offline_variant
from agent.errors import DraftingError
from agent.guard import injection_signals, load_canary
from agent.guidelines import PlatformProfile, brand_rules, platform_profile
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
from knowledge.search import brand_vocabulary, search_knowledge
from knowledge.store import KnowledgeStore

CONTEXT_TURNS = 3
log = logging.getLogger("replydesk.agent.graph")
__all__ = ["AgentRuntime", "build_graph", "review_request"]


@dataclass
class AgentRuntime:
    """The graph's run context: the dependencies its nodes use, built once per process."""

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
        if self.llm is not None:
            self.llm.guard.flush()  # usage counted since the last write reaches the store before it closes
        for closer in self._closers:
            if hasattr(closer, "__exit__"):
                closer.__exit__(None, None, None)
            elif hasattr(closer, "close"):
                closer.close()


Context = Runtime[AgentRuntime]


def thread_context(message: InboundMessage) -> str:
    """The recent thread, so "there"/"that one" keep their referent."""
    return "\n".join(t.text for t in message.thread[-CONTEXT_TURNS:])


def triage(state: GraphState, *, runtime: Context) -> dict[str, Any]:
    deps = runtime.context
    message = InboundMessage.model_validate(state["message"])
    guidelines = deps.store.by_kind_records(message.workspace, "guideline")
    result = deps.triager.triage(message, guidelines)
    return {"triage": result.model_dump(), "guidelines": guidelines}


def after_triage(state: GraphState) -> Literal["retrieve", "review"]:
    return "retrieve" if state["triage"]["route"] == "draft" else "review"


def retrieve(state: GraphState, *, runtime: Context) -> dict[str, Any]:
    deps, settings = runtime.context, runtime.context.settings
    message = InboundMessage.model_validate(state["message"])
    hits = search_knowledge(
        deps.store, message.text, message.workspace, k=settings.retrieve_k, context=thread_context(message)
    )
    # Knowledge is data too: a chunk that addresses the model is withheld from drafting and shown.
    suspicious = [h.id for h in hits if injection_signals(h.text)]
    examples: list[dict[str, Any]] = []
    if deps.memory is not None:
        try:
            examples = deps.memory.similar(
                message.workspace, message.text, min_similarity=settings.example_min_similarity,
                exclude=f"message-{message.id}",
            )
        except Exception:  # learned examples are a help, never a reason to lose a draft
            log.exception("example memory unavailable")
    return {"hits": [h.model_dump() for h in hits], "examples": examples,
            "flags": {"suspicious_sources": suspicious}}


def draft(state: GraphState, *, runtime: Context) -> dict[str, Any]:
    deps, settings = runtime.context, runtime.context.settings
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
    # A self-check revision of the model's own draft: if the revision fails, the model's draft stays, with
    # the checks it failed shown (a flagged model draft, not a different composer's text).
    revising = bool(state.get("feedback")) and (state.get("draft") or {}).get("composer") == "llm"
    if deps.llm is not None:
        try:
            result = deps.llm.draft(message, hits, profile, brand, asked, examples)
        except DraftingError as exc:
            if revising:
                warn_fallback(log, exc, "draft revision", "the model's first draft")
                result = DraftResult.model_validate(state["draft"])
                result.note = (f"{result.note} The model could not revise its draft ({exc.reason}); its first "
                               "draft is shown with the checks it failed.").strip()
            else:
                warn_fallback(log, exc, "draft", "the offline composer")
                note = f"LLM unavailable, offline composer used: {exc.reason}."
    if result is None:
        result = compose_offline(
            message, hits, profile, sentiment=state["triage"]["sentiment"], min_score=settings.min_answer_score,
            # Offline regeneration offers the next-best source instead of the same answer again.
            skip_ids=tuple(previous.citations) if previous else (),
            prefer_ids=tuple(c for e in examples for c in e.get("citations", [])),
            examples=tuple(e["id"] for e in examples), note=note,
            category=str(state["triage"].get("category") or "question"),
            forward_to_name=state["triage"].get("forward_to_name"),
            vocabulary=brand_vocabulary(deps.store, message.workspace),
        )
    if result.suggested_route == "escalate":
        result.note = f"{result.note} The model suggests escalating: {result.route_reason}".strip()
    result.summary = result.summary or extractive_summary(message, result)
    update: dict[str, Any] = {"draft": result.model_dump()}
    if result.sentiment:
        update["triage"] = state["triage"] | {"sentiment": result.sentiment, "sentiment_source": "llm"}
    if settings.draft_variants and not state.get("feedback"):
        update["variants"] = _second_variant(deps, message, hits, profile, brand, result, asked, examples, state)
    return update


def _second_variant(deps: AgentRuntime, message: InboundMessage, hits: list[dict[str, Any]],
                    profile: PlatformProfile, brand: Any, first: DraftResult, asked: str | None,
                    examples: list[dict[str, Any]], state: GraphState) -> list[dict[str, Any]]:
    if deps.llm is not None and first.composer == "llm":
        try:
            other = deps.llm.draft(message, hits, profile, brand, "\n".join(filter(None, [asked, SECOND_ANGLE])),
                                   examples)
            return [Variant(angle="a different angle", text=other.text, citations=other.citations,
                            composer="llm").model_dump()]
        except DraftingError as exc:
            warn_fallback(log, exc, "second variant", "an offline variant")
    made = offline_variant(message, hits, profile, first, sentiment=state["triage"]["sentiment"],
                           min_score=deps.settings.min_answer_score,
                           vocabulary=brand_vocabulary(deps.store, message.workspace))
    if made is None:
        return []
    angle, other = made
    return [Variant(angle=angle, text=other.text, citations=other.citations, composer="offline").model_dump()]


def check(state: GraphState, *, runtime: Context) -> dict[str, Any]:
    deps = runtime.context
    message = InboundMessage.model_validate(state["message"])
    guidelines = state.get("guidelines", [])
    ctx = CheckContext(
        message=message, hits=state.get("hits", []), profile=platform_profile(message.platform, guidelines),
        brand=brand_rules(guidelines), guidelines=guidelines, canary=deps.canary,
        system_prompt=deps.llm.system_prompt if deps.llm is not None else "",
        suspicious_sources=(state.get("flags") or {}).get("suspicious_sources", []),
        vocabulary=brand_vocabulary(deps.store, message.workspace),
    )
    results = run_checks(DraftResult.model_validate(state["draft"]), ctx)
    variants = []
    for variant in state.get("variants", []):
        candidate = DraftResult(text=variant["text"], citations=variant["citations"], composer=variant["composer"])
        variants.append(variant | {"checks": [r.model_dump() for r in run_checks(candidate, ctx)]})
    return {"checks": [r.model_dump() for r in results], "variants": variants}


def after_check(state: GraphState, *, runtime: Context) -> Literal["revise", "review"]:
    checks = [CheckResult.model_validate(c) for c in state.get("checks", [])]
    failed = {c.name for c in checks if not c.passed and c.severity == "block"}
    unsafe = {"injection", "system_prompt_canary"} & failed  # never "fix" evidence of an attack away
    if (state["draft"].get("composer") == "llm" and failed & REVISABLE and not unsafe
            and state.get("revisions", 0) < runtime.context.settings.max_revisions):
        return "revise"
    return "review"


def revise(state: GraphState) -> dict[str, Any]:
    problems = [f"- {c['name']}: {c['detail']}" for c in state.get("checks", [])
                if not c["passed"] and c["name"] in REVISABLE]
    return {"feedback": REVISE.format(problems="\n".join(problems)), "revisions": state.get("revisions", 0) + 1}


def review(state: GraphState) -> Command[Literal["draft", "record_approved_reply", "__end__"]]:
    # Nothing with a side effect may come before interrupt(): this node re-runs on resume.
    request = review_request(state)
    decision: ReviewDecision = interrupt(request.model_dump(), response_schema=ReviewDecision)
    update: dict[str, Any] = {"decision": decision.model_dump()}
    if decision.action == "approve":
        return Command(update=update | {"final_text": decision.text}, goto="record_approved_reply")
    if decision.action == "regenerate":
        regen = {"instructions": decision.instructions or "", "feedback": "", "revisions": 0}
        return Command(update=update | regen, goto="draft")
    return Command(update=update | {"outcome": "rejected"}, goto="__end__")


def record_approved_reply(state: GraphState, *, runtime: Context) -> dict[str, Any]:
    """Close the thread as approved; a drafted reply's approved text becomes an example for similar messages.

    The agent sends nothing: the API wrote the outbox row in the approval's transaction and its relay
    delivers. Only replies a CM approved are remembered (reviewed-only learning).
    """
    memory = runtime.context.memory
    if memory is not None and state["triage"]["route"] == "draft" and state.get("draft"):
        message = InboundMessage.model_validate(state["message"])
        drafted = DraftResult.model_validate(state["draft"])
        try:
            memory.remember(
                workspace=message.workspace, message_id=message.id, platform=message.platform,
                message_text=message.text, reply=state.get("final_text", ""), drafted=drafted.text,
                citations=drafted.citations, actor=(state.get("decision") or {}).get("actor", ""),
            )
        except Exception:
            log.exception("could not store the approved reply as an example")
    return {"outcome": "approved"}


class Node(Protocol):
    def __call__(self, state: GraphState, *, runtime: Context) -> dict[str, Any]: ...


def _timed(name: str, node: Node) -> Node:
    """The node, adding its wall time in ms to ``state["timings"][name]`` (summed over revisions)."""

    def timed(state: GraphState, *, runtime: Context) -> dict[str, Any]:
        started = time.perf_counter()
        update = node(state, runtime=runtime)
        timings = dict(state.get("timings") or {})
        timings[name] = timings.get(name, 0.0) + (time.perf_counter() - started) * 1000
        return update | {"timings": timings}

    return timed


def build_graph(checkpointer: Any) -> Any:
    """The compiled graph; run it with ``context=AgentRuntime(...)`` on every ``invoke``."""
    builder = StateGraph(GraphState, context_schema=AgentRuntime)
    for node in (triage, retrieve, draft, check):
        builder.add_node(node.__name__, _timed(node.__name__, node))
    builder.add_node(revise)
    builder.add_node(review)
    builder.add_node(record_approved_reply)
    builder.add_edge(START, "triage")
    builder.add_conditional_edges("triage", after_triage)
    builder.add_edge("retrieve", "draft")
    builder.add_edge("draft", "check")
    builder.add_conditional_edges("check", after_check)
    builder.add_edge("revise", "draft")
    builder.add_edge("record_approved_reply", END)
    return builder.compile(checkpointer=checkpointer)
