"""Translation between the engine's neutral model and Google's JSON resources.

Events carry the system's stamp in ``extendedProperties.private`` (``vsAppointmentId``,
``vsTenantId``, ``vsVersion``, ``vsEntryKey``); holds are ``status: tentative``, the confirmed
event ``status: confirmed``; the room is an attendee with ``resource: true``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from calendar_sync.core.model import (
    BusyInterval,
    CalendarBusy,
    CalendarEntry,
    EventMeta,
    ProviderEvent,
    PushChannel,
    RoomResponse,
)
from visitor_common.contracts.availability import Room, RoomGroup

PROP_APPOINTMENT = "vsAppointmentId"
PROP_TENANT = "vsTenantId"
PROP_VERSION = "vsVersion"
PROP_ENTRY = "vsEntryKey"

_RESPONSES = {
    "accepted": RoomResponse.ACCEPTED,
    "declined": RoomResponse.DECLINED,
    "tentative": RoomResponse.TENTATIVE,
    "needsAction": RoomResponse.NEEDS_ACTION,
}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    """A Google ``start``/``end`` object (``dateTime``; all-day ``date`` gives None)."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        return None
    try:
        parsed = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def event_body(entry: CalendarEntry, meta: EventMeta, event_id: str | None = None) -> dict[str, Any]:
    """The fields the connector owns, for insert (with ``id``) or patch (without)."""
    body: dict[str, Any] = {
        "summary": entry.title,
        "description": entry.description,
        "start": {"dateTime": rfc3339(entry.start), "timeZone": "UTC"},
        "end": {"dateTime": rfc3339(entry.end), "timeZone": "UTC"},
        "status": "tentative" if entry.tentative else "confirmed",
        "transparency": "opaque",
        "attendees": [],
        "extendedProperties": {
            "private": {
                PROP_APPOINTMENT: meta.appointment_id,
                PROP_TENANT: meta.tenant_id,
                PROP_VERSION: str(meta.appointment_version),
                PROP_ENTRY: meta.entry_key,
            }
        },
    }
    if entry.room is not None:
        room: dict[str, Any] = {"email": str(entry.room.email), "resource": True}
        if entry.room.name:
            room["displayName"] = entry.room.name
            body["location"] = entry.room.name
        body["attendees"] = [room]
    if event_id is not None:
        body["id"] = event_id
    return body


def parse_meta(resource: dict[str, Any]) -> EventMeta | None:
    private = (resource.get("extendedProperties") or {}).get("private") or {}
    appointment_id, entry_key = private.get(PROP_APPOINTMENT), private.get(PROP_ENTRY)
    if not appointment_id or not entry_key:
        return None
    try:
        version = int(private.get(PROP_VERSION, "0"))
    except ValueError:
        version = 0
    return EventMeta(
        appointment_id=appointment_id,
        tenant_id=str(private.get(PROP_TENANT, "")),
        appointment_version=version,
        entry_key=entry_key,
    )


def _room_attendee(resource: dict[str, Any]) -> dict[str, Any] | None:
    for attendee in resource.get("attendees") or []:
        if isinstance(attendee, dict) and attendee.get("resource"):
            return attendee
    return None


def parse_event(resource: dict[str, Any]) -> ProviderEvent:
    """A Google event resource, normalised. Deleted events (``status: cancelled``) may carry
    only ``id`` and ``status`` in an incremental sync."""
    cancelled = resource.get("status") == "cancelled"
    room = _room_attendee(resource)
    return ProviderEvent(
        event_id=str(resource["id"]),
        etag=resource.get("etag"),
        cancelled=cancelled,
        start=parse_time(resource.get("start")),
        end=parse_time(resource.get("end")),
        title=None if cancelled else str(resource.get("summary", "")),
        description=None if cancelled else str(resource.get("description", "")),
        room_email=str(room["email"]).lower() if room else None,
        room_response=_RESPONSES.get(str(room.get("responseStatus"))) if room else None,
        tentative=(resource.get("status") == "tentative") if not cancelled else None,
        meta=parse_meta(resource),
    )


def parse_busy(calendars: dict[str, Any]) -> dict[str, CalendarBusy]:
    """``freeBusy`` ``calendars`` → busy intervals (or the per-calendar error reason)."""
    answer: dict[str, CalendarBusy] = {}
    for calendar_id, info in (calendars or {}).items():
        errors = info.get("errors") or []
        if errors:
            answer[calendar_id] = CalendarBusy(error=str(errors[0].get("reason", "unknown")))
            continue
        intervals = []
        for period in info.get("busy") or []:
            start, end = (
                parse_time({"dateTime": period.get("start")}),
                parse_time({"dateTime": period.get("end")}),
            )
            if start is not None and end is not None:
                intervals.append(BusyInterval(start, end))
        answer[calendar_id] = CalendarBusy(busy=intervals)
    return answer


def building_group(resource: dict[str, Any]) -> RoomGroup:
    return RoomGroup(
        id=str(resource["buildingId"]), name=str(resource.get("buildingName") or resource["buildingId"])
    )


def resource_room(resource: dict[str, Any]) -> Room | None:
    """A calendar resource as a bookable room; non-room resources (projectors…) give None.

    Not validated here: the directory is the tenant's data, and the shared rooms API validates
    every room, leaving out (and reporting) one that does not validate instead of failing."""
    category = resource.get("resourceCategory")
    email = resource.get("resourceEmail")
    if not email or (category is not None and category != "CONFERENCE_ROOM"):
        return None
    return Room.model_construct(
        email=str(email).lower(),
        name=str(resource.get("resourceName") or resource.get("generatedResourceName") or email),
        capacity=resource.get("capacity"),
        group_id=resource.get("buildingId"),
        floor=resource.get("floorName"),
    )


def parse_channel(resource: dict[str, Any], token: str) -> PushChannel:
    expiration_ms = int(resource.get("expiration") or 0)
    return PushChannel(
        channel_id=str(resource["id"]),
        token=token,
        resource_id=resource.get("resourceId"),
        expires_at=datetime.fromtimestamp(expiration_ms / 1000, UTC),
    )
