"""Audit rows and the edit history, written inside the transaction of the change they record.

Both tables are append-only in the database itself (triggers, migration 0002): these functions only
ever INSERT.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlmodel import Session

from desk.models import AuditEvent, Draft, DraftVersion
from ground.logs import current_request_id

Actor = tuple[str, str]  # (name, role)
WORKER: Actor = ("system:worker", "system")
RELAY: Actor = ("system:relay", "system")
INGEST: Actor = ("system:ingest", "system")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def audit_draft(
    session: Session,
    draft: Draft,
    actor: Actor,
    action: str,
    *,
    from_version: int | None,
    prev_text: str | None = None,
    **detail: Any,
) -> None:
    """One row per transition of a draft: who, what, from which version to which, text hashes."""
    session.add(
        AuditEvent(
            actor=actor[0], role=actor[1], action=action, draft_id=draft.id, message_id=draft.message_id,
            workspace=draft.workspace, from_version=from_version, to_version=draft.version,
            text_hash=text_hash(draft.text), prev_text_hash=text_hash(prev_text) if prev_text is not None else None,
            request_id=current_request_id(), detail=detail,
        )
    )


def audit_other(session: Session, actor: Actor, action: str, workspace: str | None = None, **detail: Any) -> None:
    """Changes that are not about a draft: keys, workspace settings, webhook sources."""
    session.add(
        AuditEvent(actor=actor[0], role=actor[1], action=action, workspace=workspace,
                   request_id=current_request_id(), detail=detail)
    )


def record_version(session: Session, draft: Draft, action: str, actor: Actor) -> None:
    """Keep this version's text so the history can be listed and diffed."""
    session.add(DraftVersion(draft_id=draft.id or 0, version=draft.version, text=draft.text, action=action,
                             actor=actor[0]))
