"""Pure translation between the engine's neutral entries and Graph event JSON.

Every event the connector writes carries two single-value extended properties in its own
property set (a fixed GUID): the appointment id alone (so events can be found with an OData
``any()`` filter) and the full :class:`EventMeta` as JSON (appointment id, tenant, version and
entry key), which proves later that an event is ours and which version wrote it.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

from calendar_sync.core.model import CalendarEntry, EventMeta, RoomResponse

PROPERTY_SET = "{8f3b1f0e-4c1d-4a58-9b7e-6f2d5c0a9e11}"
APPOINTMENT_PROPERTY = f"String {PROPERTY_SET} Name VisitorSchedulingAppointmentId"
META_PROPERTY = f"String {PROPERTY_SET} Name VisitorSchedulingMeta"
OUR_PROPERTIES = [APPOINTMENT_PROPERTY, META_PROPERTY]

_RESPONSES = {
    "accepted": RoomResponse.ACCEPTED,
    "declined": RoomResponse.DECLINED,
    "tentativelyaccepted": RoomResponse.TENTATIVE,
}
_BREAKS = re.compile(r"(?i)<br\s*/?>|</p\s*>|</div\s*>")
_TAGS = re.compile(r"<[^>]+>")
_HEAD = re.compile(r"(?is)<head.*?</head>|<style.*?</style>")


def _utc(value: datetime) -> dict[str, str]:
    stamp = value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    return {"dateTime": stamp, "timeZone": "UTC"}


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
        "start": _utc(entry.start),
        "end": _utc(entry.end),
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
