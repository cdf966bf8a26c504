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

Like every provider it does not retry or refresh tokens itself (the engine does): the Graph
client is built with one attempt per call. It does hold the per-mailbox concurrency limit,
because that is a property of Outlook, not of the engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from calendar_outlook.adapters.graph.client import MAX_SCHEDULES_PER_CALL, GraphClient
from calendar_outlook.adapters.graph.errors import GraphApiError, GraphErrorKind
from calendar_outlook.adapters.graph.models import (
    ExtendedProperty,
    GraphEvent,
    GraphRoom,
    ScheduleInformation,
)
from calendar_outlook.domain import graph_event
from calendar_sync.core import ids
from calendar_sync.core.errors import (
    AccessTokenRejected,
    EventNotFound,
    PermissionMissing,
    ProviderError,
    ProviderRejected,
    SyncCursorInvalid,
    TransientProviderError,
)
from calendar_sync.core.model import (
    BusyInterval,
    CalendarBusy,
    CalendarEntry,
    ChangePage,
    EventMeta,
    ProviderAccess,
    ProviderEvent,
    PushChannel,
)
from visitor_common.contracts.availability import Room, RoomGroup
from visitor_common.events.appointments import Provider

T = TypeVar("T")

ADMIN_CONSENT_MESSAGE = (
    "Microsoft 365 room lists need the Place.Read.All permission, which only a Microsoft 365 "
    "administrator can grant (管理者の承認が必要). Ask your administrator to open the admin-consent "
    "link offered when linking Outlook and grant this app's permissions, then try again."
)
CALENDAR_PERMISSION_MESSAGE = (
    "The linked Microsoft 365 account does not allow this app to use its calendar. Link Outlook "
    "again and accept (承諾) the requested permissions."
)
SCHEDULE_CHUNK = dt.timedelta(days=61)
MAX_SUBSCRIPTION_TTL = dt.timedelta(minutes=10070)


@dataclass(frozen=True)
class AccessAuth:
    """``GraphAuth`` over the engine's ``ProviderAccess`` (a token the engine refreshes)."""

    access: ProviderAccess

    @property
    def mailbox(self) -> str:
        return self.access.account_email

    async def access_token(self, *, refresh: bool = False) -> str:
        return self.access.access_token


def to_provider_error(error: GraphApiError, *, places: bool = False) -> ProviderError:
    """Map a classified Graph failure to the engine's error taxonomy."""
    text = error.message or str(error)
    status = error.status or None
    match error.kind:
        case GraphErrorKind.THROTTLED | GraphErrorKind.UNAVAILABLE | GraphErrorKind.CONFLICT:
            return TransientProviderError(
                text, status=status, reason=error.code, retry_after=error.retry_after
            )
        case GraphErrorKind.UNAUTHORIZED:
            return AccessTokenRejected(text, status=status, reason=error.code)
        case GraphErrorKind.NOT_FOUND:
            return EventNotFound(text, status=status, reason=error.code)
        case GraphErrorKind.RESYNC_REQUIRED:
            return SyncCursorInvalid(text, status=status, reason=error.code)
        case GraphErrorKind.FORBIDDEN if places:
            return PermissionMissing(ADMIN_CONSENT_MESSAGE, code="admin_consent_required", reason=error.code)
        case GraphErrorKind.FORBIDDEN:
            return PermissionMissing(
                CALENDAR_PERMISSION_MESSAGE, code="calendar_permission_missing", reason=error.code
            )
        case _:
            return ProviderRejected(text, status=status, reason=error.code)


async def _mapped(call: Awaitable[T], *, places: bool = False) -> T:
    try:
        return await call
    except GraphApiError as error:
        raise to_provider_error(error, places=places) from error


def to_provider_event(event: GraphEvent) -> ProviderEvent:
    """Normalise a Graph event (times UTC; body as text; the room's response)."""
    room_email, response = _room(event)
    body = event.body
    return ProviderEvent(
        event_id=event.id,
        etag=event.change_key,
        cancelled=event.is_cancelled or event.removed is not None,
        start=event.start.as_utc() if event.start else None,
        end=event.end.as_utc() if event.end else None,
        title=event.subject,
        description=graph_event.body_text(body.content_type, body.content) if body else None,
        room_email=room_email,
        room_response=graph_event.room_response(response) if room_email else None,
        tentative=(event.show_as == "tentative") if event.show_as else None,
        meta=graph_event.decode_meta(event.property_value(graph_event.META_PROPERTY)),
    )


