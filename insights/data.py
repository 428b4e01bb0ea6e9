"""One flat row per inbound message in a period: the message, its queue item and its delivery.

Everything insights computes is derived from these rows, so every figure can be reconciled with a
plain SQL count over the same three tables.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.triage import sentiment as lexicon_sentiment
from desk.models import Delivery, Draft, Message
from insights.period import Period

_MENTION = re.compile(r"(?<!\w)@\w+")
_URL = re.compile(r"https?://\S+|www\.\S+")
_SPACE = re.compile(r"\s+")

# Drafts whose reply has gone (or is going) out, and drafts a CM turned down.
APPROVED = ("approved", "delivered", "delivery_failed")
OPEN_DRAFT = ("pending", "regenerating")


def clean_text(text: str) -> str:
    """The words a person wrote: no @mentions or links (they make every tweet to a brand look alike)."""
    return _SPACE.sub(" ", _URL.sub(" ", _MENTION.sub(" ", html.unescape(text)))).strip()


@dataclass
class Item:
    message_id: int
    workspace: str
    platform: str
    text: str
    author: str
    received_at: datetime
    message_status: str
    draft_id: int | None = None
    draft_status: str | None = None
    route: str | None = None
    triage: dict[str, Any] = field(default_factory=dict)
    needs_human_answer: bool = False
    citations: int = 0
    composer: str | None = None
    final_text: str = ""
    drafted_text: str = ""
    decided_at: datetime | None = None
    decided_by: str | None = None
    reject_category: str | None = None
    delivery_status: str | None = None
    delivered_at: datetime | None = None
    sentiment: str = "neutral"
    sentiment_score: float = 0.0

    @property
    def intent(self) -> str:
        return str(self.triage.get("intent") or "untriaged")

    @property
    def is_question(self) -> bool:
        return self.intent == "question" or "?" in self.text

    @property
    def edited(self) -> bool:
        return bool(self.drafted_text.strip()) and self.final_text.strip() != self.drafted_text.strip()

    def retrieval_unsure(self, min_score: float) -> bool:
        """Retrieval found nothing good enough: the composer held, or a reported confidence is low."""
        if self.needs_human_answer:
            return True
        confidence = self.triage.get("retrieval_confidence")
        return isinstance(confidence, int | float) and float(confidence) < min_score

    @property
    def approved(self) -> bool:
        return self.draft_status in APPROVED

    @property
    def answered(self) -> bool:
        """A reply was approved (delivered or on its way) or a CM decided no reply is needed."""
        return self.approved or self.draft_status == "rejected"


def _item(message: Message, draft: Draft | None, delivery: Delivery | None) -> Item:
    item = Item(
        message_id=message.id or 0,
        workspace=message.workspace,
        platform=message.platform,
        text=message.text,
        author=str((message.author or {}).get("handle") or ""),
        received_at=message.received_at,
        message_status=message.status,
    )
    if draft is not None:
        item.draft_id, item.draft_status, item.route = draft.id, draft.status, draft.route
        item.triage = dict(draft.triage or {})
        item.needs_human_answer = draft.needs_human_answer
        item.citations = len(draft.citations or [])
        item.composer = draft.composer
        item.final_text, item.drafted_text = draft.text, draft.drafted_text
        item.decided_at, item.decided_by = draft.decided_at, draft.decided_by
        item.reject_category = draft.reject_category
    if delivery is not None:
        item.delivery_status, item.delivered_at = delivery.status, delivery.delivered_at
    if "sentiment" in item.triage and "sentiment_score" in item.triage:
        item.sentiment = str(item.triage["sentiment"])
        item.sentiment_score = float(item.triage["sentiment_score"])
    else:
        # Not triaged yet (the worker may lag behind a burst): the same lexicon triage uses.
        item.sentiment, item.sentiment_score = lexicon_sentiment(message.text)
    return item


def load_items(engine: Engine, workspace: str, period: Period) -> list[Item]:
    with Session(engine) as session:
        rows = session.exec(
            select(Message, Draft, Delivery)
            .outerjoin(Draft, col(Draft.message_id) == col(Message.id))
            .outerjoin(Delivery, col(Delivery.draft_id) == col(Draft.id))
            .where(
                col(Message.workspace) == workspace,
                col(Message.received_at) >= period.since,
                col(Message.received_at) < period.until,
            )
            .order_by(col(Message.received_at), col(Message.id))
        ).all()
    return [_item(m, d, dl) for m, d, dl in rows]


def workspaces(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(str(w) for w in session.exec(select(col(Message.workspace)).distinct()).all())
