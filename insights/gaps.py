"""Knowledge gaps: questions retrieval could not answer confidently, clustered into FAQ suggestions.

Each cluster becomes a suggestion (question + the CM's own approved answer when one exists). An admin
accepts it, which ingests it into the workspace's knowledge base as a FAQ entry, or dismisses it; the
messages of a decided suggestion are never suggested again.
"""

from __future__ import annotations

import html
import re
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from desk.db import session_scope
from desk.insight_tables import GapSuggestion
from desk.models import utcnow
from desk.scope import INSTALLATION, Scope
from ground.settings import Settings
from insights.data import Item, clean_text, load_items
from insights.errors import MissingAnswer, SuggestionConflict, SuggestionNotFound
from insights.period import Period
from insights.summary import quote
from insights.themes import cluster_texts
from knowledge.models import Chunk
from knowledge.store import KnowledgeStore

GAP_SOURCE = "insights:gaps"
# Praise is not excluded: keyword triage calls "love it! is there a showroom?" praise, and it is a question.
_NOT_QUESTIONS = ("spam", "abuse")
_GREETING = re.compile(r"^\s*(hi|hey|hello|hiya|dear)\b[^.!?,\n]{0,40}[,!.]\s*", re.I)
_EXAMPLES = 5


def is_gap(item: Item, min_score: float) -> bool:
    return (
        item.route == "draft"
        and item.intent not in _NOT_QUESTIONS
        and item.is_question
        and item.retrieval_unsure(min_score)
    )


def answer_text(text: str) -> str:
    """A CM's reply as a reusable answer: without the leading @mentions and the personal greeting."""
    body = re.sub(r"^(\s*@\w+)+\s*", "", html.unescape(text))
    return _GREETING.sub("", body, count=1).strip() or body.strip()


def best_answer(members: list[Item]) -> Item | None:
    """The most recent reply a CM wrote or rewrote themselves (an approved holding reply is no answer)."""
    written = [m for m in members if m.approved and m.final_text.strip() and (m.edited or not m.drafted_text)]
    return max(written, key=lambda m: m.decided_at or m.received_at, default=None)


def _decided_ids(session: Session, workspace: str) -> set[int]:
    rows = session.exec(
        select(GapSuggestion).where(col(GapSuggestion.workspace) == workspace, col(GapSuggestion.status) != "pending")
    ).all()
    return {mid for row in rows for mid in row.message_ids}


def refresh_gaps(engine: Engine, settings: Settings, workspace: str, period: Period) -> list[GapSuggestion]:
    """Recompute suggestions from the period; a cluster overlapping a pending suggestion updates it."""
    items = load_items(engine, workspace, period)
    with Session(engine) as session:
        decided = _decided_ids(session, workspace)
    gaps = [i for i in items if is_gap(i, settings.min_answer_score) and i.message_id not in decided]
    clusters = cluster_texts([i.text for i in gaps], settings.question_distance)
    with session_scope(engine) as session:
        pending = list(
            session.exec(
                select(GapSuggestion).where(
                    col(GapSuggestion.workspace) == workspace, col(GapSuggestion.status) == "pending"
                )
            ).all()
        )
        touched: set[int] = set()  # rows already updated by a (larger) cluster in this refresh
        for cluster in clusters:
            members = [gaps[i] for i in cluster.members]
            ids = {m.message_id for m in members}
            answer = best_answer(members)
            row = next((p for p in pending if ids & set(p.message_ids)), None)
            if row is None:
                row = GapSuggestion(workspace=workspace, question="")
                pending.append(row)
            row.message_ids = sorted(ids | set(row.message_ids))
            row.count = len(row.message_ids)
            row.updated_at = utcnow()
            if id(row) in touched:
                session.add(row)
                continue
            touched.add(id(row))
            row.question = quote(gaps[cluster.representative].text)
            row.examples = [clean_text(m.text)[:300] for m in members[:_EXAMPLES]]
            row.terms = cluster.terms
            if answer is not None:
                row.answer, row.answer_draft_id = answer_text(answer.final_text), answer.draft_id
            session.add(row)
    return list_gaps(engine, workspace, "pending")


