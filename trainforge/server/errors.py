"""Errors that services raise; the app turns each into one JSON error response."""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400
    code = "UserError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ServiceError):
    status_code = 400
    code = "BadRequest"


class Unprocessable(ServiceError):
    """A field the request's model accepts but this server does not (a backend it has not
    registered): 422, as the request-model errors are."""

    status_code = 422
    code = "ValidationError"


class NotFound(ServiceError):
    status_code = 404
    code = "NotFound"


class Conflict(ServiceError):
    status_code = 409
    code = "Conflict"


class Forbidden(ServiceError):
    status_code = 403
    code = "Forbidden"


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "PayloadTooLarge"
