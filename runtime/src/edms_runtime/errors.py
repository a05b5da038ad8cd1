"""Errors an application raises when a rule refuses a command; the HTTP shell maps them to problem details.

Kept apart from the web shell so that applications and domains never import FastAPI.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus


class DomainError(Exception):
    """A rule of the domain refused the command; mapped to a problem-details response in one place."""

    status: int = HTTPStatus.CONFLICT.value
    title: str = "Conflict with a domain rule"

    def __init__(self, detail: str, *, field: str | None = None, errors: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        #: (field, reason) of every error when there are several (a file plan's rows); else the one `field`.
        self.errors = list(errors) or ([(field, detail)] if field else [])


class NotFound(DomainError):
    """Not there, or not for the caller's eyes (existence is not revealed)."""

    status = HTTPStatus.NOT_FOUND.value
    title = "Not found"


class InvalidField(DomainError):
    """A field of the request breaks a rule that the request's schema cannot express."""

    status = 422  # Unprocessable Content (HTTPStatus names it so only from Python 3.13)
    title = "Invalid request"


class Unavailable(DomainError):
    """A part the request needs (database, search engine) does not answer now; the client may retry."""

    status = HTTPStatus.SERVICE_UNAVAILABLE.value
    title = "Service unavailable"
    #: Seconds a client should wait before it tries again (the Retry-After header).
    retry_after = 1
