"""Pure translation between the engine's neutral model and Microsoft Graph JSON.

Every event the connector writes carries two single-value extended properties in its own
property set (a fixed GUID): the appointment id alone (so events can be found with an OData
``any()`` filter) and the full :class:`EventMeta` as JSON (appointment id, tenant, version and
entry key), which proves later that an event is ours and which version wrote it.

Times are read as UTC: the transport always sends ``Prefer: outlook.timezone="UTC"``.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

from calendar_sync.core.model import (
    BusyInterval,
    CalendarBusy,
    CalendarEntry,
    EventMeta,
    ProviderEvent,
    RoomResponse,
)
from visitor_common.contracts.availability import Room, RoomGroup

PROPERTY_SET = "{8f3b1f0e-4c1d-4a58-9b7e-6f2d5c0a9e11}"
APPOINTMENT_PROPERTY = f"String {PROPERTY_SET} Name VisitorSchedulingAppointmentId"
META_PROPERTY = f"String {PROPERTY_SET} Name VisitorSchedulingMeta"
OUR_PROPERTIES = [APPOINTMENT_PROPERTY, META_PROPERTY]
# ``$expand`` that makes Graph return our properties with an event (it omits them otherwise).
EXPAND_OURS = {
    "$expand": "singleValueExtendedProperties($filter="
    + " or ".join(f"id eq '{p}'" for p in OUR_PROPERTIES)
    + ")"
}

_RESPONSES = {
    "accepted": RoomResponse.ACCEPTED,
    "declined": RoomResponse.DECLINED,
    "tentativelyaccepted": RoomResponse.TENTATIVE,
}
_BREAKS = re.compile(r"(?i)<br\s*/?>|</p\s*>|</div\s*>")
_TAGS = re.compile(r"<[^>]+>")
_HEAD = re.compile(r"(?is)<head.*?</head>|<style.*?</style>")


def utc_stamp(value: datetime) -> dict[str, str]:
    """A ``dateTimeTimeZone`` in UTC."""
    stamp = value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    return {"dateTime": stamp, "timeZone": "UTC"}


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    """A ``dateTimeTimeZone`` (or a bare ISO string) as an aware UTC instant."""
    text = value.get("dateTime") if isinstance(value, dict) else value
    if not isinstance(text, str):
        return None
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def encode_meta(meta: EventMeta) -> str:
    return json.dumps(meta.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def decode_meta(raw: str | None) -> EventMeta | None:
    if not raw:
        return None
    try:
        return EventMeta.model_validate_json(raw)
    except ValueError:
        return None  # someone else's or damaged property: not ours


def event_body(entry: CalendarEntry, meta: EventMeta) -> dict[str, Any]:
    """The full Graph event for ``entry`` (PATCH with it replaces every field we own)."""
    room = entry.room
    body: dict[str, Any] = {
        "subject": entry.title,
        "body": {"contentType": "text", "content": entry.description},
        "start": utc_stamp(entry.start),
        "end": utc_stamp(entry.end),
        "showAs": "tentative" if entry.tentative else "busy",
        "attendees": [],
        "location": {"displayName": ""},
        "singleValueExtendedProperties": [
            {"id": APPOINTMENT_PROPERTY, "value": meta.appointment_id},
            {"id": META_PROPERTY, "value": encode_meta(meta)},
        ],
    }
    if room is not None:
        name = room.name or str(room.email)
        body["attendees"] = [{"emailAddress": {"address": str(room.email), "name": name}, "type": "resource"}]
        body["location"] = {
            "displayName": name,
            "locationEmailAddress": str(room.email),
            "locationType": "conferenceRoom",
        }
    return body


def create_body(entry: CalendarEntry, meta: EventMeta, transaction_id: str) -> dict[str, Any]:
    return {**event_body(entry, meta), "transactionId": transaction_id}


def room_response(raw: str | None) -> RoomResponse | None:
    if raw is None:
        return None
    return _RESPONSES.get(raw.lower(), RoomResponse.NEEDS_ACTION)


def body_text(content_type: str, content: str) -> str:
    """Graph may hand back a text body as HTML; compare on the text either way."""
    if content_type.lower() != "html":
        return content.strip()
    text = _HEAD.sub("", content)
    text = _BREAKS.sub("\n", text)
    text = html.unescape(_TAGS.sub("", text))
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


def _property(event: dict[str, Any], prop_id: str) -> str | None:
    wanted = prop_id.lower()
    for prop in event.get("singleValueExtendedProperties") or []:
        if str(prop.get("id", "")).lower() == wanted:
            return str(prop.get("value"))
    return None


def _room(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """The room's address and answer: the resource attendee, else the location's address."""
    for attendee in event.get("attendees") or []:
        address = (attendee.get("emailAddress") or {}).get("address")
        if attendee.get("type") == "resource" and address:
            return str(address).lower(), (attendee.get("status") or {}).get("response", "none")
    location = (event.get("location") or {}).get("locationEmailAddress")
    return (str(location).lower(), None) if location else (None, None)


def parse_event(event: dict[str, Any]) -> ProviderEvent:
    """A Graph event (or a delta ``@removed`` stub), normalised."""
    room_email, response = _room(event)
    body = event.get("body")
    show_as = event.get("showAs")
    return ProviderEvent(
        event_id=str(event["id"]),
        etag=event.get("changeKey"),
        cancelled=bool(event.get("isCancelled")) or "@removed" in event,
        start=parse_time(event.get("start")),
        end=parse_time(event.get("end")),
        title=event.get("subject"),
        description=body_text(body.get("contentType", "text"), body.get("content", "")) if body else None,
        room_email=room_email,
        room_response=room_response(response) if room_email else None,
        tentative=(show_as == "tentative") if show_as else None,
        meta=decode_meta(_property(event, META_PROPERTY)),
    )


def schedule_body(addresses: list[str], start: datetime, end: datetime) -> dict[str, Any]:
    """A ``getSchedule`` request in 15-minute resolution."""
    return {
        "schedules": addresses,
        "startTime": utc_stamp(start),
        "endTime": utc_stamp(end),
        "availabilityViewInterval": 15,
    }


def parse_busy(info: dict[str, Any]) -> CalendarBusy:
    """One ``scheduleInformation``: its non-free items, or its error's code."""
    error = info.get("error")
    if error is not None:
        return CalendarBusy(error=error.get("responseCode") or error.get("message") or "error")
    busy = []
    for item in info.get("scheduleItems") or []:
        start, end = parse_time(item.get("start")), parse_time(item.get("end"))
        if str(item.get("status", "busy")).lower() != "free" and start and end:
            busy.append(BusyInterval(start=start, end=end))
    return CalendarBusy(busy=busy)


def room_group(room_list: dict[str, Any]) -> RoomGroup:
    """A room list, addressed by its e-mail (its place id when it has none)."""
    return RoomGroup(
        id=room_list.get("emailAddress") or room_list["id"],
        name=room_list.get("displayName") or room_list["id"],
    )


def parse_room(room: dict[str, Any], group_id: str | None) -> Room | None:
    """A Graph room place as a room. Not validated here: the directory is the tenant's data, and
    the shared rooms API validates every room, leaving out (and reporting) one that does not."""
    email = room.get("emailAddress")
    if not email:
        return None
    floor = room.get("floorLabel") or (
        str(room["floorNumber"]) if room.get("floorNumber") is not None else None
    )
    return Room.model_construct(
        email=email,
        name=room.get("displayName") or email,
        capacity=room.get("capacity"),
        group_id=group_id,
        floor=floor,
    )
