"""The draft page and its actions: edit, approve (then the next draft), reject with a reason, regenerate,
claim / release. A stale version or a decided draft shows what changed and keeps the CM's text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from console.deps import Form, PageError, Principal, Who, bounded
from console.draft_view import CHECK_MEANING, char_limit, cited_chunks, diff_lines, history, neighbours, next_draft
from console.views import page
from desk import decisions
from desk.drafts import load_draft, present
from desk.errors import Conflict, DeskError, PreconditionFailed
from desk.models import utcnow
from desk.reads import draft_versions
from ground.redact import redact_url
from ground.settings import Settings

router = APIRouter(include_in_schema=False)
MAX_TEXT = 20_000
Decide = Callable[[Any, int, int, "str | None"], None]  # (app context, draft id, version, CM's text)


def delivery_target(settings: Settings) -> str:
    """Recorded on the outbox row for the CM's information (as the JSON API records it)."""
    return redact_url(settings.webhook_url) if settings.webhook_url else f"log:{settings.delivery_log}"


def _draft_context(request: Request, who: Principal, draft_id: int) -> dict[str, Any]:
    ctx = request.app.state.ctx
    draft, message = load_draft(ctx.engine, draft_id, scope=who.scope)
    shown = present(draft.model_dump(), utcnow())
    previous, following = neighbours(ctx.engine, who.scope, draft)
    checks = sorted(draft.checks, key=lambda c: (bool(c.get("passed")), c.get("severity") != "block"))
    return {
        "previous": previous, "following": following, "checks": checks,
        "draft": draft, "shown": shown, "message": message, "chunks": cited_chunks(ctx.store, draft),
        "limit": char_limit(ctx.store, draft.workspace, draft.platform),
        "history": history(draft_versions(ctx.engine, draft_id, scope=who.scope)),
        "check_meaning": CHECK_MEANING, "held_by_other": shown["assignee"] not in (None, who.name),
        "mine": shown["assignee"] == who.name,
    }


@router.get("/drafts/{draft_id}", response_class=HTMLResponse)
def draft_page(request: Request, who: Who, draft_id: int) -> HTMLResponse:
    draft_id = bounded(draft_id, "draft")
    return page(request, "draft.html", who, **_draft_context(request, who, draft_id))


@router.get("/drafts/{draft_id}/state")
def draft_state(request: Request, who: Who, draft_id: int) -> JSONResponse:
    """What the draft page polls: has the draft moved on since the page was loaded (someone else's edit,
    decision or claim)? The page says so without touching the CM's own text."""
    draft_id = bounded(draft_id, "draft")
    draft, _message = load_draft(request.app.state.ctx.engine, draft_id, scope=who.scope)
    shown = present({"status": draft.status, "due_at": draft.due_at, "decided_at": draft.decided_at,
                     "assignee": draft.assignee, "assigned_until": draft.assigned_until}, utcnow())
    return JSONResponse({"version": draft.version, "status": draft.status, "assignee": shown["assignee"],
                         "by": draft.decided_by or draft.last_editor or ""},
                        headers={"Cache-Control": "no-store"})


def _version(form: Any) -> int:
    raw = str(form.get("version") or "")
    if not raw.isdigit():
        raise PageError(400, "The form lost the draft's version: reload the page.")
    return int(raw)


def _conflict(request: Request, who: Principal, draft_id: int, exc: DeskError, attempted: str,
              mine: str | None, loaded: int) -> HTMLResponse:
    """The draft as it is now, what changed since the CM loaded it, and the CM's own text to re-apply."""
    context = _draft_context(request, who, draft_id)
    current = context["draft"]
    changes = [v for v in context["history"] if v["version"] > loaded]
    return page(request, "draft.html", who, status_code=409 if isinstance(exc, Conflict) else 412,
                conflict={"detail": exc.detail, "attempted": attempted, "mine": mine, "loaded": loaded,
                          "changes": changes,
                          "diff": diff_lines(current.text, mine) if mine is not None else []},
                **context)


