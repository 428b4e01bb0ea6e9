"""Nothing before auth: every write (POST, PUT, PATCH, DELETE) is authenticated before a byte of its body
is read, and rate-limited per key.

- No ``Authorization``: 401 at once, except on the signed inbound-webhook path (its signature is checked
  by the route, over a body capped by api/limits.py).
- An unknown or revoked key: 401 at once.
- A live key: its writes are counted in a moving window (``REPLYDESK_WRITE_RATE_LIMIT``, per key and per
  API process); over it, 429 with ``Retry-After``. The key record rides in the ASGI scope, so the route's
  role check (api/deps.py) does not look it up again, and the idempotency layer knows the caller.

Console writes (every path outside ``/v1/``) carry the console's session cookie instead of a key: the gate
verifies it (signature, expiry, and the key it names still live) the same way, before the body is read, and a
write without a live session is sent to the sign-in page (303). Only the sign-in form itself is read without
one: it is how a key becomes a session (its body is capped like any other write).

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
from console import session as console_session
from desk.keys import authenticate
from desk.models import ApiKey

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
MISSING = "missing API key: send 'Authorization: Bearer <key>'"
INVALID = "invalid or revoked API key"
_CHALLENGE = [(b"www-authenticate", b"Bearer")]


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


CONSOLE_SIGN_IN = "/signin"


async def _to_sign_in(send: Send, close: bool) -> None:
    """A console write without a live session: back to the sign-in page (the browser follows a 303 with a GET)."""
    body = b"Signed out: sign in again."
    headers = [(b"location", b"/signin?expired=1"), (b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
        ctx = scope["app"].state.ctx
        settings = ctx.settings
        key: ApiKey | None
        if not scope["path"].startswith("/v1/"):
            if scope["path"] == CONSOLE_SIGN_IN:
                await self.app(scope, receive, send)
                return
            token = console_session.cookie_from_header(header(scope, b"cookie"))
            found = await run_in_threadpool(console_session.authenticate, ctx.engine, settings, token)
            if found is None:
                await _to_sign_in(send, close=body_pending(scope))
                return
            key = found[0]
            scope.setdefault("state", {})["console_session"] = found[1]
        else:
            authorization = header(scope, b"authorization")
            if authorization is None and SIGNED_PATH.match(scope["path"]):
                await self.app(scope, receive, send)
                return
            if not authorization or not authorization.lower().startswith("bearer "):
                await refuse(send, 401, MISSING, _CHALLENGE, close=body_pending(scope))
                return
            key = await run_in_threadpool(authenticate, ctx.engine, authorization[7:].strip())
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
