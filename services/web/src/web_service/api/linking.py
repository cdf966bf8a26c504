"""The calendar-linking pages: start, the page the provider sends the browser back to, and the
building / room-list chooser (R4/R5).

The callback lives at the same path as auth's own callback, so auth only changes the base of
its redirect URI (``AUTH_LINK_REDIRECT_BASE_URL``); this route hands ``code`` and ``state`` to
auth's callback API (public: the single-use state identifies the employee) and shows the outcome.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from visitor_common.contracts.availability import RoomDirectory
from web_service.adapters.api import ApiError
from web_service.api.deps import apis_of, as_host
from web_service.api.pages import PageError, SignInRequired, render, see_other
from web_service.api.security import check_csrf, session_of
from web_service.domain.messages import DIRECTORY_ERROR, LINK_FALLBACK, link_explanation

router = APIRouter(tags=["linking"])
FormText = Annotated[str | None, Form(max_length=512)]
# What a provider may put on the redirect back; anything else is not forwarded.
CALLBACK_PARAMS = ("code", "state", "error", "error_description", "admin_consent", "tenant", "scope")
PROVIDER_OF_CONNECTION = {"google": "google", "outlook": "microsoft"}


class ProviderPath(StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"


async def directory_for(request: Request, connection: dict[str, Any]) -> RoomDirectory:
    """The rooms (or the choices still to make) of the host's current connection."""
    connector = apis_of(request).connector(str(connection["provider"]))
    return await as_host(request, connector.rooms)


async def chooser_context(request: Request, connection: dict[str, Any] | None) -> dict[str, Any]:
    """``directory`` (or ``directory_error``) for the building / room-list chooser."""
    if connection is None or not session_of(request).signed_in:
        return {}
    try:
        return {"directory": await directory_for(request, connection)}
    except ApiError as error:
        return {"directory_error": DIRECTORY_ERROR, "directory_code": error.code}


@router.post("/host/link/{provider}", summary="Start linking a calendar")
async def start_link(request: Request, provider: ProviderPath, csrf_token: FormText = None) -> Response:
    check_csrf(request, csrf_token)
    try:
        url = await as_host(request, lambda token: apis_of(request).auth.authorize(token, provider.value))
    except ApiError as error:
        raise PageError(error.status, link_explanation(error.code), detail=error.detail) from error
    return see_other(url)


def _safe_link(url: Any) -> str | None:
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


@router.get(
    "/v1/calendar-connections/{provider}/callback",
    response_class=HTMLResponse,
    summary="Where the provider sends the browser back",
)
async def callback(request: Request, provider: ProviderPath) -> Response:
    params = {k: v for k, v in request.query_params.items() if k in CALLBACK_PARAMS and len(v) <= 4096}
    try:
        outcome = await apis_of(request).auth.callback(provider.value, params)
    except ApiError as error:
        status = error.status if 400 <= error.status < 600 else 502
        refused = {
            "refusal": link_explanation(error.code) if error.code else LINK_FALLBACK,
            "code": error.code,
            "message": error.detail or error.title,
            "admin_consent_url": _safe_link(error.extra.get("admin_consent_url")),
            "provider": provider.value,
        }
        return render(request, "link_result.html", refused, status)
    connection = outcome.get("connection")
    context: dict[str, Any] = {"message": str(outcome["message"]), "connection": connection}
    if connection is not None and connection.get("room_selection_required"):
        try:
            context |= await chooser_context(request, connection)
        except SignInRequired:
            context["sign_in_to_choose"] = True
    return render(request, "link_result.html", context)


async def _current(request: Request) -> dict[str, Any] | None:
    return await as_host(request, apis_of(request).auth.current_connection)


@router.get("/host/rooms", response_class=HTMLResponse, summary="Choose the building / room list")
async def rooms_page(request: Request) -> Response:
    connection = await _current(request)
    context = {"connection": connection, **await chooser_context(request, connection)}
    return render(request, "rooms.html", context)


@router.post("/host/rooms", summary="Save the chosen building / room list")
async def save_room_group(
    request: Request, csrf_token: FormText = None, room_group_id: FormText = None
) -> Response:
    check_csrf(request, csrf_token)
    connection = await _current(request)
    if not room_group_id:
        context = {
            "connection": connection,
            "problem": "choose",
            **await chooser_context(request, connection),
        }
        return render(request, "rooms.html", context, 422)
    try:
        await as_host(request, lambda token: apis_of(request).auth.set_room_group(token, room_group_id))
    except ApiError as error:
        if error.status >= 500:
            raise PageError(error.status, DIRECTORY_ERROR) from error
        context = {
            "connection": connection,
            "problem": "refused",
            **await chooser_context(request, connection),
        }
        return render(request, "rooms.html", context, 409 if error.status == 409 else 422)
    return see_other("/host/rooms?saved=1")
