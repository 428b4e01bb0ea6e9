"""Rendering: the Jinja2 environment, the page helper, and small display filters (time left, excerpts)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from console.deps import Principal
from desk.decisions import REJECT_CATEGORIES
from desk.models import utcnow

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

FLASH = {
    "approved": "Approved: the reply is on its way.",
    "approved-last": "Approved. That was the last pending draft in your queue.",
    "rejected": "Rejected.",
    "edited": "Saved your edit.",
    "claimed": "You hold this draft now.",
    "released": "Released the draft.",
    "regenerating": "Regenerating: the new draft appears in the queue shortly.",
    "signed-out": "Signed out.",
    "deleted": "Document deleted.",
    "gap-accepted": "Suggestion accepted: the answer is in the knowledge base.",
    "gap-dismissed": "Suggestion dismissed.",
    "revoked": "Key revoked.",
    "saved": "Saved.",
}


def aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def time_left(due: datetime | None, now: datetime | None = None) -> str:
    """'2 h 05 min left', or '35 min late'."""
    due = aware(due)
    if due is None:
        return "no target"
    seconds = int((due - (now or utcnow())).total_seconds())
    late = seconds < 0
    minutes = abs(seconds) // 60
    text = f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
    return f"{text} late" if late else f"{text} left"


def clock(value: datetime | None) -> str:
    value = aware(value)
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def excerpt(text: str | None, size: int = 140) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= size else text[: size - 1].rstrip() + "…"


def author_of(author: dict[str, Any] | None) -> str:
    author = author or {}
    handle = author.get("handle") or author.get("id") or "someone"
    name = author.get("display_name")
    return f"{name} (@{handle})" if name else f"@{handle}"


templates.env.filters.update(time_left=time_left, clock=clock, excerpt=excerpt, author=author_of)
templates.env.globals.update(REJECT_CATEGORIES=REJECT_CATEGORIES)


def page(request: Request, name: str, who: Principal | None, status_code: int = 200, **values: Any) -> HTMLResponse:
    flash = FLASH.get(request.query_params.get("flash", ""))
    return templates.TemplateResponse(request, name, {"who": who, "flash": flash, "now": utcnow(), **values},
                                      status_code=status_code)