def _room(event: GraphEvent) -> tuple[str | None, str | None]:
    for attendee in event.attendees:
        if attendee.type == "resource" and attendee.email_address.address:
            return attendee.email_address.address.lower(), attendee.status.response
    location = event.location
    if location is not None and location.location_email_address:
        return location.location_email_address.lower(), None
    return None, None


def _busy(info: ScheduleInformation) -> CalendarBusy:
    if info.error is not None:
        return CalendarBusy(error=info.error.response_code or info.error.message or "error")
    busy = [
        BusyInterval(start=item.start.as_utc(), end=item.end.as_utc())
        for item in info.schedule_items
        if item.status.lower() != "free"
    ]
    return CalendarBusy(busy=busy)


def _room_model(room: GraphRoom, group_id: str | None) -> Room | None:
    if not room.email_address:
        return None
    floor = room.floor_label or (str(room.floor_number) if room.floor_number is not None else None)
    return Room(
        email=room.email_address,
        name=room.display_name or room.email_address,
        capacity=room.capacity,
        group_id=group_id,
        floor=floor,
    )


class GraphCalendarProvider:
    provider: Provider = Provider.OUTLOOK
    max_calendars_per_free_busy: int = MAX_SCHEDULES_PER_CALL

    def __init__(
        self,
        client: GraphClient,
        *,
        delta_window_past: dt.timedelta = dt.timedelta(days=7),
        delta_window_future: dt.timedelta = dt.timedelta(days=60),
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        id_salt: str = "vs1",
    ) -> None:
        self._client = client
        self._past = delta_window_past
        self._future = delta_window_future
        self._clock = clock
        self._salt = id_salt

    @property
    def client(self) -> GraphClient:
        return self._client

    def client_id_for(self, meta: EventMeta, generation: int) -> str:
        return ids.transaction_id(meta.appointment_id, meta.entry_key, generation, salt=self._salt)

    # --- events --------------------------------------------------------------------------------

    async def create_event(
        self, access: ProviderAccess, client_id: str, entry: CalendarEntry, meta: EventMeta
    ) -> ProviderEvent:
        body = graph_event.create_body(entry, meta, client_id)
        created = await _mapped(self._client.create_event(AccessAuth(access), body))
        if created.property_value(graph_event.META_PROPERTY) is None:
            created = created.model_copy(update={"extended_properties": _props(body)})
        return to_provider_event(created)

    async def update_event(
        self,
        access: ProviderAccess,
        event_id: str,
        entry: CalendarEntry,
        meta: EventMeta,
        etag: str | None,
    ) -> ProviderEvent:
        body = graph_event.event_body(entry, meta)
        updated = await _mapped(self._client.update_event(AccessAuth(access), event_id, body))
        if updated.property_value(graph_event.META_PROPERTY) is None:
            updated = updated.model_copy(update={"extended_properties": _props(body)})
        return to_provider_event(updated)

    async def delete_event(self, access: ProviderAccess, event_id: str) -> None:
        deleted = await _mapped(self._client.delete_event(AccessAuth(access), event_id))
        if not deleted:
            raise EventNotFound(f"event {event_id} was already gone", status=404, reason="ErrorItemNotFound")

    async def get_event(self, access: ProviderAccess, event_id: str) -> ProviderEvent | None:
        found = await _mapped(
            self._client.get_event(AccessAuth(access), event_id, graph_event.OUR_PROPERTIES)
        )
        return to_provider_event(found) if found is not None else None

    # --- drift ---------------------------------------------------------------------------------

    async def list_changes(self, access: ProviderAccess, cursor: str | None) -> ChangePage:
        auth = AccessAuth(access)
        if cursor is None:
            now = self._clock()
            result = await _mapped(
                self._client.calendar_delta(auth, start=now - self._past, end=now + self._future)
            )
        else:
            result = await _mapped(self._client.calendar_delta(auth, delta_link=cursor))
        events = [to_provider_event(e) for e in result.changed]
        events += [ProviderEvent(event_id=i, cancelled=True) for i in result.removed_ids]
        return ChangePage(events=events, next_cursor=result.delta_link, full=cursor is None)

    # --- availability and rooms ----------------------------------------------------------------

    async def free_busy(
        self, access: ProviderAccess, calendars: list[str], start: dt.datetime, end: dt.datetime
    ) -> dict[str, CalendarBusy]:
        merged: dict[str, CalendarBusy] = {}
        chunk_start = start
        while chunk_start < end:
            chunk_end = min(end, chunk_start + SCHEDULE_CHUNK)
            infos = await _mapped(
                self._client.get_schedule(AccessAuth(access), calendars, chunk_start, chunk_end, 15)
            )
            for info in infos:
                merged[info.schedule_id.lower()] = _merge(merged.get(info.schedule_id.lower()), _busy(info))
            chunk_start = chunk_end
        return merged

    async def list_room_groups(self, access: ProviderAccess) -> list[RoomGroup]:
        lists = await _mapped(self._client.list_room_lists(AccessAuth(access)), places=True)
        return [RoomGroup(id=r.email_address or r.id, name=r.display_name or r.id) for r in lists]

    async def list_rooms(self, access: ProviderAccess, group_id: str | None) -> list[Room]:
        """Rooms of one room list, or every room tagged with the room list that holds it."""
        auth = AccessAuth(access)
        if group_id is not None:
            email = await self._room_list_email(access, group_id)
            rooms = await _mapped(self._client.list_rooms(auth, email), places=True)
            return [r for r in (_room_model(room, group_id) for room in rooms) if r is not None]
        found: dict[str, Room] = {}
        for group in await self.list_room_groups(access):
            for room in await self.list_rooms(access, group.id):
                found.setdefault(str(room.email).lower(), room)
        for graph_room in await _mapped(self._client.list_all_rooms(auth), places=True):
            model = _room_model(graph_room, None)
            if model is not None:
                found.setdefault(str(model.email).lower(), model)
        return list(found.values())

    async def _room_list_email(self, access: ProviderAccess, group_id: str) -> str:
        """Room lists are addressed by e-mail; accept a Graph place id too."""
        if "@" in group_id:
            return group_id
        lists = await _mapped(self._client.list_room_lists(AccessAuth(access)), places=True)
        match = next((r for r in lists if r.id == group_id and r.email_address), None)
        if match is None or match.email_address is None:
            raise ProviderRejected(f"unknown room list {group_id}", status=404, reason="ErrorItemNotFound")
        return match.email_address

    # --- push ----------------------------------------------------------------------------------

    async def open_channel(
        self, access: ProviderAccess, *, channel_id: str, token: str, address: str, ttl_seconds: int
    ) -> PushChannel:
        """A Graph subscription on the host's events (Graph picks the id; ``channel_id`` unused)."""
        expires = self._clock() + min(dt.timedelta(seconds=ttl_seconds), MAX_SUBSCRIPTION_TTL)
        sub = await _mapped(
            self._client.create_subscription(
                AccessAuth(access),
                notification_url=address,
                client_state=token,
                expiration=expires,
                lifecycle_url=address,
            )
        )
        return PushChannel(
            channel_id=sub.id, token=token, resource_id=sub.resource, expires_at=sub.expiration
        )

    async def renew_channel(
        self, access: ProviderAccess, channel: PushChannel, ttl_seconds: int
    ) -> PushChannel:
        """PATCH the subscription's ``expirationDateTime`` (Graph renews in place)."""
        expires = self._clock() + min(dt.timedelta(seconds=ttl_seconds), MAX_SUBSCRIPTION_TTL)
        sub = await _mapped(self._client.renew_subscription(AccessAuth(access), channel.channel_id, expires))
        return PushChannel(
            channel_id=sub.id, token=channel.token, resource_id=channel.resource_id, expires_at=sub.expiration
        )

    async def stop_channel(self, access: ProviderAccess, channel: PushChannel) -> None:
        await _mapped(self._client.delete_subscription(AccessAuth(access), channel.channel_id))


def _props(body: dict[str, object]) -> list[ExtendedProperty]:
    props = body.get("singleValueExtendedProperties")
    return [ExtendedProperty.model_validate(p) for p in props] if isinstance(props, list) else []


def _merge(first: CalendarBusy | None, second: CalendarBusy) -> CalendarBusy:
    if first is None:
        return second
    return CalendarBusy(busy=[*first.busy, *second.busy], error=first.error or second.error)
