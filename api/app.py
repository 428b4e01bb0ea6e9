"""The FastAPI application: routes, error translation, and the in-process worker and relay."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from agent.errors import AgentError
from agent.graph import AgentRuntime
from agent.runner import ReplyRunner
from api.context import AppContext
from api.errors import ApiError, status_of
from api.gate import WriteGate
from api.idempotency import IdempotencyMiddleware
from api.limits import BodyLimitMiddleware
from api.logs import RequestIdMiddleware
from api.metrics import Metrics
from api.routes import (
    audit,
    connectors,
    deliveries,
    documents,
    draft_actions,
    drafts,
    evals,
    health,
    insights,
    keys,
    knowledge,
    messages,
    triage,
    webhooks,
    workspaces,
)
from connectors.delivery import ConnectorSender
from connectors.runner import ConnectorRunner
from console.router import error_page, is_console
from console.router import install as install_console
from desk.db import migrate
from desk.idempotency import purge_expired
from desk.relay import Relay
from desk.worker import Worker
from ground import heap
from ground.settings import Settings, get_settings
from knowledge.errors import KnowledgeError

log = logging.getLogger("replydesk.api")


def _describe(errors: list[dict[str, object]]) -> str:
    parts = []
    for error in errors:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body")  # type: ignore[attr-defined]
        parts.append(f"{loc or 'body'}: {error.get('msg')}")
    return "; ".join(parts)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        if is_console(request.url.path):  # the console's pages answer with a page, not JSON
            return error_page(request, status_of(exc), exc.detail)
        return JSONResponse({"detail": exc.detail}, status_code=status_of(exc))

    @app.exception_handler(KnowledgeError)
    async def _knowledge_error(_request: Request, exc: KnowledgeError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse({"detail": _describe(errors), "errors": errors}, status_code=422)

    @app.exception_handler(AgentError)
    async def _agent_error(_request: Request, exc: AgentError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse({"detail": "internal error"}, status_code=500)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        heap.limit_arenas(settings.malloc_arenas)  # before this process starts its threads
        migrate(settings)
        ctx = AppContext.build(settings)
        ctx.extras["metrics"] = Metrics(ctx.engine, settings.metrics_cache_seconds)
        app.state.ctx = ctx
        stop = threading.Event()
        threads: list[threading.Thread] = [threading.Thread(
            target=_housekeeping, args=(ctx, stop), name="replydesk-housekeeping", daemon=True)]
        runner: ReplyRunner | None = None
        relay: Relay | None = None
        if settings.worker_enabled:
            runner = ReplyRunner(settings, AgentRuntime.from_settings(settings))
            worker = Worker(settings, ctx.engine, runner)
            ctx.extras["worker"] = worker
            threads.append(
                threading.Thread(target=worker.run_forever, args=(stop,), name="replydesk-worker", daemon=True)
            )
        if settings.relay_enabled:
            relay = Relay(settings, ctx.engine, platforms=ConnectorSender(settings, ctx.engine))
            threads.append(
                threading.Thread(target=relay.run_forever, args=(stop,), name="replydesk-relay", daemon=True)
            )
        if settings.connectors_enabled:
            connector_runner = ConnectorRunner(settings, ctx.engine)
            threads.append(threading.Thread(target=connector_runner.run_forever, args=(stop,),
                                            name="replydesk-connectors", daemon=True))
        # Everything loaded so far (models, graph, libraries: a large heap) lives as long as the server;
        # frozen, a full collection no longer walks it. Unfrozen, each gen-2 collection paused every
        # request for 100-250 ms, which was the whole p99 of the queue benchmark.
        gc.collect()
        gc.freeze()
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            if relay is not None:
                relay.close()
            if runner is not None:
                runner.close()
            ctx.engine.dispose()

    app = FastAPI(title="Replydesk", version="0.1.0", lifespan=lifespan)
    _install_error_handlers(app)
    # draft_actions before drafts: POST /v1/drafts/bulk must not be read as a draft id.
    for module in (health, messages, draft_actions, drafts, deliveries, knowledge, keys, audit, workspaces,
                   webhooks, connectors, evals, triage, insights, documents):
        app.include_router(module.router)
    install_console(app)  # the web console at / (console/): pages, forms and its static files
    # Outermost first: request id; body caps; authentication of writes (nothing is read before it);
    # idempotency (authenticated callers only, body read through the cap).
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(WriteGate)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RequestIdMiddleware, observe=_observe)  # outermost: every answer has a request id
    return app


def _housekeeping(ctx: AppContext, stop: threading.Event) -> None:
    """Scheduled clean-up of this installation's expired rows (every API process may run it: it is a
    DELETE ... WHERE expired, safe to repeat)."""
    while not stop.wait(ctx.settings.housekeeping_seconds):
        try:
            purged = purge_expired(ctx.engine)
            if purged:
                log.info("purged %s expired idempotency records", purged)
        except Exception:
            log.exception("housekeeping failed")


def _observe(scope: MutableMapping[str, Any], status: int, seconds: float) -> None:
    app = scope.get("app")
    ctx = getattr(getattr(app, "state", None), "ctx", None)
    if ctx is None:
        return
    route = scope.get("route")
    template = str(getattr(route, "path", "unmatched"))
    ctx.extras["metrics"].requests.labels(str(scope.get("method")), template, str(status)).observe(seconds)
