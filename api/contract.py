"""What the published OpenAPI document promises beyond the happy path: bounded ids, and every error answer
with the shape it really has (a generated client must be able to read each one)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, Field

# Ids are 64-bit signed integers in SQLite and PostgreSQL alike; a larger one made the SQLite driver raise
# OverflowError (a 500). Bounded in the schema, it is a 422 before any query runs.
MAX_ID = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]


class ErrorOut(BaseModel):
    """Every error the API answers (4xx and 5xx), save validation errors."""

    detail: str = Field(description="What went wrong, for a person to read.")


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """A request that does not match the schema (422): one readable ``detail`` and the issues one by one."""

    detail: str
    errors: list[ValidationIssue]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


# Declared on every operation (FastAPI adds its own 422, which this replaces with the shape we send).
COMMON: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorOut, "description": "The request does not match the schema."},
    500: _error("An unexpected error (logged with the request id)."),
}
# Declared on every operation that needs an API key.
AUTHENTICATED: dict[int | str, dict[str, Any]] = {
    401: _error("No API key, or an unknown or revoked one."),
    403: _error("The key's role may not do this, or the request names a workspace outside the key's scope."),
    429: _error("Too many requests for this key; retry after the Retry-After seconds."),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: _error("No such object, or one outside the key's workspaces (the two are never told apart)."),
}
BAD_REQUEST: dict[int | str, dict[str, Any]] = {400: _error("The request is malformed or contradicts itself.")}
CONFLICT: dict[int | str, dict[str, Any]] = {409: _error("The object is not in a state that allows this.")}
VERSIONED: dict[int | str, dict[str, Any]] = {
    400: _error("If-Match is not a draft version."),
    409: _error("The draft is no longer pending, or someone else holds its claim."),
    412: _error("The draft changed since that version (If-Match is stale)."),
    428: _error("If-Match is missing."),
}
TOO_LARGE: dict[int | str, dict[str, Any]] = {413: _error("The body or upload is beyond its size limit.")}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {503: _error("The model endpoint is unavailable.")}


def as_json(group: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """The same answers for a route whose own response class is not JSON (FastAPI would declare its errors
    under that media type; they are JSON)."""
    return {code: {"description": spec["description"], "content": {"application/json": {"schema": {
        "$ref": f"#/components/schemas/{spec['model'].__name__}"}}}} for code, spec in group.items()}


def responses(*groups: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    merged: dict[int | str, dict[str, Any]] = {}
    for group in groups:
        merged.update(group)
    return merged
