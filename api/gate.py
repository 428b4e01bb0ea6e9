"""Nothing before auth: every write (POST, PUT, PATCH, DELETE) is authenticated before a byte of its body
is read, and rate-limited per key.

- No ``Authorization``: 401 at once, except on the signed inbound-webhook path (its signature is checked
  by the route, over a body capped by api/limits.py).
- An unknown or revoked key: 401 at once.
- A live key: its writes are counted in a moving window (``REPLYDESK_WRITE_RATE_LIMIT``, per key and per
  API process); over it, 429 with ``Retry-After``. The key record rides in the ASGI scope, so the route's
  role check (api/deps.py) does not look it up again, and the idempotency layer knows the caller.

Role checks stay with the routes; this layer only answers "who is this", before anything else happens.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from api.limits import SIGNED_PATH, body_pending, refuse
from desk.keys import authenticate

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
MISSING = "missing API key: send 'Authorization: Bearer <key>'"
INVALID = "invalid or revoked API key"
_CHALLENGE = [(b"www-authenticate", b"Bearer")]


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


@lru_cache(maxsize=8)
def _rate(spec: str) -> RateLimitItem:
    return parse(spec)


class WriteGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITES:
            await self.app(scope, receive, send)
            return
        authorization = header(scope, b"authorization")
        if authorization is None and SIGNED_PATH.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        if not authorization or not authorization.lower().startswith("bearer "):
            await refuse(send, 401, MISSING, _CHALLENGE, close=body_pending(scope))
            return
        settings = scope["app"].state.ctx.settings
        key = await run_in_threadpool(authenticate, scope["app"].state.ctx.engine, authorization[7:].strip())
        if key is None:
            await refuse(send, 401, INVALID, _CHALLENGE, close=body_pending(scope))
            return
        if settings.write_rate_limit:
            item = _rate(settings.write_rate_limit)
            if not self.limiter.hit(item, "key", str(key.id)):
                reset = self.limiter.get_window_stats(item, "key", str(key.id)).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                await refuse(send, 429, f"too many writes with this key (limit {settings.write_rate_limit}); "
                             f"retry in {wait} s", [(b"retry-after", str(wait).encode())], close=body_pending(scope))
                return
        scope.setdefault("state", {})["api_key"] = key
        await self.app(scope, receive, send)
