"""Calendar v3 events: insert/get/patch/update/delete, rooms, etags, list and sync tokens.

Not emulated: recurring events (``recurrence`` is stored but never expanded, so
``singleEvents`` changes nothing), attendee copies on other users' calendars, ACLs beyond
"own calendar" / "same Workspace" / "rooms of the same customer".
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from provider_emulators.google.channels import ChannelService
from provider_emulators.google.context import GoogleEmulator
from provider_emulators.google.errors import GoogleApiError, invalid, not_found, required
from provider_emulators.google.state import StoredEvent, User
from provider_emulators.google.timeutil import format_utc, parse_event_time, parse_rfc3339

EVENT_ID_RE = re.compile(r"^[a-v0-9]{5,1024}$")
WRITABLE_FIELDS = (
    "summary",
    "description",
    "location",
    "start",
    "end",
    "attendees",
    "extendedProperties",
    "status",
    "transparency",
    "visibility",
    "colorId",
    "reminders",
    "source",
    "recurrence",
    "guestsCanInviteOthers",
    "guestsCanModify",
    "guestsCanSeeOtherGuests",
    "anyoneCanAddSelf",
)
SIGNIFICANT_FIELDS = ("start", "end", "location", "status")
STATUSES = ("confirmed", "tentative", "cancelled")
MAX_LIST_RESULTS = 2500
DEFAULT_LIST_RESULTS = 250
_ETAG_BASE = 3_181_161_784_712_000
_SYNC_EXCLUSIVE = ("timeMin", "timeMax", "orderBy", "q", "privateExtendedProperty", "iCalUID", "updatedMin")


@dataclass
class ListQuery:
    time_min: str | None = None
    time_max: str | None = None
    show_deleted: bool = False
    single_events: bool = False
    order_by: str | None = None
    max_results: int | None = None
    page_token: str | None = None
    sync_token: str | None = None
    q: str | None = None
    ical_uid: str | None = None
    private_props: list[str] = field(default_factory=list)
    shared_props: list[str] = field(default_factory=list)


def _b64(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _unb64(token: str) -> dict[str, Any] | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def interval(resource: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    return parse_event_time(resource["start"], "start"), parse_event_time(resource["end"], "end")


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Google patch semantics: objects merge recursively, arrays and scalars replace, null clears."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _sequence(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise invalid("Invalid sequence value.", "sequence")
    return value


def _validate_body(body: dict[str, Any]) -> None:
    status = body.get("status")
    if status is not None and status not in STATUSES:
        raise invalid("Invalid value for: status", "status")
    transparency = body.get("transparency")
    if transparency is not None and transparency not in ("opaque", "transparent"):
        raise invalid("Invalid value for: transparency", "transparency")
    attendees = body.get("attendees")
    if attendees is not None and (
        not isinstance(attendees, list)
        or not all(isinstance(a, dict) and isinstance(a.get("email"), str) for a in attendees)
    ):
        raise invalid("Invalid attendee email.", "attendees")
    props = body.get("extendedProperties")
    if props is not None and not _valid_props(props):
        raise invalid("Invalid extended property value.", "extendedProperties")
    for key in ("summary", "description", "location"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise invalid(f"Invalid value for: {key}", key)


def _valid_props(props: Any) -> bool:
    if not isinstance(props, dict) or not set(props) <= {"private", "shared"}:
        return False
    return all(
        isinstance(scope, dict) and all(isinstance(v, str) for v in scope.values())
        for scope in props.values()
    )


class CalendarService:
    """All Calendar v3 state transitions. Every event write goes through ``_store``."""

    def __init__(self, emu: GoogleEmulator, channels: ChannelService) -> None:
        self.emu = emu
        self.state = emu.state
        self.channels = channels

    # ----- access -------------------------------------------------------------------------
    def own_calendar(self, user: User, calendar_id: str) -> str:
        """The user's own calendar (``primary`` or their address); others are 404 notFound."""
        resolved = user.email if calendar_id == "primary" else calendar_id
        if resolved.lower() != user.email.lower():
            raise not_found()
        self.state.events.setdefault(user.email, {})
        return user.email

    # ----- reads ----------------------------------------------------------------------------
    def calendar_resource(self, calendar_id: str) -> dict[str, Any]:
        """``calendars.get`` of the user's own calendar."""
        return {
            "kind": "calendar#calendar",
            "etag": f'"cal{self.state.change_seq}"',
            "id": calendar_id,
            "summary": calendar_id,
            "timeZone": self._time_zone(calendar_id),
        }

    def _time_zone(self, calendar_id: str) -> str:
        user = self.state.users.get(calendar_id)
        return user.time_zone if user is not None else "UTC"

    def get(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._existing(calendar_id, event_id).resource)

    def _existing(self, calendar_id: str, event_id: str) -> StoredEvent:
        stored = self.state.events.get(calendar_id, {}).get(event_id)
        if stored is None:
            raise not_found()
        return stored

    # ----- writes ---------------------------------------------------------------------------
    def insert(self, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        _validate_body(body)
        event_id = body.get("id")
        if event_id is not None:
            if not isinstance(event_id, str) or not EVENT_ID_RE.match(event_id):
                raise invalid("Invalid resource id value.", "id")
            if event_id in self.state.events.get(calendar_id, {}):
                raise GoogleApiError(409, "duplicate", "The requested identifier already exists.")
        else:
            event_id = base64.b32hexencode(secrets.token_bytes(16)).decode().lower().rstrip("=")
        for key in ("start", "end"):
            if key not in body:
                raise required(key)
        resource = {k: copy.deepcopy(body[k]) for k in WRITABLE_FIELDS if k in body}
        now = format_utc(self.state.clock.now(), millis=True)
        owner = self._owner_person(calendar_id)
        resource.update(
            {
                "id": event_id,
                "created": now,
                "creator": owner,
                "organizer": owner,
                "iCalUID": f"{event_id}@google.com",
                "sequence": _sequence(body.get("sequence")),
            }
        )
        return self._store(calendar_id, resource, None)

    def patch(
        self, calendar_id: str, event_id: str, body: dict[str, Any], if_match: str | None = None
    ) -> dict[str, Any]:
        stored = self._existing(calendar_id, event_id)
        self._check_etag(stored, if_match)
        _validate_body(body)
        resource = copy.deepcopy(stored.resource)
        merge_patch(resource, {k: body[k] for k in WRITABLE_FIELDS if k in body})
        return self._store(calendar_id, resource, stored)

    def update(
        self, calendar_id: str, event_id: str, body: dict[str, Any], if_match: str | None = None
    ) -> dict[str, Any]:
        stored = self._existing(calendar_id, event_id)
        self._check_etag(stored, if_match)
        _validate_body(body)
        for key in ("start", "end"):
            if key not in body:
                raise required(key)
        keep = ("id", "created", "creator", "organizer", "iCalUID", "sequence")
        resource = {k: stored.resource[k] for k in keep if k in stored.resource}
        resource.update({k: copy.deepcopy(body[k]) for k in WRITABLE_FIELDS if k in body})
        return self._store(calendar_id, resource, stored)

    def delete(self, calendar_id: str, event_id: str, if_match: str | None = None) -> None:
        stored = self._existing(calendar_id, event_id)
        if stored.resource.get("status") == "cancelled":
            raise GoogleApiError(410, "deleted", "Resource has been deleted")
        self._check_etag(stored, if_match)
        resource = copy.deepcopy(stored.resource)
        resource["status"] = "cancelled"
        self._store(calendar_id, resource, stored)

    def _check_etag(self, stored: StoredEvent, if_match: str | None) -> None:
        if if_match is not None and if_match.strip() not in ("*", stored.resource["etag"]):
            raise GoogleApiError(
                412, "conditionNotMet", "Precondition Failed", location="If-Match", location_type="header"
            )

    def _store(
        self, calendar_id: str, resource: dict[str, Any], previous: StoredEvent | None
    ) -> dict[str, Any]:
        for key in ("start", "end"):
            if not resource.get(key):
                raise required(key)
        start, end = interval(resource)
        if end < start:
            raise GoogleApiError(
                400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar"
            )
        seq = self.state.next_seq()
        if previous is not None and any(
            previous.resource.get(k) != resource.get(k) for k in SIGNIFICANT_FIELDS
        ):
            resource["sequence"] = int(previous.resource.get("sequence", 0)) + 1
        resource.update(
            {
                "kind": "calendar#event",
                "etag": f'"{_ETAG_BASE + seq * 1000}"',
                "status": resource.get("status") or "confirmed",
                "htmlLink": self._html_link(calendar_id, resource["id"]),
                "updated": format_utc(self.state.clock.now(), millis=True),
                "reminders": resource.get("reminders") or {"useDefault": True},
                "eventType": "default",
            }
        )
        self._normalize_attendees(calendar_id, resource, start, end)
        self.state.events.setdefault(calendar_id, {})[resource["id"]] = StoredEvent(
            calendar_id, resource, seq
        )
        self.channels.notify(calendar_id)
        return copy.deepcopy(resource)

    def _normalize_attendees(
        self, calendar_id: str, resource: dict[str, Any], start: dt.datetime, end: dt.datetime
    ) -> None:
        for attendee in resource.get("attendees", []):
            attendee["email"] = attendee["email"].strip()
            attendee.setdefault("responseStatus", "needsAction")
            if attendee["email"].lower() == calendar_id.lower():
                attendee.update({"organizer": True, "self": True})
            room = self.state.rooms.get(attendee["email"].lower())
            if room is None:
                continue
            attendee["resource"] = True
            attendee.setdefault("displayName", room.resource.get("generatedResourceName"))
            if resource["status"] != "cancelled":
                busy = self.room_busy(room.email, start, end, exclude_uid=resource["iCalUID"])
                attendee["responseStatus"] = "declined" if busy else "accepted"

    def room_busy(self, room_email: str, start: dt.datetime, end: dt.datetime, exclude_uid: str) -> bool:
        return any(s < end and start < e for s, e in self.room_bookings(room_email, exclude_uid=exclude_uid))

    def room_bookings(self, room_email: str, exclude_uid: str = "") -> list[tuple[dt.datetime, dt.datetime]]:
        bookings = []
        for events in self.state.events.values():
            for stored in events.values():
                res = stored.resource
                if res.get("status") == "cancelled" or res.get("iCalUID") == exclude_uid:
                    continue
                if any(
                    a["email"].lower() == room_email.lower() and a.get("responseStatus") == "accepted"
                    for a in res.get("attendees", [])
                ):
                    bookings.append(interval(res))
        return bookings

    def _owner_person(self, calendar_id: str) -> dict[str, Any]:
        user = self.state.users.get(calendar_id)
        person: dict[str, Any] = {"email": calendar_id, "self": True}
        if user is not None:
            person["displayName"] = user.name
        return person

    def _html_link(self, calendar_id: str, event_id: str) -> str:
        eid = base64.urlsafe_b64encode(f"{event_id} {calendar_id}".encode()).decode().rstrip("=")
        return f"https://www.google.com/calendar/event?eid={eid}"

    # ----- list / sync ----------------------------------------------------------------------
    def list_events(self, calendar_id: str, query: ListQuery) -> dict[str, Any]:
        max_results = self._max_results(query.max_results)
        if query.order_by not in (None, "startTime", "updated"):
            raise invalid("Invalid value for: orderBy", "orderBy")
        if query.order_by == "startTime" and not query.single_events:
            raise invalid("The requested ordering is not available for the particular query.", "orderBy")
        page = self._page_state(calendar_id, query)
        if page["mode"] == "sync":
            candidates = self._changed_since(calendar_id, page["from"], page["snap"])
        else:
            candidates = self._matching(calendar_id, query, page["snap"])
        offset = page["o"]
        items = candidates[offset : offset + max_results]
        body = self._list_envelope(calendar_id, items)
        if offset + max_results < len(candidates):
            body["nextPageToken"] = _b64({**page, "o": offset + max_results})
        else:
            body["nextSyncToken"] = self._sync_token(calendar_id, page["snap"])
        return body

    def _max_results(self, value: int | None) -> int:
        if value is None:
            return DEFAULT_LIST_RESULTS
        if value < 1:
            raise invalid("Invalid value for: maxResults", "maxResults")
        return min(value, MAX_LIST_RESULTS)

    def _page_state(self, calendar_id: str, query: ListQuery) -> dict[str, Any]:
        if query.page_token is not None:
            page = _unb64(query.page_token)
            if page is None or page.get("c") != calendar_id or not {"mode", "o", "snap", "from"} <= set(page):
                raise invalid("Invalid page token value.", "pageToken")
            return page
        if query.sync_token is not None:
            used = [name for name in _SYNC_EXCLUSIVE if self._query_has(query, name)]
            if used:
                raise invalid(f"Sync token cannot be used with: {', '.join(used)}", used[0])
            return {
                "c": calendar_id,
                "mode": "sync",
                "o": 0,
                "from": self._read_sync_token(calendar_id, query.sync_token),
                "snap": self.state.change_seq,
            }
        return {"c": calendar_id, "mode": "full", "o": 0, "from": 0, "snap": self.state.change_seq}

    @staticmethod
    def _query_has(query: ListQuery, name: str) -> bool:
        values = {
            "timeMin": query.time_min,
            "timeMax": query.time_max,
            "orderBy": query.order_by,
            "q": query.q,
            "privateExtendedProperty": query.private_props or None,
            "iCalUID": query.ical_uid,
        }
        return values.get(name) is not None

    def _sync_token(self, calendar_id: str, seq: int) -> str:
        epoch = self.state.sync_epoch.get(calendar_id, 0)
        return _b64({"c": calendar_id, "s": seq, "e": epoch})

    def _read_sync_token(self, calendar_id: str, token: str) -> int:
        payload = _unb64(token)
        epoch = self.state.sync_epoch.get(calendar_id, 0)
        if payload is None or payload.get("c") != calendar_id or payload.get("e") != epoch:
            raise GoogleApiError(
                410,
                "fullSyncRequired",
                "Sync token is no longer valid, a full sync is required.",
                domain="calendar",
            )
        return int(payload.get("s", 0))

    def invalidate_sync_tokens(self, calendar_id: str | None) -> None:
        calendars = [calendar_id] if calendar_id else list(self.state.events)
        for cal in calendars:
            self.state.sync_epoch[cal] = self.state.sync_epoch.get(cal, 0) + 1

    def _changed_since(self, calendar_id: str, since: int, snap: int) -> list[dict[str, Any]]:
        changed = [e for e in self.state.events.get(calendar_id, {}).values() if since < e.change_seq <= snap]
        return [copy.deepcopy(e.resource) for e in sorted(changed, key=lambda e: e.change_seq)]

    def _matching(self, calendar_id: str, query: ListQuery, snap: int) -> list[dict[str, Any]]:
        time_min = parse_rfc3339(query.time_min, "timeMin") if query.time_min else None
        time_max = parse_rfc3339(query.time_max, "timeMax") if query.time_max else None
        if time_min and time_max and time_max < time_min:
            raise GoogleApiError(
                400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar"
            )
        result = []
        for stored in self.state.events.get(calendar_id, {}).values():
            res = stored.resource
            if stored.change_seq > snap or (res["status"] == "cancelled" and not query.show_deleted):
                continue
            start, end = interval(res)
            if (time_min and end <= time_min) or (time_max and start >= time_max):
                continue
            if self._filters_match(res, query):
                result.append(copy.deepcopy(res))
        if query.order_by == "startTime":
            result.sort(key=lambda r: interval(r)[0])
        elif query.order_by == "updated":
            result.sort(key=lambda r: r["updated"])
        return result

    @staticmethod
    def _filters_match(res: dict[str, Any], query: ListQuery) -> bool:
        if query.ical_uid is not None and res.get("iCalUID") != query.ical_uid:
            return False
        if query.q:
            text = " ".join(str(res.get(k, "")) for k in ("summary", "description", "location")).lower()
            if query.q.lower() not in text:
                return False
        props = res.get("extendedProperties", {})
        for scope, wanted in (("private", query.private_props), ("shared", query.shared_props)):
            for item in wanted:
                key, _, value = item.partition("=")
                if props.get(scope, {}).get(key) != value:
                    return False
        return True

    def _list_envelope(self, calendar_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        updated = max((i["updated"] for i in items), default=format_utc(self.state.clock.now(), millis=True))
        return {
            "kind": "calendar#events",
            "etag": f'"p3{self.state.change_seq:014d}"',
            "summary": calendar_id,
            "updated": updated,
            "timeZone": self._time_zone(calendar_id),
            "accessRole": "owner",
            "defaultReminders": [],
            "items": items,
        }
