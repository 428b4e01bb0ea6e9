from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlmodel import select

from api.db import read_session
from api.deps import ContextDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(ctx: ContextDep) -> dict[str, object]:
    with read_session(ctx.engine) as session:
        session.exec(select(text("1"))).one()
    return {
        "status": "ok",
        "database": ctx.engine.dialect.name,
        "composer": "llm" if ctx.settings.llm_enabled else "offline",
        "worker": ctx.settings.worker_enabled,
    }


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(ctx: ContextDep) -> PlainTextResponse:
    """Prometheus text: queue depth, messages and jobs by status, deliveries by outcome, time to draft,
    time to decision, graph/LLM time, LLM tokens, SLA breaches, and HTTP latency of this process."""
    return PlainTextResponse(ctx.extras["metrics"].render(), media_type=CONTENT_TYPE_LATEST)
