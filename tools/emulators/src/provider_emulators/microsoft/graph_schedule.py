"""Graph ``POST /me/calendar/getSchedule`` and the ``/places`` room lists and rooms."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from provider_emulators.microsoft.context import Emulator
from provider_emulators.microsoft.errors import GraphError
from provider_emulators.microsoft.graph_common import (
    READ_CALENDARS,
    authenticate,
    json_body,
    page,
    preferred_timezone,
    require_scope,
    timezone_error,
)
from provider_emulators.microsoft.state import AccessToken, Room, RoomList, StoredEvent, User
from provider_emulators.microsoft.timeutil import DateTimeError, TimeZoneError, graph_local, parse_datetime_tz

MAX_SCHEDULES = 20
MAX_RANGE = dt.timedelta(days=62)
_VIEW_CODE = {"free": "0", "tentative": "1", "busy": "2", "oof": "3", "workingElsewhere": "4", "unknown": "0"}
_RANK = {"0": 0, "1": 1, "4": 2, "2": 3, "3": 4}
_WORKING_HOURS = {
    "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
    "startTime": "08:00:00.0000000",
    "endTime": "17:00:00.0000000",
    "timeZone": {"name": "UTC"},
}


def _bad(message: str, code: str = "ErrorInvalidParameter") -> GraphError:
    return GraphError(400, code, message)


def _when(body: dict[str, Any], key: str) -> dt.datetime:
    if key not in body:
        raise _bad(f"Required property '{key}' is missing.")
    try:
        return parse_datetime_tz(body[key])
    except TimeZoneError as exc:
        raise timezone_error(str(exc)) from exc
    except DateTimeError as exc:
        raise _bad(f"Invalid value for '{key}'.") from exc


def _parse_request(body: dict[str, Any]) -> tuple[list[str], dt.datetime, dt.datetime, int]:
    schedules = body.get("schedules")
    if not isinstance(schedules, list) or not schedules or not all(isinstance(s, str) for s in schedules):
        raise _bad("'schedules' must be a non-empty list of SMTP addresses.")
    if len(schedules) > MAX_SCHEDULES:
        raise _bad(f"Too many schedules: at most {MAX_SCHEDULES} are allowed in one request.")
    start, end = _when(body, "startTime"), _when(body, "endTime")
    if end <= start:
        raise _bad("'endTime' must be after 'startTime'.")
    if end - start >= MAX_RANGE:
        raise _bad(
            "The requested time interval is too big: it must be less than 62 days.", "ErrorTimeIntervalTooBig"
        )
    interval = body.get("availabilityViewInterval", 30)
    if not isinstance(interval, int) or isinstance(interval, bool) or not 5 <= interval <= 1440:
        raise _bad("availabilityViewInterval must be an integer between 5 and 1440.")
    return schedules, start, end, interval


def _items(emu: Emulator, mailbox: str, start: dt.datetime, end: dt.datetime) -> list[StoredEvent]:
    events = [
        e
        for e in emu.state.live_events(mailbox)
        if not e.data.get("isCancelled") and e.start < end and start < e.end
    ]
    return sorted(events, key=lambda e: e.start)


def _availability_view(events: list[StoredEvent], start: dt.datetime, end: dt.datetime, interval: int) -> str:
    step = dt.timedelta(minutes=interval)
    slots = math.ceil((end - start) / step)
    view = []
    for i in range(slots):
        slot_start, slot_end = start + i * step, start + (i + 1) * step
        codes = [
            _VIEW_CODE.get(e.data.get("showAs", "busy"), "2")
            for e in events
            if e.start < slot_end and slot_start < e.end
        ]
        view.append(max(codes, key=lambda c: _RANK[c]) if codes else "0")
    return "".join(view)


def schedule_information(
    emu: Emulator, address: str, start: dt.datetime, end: dt.datetime, interval: int, tz: str
) -> dict[str, Any]:
    mailbox = address.lower()
    if not emu.state.mailbox_exists(mailbox):
        return {
            "scheduleId": address,
            "availabilityView": "",
            "scheduleItems": [],
            "error": {
                "message": f"The specified mailbox '{address}' could not be found.",
                "responseCode": "ErrorMailRecipientNotFound",
            },
        }
    events = _items(emu, mailbox, start, end)
    return {
        "scheduleId": address,
        "availabilityView": _availability_view(events, start, end, interval),
        "scheduleItems": [
            {
                "isPrivate": e.data.get("sensitivity", "normal") == "private",
                "status": e.data.get("showAs", "busy"),
                "subject": e.data.get("subject", ""),
                "location": (e.data.get("location") or {}).get("displayName", ""),
                "start": graph_local(e.start, tz),
                "end": graph_local(e.end, tz),
            }
            for e in events
        ],
        "workingHours": _WORKING_HOURS,
    }


# --- places ------------------------------------------------------------------------------------


def _require_places(emu: Emulator, user: User, token: AccessToken) -> None:
    """Place.Read.All must be in the token *and* consented by the tenant's administrator."""
    tenant = emu.state.tenants.get(user.tenant_id)
    consented = tenant.admin_consents.get(token.client_id, set()) if tenant else set()
    if "Place.Read.All" not in token.scopes or "Place.Read.All" not in consented:
        raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def render_room_list(room_list: RoomList) -> dict[str, Any]:
    return {
        "id": room_list.id,
        "displayName": room_list.display_name,
        "address": None,
        "geoCoordinates": None,
        "phone": None,
        "emailAddress": room_list.email,
    }


