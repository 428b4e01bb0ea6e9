"""CM decisions on drafts: edit, approve, reject, regenerate, claim/assign, and bulk decisions.

Every write is one conditional UPDATE (status, version and lock must match) so exactly one of any
number of concurrent writes wins; an approval's outbox row, resume job, history and audit rows commit
in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.state import ReviewDecision
from desk import wake
from desk.audit import Actor, audit_draft, record_version
from desk.db import session_scope
from desk.errors import BadRequest, Conflict, DeskError, Forbidden, NotFound, PreconditionFailed
from desk.models import Delivery, Draft, Job, WorkspaceConfig, utcnow
from desk.scope import Scope
from desk.workspaces import with_defaults

ACTIVE = "pending"
# Why a CM rejects a draft: stored in drafts.reject_category, filterable in the queue, counted in insights.
REJECT_CATEGORIES = {
    "incorrect": "Incorrect: states something wrong",
    "inappropriate": "Inappropriate: tone or content not fit to send",
    "incomplete": "Incomplete: leaves part of the question unanswered",
    "outdated": "Outdated: the source or the answer is no longer true",
    "already_answered": "Already answered elsewhere",
    "other": "Other (say why in the note)",
}


def _lock_free(actor: Actor, now: datetime) -> Any:
    """SQL condition: nobody else holds an unexpired claim on the draft."""
    return or_(col(Draft.assignee).is_(None), col(Draft.assignee) == actor[0], col(Draft.assigned_until) < now)


def _visible(session: Session, draft_id: int, scope: Scope) -> Draft:
    """The draft, if it exists within the caller's scope (outside it, it does not exist for them)."""
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise NotFound("draft not found")
    scope.check_object(draft.workspace, "draft")
    return draft


def _claim(
    session: Session, draft_id: int, expected_version: int, new_status: str, actor: Actor,
    *, scope: Scope, ignore_lock: bool = False, **values: Any,
) -> tuple[Draft, str]:
    """The atomic write: one conditional UPDATE that only a pending, unlocked draft at that version passes.

    Returns the updated draft and its text before the write (for the audit's text hashes).
    """
    now = utcnow()
    before = _visible(session, draft_id, scope)
    prev_text = before.text
    conditions = [col(Draft.id) == draft_id, col(Draft.status) == ACTIVE, col(Draft.version) == expected_version]
    if not ignore_lock:
        conditions.append(_lock_free(actor, now))
    write = update(Draft).where(*conditions).values(status=new_status, version=col(Draft.version) + 1,
                                                    updated_at=now, **values)
    if session.get_bind().dialect.update_returning:
        # One statement: the UPDATE hands back the new row (no second SELECT to refresh it).
        done = session.exec(write.returning(Draft),
                            execution_options={"populate_existing": True}).scalars().all()
        if done:
            return done[0], prev_text
        updated = 0
    else:
        updated = session.exec(write).rowcount
    if updated != 1:
        session.refresh(before)
        if before.status != ACTIVE:
            raise Conflict(f"draft is {before.status}, not pending")
        if before.version != expected_version:
            raise PreconditionFailed(f"draft is at version {before.version}, not {expected_version}")
        until = before.assigned_until.isoformat() if before.assigned_until else "?"
        raise Conflict(f"draft is claimed by {before.assignee} until {until}")
    session.refresh(before)
    return before, prev_text


def _resume_job(session: Session, draft: Draft, decision: ReviewDecision) -> None:
    session.add(
        Job(
            kind="resume", dedupe_key=f"resume:{draft.id}:{draft.version}", message_id=draft.message_id,
            draft_id=draft.id, payload=decision.model_dump(),
        )
    )


def _decision_seconds(draft: Draft) -> float:
    return max(0.0, (utcnow() - draft.created_at).total_seconds())


def edit_draft(engine: Engine, draft_id: int, version: int, text: str, actor: Actor, *, scope: Scope) -> Draft:
    with session_scope(engine) as session:
        draft, prev = _claim(session, draft_id, version, ACTIVE, actor, scope=scope, text=text,
                             last_editor=actor[0])
        record_version(session, draft, "edit", actor)
        audit_draft(session, draft, actor, "edit", from_version=version, prev_text=prev)
        return draft


