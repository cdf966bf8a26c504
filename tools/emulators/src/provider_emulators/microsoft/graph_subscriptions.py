"""Graph ``/v1.0/subscriptions``: create (with endpoint validation), read, renew, delete."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from provider_emulators.microsoft.context import Emulator
from provider_emulators.microsoft.errors import GraphError
from provider_emulators.microsoft.graph_common import READ_CALENDARS, authenticate, json_body, require_scope
from provider_emulators.microsoft.state import Subscription, User
from provider_emulators.microsoft.timeutil import DateTimeError, graph_stamp, now, parse_iso

CHANGE_TYPES = ("created", "updated", "deleted")
MAX_LIFETIME = dt.timedelta(minutes=10080)
_EVENT_RESOURCES = ("me/events", "me/calendar/events")


def _invalid(message: str, code: str = "InvalidRequest") -> GraphError:
    return GraphError(400, code, message)


def _resource(raw: object, user: User) -> str:
    if not isinstance(raw, str):
        raise _invalid("Required property 'resource' is missing.")
    normalized = raw.strip("/").lower()
    if normalized in _EVENT_RESOURCES or normalized in (
        f"users/{user.id}/events",
        f"users/{user.email}/events",
    ):
        return raw
    raise _invalid(f"Resource '{raw}' is not supported by the emulator: use 'me/events'.", "ExtensionError")


def _change_types(raw: object) -> list[str]:
    parts = [p.strip() for p in raw.split(",")] if isinstance(raw, str) else []
    if not parts or any(p not in CHANGE_TYPES for p in parts):
        raise _invalid(
            f"Invalid 'changeType' '{raw}': use a comma-separated list of created, updated, deleted."
        )
    return parts


def _expiration(raw: object) -> dt.datetime:
    if not isinstance(raw, str):
        raise _invalid("Required property 'expirationDateTime' is missing.")
    try:
        value = parse_iso(raw)
    except DateTimeError as exc:
        raise _invalid(f"Invalid 'expirationDateTime' '{raw}'.") from exc
    if value <= now():
        raise _invalid("Subscription expiration can only be in the future.", "ExtensionError")
    if value - now() > MAX_LIFETIME:
        raise _invalid("Subscription expiration can only be 10070 minutes in the future.", "ExtensionError")
    return value


def _url(raw: object, name: str) -> str:
    if not isinstance(raw, str) or not raw.lower().startswith(("https://", "http://")):
        raise _invalid(f"Invalid '{name}': an absolute URL is required.")
    return raw


async def validate_endpoint(emu: Emulator, url: str) -> None:
    """POST ``?validationToken=…``; the endpoint must echo it as text/plain with 200 in time."""
    token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
    timeout = emu.state.settings.validation_timeout_s
    try:
        async with httpx.AsyncClient(verify=emu.notifier.verify, timeout=timeout) as client:
            response = await client.post(
                url, params={"validationToken": token}, headers={"Content-Type": "text/plain; charset=utf-8"}
            )
    except httpx.HTTPError as exc:
        raise _validation_failed(url, f"{type(exc).__name__}") from exc
    content_type = response.headers.get("content-type", "")
    if response.status_code != 200 or not content_type.startswith("text/plain") or response.text != token:
        raise _validation_failed(url, f"status {response.status_code}, content-type '{content_type}'")


def _validation_failed(url: str, detail: str) -> GraphError:
    return _invalid(
        f"Subscription validation request failed. Notification endpoint must respond with 200 OK to "
        f"validation request with the validation token as text/plain ({url}: {detail}).",
        "ValidationError",
    )


def render(emu: Emulator, sub: Subscription) -> dict[str, Any]:
    return {
        "@odata.context": f"{emu.graph_base}/$metadata#subscriptions/$entity",
        "id": sub.id,
        "resource": sub.resource,
        "applicationId": sub.client_id,
        "changeType": ",".join(sub.change_types),
        "clientState": sub.client_state,
        "notificationUrl": sub.notification_url,
        "lifecycleNotificationUrl": sub.lifecycle_notification_url,
        "expirationDateTime": graph_stamp(sub.expiration),
        "creatorId": sub.user_id,
        "includeResourceData": False,
        "latestSupportedTlsVersion": "v1_2",
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationQueryOptions": None,
        "notificationUrlAppId": None,
    }


def _find(emu: Emulator, sub_id: str, user: User) -> Subscription:
    sub = emu.state.subscriptions.get(sub_id)
    if sub is None or sub.user_id != user.id:
        raise GraphError(404, "ResourceNotFound", f"The object was not found: subscription '{sub_id}'.")
    return sub


def build_router(emu: Emulator) -> APIRouter:
    router = APIRouter()

    @router.post("/v1.0/subscriptions", include_in_schema=False)
    async def create(request: Request) -> Response:
        user, token = authenticate(emu, request)
        require_scope(token, READ_CALENDARS)
        body = await json_body(request)
        client_state = body.get("clientState")
        if client_state is not None and (not isinstance(client_state, str) or len(client_state) > 128):
            raise _invalid("'clientState' must be a string of at most 128 characters.")
        lifecycle_raw = body.get("lifecycleNotificationUrl")
        sub = Subscription(
            id=str(uuid.uuid4()),
            user_id=user.id,
            client_id=token.client_id,
            change_types=_change_types(body.get("changeType")),
            notification_url=_url(body.get("notificationUrl"), "notificationUrl"),
            lifecycle_notification_url=(
                _url(lifecycle_raw, "lifecycleNotificationUrl") if lifecycle_raw is not None else None
            ),
            resource=_resource(body.get("resource"), user),
            expiration=_expiration(body.get("expirationDateTime")),
            client_state=client_state,
        )
        await validate_endpoint(emu, sub.notification_url)
        if sub.lifecycle_notification_url and sub.lifecycle_notification_url != sub.notification_url:
            await validate_endpoint(emu, sub.lifecycle_notification_url)
        emu.state.subscriptions[sub.id] = sub
        return JSONResponse(render(emu, sub), status_code=201)

    @router.get("/v1.0/subscriptions", include_in_schema=False)
    async def list_subscriptions(request: Request) -> Response:
        user, _ = authenticate(emu, request)
        subs = [render(emu, s) for s in emu.state.subscriptions.values() if s.user_id == user.id]
        return JSONResponse({"@odata.context": f"{emu.graph_base}/$metadata#subscriptions", "value": subs})

    @router.get("/v1.0/subscriptions/{sub_id}", include_in_schema=False)
    async def get_subscription(sub_id: str, request: Request) -> Response:
        user, _ = authenticate(emu, request)
        return JSONResponse(render(emu, _find(emu, sub_id, user)))

    @router.patch("/v1.0/subscriptions/{sub_id}", include_in_schema=False)
    async def renew(sub_id: str, request: Request) -> Response:
        user, _ = authenticate(emu, request)
        sub = _find(emu, sub_id, user)
        body = await json_body(request)
        sub.expiration = _expiration(body.get("expirationDateTime"))
        return JSONResponse(render(emu, sub))

    @router.delete("/v1.0/subscriptions/{sub_id}", include_in_schema=False)
    async def delete(sub_id: str, request: Request) -> Response:
        user, _ = authenticate(emu, request)
        emu.state.subscriptions.pop(_find(emu, sub_id, user).id)
        return Response(status_code=204)

    return router
