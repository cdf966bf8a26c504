"""Clients of the auth, appointments and connector JSON APIs.

Every failure becomes an :class:`ApiError` carrying the service's problem ``code``, so the pages
explain refusals with the same codes the APIs use; a service that cannot be reached is a 503
``service_unavailable`` (the page says so), never a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from visitor_common.contracts.availability import AvailabilityAnswer, AvailabilityQuery, RoomDirectory

log = logging.getLogger(__name__)

Json = dict[str, Any]


@dataclass
class ApiError(Exception):
    """A refusal (or an outage) of one of the services, with its problem ``code``."""

    status: int
    code: str
    title: str = ""
    detail: str | None = None
    extra: Json = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}"


def _error_of(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    reserved = {"type", "title", "status", "detail", "code"}
    status = response.status_code if response.status_code >= 400 else 502
    return ApiError(
        status=status,
        code=str(body.get("code") or "http_error"),
        title=str(body.get("title") or ""),
        detail=body.get("detail") if isinstance(body.get("detail"), str) else None,
        extra={k: v for k, v in body.items() if k not in reserved},
    )


class ServiceApi:
    """One service's API over a shared ``httpx.AsyncClient``."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, name: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._name = name

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Json:
        sent = {"Accept": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        try:
            response = await self._http.request(
                method, self._base + path, json=json, params=params, headers=sent
            )
        except httpx.HTTPError as error:
            # The URL may hold a guest token or an OAuth code: log the service and error type only.
            log.warning("service unreachable", extra={"target": self._name, "error": type(error).__name__})
            raise ApiError(503, "service_unavailable") from error
        if response.status_code >= 400:
            raise _error_of(response)
        try:
            body = response.json()
        except ValueError as error:
            raise ApiError(502, "bad_gateway") from error
        return body if isinstance(body, dict) else {"items": body}


class AuthApi(ServiceApi):
    async def sign_in(self, tenant_id: str, email: str, password: str) -> Json:
        body = {"tenant_id": tenant_id, "email": email, "password": password}
        return await self.call("POST", "/auth/v1/sign-in", json=body)

    async def refresh(self, refresh_token: str) -> Json:
        return await self.call("POST", "/auth/v1/refresh", json={"refresh_token": refresh_token})

    async def authorize(self, token: str, provider: str) -> str:
        body = await self.call("POST", f"/v1/calendar-connections/{provider}/authorize", token=token)
        return str(body["authorization_url"])

    async def callback(self, provider: str, params: dict[str, str]) -> Json:
        """Hand the provider's redirect (``code``, ``state``, or ``error``) to auth's callback."""
        return await self.call("GET", f"/v1/calendar-connections/{provider}/callback", params=params)

    async def current_connection(self, token: str) -> Json | None:
        try:
            return await self.call("GET", "/v1/calendar-connections/current", token=token)
        except ApiError as error:
            if error.code == "no_active_connection":
                return None
            raise

    async def set_room_group(self, token: str, room_group_id: str) -> Json:
        return await self.call(
            "PUT",
            "/v1/calendar-connections/current/room-preference",
            token=token,
            json={"room_group_id": room_group_id},
        )


class AppointmentsApi(ServiceApi):
    async def guest_view(self, guest_token: str) -> Json:
        return await self.call("GET", f"/v1/guest/appointments/{guest_token}")

    async def pick(self, guest_token: str, slot_id: str) -> Json:
        return await self.call(
            "POST", f"/v1/guest/appointments/{guest_token}/pick", json={"slot_id": slot_id}
        )

    async def mine(self, token: str) -> list[Json]:
        return list((await self.call("GET", "/v1/appointments", token=token)).get("items", []))

    async def get(self, token: str, appointment_id: str) -> Json:
        return await self.call("GET", f"/v1/appointments/{appointment_id}", token=token)

    async def create(self, token: str, body: Json) -> Json:
        return await self.call("POST", "/v1/appointments", token=token, json=body)

    async def restore(self, token: str, appointment_id: str, version: int) -> Json:
        return await self.call(
            "POST",
            f"/v1/appointments/{appointment_id}/calendar-restore",
            token=token,
            headers={"If-Match": f'"{version}"'},
        )

    async def reissue_link(self, token: str, appointment_id: str, version: int) -> Json:
        return await self.call(
            "POST",
            f"/v1/appointments/{appointment_id}/guest-link",
            token=token,
            headers={"If-Match": f'"{version}"'},
        )


class ConnectorApi(ServiceApi):
    """``/v1/rooms`` and ``/v1/availability``, served alike by both connectors."""

    async def rooms(self, token: str) -> RoomDirectory:
        return RoomDirectory.model_validate(await self.call("GET", "/v1/rooms", token=token))

    async def availability(self, token: str, query: AvailabilityQuery) -> AvailabilityAnswer:
        body = await self.call("POST", "/v1/availability", token=token, json=query.model_dump(mode="json"))
        return AvailabilityAnswer.model_validate(body)


@dataclass
class Apis:
    """Everything the pages talk to."""

    auth: AuthApi
    appointments: AppointmentsApi
    connectors: dict[str, ConnectorApi]

    def connector(self, provider: str) -> ConnectorApi:
        """The connector of a connection's ``provider`` (``google`` / ``outlook``)."""
        found = self.connectors.get(provider)
        if found is None:
            raise ApiError(503, "provider_not_configured")
        return found
