from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from api.contract import AUTHENTICATED, COMMON, as_json, responses
from api.deps import ContextDep
from api.errors import Unauthorized
from desk import reads

router = APIRouter(tags=["health"], responses=COMMON)


@router.get("/healthz")
def healthz(ctx: ContextDep) -> dict[str, object]:
    reads.ping(ctx.engine)
    return {
        "status": "ok",
        "database": ctx.engine.dialect.name,
        "composer": "llm" if ctx.settings.llm_enabled else "offline",
        "worker": ctx.settings.worker_enabled,
    }


class Readiness(BaseModel):
    status: Literal["ready", "warming"]


@router.get("/readyz", response_model=Readiness,
            responses=responses(COMMON, {503: {"model": Readiness, "description": "Still loading its models"}}))
def readyz(ctx: ContextDep, response: Response) -> Readiness:
    """Ready to take traffic: the database answers and, when this process runs a worker, its models are
    loaded (seconds after start). A load balancer or a deploy script waits for 200 here; /healthz only
    says the process is alive."""
    reads.ping(ctx.engine)
    worker = ctx.extras.get("worker")
    warming = worker is not None and not worker.ready.is_set()
    response.status_code = 503 if warming else 200
    return Readiness(status="warming" if warming else "ready")


@router.get("/metrics", response_class=PlainTextResponse,
            responses=as_json(responses(COMMON, {401: AUTHENTICATED[401]})))
def metrics(ctx: ContextDep, authorization: Annotated[str | None, Header()] = None) -> PlainTextResponse:
    """Prometheus text: queue depth, messages and jobs by status, deliveries by outcome, time to draft,
    time to decision, graph/LLM time, LLM tokens, SLA breaches, and HTTP latency of this process.
    With REPLYDESK_METRICS_TOKEN set, only a scraper sending 'Authorization: Bearer <token>' gets them."""
    token = ctx.settings.metrics_token
    if token and not hmac.compare_digest((authorization or "").encode(), f"Bearer {token}".encode()):
        raise Unauthorized("metrics need 'Authorization: Bearer <REPLYDESK_METRICS_TOKEN>'")
    return PlainTextResponse(ctx.extras["metrics"].render(), media_type=CONTENT_TYPE_LATEST)
