"""Mailbox calendars: validating, storing, propagating and rendering Graph events.

Every write bumps the event's ``seq`` (for delta), gives it a new ``changeKey`` and notifies
subscriptions. Attendees that are mailboxes of the emulator get a copy of the meeting (same
``iCalUId``); rooms answer at once — accepted when their calendar is free over the meeting,
declined otherwise. (Exchange answers asynchronously; the emulator answers within the write.)
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
from copy import deepcopy
from typing import Any

from provider_emulators.microsoft.context import Emulator
from provider_emulators.microsoft.errors import GraphError
from provider_emulators.microsoft.graph_common import timezone_error
from provider_emulators.microsoft.state import StoredEvent
from provider_emulators.microsoft.timeutil import (
    DateTimeError,
    TimeZoneError,
    graph_local,
    graph_stamp,
    now,
    parse_datetime_tz,
)

WRITABLE_FIELDS = frozenset(
    {
        "subject",
        "body",
        "start",
        "end",
        "location",
        "locations",
        "attendees",
        "showAs",
        "isAllDay",
        "sensitivity",
        "importance",
        "categories",
        "isReminderOn",
        "reminderMinutesBeforeStart",
        "responseRequested",
        "allowNewTimeProposals",
        "isOnlineMeeting",
        "onlineMeetingProvider",
        "transactionId",
        "singleValueExtendedProperties",
        "hideAttendees",
        "recurrence",
        "@odata.type",
        "originalStartTimeZone",
        "originalEndTimeZone",
    }
)
SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")
ATTENDEE_TYPES = ("required", "optional", "resource")
NEVER_RESPONDED = "0001-01-01T00:00:00Z"
_EXPAND = re.compile(r"^singleValueExtendedProperties\(\$filter=(.+)\)$", re.IGNORECASE)
_ID_EQ = re.compile(r"^\s*id\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)
_ANY_FILTER = re.compile(
    r"^singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'([^']*)'"
    r"(?:\s+and\s+\1/value\s+eq\s+'([^']*)')?\s*\)$",
    re.IGNORECASE,
)
_FIELD_EQ = re.compile(r"^(iCalUId|transactionId|subject)\s+eq\s+'([^']*)'$", re.IGNORECASE)


def _invalid(message: str, code: str = "ErrorInvalidRequest") -> GraphError:
    return GraphError(400, code, message)


def _unknown_property(name: str) -> GraphError:
    return _invalid(
        f"The property '{name}' does not exist on type 'microsoft.graph.event'. Make sure to only use "
        "property names that are defined by the type or mark the type as open type.",
        "RequestBodyRead",
    )


# --- validation --------------------------------------------------------------------------------


def _parse_when(body: dict[str, Any], key: str) -> dt.datetime:
    value = body[key]
    try:
        return parse_datetime_tz(value)
    except TimeZoneError as exc:
        raise timezone_error(str(exc)) from exc
    except DateTimeError as exc:
        raise _invalid(
            f"Invalid value for '{key}': expected {{dateTime, timeZone}}.", "RequestBodyRead"
        ) from exc


def _check_attendees(attendees: object) -> None:
    if not isinstance(attendees, list):
        raise _invalid("Cannot read 'attendees': expected a collection.", "RequestBodyRead")
    if len(attendees) > 500:
        raise _invalid("An event can have at most 500 attendees.", "ErrorInvalidRecipients")
    for attendee in attendees:
        email = attendee.get("emailAddress") if isinstance(attendee, dict) else None
        if (
            not isinstance(email, dict)
            or not isinstance(email.get("address"), str)
            or "@" not in email["address"]
        ):
            raise _invalid("At least one recipient isn't valid.", "ErrorInvalidRecipients")
        kind = attendee.get("type", "required")
        if kind not in ATTENDEE_TYPES:
            raise _invalid(
                f"Cannot convert the literal '{kind}' to the expected type 'microsoft.graph.attendeeType'.",
                "RequestBodyRead",
            )


def _check_ext_props(props: object) -> None:
    if not isinstance(props, list) or not all(
        isinstance(p, dict) and isinstance(p.get("id"), str) and isinstance(p.get("value"), str)
        for p in props
    ):
        raise _invalid(
            "singleValueExtendedProperties must be a list of {id, value} strings.", "RequestBodyRead"
        )


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "subject": (str, type(None)),
    "body": dict,
    "location": dict,
    "locations": list,
    "categories": list,
    "isAllDay": bool,
    "isReminderOn": bool,
    "reminderMinutesBeforeStart": int,
    "responseRequested": bool,
    "allowNewTimeProposals": bool,
    "isOnlineMeeting": bool,
    "hideAttendees": bool,
    "isCancelled": bool,
    "onlineMeetingProvider": str,
    "recurrence": (dict, type(None)),
    "transactionId": (str, type(None)),
    "originalStartTimeZone": str,
    "originalEndTimeZone": str,
}
_ENUMS = {
    "importance": ("low", "normal", "high"),
    "sensitivity": ("normal", "personal", "private", "confidential"),
}


def _check_types(body: dict[str, Any]) -> None:
    for name, expected in _FIELD_TYPES.items():
        if name in body and not isinstance(body[name], expected):
            raise _invalid(f"Cannot convert the value of '{name}' to the expected type.", "RequestBodyRead")
    for name, allowed in _ENUMS.items():
        if name in body and body[name] not in allowed:
            raise _invalid(f"Cannot convert the literal '{body[name]}' for '{name}'.", "RequestBodyRead")
    if "locations" in body and not all(isinstance(loc, dict) for loc in body["locations"]):
        raise _invalid("Cannot convert the value of 'locations' to the expected type.", "RequestBodyRead")
    if "categories" in body and not all(isinstance(c, str) for c in body["categories"]):
        raise _invalid("Cannot convert the value of 'categories' to the expected type.", "RequestBodyRead")


def validate_fields(body: dict[str, Any], creating: bool) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Check an event body; returns the parsed start and end (``None`` when absent)."""
    for name in body:
        if name not in WRITABLE_FIELDS and name != "isCancelled":
            raise _unknown_property(name)
    if creating and ("start" not in body or "end" not in body):
        raise _invalid("The event must have a start and an end time.")
    _check_types(body)
    start = _parse_when(body, "start") if "start" in body else None
    end = _parse_when(body, "end") if "end" in body else None
    show_as = body.get("showAs")
    if show_as is not None and show_as not in SHOW_AS:
        raise _invalid(
            f"Cannot convert the literal '{show_as}' to the expected type 'microsoft.graph.freeBusyStatus'.",
            "RequestBodyRead",
        )
    if "attendees" in body:
        _check_attendees(body["attendees"])
    if "singleValueExtendedProperties" in body:
        _check_ext_props(body["singleValueExtendedProperties"])
    if "subject" in body and body["subject"] is not None and not isinstance(body["subject"], str):
        raise _invalid("Cannot convert 'subject' to Edm.String.", "RequestBodyRead")
    return start, end


