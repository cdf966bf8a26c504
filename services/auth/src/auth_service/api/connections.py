"""The employee's calendar connection: link (authorize + callback), show, unlink, room preference."""

from __future__ import annotations

from enum import StrEnum
from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from auth_service.api.deps import (
    PROBLEM_RESPONSES,
    employee_principal,
    get_context,
    problem_body,
    refusal_headers,
)
from auth_service.api.schemas import (
    AuthorizationUrl,
    ConnectionOut,
    ConnectionsOut,
    LinkResult,
    RoomPreferenceIn,
    UnlinkOut,
)
from auth_service.domain.errors import AuthServiceError
from auth_service.service_layer import connections, linking
from auth_service.service_layer.context import ServiceContext
from visitor_common.events import Provider
from visitor_common.security import Principal
from visitor_common.web import PROBLEM_MEDIA_TYPE

router = APIRouter(
    prefix="/v1/calendar-connections", tags=["calendar-connections"], responses=PROBLEM_RESPONSES
)
Context = Annotated[ServiceContext, Depends(get_context)]
Employee = Annotated[Principal, Depends(employee_principal)]
OptionalParam = Annotated[str | None, Query(max_length=4096)]


class ProviderPath(StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"

    @property
    def provider(self) -> Provider:
        return Provider.GOOGLE if self is ProviderPath.GOOGLE else Provider.OUTLOOK


def _tenant(principal: Principal) -> str:
    assert principal.tenant_id is not None
    return principal.tenant_id


@router.post("/{provider}/authorize", response_model=AuthorizationUrl)
async def authorize(provider: ProviderPath, ctx: Context, principal: Employee) -> AuthorizationUrl:
    """Start linking: open ``authorization_url`` in the browser (state valid 10 minutes, once)."""
    return AuthorizationUrl(authorization_url=await linking.start_link(ctx, principal, provider.provider))


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept.split(",")[0]


def _html(title: str, message: str, status: int, link: str | None = None) -> HTMLResponse:
    extra = f'<p><a href="{escape(link)}">{escape(link)}</a></p>' if link else ""
    body = (
        '<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>"
        f'<p id="message">{escape(message)}</p>{extra}</body></html>'
    )
    return HTMLResponse(body, status_code=status)


@router.get(
    "/{provider}/callback",
    response_model=LinkResult,
    responses={200: {"content": {"text/html": {}}}, 502: {}, 503: {}},
)
async def callback(
    provider: ProviderPath,
    request: Request,
    ctx: Context,
    code: OptionalParam = None,
    state: OptionalParam = None,
    error: OptionalParam = None,
    error_description: OptionalParam = None,
    admin_consent: OptionalParam = None,
) -> Response:
    """Where the provider sends the browser back. Public: the single-use ``state`` identifies the
    employee. Answers the success message, or a problem explaining the refusal."""
    params = {k: v for k, v in request.query_params.items() if len(v) <= 4096}
    try:
        outcome = await linking.complete_link(ctx, provider.provider, params)
    except AuthServiceError as failure:
        if _wants_html(request):
            return _html(
                "カレンダー連携できませんでした",
                failure.message,
                failure.status,
                failure.extra.get("admin_consent_url"),
            )
        return JSONResponse(
            problem_body(failure),
            status_code=failure.status,
            media_type=PROBLEM_MEDIA_TYPE,
            headers=refusal_headers(failure),
        )
    if _wants_html(request):
        return _html("カレンダー連携", outcome.message, 200)
    connection = ConnectionOut.of(outcome.connection) if outcome.connection else None
    return JSONResponse(LinkResult(message=outcome.message, connection=connection).model_dump(mode="json"))


@router.get("", response_model=ConnectionsOut)
async def all_connections(ctx: Context, principal: Employee) -> ConnectionsOut:
    """Every connection of the employee, active or not (older ones explain older appointments)."""
    found = await connections.history(ctx, _tenant(principal), principal.employee_id)
    return ConnectionsOut(items=[ConnectionOut.of(c) for c in found])


@router.get("/current", response_model=ConnectionOut)
async def show_current(ctx: Context, principal: Employee) -> ConnectionOut:
    return ConnectionOut.of(await connections.current(ctx, _tenant(principal), principal.employee_id))


@router.delete("/current", response_model=UnlinkOut)
async def unlink_current(ctx: Context, principal: Employee) -> UnlinkOut:
    """Unlink: the connector first deletes the tentative holds it wrote, then the grant is revoked
    at the provider and the refresh token forgotten."""
    outcome = await connections.unlink(ctx, _tenant(principal), principal.employee_id)
    return UnlinkOut(
        connection=ConnectionOut.of(outcome.connection),
        revoked_at_provider=outcome.revoked_at_provider,
        holds_released=outcome.holds.released if outcome.holds else None,
        holds_not_released=outcome.holds.failed if outcome.holds else 0,
    )


@router.put("/current/room-preference", response_model=ConnectionOut)
async def room_preference(body: RoomPreferenceIn, ctx: Context, principal: Employee) -> ConnectionOut:
    """Choose the building (Google) or room list (Microsoft) whose rooms the employee uses."""
    connection = await connections.set_room_preference(
        ctx, _tenant(principal), principal.employee_id, body.room_group_id
    )
    return ConnectionOut.of(connection)
