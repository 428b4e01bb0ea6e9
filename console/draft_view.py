"""What the draft page shows besides the draft row: the cited chunks' text, the platform's length limit,
the version history with diffs, what each check means, and the next draft to open after a decision."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from agent.guidelines import platform_profile
from desk.drafts import DraftFilter, draft_page
from desk.models import Draft, DraftVersion, utcnow
from desk.scope import Scope
from knowledge.store import KnowledgeStore

CHECK_MEANING = {
    "block": "Must not be sent as written: edit the draft (or reject it).",
    "warn": "Read this before approving.",
    "info": "For your information.",
}


@dataclass
class DiffLine:
    kind: str  # add | del | same | hunk
    text: str


def diff_lines(before: str, after: str) -> list[DiffLine]:
    out = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append(DiffLine(kind, line))
    return out


def history(versions: list[DraftVersion]) -> list[dict[str, Any]]:
    """Each version with its diff against the one before (newest first)."""
    rows = []
    previous = ""
    for version in versions:
        rows.append({"version": version.version, "action": version.action, "actor": version.actor,
                     "at": version.at, "diff": diff_lines(previous, version.text) if previous else [],
                     "text": version.text})
        previous = version.text
    return list(reversed(rows))


def cited_chunks(store: KnowledgeStore, draft: Draft) -> list[dict[str, Any]]:
    """The draft's citations with the text of the chunk each names (a CM verifies the reply against it)."""
    cites = [c for c in draft.citations if isinstance(c, dict) and c.get("id")]
    found = {c.id: c for c in store.get([str(c["id"]) for c in cites], draft.workspace)} if cites else {}
    out = []
    for cite in cites:
        chunk = found.get(str(cite["id"]))
        out.append({"id": cite["id"], "source": cite.get("source") or (chunk.source if chunk else ""),
                    "title": cite.get("title") or (chunk.title if chunk else ""),
                    "text": chunk.text if chunk else None})
    return out


def char_limit(store: KnowledgeStore, workspace: str, platform: str) -> int:
    guidelines = [g.model_dump() for g in store.by_kind(workspace, "guideline")]
    return platform_profile(platform, guidelines).max_chars


def next_draft(engine: Engine, scope: Scope, after_id: int, actor: str) -> int | None:
    """The most urgent pending draft the CM may take (unclaimed or theirs), other than the one just decided."""
    fields = ("id", "status", "due_at", "decided_at", "assignee", "assigned_until")
    for assignee in (actor, "none"):
        page = draft_page(engine, DraftFilter(statuses=("pending",), assignee=assignee), sort="-priority",
                          after=None, offset=0, limit=2, now=utcnow(), draft_fields=fields, message_fields=(),
                          scope=scope)
        for row in page.rows:
            if row["id"] != after_id:
                return int(row["id"])
    return None


def neighbours(engine: Engine, scope: Scope, draft: Draft) -> tuple[int | None, int | None]:
    """The pending drafts just before and after this one in the queue's default order (priority first)."""
    fields = ("id", "status", "due_at", "decided_at", "assignee", "assigned_until")
    found: list[int | None] = []
    for sort in ("priority", "-priority"):  # ascending from here is the previous one in the queue's order
        page = draft_page(engine, DraftFilter(statuses=("pending",)), sort=sort,
                          after=(draft.priority, draft.id or 0), offset=0, limit=1, now=utcnow(), draft_fields=fields,
                          message_fields=(), scope=scope)
        found.append(int(page.rows[0]["id"]) if page.rows else None)
    return found[0], found[1]
