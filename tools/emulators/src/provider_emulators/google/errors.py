"""Google-shaped errors: API errors (``{"error": {"code", "message", "errors": [...]}}``) and
OAuth 2.0 token-endpoint errors (``{"error", "error_description"}``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from provider_emulators.core.faults import FaultRule

OAUTH_PATHS = ("/token", "/revoke", "/o/oauth2")
_DEFAULT_REASONS: dict[int, tuple[str, str, str]] = {
    400: ("global", "badRequest", "Bad Request"),
    401: ("global", "authError", "Invalid Credentials"),
    403: ("usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
    404: ("global", "notFound", "Not Found"),
    409: ("global", "duplicate", "The requested identifier already exists."),
    410: ("global", "deleted", "Resource has been deleted"),
    412: ("global", "conditionNotMet", "Precondition Failed"),
    429: ("usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
    500: ("global", "backendError", "Backend Error"),
    503: ("global", "backendError", "Backend Error"),
}
_USAGE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}
_CALENDAR_REASONS = {"timeRangeEmpty", "fullSyncRequired"}


class GoogleApiError(Exception):
    """An error answered with Google's JSON error envelope."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location: str | None = None,
        location_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.location = location
        self.location_type = location_type
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return api_error_body(
            self.status, self.reason, self.message, self.domain, self.location, self.location_type
        )


def api_error_body(
    status: int,
    reason: str,
    message: str,
    domain: str = "global",
    location: str | None = None,
    location_type: str | None = None,
) -> dict[str, Any]:
    detail: dict[str, Any] = {"domain": domain, "reason": reason, "message": message}
    if location_type is not None:
        detail["locationType"] = location_type
    if location is not None:
        detail["location"] = location
    return {"error": {"code": status, "message": message, "errors": [detail]}}


def auth_error() -> GoogleApiError:
    return GoogleApiError(
        401,
        "authError",
        "Invalid Credentials",
        location="Authorization",
        location_type="header",
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
    )


def not_found(message: str = "Not Found") -> GoogleApiError:
    return GoogleApiError(404, "notFound", message)


def invalid(message: str, location: str | None = None) -> GoogleApiError:
    return GoogleApiError(
        400, "invalid", message, location=location, location_type="parameter" if location else None
    )


def required(field: str) -> GoogleApiError:
    return GoogleApiError(400, "required", f"Required parameter: {field}", location=field)


class OAuthError(Exception):
    """An RFC 6749 error from the token or revoke endpoint."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def fault_error_body(rule: FaultRule, path: str) -> dict[str, Any]:
    """Body of an injected fault: OAuth-shaped on OAuth paths, Google API-shaped elsewhere."""
    status = rule.status or 500
    if path.startswith(OAUTH_PATHS):
        error = rule.reason or ("invalid_grant" if status == 400 else "server_error")
        return {"error": error, "error_description": rule.message or "Injected fault"}
    domain, reason, message = _DEFAULT_REASONS.get(status, ("global", "backendError", "Backend Error"))
    if rule.reason is not None:
        reason = rule.reason
        domain = (
            "usageLimits"
            if reason in _USAGE_LIMIT_REASONS
            else "calendar"
            if reason in _CALENDAR_REASONS
            else "global"
        )
    if status == 401:
        return api_error_body(401, reason, rule.message or message, domain, "Authorization", "header")
    return api_error_body(status, reason, rule.message or message, domain)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error leave the app in Google's shape (never a bare 500 or FastAPI detail)."""

    @app.exception_handler(GoogleApiError)
    async def _api_error(request: Request, exc: GoogleApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(OAuthError)
    async def _oauth_error(request: Request, exc: OAuthError) -> JSONResponse:
        body = {"error": exc.error, "error_description": exc.description}
        return JSONResponse(body, status_code=exc.status, headers={"Cache-Control": "no-store"})

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        location = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
        message = f"Invalid value: {first.get('msg', 'Bad Request')}"
        if request.url.path.startswith("/__emulator"):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        return JSONResponse(api_error_body(400, "invalid", message, location=location), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if request.url.path.startswith("/__emulator"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        domain, reason, message = _DEFAULT_REASONS.get(
            exc.status_code, ("global", "badRequest", str(exc.detail))
        )
        if exc.status_code == 405:
            reason, message = "httpMethodNotAllowed", "Method Not Allowed"
        return JSONResponse(
            api_error_body(exc.status_code, reason, message, domain), status_code=exc.status_code
        )
