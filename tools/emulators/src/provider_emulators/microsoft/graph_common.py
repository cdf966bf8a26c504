"""Shared pieces of the Graph routes: bearer authentication, permissions, JSON bodies, paging."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from provider_emulators.microsoft.context import Emulator
from provider_emulators.microsoft.errors import GraphError
from provider_emulators.microsoft.state import AccessToken, User
from provider_emulators.microsoft.timeutil import TimeZoneError, now, zone

_WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    'client_id="00000003-0000-0000-c000-000000000000"'
)
_PREFER_TZ = re.compile(r'outlook\.timezone\s*=\s*"?([^",;]+)"?', re.IGNORECASE)
_PREFER_PAGE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)
READ_CALENDARS = ("Calendars.Read", "Calendars.ReadWrite")
WRITE_CALENDARS = ("Calendars.ReadWrite",)


def _unauthorized(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": _WWW_AUTHENTICATE})


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    return header[7:].strip() or None


def authenticate(emu: Emulator, request: Request) -> tuple[User, AccessToken]:
    """The caller's user and token, or 401 ``InvalidAuthenticationToken``."""
    if not request.headers.get("authorization"):
        raise _unauthorized("Access token is empty.")
    token = bearer_token(request)
    if token is None or token.count(".") != 2:
        raise _unauthorized("IDX14100: JWT is not well formed, there are no dots (.).")
    record = emu.state.access_tokens.get(token)
    if record is None:
        raise _unauthorized("Access token validation failure. Invalid audience.")
    if record.expires_at <= now():
        raise _unauthorized("Lifetime validation failed, the token is expired.")
    user = emu.state.users.get(record.user_id)
    if user is None:
        raise _unauthorized("Access token validation failure.")
    return user, record


def require_scope(token: AccessToken, accepted: tuple[str, ...]) -> None:
    """403 ``ErrorAccessDenied`` unless the token carries one of ``accepted``."""
    if not any(s in token.scopes for s in accepted):
        raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or 400 ``BadRequest``."""
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload "
            "is of valid JSON format.",
        ) from exc
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    return body


def preferred_timezone(request: Request) -> str | None:
    """The zone named by ``Prefer: outlook.timezone="..."``, validated."""
    match = _PREFER_TZ.search(request.headers.get("prefer", ""))
    if match is None:
        return None
    name = match.group(1).strip()
    try:
        zone(name)
    except TimeZoneError as exc:
        raise timezone_error(name) from exc
    return name


def preferred_page_size(request: Request, default: int) -> int:
    match = _PREFER_PAGE.search(request.headers.get("prefer", ""))
    return max(1, int(match.group(1))) if match else default


def timezone_error(name: str) -> GraphError:
    return GraphError(
        400,
        "TimeZoneNotSupportedException",
        f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{name}'.",
    )


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise GraphError(400, "BadRequest", f"Invalid value '{raw}' for query option '{name}'.") from exc
    if not low <= value <= high:
        raise GraphError(400, "BadRequest", f"Invalid value '{raw}' for query option '{name}'.")
    return value


def page(
    request: Request, base: str, items: list[dict[str, Any]], default_top: int, max_top: int = 1000
) -> dict[str, Any]:
    """Apply ``$top``/``$skip`` and add ``@odata.nextLink`` when more items remain."""
    top = int_param(request, "$top", default_top, 1, max_top)
    skip = int_param(request, "$skip", 0, 0, 10**9)
    body: dict[str, Any] = {"value": items[skip : skip + top]}
    if skip + top < len(items):
        params = {k: v for k, v in request.query_params.items() if k not in ("$top", "$skip")}
        params.update({"$top": str(top), "$skip": str(skip + top)})
        body["@odata.nextLink"] = f"{base}?{urlencode(params)}"
    return body
