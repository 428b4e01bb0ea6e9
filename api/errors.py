"""Named API errors; one exception handler turns them into JSON with a stable ``detail``."""

from __future__ import annotations


class ApiError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class PreconditionFailed(ApiError):
    status_code = 412


class PreconditionRequired(ApiError):
    status_code = 428


class Unauthorized(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403


class BadRequest(ApiError):
    status_code = 400


class UnprocessableEntity(ApiError):
    status_code = 422
