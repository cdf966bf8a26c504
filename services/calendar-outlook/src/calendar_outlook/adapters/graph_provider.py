"""The engine's ``CalendarProvider`` (and ``SupportsPush``) for Microsoft Graph.

Graph-specific choices:
- the client-chosen id is the event's ``transactionId`` (Graph answers a repeated POST with the
  same ``transactionId`` with the existing event, so a retried create never duplicates); the
  engine keeps Graph's own event id, which the server assigns;
- ownership and the writing version travel in single-value extended properties
  (:mod:`calendar_outlook.domain.graph_event`);
- rooms are ``resource`` attendees and the location; a room's answer is its attendee status;
- drift uses ``/me/calendarView/delta`` (cursor = the ``@odata.deltaLink``);
- free/busy is ``getSchedule`` (20 addresses per call, ranges < 62 days);
- push channels are Graph subscriptions on ``me/events`` (``clientState`` = channel token).

Only translation lives here and in the transport (:mod:`calendar_outlook.adapters.graph.client`);
retries, token refresh, idempotency and state are the engine's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any
from urllib.parse import quote

from calendar_outlook.adapters.graph.client import GraphClient
from calendar_outlook.domain import graph_event
from calendar_sync.core import (
    CalendarBusy,
    CalendarEntry,
    ChangePage,
    EventMeta,
    EventNotFound,
    ProviderAccess,
    ProviderEvent,
    ProviderRejected,
    PushChannel,
    SyncCursorInvalid,
    transaction_id,
)
from visitor_common.contracts.availability import Room, RoomGroup
from visitor_common.events.appointments import Provider

MAX_SCHEDULES_PER_CALL = 20
SCHEDULE_CHUNK = dt.timedelta(days=61)
MAX_SUBSCRIPTION_TTL = dt.timedelta(minutes=10070)
ROOM_LISTS = "places/microsoft.graph.roomlist"


def _event_path(event_id: str) -> str:
    return f"me/events/{quote(event_id, safe='')}"


def _written(answer: dict[str, Any], meta: EventMeta) -> ProviderEvent:
    """The event Graph returned for a write; it omits extended properties unless expanded, so
    it carries the meta just written."""
    event = graph_event.parse_event(answer)
    return event if event.meta is not None else event.model_copy(update={"meta": meta})


@dataclass
class GraphCalendarProvider:
    client: GraphClient
    _: KW_ONLY
    provider: Provider = field(default=Provider.OUTLOOK, init=False)
    max_calendars_per_free_busy: int = field(default=MAX_SCHEDULES_PER_CALL, init=False)
    delta_window_past: dt.timedelta = dt.timedelta(days=7)
    delta_window_future: dt.timedelta = dt.timedelta(days=60)
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    id_salt: str = "vs1"

    def client_id_for(self, meta: EventMeta, generation: int) -> str:
        return transaction_id(meta.appointment_id, meta.entry_key, generation, salt=self.id_salt)

    # --- events --------------------------------------------------------------------------------

    async def create_event(
        self, access: ProviderAccess, client_id: str, entry: CalendarEntry, meta: EventMeta
    ) -> ProviderEvent:
        body = graph_event.create_body(entry, meta, client_id)
        return _written(await self.client.request(access, "POST", "me/events", json=body), meta)

    async def update_event(
        self, access: ProviderAccess, event_id: str, entry: CalendarEntry, meta: EventMeta, etag: str | None
    ) -> ProviderEvent:
        body = graph_event.event_body(entry, meta)
        return _written(await self.client.request(access, "PATCH", _event_path(event_id), json=body), meta)

    async def delete_event(self, access: ProviderAccess, event_id: str) -> None:
        await self.client.request(access, "DELETE", _event_path(event_id))

    async def get_event(self, access: ProviderAccess, event_id: str) -> ProviderEvent | None:
        try:
            answer = await self.client.request(
                access, "GET", _event_path(event_id), params=graph_event.EXPAND_OURS
            )
        except EventNotFound:
            return None
        return graph_event.parse_event(answer)

    # --- drift ---------------------------------------------------------------------------------

    async def list_changes(self, access: ProviderAccess, cursor: str | None) -> ChangePage:
        """One delta round (all pages): from the stored deltaLink, or a fresh window."""
        link, params = cursor, None
        if link is None:
            now = self.clock()
            link = "me/calendarView/delta"
            params = {
                "startDateTime": graph_event.iso(now - self.delta_window_past),
                "endDateTime": graph_event.iso(now + self.delta_window_future),
            }
        events: list[ProviderEvent] = []
        delta_link: str | None = None
        try:
            async for page in self.client.pages(access, link, params):
                events.extend(graph_event.parse_event(item) for item in page.get("value", []))
                delta_link = page.get("@odata.deltaLink")
        except EventNotFound as gone:
            if gone.status != 410:
                raise
            # A delta link that is gone, whatever Graph's code says: the sync state expired.
            raise SyncCursorInvalid(gone.message, status=gone.status, reason=gone.reason) from gone
        if delta_link is None:
            raise ProviderRejected("Graph ended a delta round without a deltaLink", reason="NoDeltaLink")
        return ChangePage(events=events, next_cursor=delta_link, full=cursor is None)

    # --- availability and rooms ----------------------------------------------------------------

    async def free_busy(
        self, access: ProviderAccess, calendars: list[str], start: dt.datetime, end: dt.datetime
    ) -> dict[str, CalendarBusy]:
        """``getSchedule`` in ranges under 62 days and chunks of 20 addresses, merged."""
        merged: dict[str, CalendarBusy] = {}
        chunk_start = start
        while chunk_start < end:
            chunk_end = min(end, chunk_start + SCHEDULE_CHUNK)
            for offset in range(0, len(calendars), MAX_SCHEDULES_PER_CALL):
                addresses = calendars[offset : offset + MAX_SCHEDULES_PER_CALL]
                body = graph_event.schedule_body(addresses, chunk_start, chunk_end)
                answer = await self.client.request(access, "POST", "me/calendar/getSchedule", json=body)
                for info in answer.get("value", []):
                    key = str(info.get("scheduleId", "")).lower()
                    merged[key] = _merge(merged.get(key), graph_event.parse_busy(info))
            chunk_start = chunk_end
        return merged

    async def _places(self, access: ProviderAccess, path: str) -> list[dict[str, Any]]:
        pages = self.client.pages(access, path, {"$top": "100"})
        return [item async for page in pages for item in page.get("value", [])]

    async def list_room_groups(self, access: ProviderAccess) -> list[RoomGroup]:
        return [graph_event.room_group(r) for r in await self._places(access, ROOM_LISTS)]

    async def list_rooms(self, access: ProviderAccess, group_id: str | None) -> list[Room]:
        """Rooms of one room list, or every room tagged with the room list that holds it."""
        if group_id is not None:
            email = await self._room_list_email(access, group_id)
            rooms = await self._places(
                access, f"places/{quote(email, safe='@')}/microsoft.graph.roomlist/rooms"
            )
            return _rooms(rooms, group_id)
        found: dict[str, Room] = {}
        for group in await self.list_room_groups(access):
            for room in await self.list_rooms(access, group.id):
                found.setdefault(str(room.email).lower(), room)
        for room in _rooms(await self._places(access, "places/microsoft.graph.room"), None):
            found.setdefault(str(room.email).lower(), room)
        return list(found.values())

    async def _room_list_email(self, access: ProviderAccess, group_id: str) -> str:
        """Room lists are addressed by e-mail; accept a Graph place id too."""
        if "@" in group_id:
            return group_id
        lists = await self._places(access, ROOM_LISTS)
        match = next(
            (r["emailAddress"] for r in lists if r.get("id") == group_id and r.get("emailAddress")), None
        )
        if match is None:
            raise ProviderRejected(f"unknown room list {group_id}", status=404, reason="ErrorItemNotFound")
        return str(match)

    # --- push ----------------------------------------------------------------------------------

    def _expiry(self, ttl_seconds: int) -> str:
        return graph_event.iso(self.clock() + min(dt.timedelta(seconds=ttl_seconds), MAX_SUBSCRIPTION_TTL))

    async def open_channel(
        self, access: ProviderAccess, *, channel_id: str, token: str, address: str, ttl_seconds: int
    ) -> PushChannel:
        """A Graph subscription on the host's events (Graph picks the id; ``channel_id`` unused)."""
        body = {
            "changeType": "created,updated,deleted",
            "notificationUrl": address,
            "lifecycleNotificationUrl": address,
            "resource": "me/events",
            "expirationDateTime": self._expiry(ttl_seconds),
            "clientState": token,
        }
        sub = await self.client.request(access, "POST", "subscriptions", json=body)
        return _channel(sub, token, sub.get("resource", ""))

    async def renew_channel(
        self, access: ProviderAccess, channel: PushChannel, ttl_seconds: int
    ) -> PushChannel:
        """PATCH the subscription's ``expirationDateTime`` (Graph renews in place)."""
        path = f"subscriptions/{quote(channel.channel_id, safe='')}"
        body = {"expirationDateTime": self._expiry(ttl_seconds)}
        sub = await self.client.request(access, "PATCH", path, json=body)
        return _channel(sub, channel.token, channel.resource_id)

    async def stop_channel(self, access: ProviderAccess, channel: PushChannel) -> None:
        try:
            await self.client.request(access, "DELETE", f"subscriptions/{quote(channel.channel_id, safe='')}")
        except EventNotFound:
            return  # already gone


def _channel(sub: dict[str, Any], token: str, resource_id: str | None) -> PushChannel:
    expires = graph_event.parse_time(sub.get("expirationDateTime"))
    if expires is None:
        raise ProviderRejected("Graph answered a subscription without expirationDateTime")
    return PushChannel(channel_id=str(sub["id"]), token=token, resource_id=resource_id, expires_at=expires)


def _rooms(places: list[dict[str, Any]], group_id: str | None) -> list[Room]:
    return [room for room in (graph_event.parse_room(p, group_id) for p in places) if room is not None]


def _merge(first: CalendarBusy | None, second: CalendarBusy) -> CalendarBusy:
    if first is None:
        return second
    return CalendarBusy(busy=[*first.busy, *second.busy], error=first.error or second.error)
