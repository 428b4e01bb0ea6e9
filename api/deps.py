"""FastAPI dependencies as Annotated aliases, so handlers read like prose."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.context import AppContext
from api.errors import BadRequest, Forbidden, PreconditionRequired, Unauthorized
from desk.keys import authenticate, role_allows, scope_of, touch_key
from desk.models import ApiKey
from desk.scope import Scope

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d+)"?\s*$')


# Dependencies that do no I/O are async: FastAPI runs a sync dependency on the thread pool, and each
# hop there costs a thread switch (and a wait for the GIL) per request.
async def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


# Declared as the OpenAPI security scheme (so clients and fuzzers know every /v1 route needs a key);
# auto_error off: a missing key is our own 401 with our error shape, not the library's 403.
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer rdk_...`")


def require(role: str) -> Callable[..., ApiKey]:
    def dependency(
        request: Request, ctx: ContextDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        if credentials is None or not credentials.credentials.strip():
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        # A write was authenticated by api/gate.py already, before its body was read.
        key = getattr(request.state, "api_key", None) or authenticate(ctx.engine, credentials.credentials.strip())
        if key is None:
            raise Unauthorized("invalid or revoked API key")
        if not role_allows(key.role, role):
            raise Forbidden(f"this action needs the {role} role; your key has {key.role}")
        touch_key(ctx.engine, key)
        return key

    return dependency


Viewer = Annotated[ApiKey, Depends(require("viewer"))]
CM = Annotated[ApiKey, Depends(require("cm"))]
Admin = Annotated[ApiKey, Depends(require("admin"))]


async def expected_version(if_match: Annotated[str | None, Header()] = None) -> int:
    if if_match is None:
        raise PreconditionRequired("If-Match header required: send the draft's current version (its ETag)")
    match = _ETAG.match(if_match)
    if not match or int(match.group(1)) > 2**63 - 1:
        raise BadRequest(f"If-Match must be a draft version such as \"3\", got {if_match!r}")
    return int(match.group(1))


VersionDep = Annotated[int, Depends(expected_version)]


def actor_of(key: ApiKey) -> tuple[str, str]:
    return (key.name or f"key:{key.prefix}", key.role)


__all__ = ["CM", "Admin", "ContextDep", "Scope", "VersionDep", "Viewer", "actor_of", "scope_of"]
