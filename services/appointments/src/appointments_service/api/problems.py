"""Domain errors → RFC 9457 problem documents (same ``code``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from appointments_service.domain.errors import DomainError
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


_RESERVED = frozenset({"type", "title", "status", "detail", "code"})


def problem_of(error: DomainError) -> Problem:
    extra = {k: v for k, v in error.extra.items() if k not in _RESERVED}
    return Problem(status=error.status, code=error.code, title=error.title, detail=error.detail, **extra)


def install_domain_error_handler(app: FastAPI) -> None:
    async def on_domain_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        headers = None
        if exc.status == 503:
            headers = {"Retry-After": "5"}
        elif exc.status == 429:
            headers = {"Retry-After": str(exc.extra.get("retry_after", 60))}
        return problem_response(problem_of(exc), headers)

    app.add_exception_handler(DomainError, on_domain_error)
