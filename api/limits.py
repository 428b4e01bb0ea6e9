"""Request body caps, enforced while the body arrives: a declared ``Content-Length`` over the cap is refused
before a byte is read, and a body without one (chunked) is counted and refused the moment it passes.

Every write has a cap: the route's own (inbound webhooks, document uploads) or ``REPLYDESK_MAX_BODY_BYTES``.
Pure ASGI, so it also bounds what the multipart parser spools and what the idempotency layer buffers.
"""

from __future__ import annotations

import json
import re

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import TooLarge
from knowledge.loaders import MAX_FILE_BYTES

WEBHOOK_BODY = 256 * 1024
UPLOAD_BODY = MAX_FILE_BYTES + 1024 * 1024  # the file plus the multipart envelope and the small form fields
# Authenticated by signature, not a key: inbound webhooks and the platform connectors' events routes.
SIGNED_PATH = re.compile(r"^/v1/(?:webhooks/(?!sources(?:/|$))[^/]+|connectors/\d+/events)/?$")
CONSOLE_UPLOAD_BODY = 4 * MAX_FILE_BYTES + 1024 * 1024  # the console's multi-file upload: several files at once
_ROUTE_CAPS = ((SIGNED_PATH, WEBHOOK_BODY), (re.compile(r"^/v1/knowledge/documents/?$"), UPLOAD_BODY),
               (re.compile(r"^/knowledge/upload$"), CONSOLE_UPLOAD_BODY))
_READS = {"GET", "HEAD", "OPTIONS"}


def body_cap(path: str, default: int) -> int:
    for pattern, cap in _ROUTE_CAPS:
        if pattern.match(path):
            return cap
    return default


def declared_length(scope: Scope) -> int | None:
    """The Content-Length header; -1 when it is present but not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


def body_pending(scope: Scope) -> bool:
    """Does the request announce a body (that a refusal would leave unread)?"""
    length = declared_length(scope)
    return (length is not None and length != 0) or any(name == b"transfer-encoding" for name, _ in scope["headers"])


async def refuse(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None,
                 close: bool = False) -> None:
    """A JSON error answer. ``close``: the body is left unread, so the connection ends with the answer (the
    server does not read and discard the rest of it, as keep-alive would)."""
    body = json.dumps({"detail": detail}).encode()
    extra = [(b"connection", b"close")] if close else []
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or []), *extra]})
    await send({"type": "http.response.body", "body": body})


_UPLOAD_PATH = re.compile(r"^/v1/knowledge/documents/?$")


def _too_large(cap: int, path: str = "") -> str:
    if _UPLOAD_PATH.match(path):  # said before any file name is read: the request as a whole is refused
        return (f"upload refused: request body larger than the limit of {cap} bytes "
                f"(a file may be up to {MAX_FILE_BYTES >> 20} MB)")
    return f"request body larger than the limit of {cap} bytes"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READS:
            await self.app(scope, receive, send)
            return
        cap = body_cap(scope["path"], scope["app"].state.ctx.settings.max_body_bytes)
        length = declared_length(scope)
        if length is not None and not 0 <= length <= cap:
            detail = _too_large(cap, scope["path"]) if length > cap else "Content-Length must be a number of bytes"
            await refuse(send, 413 if length > cap else 400, detail, close=True)
            return
        seen = 0
        refused = started = False

        async def capped_receive() -> Message:
            nonlocal seen, refused, started
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    refused = True
                    if not started:
                        started = True
                        await refuse(send, 413, _too_large(cap, scope["path"]), close=True)
                    # The app sees the client gone; whatever it answers is dropped below.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, capped_receive, guarded_send)


async def read_capped(request: Request, cap: int) -> bytes:
    """A route's whole body, refused with 413 from its Content-Length, or while streaming, past ``cap``."""
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > cap:
        raise TooLarge(_too_large(cap))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise TooLarge(_too_large(cap))
        chunks.append(chunk)
    return b"".join(chunks)
