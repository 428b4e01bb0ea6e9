"""Queue writes that carry logic: submitting messages and recording drafts (CM decisions: decisions.py).

A newer message in the same thread makes the older pending draft stale: answering the old message
would ignore what the person said since.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agent.state import ReviewDecision, ReviewRequest
from desk.audit import INGEST, WORKER, Actor, audit_draft, record_version
from desk.db import read_session, session_scope
from desk.inbound import MessageCreate
from desk.models import Draft, DraftRiskFlag, Job, Message, utcnow
from desk.priority import due_at, priority_of
from desk.scope import Scope


def submit_message(
    engine: Engine, body: MessageCreate, workspace: str, *, scope: Scope,
    also: Callable[[Session, Message], None] | None = None,
) -> tuple[Message, bool]:
    """Store a message and its draft job; the same (workspace, platform, external_id) is one message.
    A workspace outside the caller's scope is refused. ``also`` writes what belongs with a new message in
    the same transaction (a connector: where the reply goes)."""
    scope.check_filter(workspace)
    def existing() -> Message | None:
        with read_session(engine) as session:
            return session.exec(
                select(Message).where(
                    Message.workspace == workspace,
                    Message.platform == body.platform,
                    Message.external_id == body.external_id,
                )
            ).first()

    found = existing()
    if found is not None:
        return found, False
    try:
        with session_scope(engine) as session:
            message = Message(
                workspace=workspace,
                platform=body.platform,
                external_id=body.external_id,
                author=body.author.model_dump(),
                author_id=body.author.id,
                text=body.text,
                thread=[t.model_dump() for t in body.thread],
                thread_id=body.thread_id,
                public=body.public,
                received_at=body.received_at or utcnow(),
            )
            session.add(message)
            session.flush()
            session.add(Job(kind="draft", dedupe_key=f"draft:{message.id}", message_id=message.id))
            if also is not None:
                also(session, message)
            if message.thread_id:
                _lock_thread(session, message)
                _stale_older_drafts(session, message)
    except IntegrityError:
        # A concurrent request stored the same message first.
        found = existing()
        if found is None:
            raise
        return found, False
    return message, True


def _lock_thread(session: Session, message: Message) -> None:
    """Serialise "newer message" checks per thread on PostgreSQL (SQLite writers are serial already)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        key = f"{message.workspace}/{message.platform}/{message.thread_id}"
        session.exec(text("SELECT pg_advisory_xact_lock(hashtext(:key))").bindparams(key=key))  # type: ignore[call-overload]


def _newer(message: Message) -> Any:
    """SQL condition: a message in the same thread received after ``message``."""
    return and_(
        col(Message.workspace) == message.workspace,
        col(Message.platform) == message.platform,
        col(Message.thread_id) == message.thread_id,
        or_(
            col(Message.received_at) > message.received_at,
            and_(col(Message.received_at) == message.received_at, col(Message.id) > (message.id or 0)),
        ),
    )


def _mark_stale(session: Session, draft: Draft, newer_id: int, actor: Actor) -> None:
    result = session.exec(
        update(Draft)
        .where(col(Draft.id) == draft.id, col(Draft.status) == "pending", col(Draft.version) == draft.version)
        .values(status="stale", version=draft.version + 1, updated_at=utcnow(),
                stale_reason=f"a newer message ({newer_id}) arrived in the same thread")
    )
    if result.rowcount != 1:
        return
    session.refresh(draft)
    record_version(session, draft, "stale", actor)
    audit_draft(session, draft, actor, "stale", from_version=draft.version - 1, newer_message_id=newer_id)
    # Close the paused graph thread too, so nothing waits on it.
    reason = f"superseded by message {newer_id}"
    session.add(Job(kind="resume", dedupe_key=f"resume:{draft.id}:{draft.version}", message_id=draft.message_id,
                    draft_id=draft.id, payload=ReviewDecision(action="reject", reason=reason,
                                                              actor=actor[0]).model_dump()))


