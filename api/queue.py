"""Queue writes that carry logic: submitting messages, recording drafts, and CM decisions.

Every decision is a single conditional UPDATE (status and version must match) so exactly one of any
number of concurrent decisions wins; the outbox row and the resume job commit in the same transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agent.state import ReviewDecision, ReviewRequest
from api.db import session_scope
from api.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from api.models import AuditEvent, Delivery, Draft, Job, Message, utcnow
from api.schemas import MessageCreate


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def submit_message(engine: Engine, body: MessageCreate, workspace: str) -> tuple[Message, bool]:
    """Store a message and its draft job; the same (workspace, platform, external_id) is one message."""
    def existing() -> Message | None:
        with Session(engine) as session:
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
                text=body.text,
                thread=[t.model_dump() for t in body.thread],
                thread_id=body.thread_id,
                public=body.public,
                received_at=body.received_at or utcnow(),
            )
            session.add(message)
            session.flush()
            session.add(Job(kind="draft", dedupe_key=f"draft:{message.id}", message_id=message.id))
    except IntegrityError:
        # A concurrent request stored the same message first.
        found = existing()
        if found is None:
            raise
        return found, False
    return message, True


def record_review(session: Session, message: Message, request: ReviewRequest, thread: str) -> Draft:
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
    if draft is None:
        draft = Draft(
            message_id=message.id or 0, workspace=message.workspace, platform=message.platform,
            graph_thread=thread, **fields,
        )
        session.add(draft)
    elif draft.status == "regenerating":
        for key, value in fields.items():
            setattr(draft, key, value)
        draft.version += 1
        session.add(draft)
    message.status = "drafted"
    session.add(message)
    session.flush()
    return draft


def _claim(
    session: Session, draft_id: int, expected_version: int, new_status: str, **values: Any
) -> Draft:
    """The atomic claim: one conditional UPDATE that only a pending draft at that version passes."""
    result = session.exec(
        update(Draft)
        .where(col(Draft.id) == draft_id, col(Draft.status) == "pending", col(Draft.version) == expected_version)
        .values(status=new_status, version=col(Draft.version) + 1, updated_at=utcnow(), **values)
    )
    if result.rowcount != 1:
        current = session.get(Draft, draft_id)
        if current is None:
            raise NotFound("draft not found")
        if current.status != "pending":
            raise Conflict(f"draft is {current.status}, not pending")
        raise PreconditionFailed(f"draft is at version {current.version}, not {expected_version}")
    draft = session.get(Draft, draft_id)
    assert draft is not None
    session.refresh(draft)
    return draft


def _audit(session: Session, draft: Draft, actor: tuple[str, str], action: str, **detail: Any) -> None:
    session.add(
        AuditEvent(
            actor=actor[0], role=actor[1], action=action, draft_id=draft.id, message_id=draft.message_id,
            from_version=draft.version - 1, to_version=draft.version, text_hash=text_hash(draft.text),
            request_id=detail.pop("request_id", None), detail=detail,
        )
    )


def _resume_job(session: Session, draft: Draft, decision: ReviewDecision) -> None:
    session.add(
        Job(
            kind="resume", dedupe_key=f"resume:{draft.id}:{draft.version}", message_id=draft.message_id,
            draft_id=draft.id, payload=decision.model_dump(),
        )
    )


def edit_draft(engine: Engine, draft_id: int, version: int, text: str, actor: tuple[str, str]) -> Draft:
    with session_scope(engine) as session:
        draft = _claim(session, draft_id, version, "pending", text=text)
        _audit(session, draft, actor, "edit")
        return draft


def approve_draft(
    engine: Engine, draft_id: int, version: int, text: str | None, actor: tuple[str, str], target: str
) -> Draft:
    with session_scope(engine) as session:
        current = session.get(Draft, draft_id)
        if current is None:
            raise NotFound("draft not found")
        final = (text if text is not None else current.text).strip()
        if not final:
            raise BadRequest("nothing to send: give the reply text to approve this item")
        draft = _claim(session, draft_id, version, "approved", text=final, decided_at=utcnow(), decided_by=actor[0])
        session.add(
            Delivery(
                uid=str(uuid.uuid4()), draft_id=draft.id or 0, message_id=draft.message_id,
                workspace=draft.workspace, platform=draft.platform, text=final, target=target,
            )
        )
        _resume_job(session, draft, ReviewDecision(action="approve", text=final, actor=actor[0]))
        _audit(session, draft, actor, "approve")
        return draft


def reject_draft(engine: Engine, draft_id: int, version: int, reason: str, actor: tuple[str, str]) -> Draft:
    with session_scope(engine) as session:
        draft = _claim(
            session, draft_id, version, "rejected", reject_reason=reason, decided_at=utcnow(), decided_by=actor[0]
        )
        _resume_job(session, draft, ReviewDecision(action="reject", reason=reason, actor=actor[0]))
        _audit(session, draft, actor, "reject", reason=reason)
        return draft


def regenerate_draft(
    engine: Engine, draft_id: int, version: int, instructions: str, actor: tuple[str, str]
) -> Draft:
    with session_scope(engine) as session:
        draft = _claim(session, draft_id, version, "regenerating")
        if draft.route != "draft":
            raise Conflict(f"a {draft.route} item has no draft to regenerate")
        _resume_job(
            session, draft, ReviewDecision(action="regenerate", instructions=instructions, actor=actor[0])
        )
        _audit(session, draft, actor, "regenerate", instructions=instructions)
        return draft
