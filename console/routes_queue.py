"""The queue page (filters, sort, keyset paging), its live-update fragment, and bulk decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine

from console.deps import MAX_ID, Form, PageError, Principal, Who
from console.routes_draft import delivery_target
from console.views import page
from desk import errors
from desk.decisions import REJECT_CATEGORIES, bulk_decide
from desk.drafts import DraftFilter, Sort, draft_page
from desk.errors import DeskError, Forbidden
from desk.models import utcnow

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
DRAFT_FIELDS = ("id", "status", "platform", "workspace", "intent", "triage", "priority", "due_at", "assignee",
                "assigned_until", "created_at", "route", "version", "reject_category", "decided_at", "decided_by")
MESSAGE_FIELDS = ("author", "text")
SORTS: dict[str, Sort] = {"priority": "-priority", "due": "due", "newest": "-id"}
STATUSES = ("pending", "regenerating", "approved", "rejected", "delivered", "delivery_failed")
FILTER_NAMES = ("status", "platform", "intent", "route", "risk", "assignee", "breached", "workspace", "reason",
                "sort")
_STATUS_TEXT = {200: "done", 403: "not allowed", 404: "not found", 409: "already decided or claimed",
                412: "changed since you loaded the queue", 400: "refused"}


@dataclass(frozen=True)
class QueueView:
    """The queue's filters as the page's query string gives them."""

    values: dict[str, str]

    @classmethod
    def of(cls, request: Request) -> QueueView:
        return cls({k: request.query_params.get(k, "").strip()[:64] for k in FILTER_NAMES})

    def filter(self, who: Principal) -> DraftFilter:
        v = self.values
        status = v["status"] or "pending"
        assignee = {"me": who.name, "none": "none"}.get(v["assignee"], v["assignee"] or None)
        return DraftFilter(
            statuses=() if status == "all" else (status,), platform=v["platform"] or None,
            intent=v["intent"] or None, route=v["route"] or None, risk_flag=v["risk"] or None, assignee=assignee,
            breached={"yes": True, "no": False}.get(v["breached"]), workspace=v["workspace"] or None,
            reject_category=v["reason"] or None,
        )

    @property
    def sort(self) -> Sort:
        return SORTS.get(self.values["sort"], "-priority")

    def query(self, **changes: str) -> str:
        merged = {k: val for k, val in {**self.values, **changes}.items() if val}
        return urlencode(merged)


def _cursor(sort: Sort, row: dict[str, Any]) -> str:
    value = {"-priority": row["priority"], "due": row["due_at"], "-id": row["id"]}[sort]
    return f"{value.isoformat() if isinstance(value, datetime) else value}~{row['id']}"


def _after(sort: Sort, cursor: str) -> tuple[Any, int] | None:
    value, _, row_id = cursor.rpartition("~")
    try:
        key: Any = datetime.fromisoformat(value) if sort == "due" else int(value)
        if not (0 <= int(row_id) <= MAX_ID and (sort == "due" or abs(key) <= MAX_ID)):
            raise ValueError(cursor)
        return key, int(row_id)
    except ValueError:
        raise PageError(400, "That page link is broken: go back to the first page of the queue.") from None


def queue_rows(engine: Engine, who: Principal, view: QueueView, after: tuple[Any, int] | None, sort: Sort,
               limit: int = PAGE_SIZE) -> Any:
    try:
        return draft_page(engine, view.filter(who), sort=sort, after=after, offset=0, limit=limit, now=utcnow(),
                          draft_fields=DRAFT_FIELDS, message_fields=MESSAGE_FIELDS, scope=who.scope)
    except Forbidden as exc:
        raise PageError(403, exc.detail) from None


@router.get("/", response_class=HTMLResponse)
def queue(request: Request, who: Who) -> HTMLResponse:
    view = QueueView.of(request)
    sort = view.sort
    cursor = request.query_params.get("after", "")
    result = queue_rows(request.app.state.ctx.engine, who, view, _after(sort, cursor) if cursor else None, sort)
    next_link = f"/?{view.query(after=_cursor(sort, result.rows[-1]))}" if result.more and result.rows else None
    newest = max((r["id"] for r in result.rows), default=0)
    return page(request, "queue.html", who, rows=result.rows, count=result.count, view=view.values,
                next_link=next_link, first_link=f"/?{view.query()}" if cursor else None, newest=newest,
                statuses=STATUSES, live_query=view.query(), paged=bool(cursor))


@router.get("/queue/new", response_class=HTMLResponse)
def new_rows(request: Request, who: Who) -> HTMLResponse:
    """Rows of drafts newer than ``since`` matching the page's filters (the page polls this to add them)."""
    view = QueueView.of(request)
    raw = request.query_params.get("since", "0")
    since = min(int(raw), MAX_ID) if raw.isdigit() else 0
    result = queue_rows(request.app.state.ctx.engine, who, view, (since, since), "id", limit=50)
    return page(request, "queue_rows.html", who, rows=result.rows)


@router.post("/bulk")
def bulk(request: Request, who: Who, form: Form) -> Response:
    who.require("cm")
    action = str(form.get("action") or "")
    if action not in ("approve", "reject"):
        raise PageError(400, "Choose approve or reject for the selected drafts.")
    items: list[tuple[int, int, str | None]] = []
    for picked in form.getlist("pick"):
        draft_id, _, version = str(picked).partition(":")
        if draft_id.isdigit() and version.isdigit():
            items.append((int(draft_id), int(version), None))
    if not items:
        raise PageError(400, "Select at least one draft (tick its box) first.")
    category = str(form.get("category") or "") or None
    if action == "reject" and category not in REJECT_CATEGORIES:
        raise PageError(400, "Choose a reason to reject the selected drafts.")
    note = str(form.get("note") or "")[:2000]
    ctx = request.app.state.ctx
    outcomes = bulk_decide(ctx.engine, action, items[:200], note, who.actor, delivery_target(ctx.settings),
                           scope=who.scope, category=category)
    codes = []
    for decided, outcome in outcomes:
        codes.append(f"{decided}.{_code(outcome) if isinstance(outcome, DeskError) else 200}")
    return RedirectResponse(f"/bulk?{urlencode({'action': action, 'results': ','.join(codes)})}", status_code=303)


def _code(exc: DeskError) -> int:
    for cls, code in ((errors.NotFound, 404), (errors.Forbidden, 403), (errors.PreconditionFailed, 412),
                      (errors.Conflict, 409)):
        if isinstance(exc, cls):
            return code
    return 400


@router.get("/bulk", response_class=HTMLResponse)
def bulk_results(request: Request, who: Who) -> HTMLResponse:
    results = []
    for part in request.query_params.get("results", "").split(",")[:200]:
        draft_id, _, code = part.partition(".")
        if draft_id.isdigit() and code.isdigit():
            results.append({"id": int(draft_id), "code": int(code), "text": _STATUS_TEXT.get(int(code), "refused")})
    done = sum(1 for r in results if r["code"] == 200)
    return page(request, "bulk.html", who, results=results, done=done, failed=len(results) - done,
                action=request.query_params.get("action", ""))
