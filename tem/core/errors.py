"""One error base for the domain: a message a person can read plus an HTTP status."""

from __future__ import annotations


class TemError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(TemError):
    status_code = 422


class NotFound(TemError):
    status_code = 404


class Conflict(TemError):
    status_code = 409


class Forbidden(TemError):
    status_code = 403


class Unauthorized(TemError):
    status_code = 401
