"""Domain errors → RFC 9457 problem documents: the HTTP status of each error type lives here,
the ``code``, ``title``, ``detail`` and context come from the error itself."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from appointments_service.domain.errors import (
    AlreadyConfirmed,
    AppointmentNotFound,
    BoundConnectionUnusable,
    DependencyUnavailable,
    DomainError,
    GuestLinkExpired,
    GuestLinkInvalid,
    HostEmailUnknown,
    InvalidAppointment,
    InvalidState,
    NotLinked,
    OutsideVisitWindow,
    PreconditionFailed,
    PreconditionRequired,
    ReceptionCodeExhausted,
    ReceptionCodeUnknown,
    RoomGroupSelectionRequired,
    SlotNotFound,
    SlotUnavailable,
)
from visitor_common.web import Problem, problem_response

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}, "description": description}
    for status, description in {
        401: "Missing or invalid bearer token",
        403: "Not an employee token",
        404: "Not found (or another tenant's)",
        409: "Conflict with the appointment's state or its calendar binding (R8)",
        412: "If-Match does not match the current version",
        422: "Invalid input",
        428: "If-Match is required",
        503: "A service this request depends on is unavailable",
    }.items()
}

HTTP_STATUS: dict[type[DomainError], int] = {
    InvalidAppointment: 422,
    HostEmailUnknown: 422,
    AppointmentNotFound: 404,
    SlotNotFound: 404,
    GuestLinkInvalid: 404,
    ReceptionCodeUnknown: 404,
    GuestLinkExpired: 410,
    PreconditionRequired: 428,
    PreconditionFailed: 412,
    InvalidState: 409,
    SlotUnavailable: 409,
    AlreadyConfirmed: 409,
    BoundConnectionUnusable: 409,
    NotLinked: 409,
    OutsideVisitWindow: 409,
    RoomGroupSelectionRequired: 409,
    DependencyUnavailable: 503,
    ReceptionCodeExhausted: 503,
}
RETRY_AFTER_UNAVAILABLE = "5"  # seconds; a dependency or the code pool usually recovers quickly

_RESERVED = frozenset({"type", "title", "status", "detail", "code", "errors"})


class RateLimited(Exception):
    """Too many guest requests for a token or an address, or too many wrong reception codes;
    not a domain rule, so it lives here."""

    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


def status_of(error: DomainError) -> int:
    """The status of the error's type, or of the nearest mapped base class (400 if none)."""
    for kind in type(error).__mro__:
        if kind in HTTP_STATUS:
            return HTTP_STATUS[kind]  # type: ignore[index]
    return 400


def _errors(error: InvalidAppointment) -> list[dict[str, Any]]:
    """Each violation as a validation finding located in the request body, like FastAPI's own."""
    return [{"loc": ["body", *v.field], "msg": v.message, "type": v.kind} for v in error.violations]


def problem_of(error: DomainError) -> Problem:
    extra = {k: v for k, v in error.context.items() if k not in _RESERVED}
    if isinstance(error, InvalidAppointment):
        extra["errors"] = _errors(error)
    return Problem(status=status_of(error), code=error.code, title=error.title, detail=error.detail, **extra)


def install_domain_error_handler(app: FastAPI) -> None:
    async def on_domain_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        problem = problem_of(exc)
        headers = {"Retry-After": RETRY_AFTER_UNAVAILABLE} if problem.status == 503 else None
        return problem_response(problem, headers)

    async def on_rate_limited(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RateLimited)
        problem = Problem(
            status=429, code=exc.code, title=exc.title, detail=exc.detail, retry_after=exc.retry_after
        )
        return problem_response(problem, {"Retry-After": str(exc.retry_after)})

    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(RateLimited, on_rate_limited)