def list_gaps(engine: Engine, workspace: str, status: str | None = "pending") -> list[GapSuggestion]:
    with Session(engine) as session:
        query = select(GapSuggestion).where(col(GapSuggestion.workspace) == workspace)
        if status:
            query = query.where(col(GapSuggestion.status) == status)
        rows = session.exec(query.order_by(col(GapSuggestion.count).desc(), col(GapSuggestion.id))).all()
    return list(rows)


def get_gap(engine: Engine, suggestion_id: int, scope: Scope = INSTALLATION) -> GapSuggestion:
    """A suggestion, if it exists within ``scope`` (outside it, it does not exist for the caller)."""
    with Session(engine) as session:
        row = session.get(GapSuggestion, suggestion_id)
    if row is None or not scope.allows(row.workspace):
        raise SuggestionNotFound(f"suggestion {suggestion_id} not found")
    return row


def _decide(engine: Engine, row: GapSuggestion, status: str, actor: str, **values: object) -> GapSuggestion:
    """One conditional UPDATE: only a pending suggestion at the version read can be decided."""
    now: datetime = utcnow()
    with session_scope(engine) as session:
        result = session.exec(
            update(GapSuggestion)
            .where(
                col(GapSuggestion.id) == row.id,
                col(GapSuggestion.status) == "pending",
                col(GapSuggestion.version) == row.version,
            )
            .values(status=status, decided_at=now, decided_by=actor, updated_at=now,
                    version=col(GapSuggestion.version) + 1, **values)
        )
        if result.rowcount != 1:
            raise SuggestionConflict(f"suggestion {row.id} is no longer pending (someone decided it first)")
    return get_gap(engine, row.id or 0)


def accept_gap(
    engine: Engine,
    store: KnowledgeStore,
    suggestion_id: int,
    actor: str,
    question: str | None = None,
    answer: str | None = None,
    *,
    scope: Scope,
) -> GapSuggestion:
    """Accept a suggestion (optionally edited) and ingest it as a FAQ entry of its workspace."""
    row = get_gap(engine, suggestion_id, scope)
    if row.status != "pending":
        raise SuggestionConflict(f"suggestion {suggestion_id} is {row.status}, not pending")
    final_q = (question or row.question).strip()
    final_a = (answer or row.answer or "").strip()
    if not final_a:
        raise MissingAnswer(
            f"suggestion {suggestion_id} has no CM-approved answer yet: give the answer text to accept it"
        )
    chunk_id = f"gap-{suggestion_id}"
    decided = _decide(engine, row, "accepted", actor, question=final_q, answer=final_a, chunk_id=chunk_id)
    chunk = Chunk(
        id=chunk_id, text=f"{final_q}\n{final_a}", kind="faq", source=GAP_SOURCE, doc_id=GAP_SOURCE,
        title=final_q, question=final_q, answer=final_a,
        attrs={"suggestion_id": suggestion_id, "accepted_by": actor, "asked": row.count},
    )
    try:
        store.ingest([chunk], row.workspace)
    except Exception:
        # The knowledge base did not take it: give the suggestion back rather than claim it was ingested.
        with session_scope(engine) as session:
            session.exec(
                update(GapSuggestion).where(col(GapSuggestion.id) == suggestion_id)
                .values(status="pending", chunk_id=None, decided_at=None, decided_by=None,
                        version=col(GapSuggestion.version) + 1, note="ingest failed; try again")
            )
        raise
    return decided


def dismiss_gap(
    engine: Engine, suggestion_id: int, actor: str, reason: str = "", *, scope: Scope
) -> GapSuggestion:
    row = get_gap(engine, suggestion_id, scope)
    if row.status != "pending":
        raise SuggestionConflict(f"suggestion {suggestion_id} is {row.status}, not pending")
    return _decide(engine, row, "dismissed", actor, note=reason[:2000])
