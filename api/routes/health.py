from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, text
from sqlmodel import Session, col, select

from api.deps import ContextDep
from api.models import Delivery, Draft, Job

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(ctx: ContextDep) -> dict[str, object]:
    with Session(ctx.engine) as session:
        session.exec(select(text("1"))).one()
    return {
        "status": "ok",
        "database": ctx.engine.dialect.name,
        "composer": "llm" if ctx.settings.llm_enabled else "offline",
        "worker": ctx.settings.worker_enabled,
    }


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(ctx: ContextDep) -> str:
    """Prometheus text: queue depth by status, jobs and deliveries by status."""
    lines: list[str] = []
    with Session(ctx.engine) as session:
        for name, model, help_text in (
            ("replydesk_drafts", Draft, "Queue items by status."),
            ("replydesk_jobs", Job, "Jobs by status."),
            ("replydesk_deliveries", Delivery, "Deliveries by status."),
        ):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            rows = session.exec(
                select(col(model.status), func.count()).group_by(col(model.status))
            ).all()
            lines += [f'{name}{{status="{status}"}} {count}' for status, count in rows]
    return "\n".join(lines) + "\n"
