"""How a draft is shown: the public fields, SLA breach and live claim, for one draft or a page of them.

A queue page is read with one Core SELECT of just the public columns (drafts joined to their messages)
into plain dicts, validated once by pydantic and serialised by pydantic-core: building 50 ORM objects
and validating each from attributes cost about 10 ms a page, most of a list request's time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from api.models import Draft, Message
from api.schemas import DraftPublic, MessagePublic

OPEN = ("pending", "regenerating")
_DRAFT_COLUMNS = [c for c in Draft.__table__.c if c.name in DraftPublic.model_fields]  # type: ignore[attr-defined]
_MESSAGE_COLUMNS = [c for c in Message.__table__.c if c.name in MessagePublic.model_fields]  # type: ignore[attr-defined]
_DRAFT_NAMES = [c.name for c in _DRAFT_COLUMNS]
_MESSAGE_NAMES = [c.name for c in _MESSAGE_COLUMNS]


def present(fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A draft's stored fields as the API shows them (``fields`` is changed in place and returned)."""
    due, decided = fields.get("due_at"), fields.get("decided_at")
    fields["sla_breached"] = due is not None and (
        (fields["status"] in OPEN and due < now) or (decided is not None and decided > due)
    )
    until = fields.get("assigned_until")
    if until is None or until < now:
        fields["assignee"], fields["assigned_until"] = None, None  # an expired claim is no claim
    return fields


def draft_public(draft: Draft, message: Message | None, now: datetime) -> DraftPublic:
    fields = present(draft.model_dump(), now)
    if message is not None:
        fields["message"] = message.model_dump()
    return DraftPublic.model_validate(fields)


def fetch_page(session: Session, where: list[Any], order: list[Any], offset: int, limit: int,
               now: datetime) -> list[dict[str, Any]]:
    """Up to ``limit`` drafts (with their messages) as dicts ready for ``DraftPublic``."""
    query = (
        select(*_DRAFT_COLUMNS, *_MESSAGE_COLUMNS)
        .join_from(Draft, Message, col(Message.id) == col(Draft.message_id))
        .where(*where).order_by(*order).offset(offset).limit(limit)
    )
    split = len(_DRAFT_COLUMNS)
    page = []
    for row in session.connection().execute(query):
        fields = dict(zip(_DRAFT_NAMES, row[:split], strict=True))
        fields["message"] = dict(zip(_MESSAGE_NAMES, row[split:], strict=True))
        page.append(present(fields, now))
    return page