# --- identifiers ----------------------------------------------------------------------------------


def new_event_id() -> str:
    return "AAMkA" + base64.urlsafe_b64encode(secrets.token_bytes(105)).decode().rstrip("=")


def new_change_key() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode()


def new_ical_uid() -> str:
    return "040000008200E00074C5B7101A82E00800000000" + secrets.token_hex(28).upper()


# --- writes -----------------------------------------------------------------------------------


def _touch(emu: Emulator, ev: StoredEvent, change_type: str) -> None:
    ev.seq = emu.state.next_seq()
    ev.modified = now()
    ev.change_key = new_change_key()
    emu.notifier.event_changed(ev, change_type)


def _merge_ext_props(ev: StoredEvent, props: list[dict[str, str]]) -> None:
    for prop in props:
        existing = next((p for p in ev.ext_props if p["id"].lower() == prop["id"].lower()), None)
        if existing is None:
            ev.ext_props.append({"id": prop["id"], "value": prop["value"]})
        else:
            existing["value"] = prop["value"]


def _apply(ev: StoredEvent, body: dict[str, Any], start: dt.datetime | None, end: dt.datetime | None) -> None:
    for name, value in body.items():
        if name in ("singleValueExtendedProperties", "transactionId", "@odata.type"):
            continue
        ev.data[name] = value
    if "singleValueExtendedProperties" in body:
        _merge_ext_props(ev, body["singleValueExtendedProperties"])
    if start is not None:
        ev.start = start
        ev.time_zone = body["start"].get("timeZone") or "UTC"
    if end is not None:
        ev.end = end
    if ev.end < ev.start:
        raise _invalid("The end time of the event must not be earlier than its start time.")


