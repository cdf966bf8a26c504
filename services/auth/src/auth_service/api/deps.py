"""Dependencies: the service context, the caller's principal, and refusal → problem mapping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, Request

from auth_service.domain.errors import AuthServiceError
from auth_service.service_layer.context import ServiceContext
from visitor_common.security import JwtVerifier, Principal
from visitor_common.web import Problem, ProblemError, principal_dependency, require_employee, require_service


def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


def get_verifier(request: Request) -> JwtVerifier:
    verifier: JwtVerifier = request.app.state.verifier
    return verifier


current_principal: Callable[..., Awaitable[Principal]] = principal_dependency(get_verifier)


async def employee_principal(principal: Principal = Depends(current_principal)) -> Principal:
    return require_employee(principal)


async def service_principal(principal: Principal = Depends(current_principal)) -> Principal:
    return require_service(principal)


def problem_of(error: AuthServiceError) -> ProblemError:
    return ProblemError(error.status, error.code, error.message, error.message, **error.extra)


def problem_body(error: AuthServiceError) -> dict[str, Any]:
    return problem_of(error).problem.model_dump(exclude_none=True)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}}
    for status in (400, 401, 403, 404, 409, 422, 429)
}


def refusal_headers(error: AuthServiceError) -> dict[str, str] | None:
    if error.status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if error.code == "provider_unavailable":
        return {"Retry-After": "30"}
    if error.status == 429:
        return {"Retry-After": str(error.extra.get("retry_after", 60))}
    return None
