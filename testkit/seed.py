"""Pending drafts written straight into the database (not through the graph), for load tests and benches."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from desk.models import Draft, DraftRiskFlag, DraftVersion, Message, utcnow

PLATFORMS = ("x", "instagram", "reddit", "discord", "linkedin")
INTENTS = ("question", "complaint", "praise", "other")


def risk_flags_of(i: int) -> list[str]:
    """A few seeded drafts carry risk flags (1 in 25 safety, 1 in 40 legal), as a real queue would."""
    return (["safety"] if i % 25 == 24 else []) + (["legal"] if i % 40 == 31 else [])


def seed_drafts(engine: Engine, count: int, prefix: str = "seed", workspace: str = "default",
                batch: int = 1000) -> list[int]:
    """Create ``count`` messages with a pending version-1 draft each; returns the draft ids."""
    now = utcnow()
    ids: list[int] = []
    for start in range(0, count, batch):
        rows = range(start, min(count, start + batch))
        messages: list[dict[str, Any]] = [
            {"workspace": workspace, "platform": PLATFORMS[i % len(PLATFORMS)], "external_id": f"{prefix}-{i}",
             "author": {"id": f"u{i}", "handle": f"user{i}"}, "author_id": f"u{i}", "text": f"question number {i}?",
             "thread": [], "thread_id": None, "public": True, "received_at": now - timedelta(minutes=i % 600),
             "created_at": now, "status": "drafted", "error": None}
            for i in rows
        ]
        with engine.begin() as conn:
            conn.execute(insert(Message), messages)
            found = conn.execute(
                select(Message.id, Message.external_id)  # type: ignore[call-overload]
                .where(Message.external_id.in_([m["external_id"] for m in messages]))  # type: ignore[attr-defined]
                .where(Message.workspace == workspace)
            ).all()
            by_external = {external: mid for mid, external in found}
            drafts = []
            for i in rows:
                message_id = by_external[f"{prefix}-{i}"]
                drafts.append({
                    "message_id": message_id, "workspace": workspace, "platform": PLATFORMS[i % len(PLATFORMS)],
                    "status": "pending", "route": "draft", "text": f"Hi user{i}, here is answer {i}.",
                    "drafted_text": f"Hi user{i}, here is answer {i}.", "citations": [], "checks": [],
                    "triage": {"intent": INTENTS[i % len(INTENTS)], "urgency": "normal",
                               "risk_flags": risk_flags_of(i)},
                    "composer": "offline", "needs_human_answer": False, "note": "", "model": None, "usage": {},
                    "version": 1, "graph_thread": f"{prefix}-thread-{i}", "created_at": now, "updated_at": now,
                    "priority": (i * 37) % 101, "due_at": now + timedelta(minutes=(i * 13) % 900 - 120),
                    "intent": INTENTS[i % len(INTENTS)], "prompt_tokens": 0, "completion_tokens": 0,
                })
            conn.execute(insert(Draft), drafts)
            got = conn.execute(
                select(Draft.id, Draft.text, Draft.message_id).where(  # type: ignore[call-overload]
                    Draft.message_id.in_(list(by_external.values())))  # type: ignore[attr-defined]
            ).all()
            conn.execute(insert(DraftVersion), [
                {"draft_id": did, "version": 1, "text": text, "action": "drafted", "actor": "seed", "at": now}
                for did, text, _mid in got
            ])
            index_of = {by_external[f"{prefix}-{i}"]: i for i in rows}
            flags = [{"draft_id": did, "flag": flag}
                     for did, _text, mid in got for flag in risk_flags_of(index_of[mid])]
            if flags:
                conn.execute(insert(DraftRiskFlag), flags)
            ids.extend(did for did, _text, _mid in got)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # Planner statistics, as autovacuum would gather them after a bulk load this size.
            conn.exec_driver_sql("VACUUM ANALYZE drafts, messages, draft_versions, draft_risk_flags")
    return sorted(ids)