def _act(who: Principal, form: Any) -> tuple[int, str | None]:
    """A decision's inputs: the version the CM's page showed and the text it posted (as typed)."""
    who.require("cm")
    text = form.get("text")
    mine = str(text).replace("\r\n", "\n")[:MAX_TEXT] if text is not None else None
    return _version(form), mine


def _decide(request: Request, who: Principal, form: Any, draft_id: int, attempted: str, decide: Decide, *,
            flash: str, advance: bool = False, last: str | None = None) -> Response:
    """One decision from the draft page: the CM's version and text, the call, then the page to show.

    A stale version or a decided draft answers with the conflict view (409/412) and keeps the CM's text;
    with advance, a form asking for ``then=next`` goes on to the next draft (or to ``last`` when none is
    left)."""
    draft_id = bounded(draft_id, "draft")
    version, mine = _act(who, form)
    ctx = request.app.state.ctx
    try:
        decide(ctx, draft_id, version, mine)
    except (Conflict, PreconditionFailed) as exc:
        return _conflict(request, who, draft_id, exc, attempted, mine, version)
    if advance and form.get("then") == "next":
        following = next_draft(ctx.engine, who.scope, draft_id, who.name)
        if following is not None:
            return RedirectResponse(f"/drafts/{following}?flash={flash}", status_code=303)
        if last is not None:
            return RedirectResponse(last, status_code=303)
    return RedirectResponse(f"/drafts/{draft_id}?flash={flash}", status_code=303)


@router.post("/drafts/{draft_id}/approve")
def approve(request: Request, who: Who, form: Form, draft_id: int) -> Response:
    def decide(ctx: Any, draft_id: int, version: int, mine: str | None) -> None:
        decisions.approve_draft(ctx.engine, draft_id, version, mine, who.actor, delivery_target(ctx.settings),
                                scope=who.scope)

    return _decide(request, who, form, draft_id, "approve", decide, flash="approved", advance=True,
                   last="/?flash=approved-last")


@router.post("/drafts/{draft_id}/edit")
def edit(request: Request, who: Who, form: Form, draft_id: int) -> Response:
    def decide(ctx: Any, draft_id: int, version: int, mine: str | None) -> None:
        if not (mine or "").strip():
            raise PageError(400, "The reply is empty: write something, or reject the draft.")
        decisions.edit_draft(ctx.engine, draft_id, version, mine or "", who.actor, scope=who.scope)

    return _decide(request, who, form, draft_id, "edit", decide, flash="edited")


@router.post("/drafts/{draft_id}/reject")
def reject(request: Request, who: Who, form: Form, draft_id: int) -> Response:
    def decide(ctx: Any, draft_id: int, version: int, _mine: str | None) -> None:
        category = str(form.get("category") or "")
        if category not in decisions.REJECT_CATEGORIES:
            raise PageError(400, "Choose a reason for rejecting the draft.")
        decisions.reject_draft(ctx.engine, draft_id, version, str(form.get("note") or "")[:2000], who.actor,
                               scope=who.scope, category=category)

    return _decide(request, who, form, draft_id, "reject", decide, flash="rejected", advance=True)


@router.post("/drafts/{draft_id}/regenerate")
def regenerate(request: Request, who: Who, form: Form, draft_id: int) -> Response:
    def decide(ctx: Any, draft_id: int, version: int, _mine: str | None) -> None:
        decisions.regenerate_draft(ctx.engine, draft_id, version, str(form.get("instructions") or "")[:2000],
                                   who.actor, scope=who.scope)

    return _decide(request, who, form, draft_id, "regenerate", decide, flash="regenerating")


@router.post("/drafts/{draft_id}/claim")
def claim(request: Request, who: Who, form: Form, draft_id: int) -> Response:
    release = form.get("release") == "1"

    def decide(ctx: Any, draft_id: int, version: int, _mine: str | None) -> None:
        decisions.assign_draft(ctx.engine, draft_id, version, None if release else who.name,
                               0 if release else ctx.settings.claim_minutes, who.actor, scope=who.scope)

    return _decide(request, who, form, draft_id, "release" if release else "claim", decide,
                   flash="released" if release else "claimed")
