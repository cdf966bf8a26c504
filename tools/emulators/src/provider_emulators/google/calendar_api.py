"""HTTP routes of Calendar API v3 (``/calendar/v3``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Response

from provider_emulators.google.channels import ChannelService
from provider_emulators.google.context import GoogleEmulator
from provider_emulators.google.errors import invalid
from provider_emulators.google.events import CalendarService, ListQuery
from provider_emulators.google.freebusy import FreeBusyService
from provider_emulators.google.state import User
from provider_emulators.google.tokens import CALENDAR_SCOPES, require_scope

PREFIX = "/calendar/v3"
JsonBody = Annotated[Any, Body()]
AuthHeader = Annotated[str | None, Header()]
IfMatch = Annotated[str | None, Header(alias="If-Match")]


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid("Parse Error")
    return body


def build_calendar_router(
    emu: GoogleEmulator,
    calendar: CalendarService,
    freebusy_service: FreeBusyService,
    channels: ChannelService,
) -> APIRouter:
    router = APIRouter(prefix=PREFIX)

    def user_of(authorization: str | None) -> User:
        access = emu.tokens.authenticate(authorization)
        require_scope(access, CALENDAR_SCOPES)
        return emu.state.users[access.email]

    def events_of(authorization: str | None, calendar_id: str) -> str:
        return calendar.own_calendar(user_of(authorization), calendar_id)

    @router.get("/calendars/{calendar_id}")
    async def get_calendar(calendar_id: str, authorization: AuthHeader = None) -> dict[str, Any]:
        return calendar.calendar_resource(events_of(authorization, calendar_id))

    @router.post("/calendars/{calendar_id}/events")
    async def insert(calendar_id: str, body: JsonBody, authorization: AuthHeader = None) -> dict[str, Any]:
        return calendar.insert(events_of(authorization, calendar_id), _object(body))

    @router.get("/calendars/{calendar_id}/events/{event_id}")
    async def get(calendar_id: str, event_id: str, authorization: AuthHeader = None) -> dict[str, Any]:
        return calendar.get(events_of(authorization, calendar_id), event_id)

    @router.patch("/calendars/{calendar_id}/events/{event_id}")
    async def patch(
        calendar_id: str,
        event_id: str,
        body: JsonBody,
        authorization: AuthHeader = None,
        if_match: IfMatch = None,
    ) -> dict[str, Any]:
        return calendar.patch(events_of(authorization, calendar_id), event_id, _object(body), if_match)

    @router.put("/calendars/{calendar_id}/events/{event_id}")
    async def update(
        calendar_id: str,
        event_id: str,
        body: JsonBody,
        authorization: AuthHeader = None,
        if_match: IfMatch = None,
    ) -> dict[str, Any]:
        return calendar.update(events_of(authorization, calendar_id), event_id, _object(body), if_match)

    @router.delete("/calendars/{calendar_id}/events/{event_id}", status_code=204)
    async def delete(
        calendar_id: str, event_id: str, authorization: AuthHeader = None, if_match: IfMatch = None
    ) -> Response:
        calendar.delete(events_of(authorization, calendar_id), event_id, if_match)
        return Response(status_code=204)

    @router.get("/calendars/{calendar_id}/events")
    async def list_events(
        calendar_id: str,
        authorization: AuthHeader = None,
        time_min: Annotated[str | None, Query(alias="timeMin")] = None,
        time_max: Annotated[str | None, Query(alias="timeMax")] = None,
        show_deleted: Annotated[bool, Query(alias="showDeleted")] = False,
        single_events: Annotated[bool, Query(alias="singleEvents")] = False,
        order_by: Annotated[str | None, Query(alias="orderBy")] = None,
        max_results: Annotated[int | None, Query(alias="maxResults")] = None,
        page_token: Annotated[str | None, Query(alias="pageToken")] = None,
        sync_token: Annotated[str | None, Query(alias="syncToken")] = None,
        q: Annotated[str | None, Query()] = None,
        ical_uid: Annotated[str | None, Query(alias="iCalUID")] = None,
        private_props: Annotated[list[str] | None, Query(alias="privateExtendedProperty")] = None,
        shared_props: Annotated[list[str] | None, Query(alias="sharedExtendedProperty")] = None,
    ) -> dict[str, Any]:
        query = ListQuery(
            time_min=time_min,
            time_max=time_max,
            show_deleted=show_deleted,
            single_events=single_events,
            order_by=order_by,
            max_results=max_results,
            page_token=page_token,
            sync_token=sync_token,
            q=q,
            ical_uid=ical_uid,
            private_props=private_props or [],
            shared_props=shared_props or [],
        )
        return calendar.list_events(events_of(authorization, calendar_id), query)

    @router.post("/calendars/{calendar_id}/events/watch")
    async def watch(calendar_id: str, body: JsonBody, authorization: AuthHeader = None) -> dict[str, Any]:
        return channels.watch(events_of(authorization, calendar_id), _object(body))

    @router.post("/channels/stop", status_code=204)
    async def stop(body: JsonBody, authorization: AuthHeader = None) -> Response:
        user_of(authorization)
        channels.stop(_object(body))
        return Response(status_code=204)

    @router.post("/freeBusy")
    async def freebusy(body: JsonBody, authorization: AuthHeader = None) -> dict[str, Any]:
        return freebusy_service.freebusy(user_of(authorization), _object(body))

    return router
