"""One error base for the domain: a message a person can read plus an HTTP status."""

from __future__ import annotations


class TemError(Exception):
    status_code = 400
    #: A stable name for errors that say it (e.g. "phi_not_passed"); the API answers it beside the message.
    code: str | None = None

    def localised(self, lang: str) -> str:
        """The message in the reader's language (vi, en, zh) where the error knows one; else the English."""
        return self.message

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
