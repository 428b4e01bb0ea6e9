"""Reads the API serves besides the queue page: one message, deliveries, a draft's versions, the audit log,
eval runs, and the database ping of the health check. Each returns rows; the caller shapes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from desk.db import read_session
from desk.errors import Forbidden, NotFound
from desk.eval_tables import EvalCaseResult, EvalRun
from desk.models import AuditEvent, Delivery, Draft, DraftVersion, Message
from desk.scope import Scope


def ping(engine: Engine) -> None:
    with read_session(engine) as session:
        session.exec(select(text("1"))).one()


def get_message(engine: Engine, message_id: int, *, scope: Scope) -> Message:
    with read_session(engine) as session:
        message = session.get(Message, message_id)
    if message is None:
        raise NotFound("message not found")
    scope.check_object(message.workspace, "message")
    return message


def list_deliveries(
    engine: Engine, *, draft_id: int | None, status: str | None, offset: int, limit: int, scope: Scope,
    workspace: str | None = None,
) -> tuple[list[Delivery], int]:
    scope.check_filter(workspace)
    conditions: list[Any] = scope.condition(Delivery.workspace)
    if workspace:
        conditions.append(col(Delivery.workspace) == workspace)
    if draft_id is not None:
        conditions.append(col(Delivery.draft_id) == draft_id)
    if status:
        conditions.append(col(Delivery.status) == status)
    with read_session(engine) as session:
        count = session.exec(select(func.count()).select_from(Delivery).where(*conditions)).one()
        rows = session.exec(
            select(Delivery).where(*conditions).order_by(col(Delivery.id)).offset(offset).limit(limit)
        ).all()
    return list(rows), int(count)


def get_delivery(engine: Engine, delivery_id: int, *, scope: Scope) -> Delivery:
    with read_session(engine) as session:
        row = session.get(Delivery, delivery_id)
    if row is None:
        raise NotFound("delivery not found")
    scope.check_object(row.workspace, "delivery")
    return row


def draft_versions(engine: Engine, draft_id: int, *, scope: Scope) -> list[DraftVersion]:
    with read_session(engine) as session:
        draft = session.get(Draft, draft_id)
        if draft is None:
            raise NotFound("draft not found")
        scope.check_object(draft.workspace, "draft")
        return list(session.exec(
            select(DraftVersion).where(col(DraftVersion.draft_id) == draft_id).order_by(col(DraftVersion.version))
        ).all())


def audit_events(
    engine: Engine, *, draft_id: int | None = None, actor: str | None = None, action: str | None = None,
    workspace: str | None = None, request_id: str | None = None, since: datetime | None = None,
    after_id: int | None = None, limit: int = 100, scope: Scope,
) -> list[AuditEvent]:
    """Events oldest first, after ``after_id`` (keyset paging by id). A scoped caller sees its workspaces'
    events only (installation events, such as key changes, have no workspace: ``*`` callers see them)."""
    scope.check_filter(workspace)
    conditions: list[Any] = scope.condition(AuditEvent.workspace)
    for column, value in ((AuditEvent.draft_id, draft_id), (AuditEvent.actor, actor), (AuditEvent.action, action),
                          (AuditEvent.workspace, workspace), (AuditEvent.request_id, request_id)):
        if value is not None and value != "":
            conditions.append(col(column) == value)
    if since is not None:
        conditions.append(col(AuditEvent.at) >= since)
    if after_id is not None:
        conditions.append(col(AuditEvent.id) > after_id)
    with read_session(engine) as session:
        return list(session.exec(
            select(AuditEvent).where(*conditions).order_by(col(AuditEvent.id)).limit(limit)
        ).all())


def _installation_only(scope: Scope) -> None:
    """Eval runs are installation-level: a run spans suites whose cases may be promoted from any
    workspace's drafts (evals/promote.py), so only installation-wide (``*``) keys read them."""
    if not scope.everywhere:
        raise Forbidden("eval runs are installation-level: they need an installation-wide ('*') key")


def eval_runs(
    engine: Engine, *, suite: str | None, status: str | None, offset: int, limit: int, scope: Scope
) -> tuple[list[EvalRun], int]:
    """Newest first."""
    _installation_only(scope)
    conditions: list[Any] = []
    if status:
        conditions.append(col(EvalRun.status) == status)
    query = select(EvalRun).where(*conditions).order_by(col(EvalRun.id).desc())
    with read_session(engine) as session:
        if suite:
            # Suites are a JSON list; filtering in Python keeps this portable across SQLite and Postgres.
            rows = [r for r in session.exec(query).all() if suite in r.suites]
            return rows[offset: offset + limit], len(rows)
        count = session.exec(select(func.count()).select_from(EvalRun).where(*conditions)).one()
        return list(session.exec(query.offset(offset).limit(limit)).all()), int(count)


def eval_run(
    engine: Engine, run_id: int, verdict: str | None = None, *, scope: Scope
) -> tuple[EvalRun, list[EvalCaseResult]]:
    _installation_only(scope)
    with read_session(engine) as session:
        run = session.get(EvalRun, run_id)
        if run is None:
            raise NotFound("eval run not found")
        query = select(EvalCaseResult).where(col(EvalCaseResult.run_id) == run_id)
        if verdict:
            query = query.where(col(EvalCaseResult.verdict) == verdict)
        return run, list(session.exec(query.order_by(col(EvalCaseResult.id))).all())
