"""HTTP conventions shared by every service: RFC 9457 problem+json errors, health and metrics
routes, the request middleware (metrics, trace context, one log line per request) and
bearer-token dependencies.

Any error a route raises becomes ``application/problem+json`` with a stable machine-readable
``code``; validation errors are 422 with the offending fields; unexpected errors are a bare 500
that reveals nothing (they are bugs, and the logs — redacted — hold the details).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from visitor_common import metrics, tracecontext
from visitor_common.asyncapi import asyncapi_router
from visitor_common.logging import redact
from visitor_common.security.jwt import JwtVerifier, Principal, PrincipalKind, TokenInvalid

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details, plus ``code`` (stable, machine-readable) and extensions."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str = Field(description="Stable machine-readable error code.")
    errors: list[dict[str, Any]] | None = None
    model_config = {"extra": "allow"}


class ProblemError(Exception):
    """Raise from any layer to answer with a problem document."""

    def __init__(self, status: int, code: str, title: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.problem = Problem(status=status, code=code, title=title, detail=detail, **extra)


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _validation_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    # Echo where and why, never the submitted value (it may be a password or a token).
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in error.errors()
    ]


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.problem.status == 401 else None
        return problem_response(exc.problem, headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(
            Problem(
                status=422,
                code="validation_failed",
                title="The request is not valid",
                detail="One or more fields are missing or malformed; see errors.",
                errors=_validation_errors(exc),
            )
        )

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
        return problem_response(
            Problem(
                status=exc.status_code,
                code=code.get(exc.status_code, "http_error"),
                title=str(exc.detail) if exc.detail else "HTTP error",
            ),
            dict(exc.headers) if exc.headers else None,
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "unhandled error",
            exc_info=exc,
            extra={"path": request.url.path, "error": redact(str(exc))},
        )
        return problem_response(Problem(status=500, code="internal_error", title="Internal error"))

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


ReadinessCheck = Callable[[], Awaitable[bool]]


class Health(BaseModel):
    status: str
    service: str
    checks: dict[str, bool] = Field(default_factory=dict)


def health_router(service: str, readiness: dict[str, ReadinessCheck] | None = None) -> APIRouter:
    """``/healthz`` (the process serves), ``/readyz`` (its dependencies answer) and
    ``/asyncapi.json`` (the service's part of the event contract, :mod:`visitor_common.asyncapi`)."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok", service=service)

    @router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
    async def readyz() -> JSONResponse:
        results = {}
        for name, check in (readiness or {}).items():
            try:
                results[name] = await check()
            except Exception:
                results[name] = False
        ok = all(results.values())
        body = Health(status="ok" if ok else "degraded", service=service, checks=results)
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    # Every service mounts this router, so each also serves its part of the event contract.
    router.include_router(asyncapi_router(service))
    return router


def metrics_router(render: Callable[[], Awaitable[bytes]]) -> APIRouter:
    """``/metrics`` in the Prometheus text format, from ``render`` (see :mod:`visitor_common.metrics`)."""
    router = APIRouter(tags=["health"])

    @router.get("/metrics", response_class=Response, include_in_schema=False)
    async def scrape() -> Response:
        return Response(await render(), media_type=metrics.CONTENT_TYPE_LATEST)

    return router


# Probes and scrapes are counted but not logged: they would drown the stories.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"  # never the raw path: it may hold a guest token


class RequestMiddleware:
    """Pure ASGI middleware: every request runs in a :mod:`~visitor_common.tracecontext` scope
    (continuing an incoming ``traceparent``), answers with ``X-Request-ID``, is counted and timed
    by route template, and leaves one log line with the ids of the change it made."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(tracecontext.TRACEPARENT_HEADER.encode(), b"").decode("latin-1")
        status = 500
        started = time.perf_counter()
        with tracecontext.scope(incoming) as ids:

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    extra = [(b"x-request-id", ids["request_id"].encode())]
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self._observe(scope, status, time.perf_counter() - started)

    @staticmethod
    def _observe(scope: Scope, status: int, seconds: float) -> None:
        route, method = _route_template(scope), str(scope.get("method", ""))
        metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
        metrics.HTTP_LATENCY.labels(route, method).observe(seconds)
        if route not in _QUIET_ROUTES:
            log.info(
                "http request",
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                },
            )


_bearer = HTTPBearer(auto_error=False, description="Access token from the auth service.")

UNAUTHORIZED = {"status": 401, "code": "unauthorized", "title": "A valid bearer token is required"}


def principal_dependency(
    get_verifier: Callable[..., JwtVerifier],
) -> Callable[..., Awaitable[Principal]]:
    """Build a FastAPI dependency that turns the Authorization header into a ``Principal``."""

    async def current_principal(
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
        verifier: JwtVerifier = Depends(get_verifier),
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ProblemError(**UNAUTHORIZED)  # type: ignore[arg-type]
        try:
            return await verifier.verify(credentials.credentials)
        except TokenInvalid as error:
            raise ProblemError(**UNAUTHORIZED, detail=str(error)) from error  # type: ignore[arg-type]

    return current_principal


def require_employee(principal: Principal) -> Principal:
    if principal.kind is not PrincipalKind.EMPLOYEE or principal.tenant_id is None:
        raise ProblemError(403, "employee_token_required", "This route needs an employee's token")
    return principal


def require_reception(principal: Principal) -> Principal:
    """A reception device's token (role ``reception``): its tenant, its device id as subject."""
    if principal.kind is not PrincipalKind.RECEPTION or principal.tenant_id is None:
        raise ProblemError(403, "reception_token_required", "This route needs a reception device's token")
    return principal


def require_service(principal: Principal, scope: str | None = None) -> Principal:
    if principal.kind is not PrincipalKind.SERVICE:
        raise ProblemError(403, "service_token_required", "This route needs a service credential")
    if scope is not None and scope not in principal.scopes:
        raise ProblemError(403, "scope_missing", f"The service credential lacks scope {scope!r}")
    return principal
