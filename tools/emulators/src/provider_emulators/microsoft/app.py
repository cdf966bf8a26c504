"""``create_app(base_url)``: the Microsoft emulator as one FastAPI app.

Serve it over HTTPS with ``provider_emulators.core.EmulatorServer(app_factory=create_app)``.
The app's ``state.emulator`` is the :class:`~provider_emulators.microsoft.context.Emulator`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from provider_emulators.core.control import (
    CallLog,
    RequestCounter,
    RequestCounterMiddleware,
    build_control_router,
)
from provider_emulators.core.faults import CONTROL_PREFIX, FaultInjector, FaultMiddleware, FaultRule, Scope
from provider_emulators.microsoft import (
    control,
    graph_batch,
    graph_events,
    graph_schedule,
    graph_subscriptions,
    identity,
)
from provider_emulators.microsoft.context import Emulator
from provider_emulators.microsoft.errors import (
    GraphError,
    aad_error_body,
    fault_error_body,
    graph_error_response,
)
from provider_emulators.microsoft.mailbox_limits import MailboxConcurrencyMiddleware, mailbox_of

_AAD_FAULTS = {
    400: ("invalid_request", 900144),
    401: ("invalid_client", 7000215),
    429: ("temporarily_unavailable", 50196),
    500: ("server_error", 50000),
    503: ("temporarily_unavailable", 50001),
}


def fault_body(rule: FaultRule, path: str) -> dict[str, Any]:
    """Injected errors look like the real ones: AAD shape on identity paths, Graph shape elsewhere."""
    status = rule.status or 500
    if "/oauth2/" in path:
        error, code = _AAD_FAULTS.get(status, ("server_error", 50000))
        return aad_error_body(rule.reason or error, code, rule.message or "Injected fault.")
    body = fault_error_body(status, rule.message)
    if rule.reason:
        body["error"]["code"] = rule.reason
    return body


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GraphError)
    async def graph_error(request: Request, exc: GraphError) -> Response:
        return graph_error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/v1.0"):
            code = "BadRequest" if exc.status_code in (404, 405) else "UnknownError"
            status = 400 if exc.status_code == 404 else exc.status_code
            segment = request.url.path.rstrip("/").rsplit("/", 1)[-1]
            return graph_error_response(status, code, f"Resource not found for the segment '{segment}'.")
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith(CONTROL_PREFIX):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        return graph_error_response(400, "BadRequest", "Invalid request.")


def create_app(base_url: str) -> FastAPI:
    """Build the emulator for ``base_url`` (``https://host:port``, used in issuers and links)."""
    emu = Emulator(base_url)
    faults = FaultInjector()
    counter = RequestCounter()
    calls = CallLog()

    def account_of(scope: Scope) -> str | None:
        return mailbox_of(emu, scope) if scope.get("path", "").startswith("/v1.0/") else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        emu.notifier.shutdown()

    app = FastAPI(
        title="Microsoft identity platform + Graph emulator", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.emulator = emu
    app.state.faults = faults
    app.state.requests = counter
    app.include_router(
        build_control_router(
            faults=faults,
            reset=emu.state.reset,
            state=lambda: control.state_dump(emu),
            counter=counter,
            calls=calls,
        )
    )
    app.include_router(control.build_router(emu))
    app.include_router(graph_batch.build_router(emu))
    app.include_router(graph_events.build_router(emu))
    app.include_router(graph_schedule.build_router(emu))
    app.include_router(graph_subscriptions.build_router(emu))
    app.include_router(identity.build_router(emu))
    _install_error_handlers(app)
    # outermost first: count every request, then mailbox concurrency (injected latency and
    # faults happen inside the in-flight window), then faults, then the routes
    app.add_middleware(FaultMiddleware, injector=faults, error_body=fault_body)
    app.add_middleware(MailboxConcurrencyMiddleware, emu=emu)
    app.add_middleware(RequestCounterMiddleware, counter=counter, calls=calls, account_of=account_of)
    return app