def create_event(
    emu: Emulator, mailbox: str, body: dict[str, Any], direct: bool = False
) -> tuple[StoredEvent, bool]:
    """Create an event (or return the one with the same ``transactionId``); ``True`` if new.

    ``direct`` (made in Outlook, via the control API) may set the otherwise read-only ``isCancelled``.
    """
    if not direct:
        body = {k: v for k, v in body.items() if k != "isCancelled"}
    start, end = validate_fields(body, creating=True)
    assert start is not None and end is not None
    transaction_id = body.get("transactionId")
    if transaction_id:
        for ev in emu.state.live_events(mailbox):
            if ev.transaction_id == transaction_id:
                return ev, False
    stamp = now()
    ev = StoredEvent(
        id=new_event_id(),
        mailbox=mailbox,
        data={},
        start=start,
        end=end,
        seq=0,
        created=stamp,
        modified=stamp,
        change_key=new_change_key(),
        ical_uid=new_ical_uid(),
        transaction_id=transaction_id if isinstance(transaction_id, str) else None,
    )
    _apply(ev, body, start, end)
    emu.state.events[ev.id] = ev
    propagate(emu, ev)
    _touch(emu, ev, "created")
    return ev, True


def update_event(emu: Emulator, ev: StoredEvent, body: dict[str, Any], direct: bool = False) -> StoredEvent:
    """PATCH semantics: only the given fields change; ``transactionId`` is immutable.

    ``direct`` marks an edit made in Outlook itself (control API): only then may ``isCancelled``
    be written — for Graph clients it is read-only and ignored.
    """
    if not direct:
        body = {k: v for k, v in body.items() if k != "isCancelled"}
    start, end = validate_fields(body, creating=False)
    if "transactionId" in body and body["transactionId"] != ev.transaction_id:
        raise _invalid("The property 'transactionId' cannot be changed once set.")
    previous = (ev.start, ev.end, dict(ev.data), deepcopy(ev.ext_props), ev.time_zone)
    try:
        _apply(ev, body, start, end)
    except GraphError:
        ev.start, ev.end, ev.data, ev.ext_props, ev.time_zone = previous
        raise
    if ev.is_organizer:
        propagate(emu, ev)
    _touch(emu, ev, "updated")
    return ev


def delete_event(emu: Emulator, ev: StoredEvent) -> None:
    ev.deleted = True
    if ev.is_organizer:
        _cancel_copies(emu, ev, keep=set())
    _touch(emu, ev, "deleted")


def find_event(emu: Emulator, mailbox: str, event_id: str) -> StoredEvent:
    ev = emu.state.events.get(event_id)
    if ev is None or ev.deleted or ev.mailbox != mailbox:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return ev


# --- attendees and rooms ---------------------------------------------------------------------------


def _busy_elsewhere(emu: Emulator, mailbox: str, ev: StoredEvent) -> bool:
    for other in emu.state.live_events(mailbox):
        if other.ical_uid == ev.ical_uid or other.data.get("isCancelled"):
            continue
        if other.data.get("showAs", "busy") == "free":
            continue
        if other.start < ev.end and ev.start < other.end:
            return True
    return False


def _copy_for(emu: Emulator, ev: StoredEvent, mailbox: str) -> StoredEvent | None:
    for other in emu.state.live_events(mailbox):
        if other.ical_uid == ev.ical_uid:
            return other
    return None


