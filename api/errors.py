"""The one place where named errors become HTTP statuses; the exception handler answers JSON with a stable
``detail``. Routes raise the domain's errors (re-exported here) as well as the domain does."""

from __future__ import annotations

from desk.errors import (
    BadRequest,
    Conflict,
    DeskError,
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnprocessableEntity,
)

ApiError = DeskError

_STATUS: dict[type[DeskError], int] = {
    BadRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    TooLarge: 413,
    UnprocessableEntity: 422,
    PreconditionRequired: 428,
    Unavailable: 503,
}


def status_of(exc: DeskError) -> int:
    """The HTTP status of a named error (its nearest mapped class; 400 for the base)."""
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400


__all__ = [
    "ApiError", "BadRequest", "Conflict", "DeskError", "Forbidden", "NotFound", "PreconditionFailed",
    "PreconditionRequired", "TooLarge", "Unauthorized", "Unavailable", "UnprocessableEntity", "status_of",
]
