"""``GoogleCalendarProvider``: the engine's ``CalendarProvider`` (and ``SupportsPush``) over
Google Calendar API v3 and the Admin SDK Directory API, with httpx.

Only translation and error mapping live here; retries, token refresh, idempotency and state are
the engine's (``calendar_sync``).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from calendar_google.domain.mapping import (
    building_group,
    event_body,
    parse_busy,
    parse_channel,
    parse_event,
    resource_room,
    rfc3339,
)
from calendar_sync.core import (
    CalendarBusy,
    CalendarEntry,
    ChangePage,
    EventMeta,
    EventNotFound,
    PermissionMissing,
    ProviderAccess,
    ProviderError,
    ProviderEvent,
    ProviderRejected,
    PushChannel,
    TransientProviderError,
    classify_http,
    google_event_id,
    parse_retry_after,
)
from visitor_common.contracts.availability import Room, RoomGroup
from visitor_common.events.appointments import Provider

EVENTS_PATH = "/calendar/v3/calendars/primary/events"
DIRECTORY_PATH = "/admin/directory/v1/customer/my_customer/resources"
FREEBUSY_MAX_CALENDARS = 50
PAGE_SIZE = 250
DIRECTORY_PERMISSION_MESSAGE = (
    "The linked Google account is not allowed to read the Google Workspace directory, so its "
    "buildings and meeting rooms cannot be listed. Ask a Google Workspace administrator to give this "
    "account read access to calendar resources (Admin console > Account > Admin roles, privilege "
    "'Calendar resources: read'), or link the calendar with an account that has it; then open the "
    "room list again."
)


def provider_http_client(ca_file: Path | None, timeout: float) -> httpx.AsyncClient:
    """One pooled HTTPS client for the provider hosts, trusting ``ca_file`` in addition."""
    verify: ssl.SSLContext | bool = True
    if ca_file is not None:
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=str(ca_file))
        verify = context
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
    return httpx.AsyncClient(verify=verify, timeout=timeout, limits=limits)


def _reasons(body: Any) -> tuple[list[str], str]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return [], ""
    reasons = [
        str(e.get("reason")) for e in error.get("errors") or [] if isinstance(e, dict) and e.get("reason")
    ]
    return reasons, str(error.get("message") or "")


def error_for(response: httpx.Response, *, inserting: bool = False) -> ProviderError:
    """A failed Google answer as the engine's error (429/403-rate/5xx transient, 401, 409…)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    reasons, message = _reasons(body)
    return classify_http(
        response.status_code,
        reasons,
        message=message or f"Google answered {response.status_code}",
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        inserting=inserting,
    )


