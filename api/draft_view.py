"""How a draft is shown: its public fields (from desk.drafts.present: SLA breach, live claim) as
``DraftPublic``, for one draft; a page's rows carry exactly the fields named here."""

from __future__ import annotations

from datetime import datetime

from api.schemas import DraftPublic, MessagePublic
from desk.drafts import present
from desk.models import Draft, Message

DRAFT_FIELDS = tuple(DraftPublic.model_fields)
MESSAGE_FIELDS = tuple(MessagePublic.model_fields)


def draft_public(draft: Draft, message: Message | None, now: datetime) -> DraftPublic:
    fields = present(draft.model_dump(), now)
    if message is not None:
        fields["message"] = message.model_dump()
    return DraftPublic.model_validate(fields)