def _upsert_copy(emu: Emulator, ev: StoredEvent, mailbox: str, show_as: str, response: str) -> None:
    existing = _copy_for(emu, ev, mailbox)
    data = deepcopy({k: v for k, v in ev.data.items() if k not in ("showAs", "isCancelled")})
    data.update({"showAs": show_as, "responseStatus": {"response": response, "time": graph_stamp(now())}})
    data["organizer"] = {"emailAddress": {"name": _display_name(emu, ev.mailbox), "address": ev.mailbox}}
    if existing is None:
        stamp = now()
        created = StoredEvent(
            id=new_event_id(),
            mailbox=mailbox,
            data=data,
            start=ev.start,
            end=ev.end,
            seq=0,
            created=stamp,
            modified=stamp,
            change_key=new_change_key(),
            ical_uid=ev.ical_uid,
            is_organizer=False,
            time_zone=ev.time_zone,
        )
        emu.state.events[created.id] = created
        _touch(emu, created, "created")
        return
    existing.data, existing.start, existing.end = data, ev.start, ev.end
    existing.time_zone = ev.time_zone
    _touch(emu, existing, "updated")


def _cancel_copies(emu: Emulator, ev: StoredEvent, keep: set[str]) -> None:
    """Rooms drop the meeting; people keep it marked ``isCancelled``."""
    for other in list(emu.state.events.values()):
        if other.ical_uid != ev.ical_uid or other is ev or other.deleted or other.mailbox in keep:
            continue
        if other.mailbox in emu.state.rooms:
            other.deleted = True
            _touch(emu, other, "deleted")
        elif not other.data.get("isCancelled"):
            other.data["isCancelled"] = True
            other.data["subject"] = f"Canceled: {other.data.get('subject') or ''}".strip()
            _touch(emu, other, "updated")


def propagate(emu: Emulator, ev: StoredEvent) -> None:
    """Send the meeting to attendee mailboxes; rooms accept or decline by their free/busy."""
    attendees = ev.data.get("attendees") or []
    keep: set[str] = set()
    stamp = graph_stamp(now())
    for attendee in attendees:
        address = attendee["emailAddress"]["address"].lower()
        attendee.setdefault("type", "required")
        attendee.setdefault("status", {"response": "none", "time": NEVER_RESPONDED})
        if address == ev.mailbox or not emu.state.mailbox_exists(address):
            continue
        if address in emu.state.rooms:
            if _busy_elsewhere(emu, address, ev):
                attendee["status"] = {"response": "declined", "time": stamp}
                continue
            attendee["status"] = {"response": "accepted", "time": stamp}
            _upsert_copy(emu, ev, address, "busy", "accepted")
        else:
            _upsert_copy(emu, ev, address, "tentative", "notResponded")
        keep.add(address)
    _cancel_copies(emu, ev, keep)


def _display_name(emu: Emulator, mailbox: str) -> str:
    user = emu.state.user_by_email(mailbox)
    if user is not None:
        return user.name
    room = emu.state.rooms.get(mailbox)
    return room.display_name if room is not None else mailbox


# --- query options -------------------------------------------------------------------------------


def expand_ids(expand: str | None) -> list[str] | None:
    """The property ids asked for by ``$expand=singleValueExtendedProperties($filter=id eq '…')``."""
    if not expand:
        return None
    match = _EXPAND.match(expand.strip())
    if match is None:
        raise _invalid(f"Parsing OData Select and Expand failed: '{expand}' is not supported.", "BadRequest")
    ids: list[str] = []
    for clause in re.split(r"\s+or\s+", match.group(1), flags=re.IGNORECASE):
        id_match = _ID_EQ.match(clause)
        if id_match is None:
            raise _invalid(f"Invalid filter clause '{clause}'.", "BadRequest")
        ids.append(id_match.group(1))
    return ids


def event_filter(expression: str | None) -> Any:
    """A predicate for the supported ``$filter`` forms on event collections."""
    if not expression:
        return lambda ev: True
    text = expression.strip()
    any_match = _ANY_FILTER.match(text)
    if any_match is not None:
        prop_id, value = any_match.group(2).lower(), any_match.group(3)
        return lambda ev: any(
            p["id"].lower() == prop_id and (value is None or p["value"] == value) for p in ev.ext_props
        )
    field_match = _FIELD_EQ.match(text)
    if field_match is not None:
        name, value = field_match.group(1).lower(), field_match.group(2)
        getters = {
            "icaluid": lambda ev: ev.ical_uid,
            "transactionid": lambda ev: ev.transaction_id,
            "subject": lambda ev: ev.data.get("subject"),
        }
        return lambda ev: getters[name](ev) == value
    raise _invalid(f"Invalid filter clause: '{expression}'.", "BadRequest")


