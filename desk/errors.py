"""Named errors of the queue's domain. They say what went wrong, not how to answer it: api/errors.py maps
each to its HTTP status once, and the CLI prints their ``detail``."""

from __future__ import annotations


class DeskError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DeskError):
    """No such object, or not one the caller may see (the two are never told apart)."""


class Conflict(DeskError):
    """The object is not in a state that allows this (e.g. a draft that is no longer pending)."""


class PreconditionFailed(DeskError):
    """The caller's version is stale."""


class PreconditionRequired(DeskError):
    """A write came without the version it must carry."""


class Unauthorized(DeskError):
    """No valid credentials."""


class Forbidden(DeskError):
    """Valid credentials that may not do this."""


class BadRequest(DeskError):
    """The request is malformed or contradicts itself."""


class UnprocessableEntity(DeskError):
    """Well-formed, but cannot be processed as given."""


class TooLarge(DeskError):
    """A body or upload beyond its size limit."""


class Unavailable(DeskError):
    """Something we depend on (a platform's API) cannot answer now; the caller may retry later."""
