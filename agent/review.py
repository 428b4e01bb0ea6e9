"""The review request a paused thread shows the CM: the draft, its checks, summary, variants, provenance."""

from __future__ import annotations

from typing import Any

from agent.guidelines import brand_rules, platform_profile
from agent.prompts import template_hash
from agent.state import Citation, DraftResult, GraphState, InboundMessage, ReviewRequest, Triage
from agent.summary import extractive_summary


def provenance(state: GraphState, result: DraftResult | None) -> dict[str, Any]:
    """What a draft was made from and what it cost: enough to reproduce or audit it."""
    message = InboundMessage.model_validate(state["message"])
    guidelines = state.get("guidelines", [])
    profile = platform_profile(message.platform, guidelines)
    brand = brand_rules(guidelines)
    used_guidelines = [
        {"id": g.get("id"), "content_hash": g.get("content_hash")}
        for g in guidelines
        if g.get("id") == profile.guideline_id or str(g.get("id")) in brand.guideline_ids
    ]
    out: dict[str, Any] = {
        "knowledge": [
            {"id": h["id"], "content_hash": h.get("content_hash", ""), "score": h.get("score")}
            for h in state.get("hits", [])
        ],
        "guidelines": used_guidelines,
        "latency_ms": {k: round(v, 1) for k, v in (state.get("timings") or {}).items()},
        "suspicious_sources": (state.get("flags") or {}).get("suspicious_sources", []),
    }
    if result is not None:
        out |= {
            "composer": result.composer,
            "model": result.model,
            "prompt_template": template_hash() if result.composer == "llm" else None,
            "usage": result.usage,
            "cited": result.citations,
            "examples": result.examples,
            "revisions": state.get("revisions", 0),
        }
    return out


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
            + (f" Escalate to {triage.escalate_to_name or triage.escalate_to}." if triage.escalate_to else "")
            + (f" Suggested action: {triage.suggested_action}." if triage.suggested_action else ""),
            summary=extractive_summary(message, None).model_dump(),
            provenance=provenance(state, None),
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
    summary = result.summary or extractive_summary(message, result)
    return ReviewRequest(
        message_id=message.id,
        route="draft",
        text=result.text,
        citations=citations,
        checks=state.get("checks", []),
        triage=triage.model_dump(),
        composer=result.composer,
        needs_human_answer=result.needs_human_answer,
        reply_kind=result.reply_kind,
        note=result.note,
        model=result.model,
        usage=result.usage,
        summary=summary.model_dump(),
        provenance=provenance(state, result),
        variants=state.get("variants", []),
    )
