"""Error bodies in Microsoft's two shapes: AAD (identity platform) and Graph."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.responses import JSONResponse

from provider_emulators.microsoft.timeutil import now


class GraphError(Exception):
    """Raised by Graph handlers; rendered as ``{"error":{"code","message","innerError"}}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class AadError(Exception):
    """Raised by the token endpoint; rendered in the AAD error shape."""

    def __init__(
        self, status: int, error: str, aadsts: int, message: str, suberror: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.message = message
        self.suberror = suberror


def graph_error_body(code: str, message: str) -> dict[str, Any]:
    """The Graph error body; ``innerError`` carries a request id and the date."""
    stamp = now().strftime("%Y-%m-%dT%H:%M:%S")
    request_id = str(uuid.uuid4())
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"request-id": request_id, "date": stamp, "client-request-id": request_id},
        }
    }


def graph_error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(graph_error_body(code, message), status_code=status, headers=headers)


def aad_error_body(error: str, aadsts: int, message: str, suberror: str | None = None) -> dict[str, Any]:
    """The AAD token-endpoint error body."""
    trace_id = str(uuid.uuid4())
    correlation_id = str(uuid.uuid4())
    stamp = now().strftime("%Y-%m-%d %H:%M:%SZ")
    description = (
        f"AADSTS{aadsts}: {message} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {stamp}"
    )
    body: dict[str, Any] = {
        "error": error,
        "error_description": description,
        "error_codes": [aadsts],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={aadsts}",
    }
    if suberror:
        body["suberror"] = suberror
    return body


def aad_error_response(exc: AadError) -> JSONResponse:
    return JSONResponse(
        aad_error_body(exc.error, exc.aadsts, exc.message, exc.suberror), status_code=exc.status
    )


def fault_error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """Body for injected faults: the Graph shape, with the usual code per status."""
    codes = {
        400: "BadRequest",
        401: "InvalidAuthenticationToken",
        403: "ErrorAccessDenied",
        404: "ErrorItemNotFound",
        409: "ErrorIrresolvableConflict",
        429: "TooManyRequests",
        500: "InternalServerError",
        502: "BadGateway",
        503: "ServiceNotAvailable",
        504: "GatewayTimeout",
    }
    default = "Application is over its MailboxConcurrency limit." if status == 429 else "Injected fault."
    return graph_error_body(codes.get(status, "UnknownError"), message or default)
