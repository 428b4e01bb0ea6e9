"""``Idempotency-Key`` on POSTs, as Stripe does it: the first result is stored and replayed for a retry
with the same key; the same key with a different request is 422; a retry while the first is still
running is 409. Keys are per caller (scoped by a hash of the credentials) and expire after a TTL; expired
rows are purged on a schedule (api/app.py's housekeeping thread).

Only for callers api/gate.py authenticated (it runs first and puts the key record in the scope): without
one, nothing is read or stored here. The body is read through api/limits.py, so never past the route's cap.
Pure ASGI middleware, so the handler's own status codes and headers are stored exactly as sent.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from desk.idempotency import begin_request, finish_request

HEADER = b"idempotency-key"
_KEPT_HEADERS = {"content-type", "etag", "location"}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, HEADER) if scope["type"] == "http" and scope["method"] == "POST" else None
        if key is None or scope.get("state", {}).get("api_key") is None:
            await self.app(scope, receive, send)  # no key, or a signed webhook (it dedupes on webhook-id)
            return
        if not 1 <= len(key) <= 255:
            await _json(send, 400, {"detail": "Idempotency-Key must be 1-255 characters"})
            return
        ctx = scope["app"].state.ctx
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left, or the body passed its cap (api/limits.py answered 413)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        credentials = _header(scope, b"authorization") or ""
        scope_hash = hashlib.sha256(credentials.encode()).hexdigest()
        target = scope["path"] + ("?" + scope["query_string"].decode() if scope.get("query_string") else "")
        request_hash = hashlib.sha256(b"POST " + target.encode() + b"\n" + body).hexdigest()
        outcome, row = await run_in_threadpool(begin_request, ctx.engine, scope_hash, key, "POST", target, request_hash,
                                               ctx.settings.idempotency_ttl_hours)
        if outcome == "mismatch":
            await _json(send, 422, {"detail": "Idempotency-Key was already used with a different request"})
            return
        if outcome == "running":
            await _json(send, 409, {"detail": "a request with this Idempotency-Key is still being processed"})
            return
        assert row is not None
        if outcome == "replay":
            stored = (row.response_body or "").encode()
            headers = [(k.encode(), v.encode()) for k, v in row.response_headers.items()]
            await send({"type": "http.response.start", "status": row.response_status or 200,
                        "headers": [*headers, (b"content-length", str(len(stored)).encode()),
                                    (b"idempotent-replayed", b"true")]})
            await send({"type": "http.response.body", "body": stored})
            return
        await self._run(scope, body, send, ctx.engine, row.id or 0)

    async def _run(self, scope: Scope, body: bytes, send: Send, engine: Engine, row_id: int) -> None:
        given = False
        stored = False
        status, headers, out = 500, {}, bytearray()

        async def replay_body() -> Message:
            nonlocal given
            if given:
                return {"type": "http.disconnect"}
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status, stored
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for k, v in message.get("headers", []):
                    if k.decode("latin-1").lower() in _KEPT_HEADERS:
                        headers[k.decode("latin-1").lower()] = v.decode("latin-1")
            elif message["type"] == "http.response.body":
                out.extend(message.get("body", b""))
                if not message.get("more_body"):
                    # Store before the client sees the end of the answer, so its retry finds the result.
                    await run_in_threadpool(finish_request, engine, row_id, status, headers, bytes(out))
                    stored = True
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        finally:
            if not stored:
                await run_in_threadpool(finish_request, engine, row_id, 500, headers, b"")
