"""Graph ``/me``, ``/me/events``, ``/me/calendarView`` and ``/me/calendarView/delta``."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from provider_emulators.microsoft import calendar
from provider_emulators.microsoft.context import Emulator
from provider_emulators.microsoft.errors import GraphError
from provider_emulators.microsoft.graph_common import (
    READ_CALENDARS,
    WRITE_CALENDARS,
    authenticate,
    json_body,
    page,
    preferred_page_size,
    preferred_timezone,
    require_scope,
)
from provider_emulators.microsoft.state import DeltaState, StoredEvent, User
from provider_emulators.microsoft.timeutil import DateTimeError, parse_iso

_EVENT_PATHS = ("/v1.0/me/events", "/v1.0/me/calendar/events")


def _window(request: Request) -> tuple[dt.datetime, dt.datetime]:
    """``startDateTime``/``endDateTime`` of a calendar view (both required)."""
    raw_start = request.query_params.get("startDateTime")
    raw_end = request.query_params.get("endDateTime")
    if not raw_start or not raw_end:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
        )
    try:
        start, end = parse_iso(raw_start), parse_iso(raw_end)
    except DateTimeError as exc:
        raise GraphError(400, "ErrorInvalidParameter", f"Invalid time window: {exc}.") from exc
    if end <= start:
        raise GraphError(400, "ErrorInvalidParameter", "The end of the time window must be after its start.")
    return start, end


def _in_window(ev: StoredEvent, start: dt.datetime, end: dt.datetime) -> bool:
    return (ev.start < end and start < ev.end) or (ev.start == ev.end and start <= ev.start < end)


def _render_list(emu: Emulator, request: Request, events: list[StoredEvent]) -> list[dict[str, Any]]:
    tz = preferred_timezone(request)
    expand = calendar.expand_ids(request.query_params.get("$expand"))
    select = calendar.select_fields(request.query_params.get("$select"))
    return [calendar.render_event(emu, ev, tz, expand, select) for ev in events]


def _context(emu: Emulator, user: User, suffix: str) -> str:
    return f"{emu.graph_base}/$metadata#users('{user.id}')/{suffix}"


def _tz_headers(request: Request) -> dict[str, str]:
    tz = preferred_timezone(request)
    return {"Preference-Applied": f'outlook.timezone="{tz}"'} if tz else {}


# --- delta -------------------------------------------------------------------------------------


def _delta_item(emu: Emulator, ev: StoredEvent, state: DeltaState) -> dict[str, Any]:
    if ev.deleted or not _in_window(ev, state.start, state.end):
        return {"@odata.type": "#microsoft.graph.event", "id": ev.id, "@removed": {"reason": "deleted"}}
    return calendar.render_event(emu, ev)


def _delta_items(emu: Emulator, state: DeltaState) -> list[dict[str, Any]]:
    """Everything in the window (first round) or everything changed since ``since_seq``."""
    mailbox_events = [e for e in emu.state.events.values() if e.mailbox == state.mailbox]
    if state.since_seq == 0:
        chosen = [e for e in mailbox_events if not e.deleted and _in_window(e, state.start, state.end)]
        chosen.sort(key=lambda e: (e.start, e.created))
    else:
        chosen = sorted((e for e in mailbox_events if e.seq > state.since_seq), key=lambda e: e.seq)
    return [_delta_item(emu, e, state) for e in chosen]


def _delta_page(emu: Emulator, state: DeltaState, size: int, user: User) -> dict[str, Any]:
    """Serve one page of ``state.pending``; the rest goes behind a new ``$skiptoken``."""
    head, rest = state.pending[:size], state.pending[size:]
    body: dict[str, Any] = {"@odata.context": _context(emu, user, "calendarView/delta"), "value": head}
    link = f"{emu.graph_base}/me/calendarView/delta"
    if rest:
        token = secrets.token_urlsafe(24)
        emu.state.delta_states[token] = DeltaState(
            state.mailbox, state.start, state.end, state.since_seq, rest, state.final_seq
        )
        body["@odata.nextLink"] = f"{link}?$skiptoken={token}"
    else:
        token = secrets.token_urlsafe(24)
        emu.state.delta_states[token] = DeltaState(state.mailbox, state.start, state.end, state.final_seq)
        body["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
    return body


def _stored_delta(emu: Emulator, token: str, mailbox: str) -> DeltaState:
    if token in emu.state.invalidated_delta:
        raise GraphError(410, "resyncRequired", "Resync required. Replace any local items with the server's.")
    state = emu.state.delta_states.get(token)
    if state is None or state.mailbox != mailbox:
        raise GraphError(410, "syncStateNotFound", "The sync state generation is not found. Resync required.")
    return state


def delta(emu: Emulator, request: Request, user: User) -> dict[str, Any]:
    size = preferred_page_size(request, emu.state.settings.delta_page_size)
    skip = request.query_params.get("$skiptoken")
    delta_token = request.query_params.get("$deltatoken")
    if skip is not None:
        return _delta_page(emu, _stored_delta(emu, skip, user.email), size, user)
    if delta_token is not None:
        base = _stored_delta(emu, delta_token, user.email)
        current = DeltaState(user.email, base.start, base.end, base.since_seq, final_seq=emu.state.seq)
    else:
        start, end = _window(request)
        current = DeltaState(user.email, start, end, 0, final_seq=emu.state.seq)
    current.pending = _delta_items(emu, current)
    return _delta_page(emu, current, size, user)


# --- router ------------------------------------------------------------------------------------


def build_router(emu: Emulator) -> APIRouter:
    router = APIRouter()

    @router.get("/v1.0/me", include_in_schema=False)
    async def me(request: Request) -> Response:
        user, _ = authenticate(emu, request)
        first, _, last = user.name.partition(" ")
        return JSONResponse(
            {
                "@odata.context": f"{emu.graph_base}/$metadata#users/$entity",
                "businessPhones": [],
                "displayName": user.name,
                "givenName": first or None,
                "jobTitle": None,
                "mail": user.email,
                "mobilePhone": None,
                "officeLocation": None,
                "preferredLanguage": None,
                "surname": last or None,
                "userPrincipalName": user.email,
                "id": user.id,
            }
        )

    async def create(request: Request) -> Response:
        user, token = authenticate(emu, request)
        require_scope(token, WRITE_CALENDARS)
        body = await json_body(request)
        ev, _created = calendar.create_event(emu, user.email, body)
        rendered = calendar.render_event(emu, ev, ev.time_zone)
        rendered["@odata.context"] = _context(emu, user, "events/$entity")
        # A retried POST with a known transactionId returns the existing event (status 201 too).
        return JSONResponse(rendered, status_code=201)

    async def list_events(request: Request) -> Response:
        user, token = authenticate(emu, request)
        require_scope(token, READ_CALENDARS)
        predicate = calendar.event_filter(request.query_params.get("$filter"))
        events = sorted(
            (e for e in emu.state.live_events(user.email) if predicate(e)), key=lambda e: e.created
        )
        body = page(request, f"{emu.graph_base}/me/events", _render_list(emu, request, events), 10)
        return JSONResponse(
            {"@odata.context": _context(emu, user, "events"), **body}, headers=_tz_headers(request)
        )

    for path in _EVENT_PATHS:
        router.add_api_route(path, create, methods=["POST"], include_in_schema=False)
        router.add_api_route(path, list_events, methods=["GET"], include_in_schema=False)

    @router.get("/v1.0/me/events/{event_id}", include_in_schema=False)
    async def get_event(event_id: str, request: Request) -> Response:
        user, token = authenticate(emu, request)
        require_scope(token, READ_CALENDARS)
        ev = calendar.find_event(emu, user.email, event_id)
        rendered = _render_list(emu, request, [ev])[0]
        rendered["@odata.context"] = _context(emu, user, "events/$entity")
        return JSONResponse(rendered, headers=_tz_headers(request))

    @router.patch("/v1.0/me/events/{event_id}", include_in_schema=False)
    async def patch_event(event_id: str, request: Request) -> Response:
        user, token = authenticate(emu, request)
        require_scope(token, WRITE_CALENDARS)
        ev = calendar.find_event(emu, user.email, event_id)
        calendar.update_event(emu, ev, await json_body(request))
        rendered = calendar.render_event(emu, ev, ev.time_zone)
        rendered["@odata.context"] = _context(emu, user, "events/$entity")
        return JSONResponse(rendered)

    @router.delete("/v1.0/me/events/{event_id}", include_in_schema=False)
    async def delete_event(event_id: str, request: Request) -> Response:
        user, token = authenticate(emu, request)
        require_scope(token, WRITE_CALENDARS)
        calendar.delete_event(emu, calendar.find_event(emu, user.email, event_id))
        return Response(status_code=204)

    @router.get("/v1.0/me/calendarView", include_in_schema=False)
    async def calendar_view(request: Request) -> Response:
        user, token = authenticate(emu, request)
        require_scope(token, READ_CALENDARS)
        start, end = _window(request)
        events = sorted(
            (e for e in emu.state.live_events(user.email) if _in_window(e, start, end)),
            key=lambda e: (e.start, e.created),
        )
        body = page(request, f"{emu.graph_base}/me/calendarView", _render_list(emu, request, events), 10)
        return JSONResponse(
            {"@odata.context": _context(emu, user, "calendarView"), **body}, headers=_tz_headers(request)
        )

    @router.get("/v1.0/me/calendarView/delta", include_in_schema=False)
    async def calendar_view_delta(request: Request) -> Response:
        user, token = authenticate(emu, request)
        require_scope(token, READ_CALENDARS)
        return JSONResponse(delta(emu, request, user))

    return router