def approve_draft(
    engine: Engine, draft_id: int, version: int, text: str | None, actor: Actor, target: str = "", *, scope: Scope
) -> Draft:
    with session_scope(engine) as session:
        # The draft and its workspace's config in one query.
        found = session.exec(
            select(Draft, WorkspaceConfig)
            .outerjoin(WorkspaceConfig, col(WorkspaceConfig.workspace) == col(Draft.workspace))
            .where(col(Draft.id) == draft_id)
        ).first()
        if found is None:
            raise NotFound("draft not found")
        current, stored = found
        scope.check_object(current.workspace, "draft")
        final = (text if text is not None else current.text).strip()
        if not final:
            raise BadRequest("nothing to send: give the reply text to approve this item")
        if current.version == version and with_defaults(stored, current.workspace).four_eyes:
            if current.last_editor == actor[0]:
                raise Forbidden("four-eyes rule: the last editor of a draft cannot approve it")
            if final != current.text.strip():
                raise Forbidden("four-eyes rule: approve the text as it stands, or edit it for someone else to approve")
        draft, prev = _claim(
            session, draft_id, version, "approved", actor, scope=scope, text=final, decided_at=utcnow(),
            decided_by=actor[0], decision_seconds=_decision_seconds(current),
        )
        session.add(
            Delivery(
                uid=str(uuid.uuid4()), draft_id=draft.id or 0, message_id=draft.message_id,
                workspace=draft.workspace, platform=draft.platform, text=final, target=target,
            )
        )
        _resume_job(session, draft, ReviewDecision(action="approve", text=final, actor=actor[0]))
        record_version(session, draft, "approve", actor)
        audit_draft(session, draft, actor, "approve", from_version=version, prev_text=prev)
    wake.outbox.notify()  # committed: this process's relay delivers it now rather than at its next idle probe
    return draft


def reject_draft(
    engine: Engine, draft_id: int, version: int, reason: str, actor: Actor, *, scope: Scope,
    category: str | None = None,
) -> Draft:
    """Reject with a free-text reason and, optionally, its category (one of ``REJECT_CATEGORIES``; "other"
    needs the reason to say why)."""
    if category is not None and category not in REJECT_CATEGORIES:
        raise BadRequest(f"unknown reject category {category!r}; expected one of {', '.join(REJECT_CATEGORIES)}")
    if category == "other" and not reason.strip():
        raise BadRequest("a rejection for another reason needs a note saying why")
    reason = reason.strip() or (REJECT_CATEGORIES[category] if category else "")
    with session_scope(engine) as session:
        current = _visible(session, draft_id, scope)
        draft, prev = _claim(
            session, draft_id, version, "rejected", actor, scope=scope, reject_reason=reason,
            reject_category=category, decided_at=utcnow(), decided_by=actor[0],
            decision_seconds=_decision_seconds(current),
        )
        _resume_job(session, draft, ReviewDecision(action="reject", reason=reason, actor=actor[0]))
        record_version(session, draft, "reject", actor)
        audit_draft(session, draft, actor, "reject", from_version=version, prev_text=prev, reason=reason,
                    category=category)
        return draft


def regenerate_draft(
    engine: Engine, draft_id: int, version: int, instructions: str, actor: Actor, *, scope: Scope
) -> Draft:
    with session_scope(engine) as session:
        draft, prev = _claim(session, draft_id, version, "regenerating", actor, scope=scope)
        if draft.route != "draft":
            raise Conflict(f"a {draft.route} item has no draft to regenerate")
        _resume_job(
            session, draft, ReviewDecision(action="regenerate", instructions=instructions, actor=actor[0])
        )
        record_version(session, draft, "regenerate", actor)
        audit_draft(session, draft, actor, "regenerate", from_version=version, prev_text=prev,
                    instructions=instructions)
        return draft


def assign_draft(
    engine: Engine, draft_id: int, version: int, assignee: str | None, minutes: float, actor: Actor, *,
    scope: Scope,
) -> Draft:
    """Claim (assignee = actor), assign to someone else, or release (assignee None) with an expiring lock.

    A claim held by someone else blocks this unless it expired or the actor is an admin.
    """
    until = utcnow() + timedelta(minutes=minutes) if assignee else None
    with session_scope(engine) as session:
        draft, _prev = _claim(
            session, draft_id, version, ACTIVE, actor, scope=scope, ignore_lock=actor[1] == "admin",
            assignee=assignee, assigned_until=until,
        )
        record_version(session, draft, "assign" if assignee else "release", actor)
        audit_draft(session, draft, actor, "assign" if assignee else "release", from_version=version,
                    assignee=assignee, until=until.isoformat() if until else None)
        return draft


def bulk_decide(
    engine: Engine, action: str, items: list[tuple[int, int, str | None]], reason: str | None, actor: Actor,
    target: str = "", *, scope: Scope, category: str | None = None,
) -> list[tuple[int, Draft | DeskError]]:
    """Each item in its own transaction, so one stale or decided item does not undo the others: every
    item gets the decided draft or the named error that refused it."""
    results: list[tuple[int, Draft | DeskError]] = []
    for draft_id, version, text in items:
        try:
            if action == "approve":
                results.append((draft_id, approve_draft(engine, draft_id, version, text, actor, target,
                                                             scope=scope)))
            else:
                results.append((draft_id, reject_draft(engine, draft_id, version, reason or "", actor,
                                                            scope=scope, category=category)))
        except DeskError as exc:
            results.append((draft_id, exc))
    return results