# --- rendering -----------------------------------------------------------------------------------


def _location(value: object) -> dict[str, Any]:
    loc = dict(value) if isinstance(value, dict) else {}
    loc.setdefault("displayName", "")
    loc.setdefault("locationType", "default")
    loc.setdefault("uniqueIdType", "unknown")
    loc.setdefault("address", {})
    loc.setdefault("coordinates", {})
    return loc


def _body_preview(body: object) -> str:
    content = body.get("content", "") if isinstance(body, dict) else ""
    text = re.sub(r"<[^>]+>", " ", str(content))
    return " ".join(text.split())[:255]


def render_event(
    emu: Emulator,
    ev: StoredEvent,
    tz: str | None = None,
    expand: list[str] | None = None,
    select: list[str] | None = None,
) -> dict[str, Any]:
    """The Graph JSON of an event; times in ``tz`` (default UTC)."""
    data = ev.data
    zone_name = tz or "UTC"
    location = _location(data.get("location"))
    locations = data.get("locations")
    if locations is None:
        locations = [location] if location["displayName"] else []
    elif "location" not in data and locations:
        location = _location(locations[0])
    out: dict[str, Any] = {
        "@odata.etag": f'W/"{ev.change_key}"',
        "id": ev.id,
        "createdDateTime": graph_stamp(ev.created),
        "lastModifiedDateTime": graph_stamp(ev.modified),
        "changeKey": ev.change_key,
        "categories": data.get("categories", []),
        "transactionId": ev.transaction_id,
        "originalStartTimeZone": ev.time_zone,
        "originalEndTimeZone": ev.time_zone,
        "iCalUId": ev.ical_uid,
        "uid": ev.ical_uid,
        "reminderMinutesBeforeStart": data.get("reminderMinutesBeforeStart", 15),
        "isReminderOn": data.get("isReminderOn", True),
        "hasAttachments": False,
        "subject": data.get("subject", ""),
        "bodyPreview": _body_preview(data.get("body")),
        "importance": data.get("importance", "normal"),
        "sensitivity": data.get("sensitivity", "normal"),
        "isAllDay": data.get("isAllDay", False),
        "isCancelled": bool(data.get("isCancelled", False)),
        "isOrganizer": ev.is_organizer,
        "responseRequested": data.get("responseRequested", True),
        "seriesMasterId": None,
        "showAs": data.get("showAs", "busy"),
        "type": "singleInstance",
        "webLink": f"https://outlook.office365.com/owa/?itemid={ev.id}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": data.get("isOnlineMeeting", False),
        "onlineMeetingProvider": data.get("onlineMeetingProvider", "unknown"),
        "allowNewTimeProposals": data.get("allowNewTimeProposals", True),
        "isDraft": False,
        "hideAttendees": data.get("hideAttendees", False),
        "responseStatus": data.get("responseStatus", {"response": "organizer", "time": NEVER_RESPONDED}),
        "body": data.get("body", {"contentType": "html", "content": ""}),
        "start": graph_local(ev.start, zone_name),
        "end": graph_local(ev.end, zone_name),
        "location": location,
        "locations": locations,
        "recurrence": None,
        "attendees": data.get("attendees", []),
        "organizer": data.get(
            "organizer", {"emailAddress": {"name": _display_name(emu, ev.mailbox), "address": ev.mailbox}}
        ),
        "onlineMeeting": None,
    }
    if expand is not None:
        wanted = {i.lower() for i in expand}
        props = [p for p in ev.ext_props if p["id"].lower() in wanted]
        if props:
            out["singleValueExtendedProperties"] = [dict(p) for p in props]
    if select:
        keep = {"@odata.etag", "id", *select, "singleValueExtendedProperties"}
        out = {k: v for k, v in out.items() if k in keep}
    return out


def select_fields(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]