def _stale_older_drafts(session: Session, message: Message) -> None:
    older = session.exec(
        select(Draft)
        .join(Message, col(Message.id) == col(Draft.message_id))
        .where(
            col(Draft.status) == "pending",
            col(Message.workspace) == message.workspace,
            col(Message.platform) == message.platform,
            col(Message.thread_id) == message.thread_id,
            col(Message.id) != message.id,
            or_(
                col(Message.received_at) < message.received_at,
                and_(col(Message.received_at) == message.received_at, col(Message.id) < (message.id or 0)),
            ),
        )
    ).all()
    for draft in older:
        _mark_stale(session, draft, message.id or 0, INGEST)


def record_review(
    session: Session,
    message: Message,
    request: ReviewRequest,
    thread: str,
    *,
    target_hours: float | None = None,
    graph_seconds: float | None = None,
) -> Draft:
    """Create the queue item for a paused thread, or refresh it after a regeneration."""
    draft = session.exec(select(Draft).where(Draft.message_id == message.id)).first()
    fields: dict[str, Any] = {
        "route": request.route,
        "text": request.text,
        "drafted_text": request.text,
        "citations": [c.model_dump() for c in request.citations],
        "checks": [c.model_dump() for c in request.checks],
        "triage": request.triage,
        "composer": request.composer,
        "needs_human_answer": request.needs_human_answer,
        "note": request.note,
        "model": request.model,
        "usage": request.usage,
        "summary": request.summary,
        "provenance": request.provenance,
        "variants": request.variants,
        "status": "pending",
        "updated_at": utcnow(),
    }
    fields |= _queue_fields(message, request, target_hours, graph_seconds)
    if draft is None:
        now = utcnow()
        fields.setdefault("due_at", now)  # no target known: due at once (sorting by due needs a value)
        draft = Draft(
            message_id=message.id or 0, workspace=message.workspace, platform=message.platform,
            graph_thread=thread, created_at=now, draft_seconds=_seconds_between(message.created_at, now), **fields,
        )
        session.add(draft)
        session.flush()
        action, from_version = "drafted", None
    elif draft.status == "regenerating":
        for key, value in fields.items():
            setattr(draft, key, value)
        draft.version += 1
        session.add(draft)
        session.flush()
        action, from_version = "redrafted", draft.version - 1
    else:
        return draft
    _set_risk_flags(session, draft.id or 0, request.triage, replace=action == "redrafted")
    record_version(session, draft, action, WORKER)
    audit_draft(session, draft, WORKER, action, from_version=from_version)
    message.status = "drafted"
    session.add(message)
    if message.thread_id:
        _lock_thread(session, message)
        newer = session.exec(select(func.max(Message.id)).where(_newer(message))).one()
        if newer is not None:
            _mark_stale(session, draft, int(newer), WORKER)
    session.flush()
    return draft


def _set_risk_flags(session: Session, draft_id: int, triage: dict[str, Any], *, replace: bool) -> None:
    """The draft's risk flags as rows (the queue filters on them); a regeneration replaces them (a new draft
    has none to replace)."""
    if replace:
        session.execute(delete(DraftRiskFlag).where(col(DraftRiskFlag.draft_id) == draft_id))
    flags = sorted({str(f) for f in triage.get("risk_flags") or [] if f})
    if flags:
        session.execute(insert(DraftRiskFlag), [{"draft_id": draft_id, "flag": f} for f in flags])


def _queue_fields(
    message: Message, request: ReviewRequest, target_hours: float | None, graph_seconds: float | None
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "intent": str(request.triage.get("intent") or "") or None,
        "graph_seconds": graph_seconds,
        "prompt_tokens": int(request.usage.get("prompt_tokens", 0)),
        "completion_tokens": int(request.usage.get("completion_tokens", 0)),
    }
    if target_hours is not None:
        fields["response_target_hours"] = target_hours
        fields["priority"] = priority_of(request.triage, request.route, target_hours)
        fields["due_at"] = due_at(message.received_at, target_hours)
    return fields


def _seconds_between(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())