def render_room(room: Room) -> dict[str, Any]:
    return {
        "id": room.id,
        "emailAddress": room.email,
        "displayName": room.display_name,
        "address": None,
        "geoCoordinates": None,
        "phone": None,
        "nickname": room.display_name,
        "label": None,
        "capacity": room.capacity,
        "building": room.building,
        "floorLabel": room.floor_label,
        "floorNumber": room.floor_number,
        "isWheelChairAccessible": room.is_wheelchair_accessible,
        "bookingType": room.booking_type,
        "tags": list(room.tags),
        "audioDeviceName": None,
        "videoDeviceName": None,
        "displayDeviceName": None,
    }


def build_router(emu: Emulator) -> APIRouter:
    router = APIRouter()

    @router.post("/v1.0/me/calendar/getSchedule", include_in_schema=False)
    async def get_schedule(request: Request) -> Response:
        _user, token = authenticate(emu, request)
        require_scope(token, READ_CALENDARS)
        schedules, start, end, interval = _parse_request(await json_body(request))
        tz = preferred_timezone(request) or "UTC"
        value = [schedule_information(emu, s, start, end, interval, tz) for s in schedules]
        context = f"{emu.graph_base}/$metadata#Collection(microsoft.graph.scheduleInformation)"
        return JSONResponse({"@odata.context": context, "value": value})

    @router.get("/v1.0/places/microsoft.graph.roomlist", include_in_schema=False)
    async def room_lists(request: Request) -> Response:
        user, token = authenticate(emu, request)
        _require_places(emu, user, token)
        lists = [render_room_list(r) for r in emu.state.room_lists.values() if r.tenant_id == user.tenant_id]
        body = page(request, f"{emu.graph_base}/places/microsoft.graph.roomlist", lists, 100)
        context = f"{emu.graph_base}/$metadata#places/microsoft.graph.roomList"
        return JSONResponse({"@odata.context": context, **body})

    @router.get("/v1.0/places/microsoft.graph.room", include_in_schema=False)
    async def all_rooms(request: Request) -> Response:
        user, token = authenticate(emu, request)
        _require_places(emu, user, token)
        rooms = [render_room(r) for r in emu.state.rooms.values() if r.tenant_id == user.tenant_id]
        body = page(request, f"{emu.graph_base}/places/microsoft.graph.room", rooms, 100)
        context = f"{emu.graph_base}/$metadata#places/microsoft.graph.room"
        return JSONResponse({"@odata.context": context, **body})

    @router.get("/v1.0/places/{list_email}/microsoft.graph.roomlist/rooms", include_in_schema=False)
    async def rooms_in_list(list_email: str, request: Request) -> Response:
        user, token = authenticate(emu, request)
        _require_places(emu, user, token)
        room_list = emu.state.room_lists.get(list_email.lower())
        if room_list is None or room_list.tenant_id != user.tenant_id:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        rooms = [render_room(emu.state.rooms[e]) for e in room_list.rooms if e in emu.state.rooms]
        base = f"{emu.graph_base}/places/{room_list.email}/microsoft.graph.roomlist/rooms"
        body = page(request, base, rooms, 100)
        context = f"{emu.graph_base}/$metadata#places('{room_list.email}')/microsoft.graph.roomlist/rooms"
        return JSONResponse({"@odata.context": context, **body})

    return router
