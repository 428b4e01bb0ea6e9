"""Reading the queue: one draft with its message, or a filtered, sorted page of drafts.

A queue page is read with one Core SELECT of just the columns the caller shows (drafts joined to their
messages) into plain dicts: building 50 ORM objects and validating each from attributes cost about 10 ms
a page, most of a list request's time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from desk.db import read_session
from desk.errors import NotFound
from desk.models import Draft, DraftRiskFlag, Message
from desk.scope import Scope

OPEN = ("pending", "regenerating")
Sort = Literal["id", "-id", "priority", "-priority", "due", "-due", "created", "-created"]
SORT_FIELD = {"id": "id", "priority": "priority", "due": "due_at", "created": "created_at"}


@dataclass(frozen=True)
class DraftFilter:
    statuses: tuple[str, ...] = ()
    platform: str | None = None
    workspace: str | None = None
    intent: str | None = None
    route: str | None = None
    reject_category: str | None = None
    risk_flag: str | None = None  # a flag among the triage's risk_flags
    assignee: str | None = None  # a CM, or "none" for unclaimed
    min_priority: int | None = None
    due_before: datetime | None = None
    breached: bool | None = None
    message_id: int | None = None

    def conditions(self, now: datetime) -> list[Any]:
        due = col(Draft.due_at)
        out: list[Any] = []
        if self.statuses:
            out.append(col(Draft.status).in_(self.statuses))
        for column, value in ((Draft.platform, self.platform), (Draft.workspace, self.workspace),
                              (Draft.intent, self.intent), (Draft.route, self.route),
                              (Draft.reject_category, self.reject_category),
                              (Draft.message_id, self.message_id)):
            if value is not None and value != "":
                out.append(col(column) == value)
        if self.risk_flag:  # an index lookup in draft_risk_flags (revision 0012), not a scan of the triage JSON
            out.append(col(Draft.id).in_(select(col(DraftRiskFlag.draft_id)).where(
                col(DraftRiskFlag.flag) == self.risk_flag)))
        if self.assignee == "none":
            out.append(or_(col(Draft.assignee).is_(None), col(Draft.assigned_until) < now))
        elif self.assignee:
            out += [col(Draft.assignee) == self.assignee, col(Draft.assigned_until) >= now]
        if self.min_priority is not None:
            out.append(col(Draft.priority) >= self.min_priority)
        if self.due_before is not None:
            out.append(due < self.due_before)
        if self.breached is not None:
            late = col(Draft.status).in_(OPEN) & (due < now)
            out.append(late if self.breached else ~late)
        return out


@dataclass
class DraftPage:
    rows: list[dict[str, Any]]
    count: int
    more: bool  # rows beyond this page exist


def present(fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A draft's stored fields as shown (``fields`` is changed in place and returned): whether its response
    target is breached, and its claim only while it lasts."""
    due, decided = fields.get("due_at"), fields.get("decided_at")
    fields["sla_breached"] = due is not None and (
        (fields["status"] in OPEN and due < now) or (decided is not None and decided > due)
    )
    until = fields.get("assigned_until")
    if until is None or until < now:
        fields["assignee"], fields["assigned_until"] = None, None  # an expired claim is no claim
    return fields


def load_draft(engine: Engine, draft_id: int, *, scope: Scope) -> tuple[Draft, Message | None]:
    with read_session(engine) as session:
        draft = session.get(Draft, draft_id)
        if draft is None:
            raise NotFound("draft not found")
        scope.check_object(draft.workspace, "draft")
        return draft, session.get(Message, draft.message_id)


def _after(key_expr: Any, id_expr: Any, descending: bool, key: Any, row_id: int) -> Any:
    """Rows strictly after (key, id) in the page order (keyset paging)."""
    if descending:
        return or_(key_expr < key, and_(key_expr == key, id_expr < row_id))
    return or_(key_expr > key, and_(key_expr == key, id_expr > row_id))


def draft_page(
    engine: Engine, where: DraftFilter, *, sort: Sort, after: tuple[Any, int] | None, offset: int, limit: int,
    now: datetime, draft_fields: Iterable[str], message_fields: Iterable[str], scope: Scope,
) -> DraftPage:
    """Up to ``limit`` drafts (each with ``message``) holding the named fields, after the keyset ``after``
    (the sort key and id of the previous page's last row) or at ``offset``; ``count`` ignores paging.
    Only drafts within ``scope``; a filter naming a workspace outside it is refused."""
    scope.check_filter(where.workspace)
    name = sort.lstrip("-")
    key_expr = col(getattr(Draft, SORT_FIELD[name]))
    descending = sort.startswith("-")
    conditions = where.conditions(now) + scope.condition(Draft.workspace)
    page = list(conditions)
    if after is not None:
        page.append(_after(key_expr, col(Draft.id), descending, after[0], after[1]))
    order = [key_expr.desc(), col(Draft.id).desc()] if descending else [key_expr.asc(), col(Draft.id).asc()]
    wanted_draft, wanted_message = set(draft_fields), set(message_fields)
    draft_columns = [c for c in Draft.__table__.c if c.name in wanted_draft]  # type: ignore[attr-defined]
    message_columns = [c for c in Message.__table__.c if c.name in wanted_message]  # type: ignore[attr-defined]
    query = (
        select(*draft_columns, *message_columns)
        .join_from(Draft, Message, col(Message.id) == col(Draft.message_id))
        .where(*page).order_by(*order).offset(0 if after is not None else offset).limit(limit + 1)
    )
    split = len(draft_columns)
    draft_names = [c.name for c in draft_columns]
    message_names = [c.name for c in message_columns]
    rows = []
    with read_session(engine) as session:
        count = session.connection().execute(select(func.count()).select_from(Draft).where(*conditions)).scalar_one()
        for row in session.connection().execute(query):
            fields = dict(zip(draft_names, row[:split], strict=True))
            fields["message"] = dict(zip(message_names, row[split:], strict=True))
            rows.append(present(fields, now))
    return DraftPage(rows=rows[:limit], count=int(count), more=len(rows) > limit)