class GoogleCalendarProvider:
    provider = Provider.GOOGLE
    max_calendars_per_free_busy = FREEBUSY_MAX_CALENDARS

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        calendar_base_url: str = "https://www.googleapis.com",
        directory_base_url: str = "https://admin.googleapis.com",
        id_salt: str = "vs1",
    ) -> None:
        self._http = http
        self._calendar = calendar_base_url.rstrip("/")
        self._directory = directory_base_url.rstrip("/")
        self._salt = id_salt

    # ------------------------------------------------------------ plumbing

    async def _request(
        self,
        access: ProviderAccess,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        inserting: bool = False,
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method,
                url,
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {access.access_token}"},
            )
        except httpx.TransportError as error:
            raise TransientProviderError(f"Google unreachable: {type(error).__name__}") from error
        if response.is_error:
            raise error_for(response, inserting=inserting)
        return response

    def _event_url(self, event_id: str = "") -> str:
        return f"{self._calendar}{EVENTS_PATH}" + (f"/{event_id}" if event_id else "")

    # ------------------------------------------------------------ events

    def client_id_for(self, meta: EventMeta, generation: int) -> str:
        return google_event_id(meta.appointment_id, meta.entry_key, generation, salt=self._salt)

    async def create_event(
        self, access: ProviderAccess, client_id: str, entry: CalendarEntry, meta: EventMeta
    ) -> ProviderEvent:
        response = await self._request(
            access,
            "POST",
            self._event_url(),
            params={"sendUpdates": "none"},
            json=event_body(entry, meta, client_id),
            inserting=True,
        )
        return parse_event(response.json())

    async def update_event(
        self, access: ProviderAccess, event_id: str, entry: CalendarEntry, meta: EventMeta, etag: str | None
    ) -> ProviderEvent:
        # PATCH with every field the connector owns (status too, which revives a cancelled event).
        response = await self._request(
            access,
            "PATCH",
            self._event_url(event_id),
            params={"sendUpdates": "none"},
            json=event_body(entry, meta),
        )
        return parse_event(response.json())

    async def delete_event(self, access: ProviderAccess, event_id: str) -> None:
        await self._request(access, "DELETE", self._event_url(event_id), params={"sendUpdates": "none"})

    async def get_event(self, access: ProviderAccess, event_id: str) -> ProviderEvent | None:
        try:
            response = await self._request(access, "GET", self._event_url(event_id))
        except EventNotFound:
            return None
        return parse_event(response.json())

    async def list_changes(self, access: ProviderAccess, cursor: str | None) -> ChangePage:
        """Incremental sync with ``syncToken`` (all pages); a full listing (deleted events
        included) when ``cursor`` is None. 410 ``fullSyncRequired`` → ``SyncCursorInvalid``."""
        params: dict[str, Any] = {"maxResults": PAGE_SIZE}
        if cursor is None:
            params["showDeleted"] = "true"
        else:
            params["syncToken"] = cursor
        events: list[ProviderEvent] = []
        while True:
            body = (await self._request(access, "GET", self._event_url(), params=params)).json()
            events.extend(parse_event(item) for item in body.get("items") or [] if item.get("id"))
            if body.get("nextPageToken"):
                params = {**params, "pageToken": body["nextPageToken"]}
                continue
            return ChangePage(events=events, next_cursor=body.get("nextSyncToken"), full=cursor is None)

    # ------------------------------------------------------------ free/busy

    async def free_busy(
        self, access: ProviderAccess, calendars: list[str], start: datetime, end: datetime
    ) -> dict[str, CalendarBusy]:
        body = {
            "timeMin": rfc3339(start),
            "timeMax": rfc3339(end),
            "timeZone": "UTC",
            "items": [{"id": c} for c in calendars[:FREEBUSY_MAX_CALENDARS]],
        }
        response = await self._request(access, "POST", f"{self._calendar}/calendar/v3/freeBusy", json=body)
        return parse_busy(response.json().get("calendars") or {})

    # ------------------------------------------------------------ directory

    async def _directory_items(
        self, access: ProviderAccess, kind: str, items_key: str
    ) -> list[dict[str, Any]]:
        url = f"{self._directory}{DIRECTORY_PATH}/{kind}"
        params: dict[str, Any] = {"maxResults": 500}
        found: list[dict[str, Any]] = []
        while True:
            try:
                body = (await self._request(access, "GET", url, params=params)).json()
            except ProviderRejected as error:
                if error.status == 403:
                    raise PermissionMissing(
                        DIRECTORY_PERMISSION_MESSAGE, code="directory_permission_missing", reason=error.reason
                    ) from error
                raise
            found.extend(i for i in body.get(items_key) or [] if isinstance(i, dict))
            if not body.get("nextPageToken"):
                return found
            params = {**params, "pageToken": body["nextPageToken"]}

    async def list_room_groups(self, access: ProviderAccess) -> list[RoomGroup]:
        return [building_group(b) for b in await self._directory_items(access, "buildings", "buildings")]

    async def list_rooms(self, access: ProviderAccess, group_id: str | None) -> list[Room]:
        rooms = _rooms(await self._directory_items(access, "calendars", "items"))
        return [r for r in rooms if group_id is None or r.group_id == group_id]

    # ------------------------------------------------------------ push

    async def open_channel(
        self, access: ProviderAccess, *, channel_id: str, token: str, address: str, ttl_seconds: int
    ) -> PushChannel:
        body = {
            "id": channel_id,
            "type": "web_hook",
            "address": address,
            "token": token,
            "params": {"ttl": str(ttl_seconds)},
            "expiration": str(int((time.time() + ttl_seconds) * 1000)),
        }
        response = await self._request(access, "POST", f"{self._event_url()}/watch", json=body)
        return parse_channel(response.json(), token)

    async def stop_channel(self, access: ProviderAccess, channel: PushChannel) -> None:
        body: dict[str, Any] = {"id": channel.channel_id}
        if channel.resource_id:
            body["resourceId"] = channel.resource_id
        try:
            await self._request(access, "POST", f"{self._calendar}/calendar/v3/channels/stop", json=body)
        except EventNotFound:
            return  # already gone


def _rooms(resources: Iterable[dict[str, Any]]) -> list[Room]:
    return [room for room in (resource_room(r) for r in resources) if room is not None]
