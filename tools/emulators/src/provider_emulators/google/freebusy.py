"""``POST /calendar/v3/freeBusy``: busy periods of users' calendars and rooms."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from provider_emulators.google.errors import GoogleApiError, invalid, required
from provider_emulators.google.events import CalendarService, interval
from provider_emulators.google.state import User
from provider_emulators.google.timeutil import format_utc, parse_rfc3339

FREEBUSY_MAX_CALENDARS = 50
FREEBUSY_MAX_RANGE = dt.timedelta(days=90)  # "about 90 days" (unconfirmed)


def merge_busy(periods: Iterable[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in sorted(periods):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


class FreeBusyService:
    """Busy = non-cancelled, non-transparent events of a user; accepted bookings of a room."""

    def __init__(self, calendar: CalendarService) -> None:
        self.calendar = calendar
        self.state = calendar.state

    def can_see_freebusy(self, user: User, calendar_id: str) -> bool:
        if calendar_id.lower() == user.email.lower():
            return True
        other = self.state.users.get(calendar_id.lower())
        if other is not None:
            return user.domain is not None and other.domain == user.domain
        room = self.state.rooms.get(calendar_id.lower())
        return room is not None and room.customer_id == self.state.customer_of(user)

    def freebusy(self, user: User, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("timeMin"):
            raise required("timeMin")
        if not body.get("timeMax"):
            raise required("timeMax")
        time_min = parse_rfc3339(str(body["timeMin"]), "timeMin")
        time_max = parse_rfc3339(str(body["timeMax"]), "timeMax")
        if time_max <= time_min:
            raise GoogleApiError(
                400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar"
            )
        if time_max - time_min > FREEBUSY_MAX_RANGE:
            raise GoogleApiError(
                400, "timeRangeTooLong", "The requested time range is too long.", domain="calendar"
            )
        items = body.get("items") or []
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("id"), str) for i in items
        ):
            raise invalid("Invalid value for: items", "items")
        too_many = len(items) > FREEBUSY_MAX_CALENDARS
        calendars = {
            item["id"]: self._freebusy_calendar(user, item["id"], time_min, time_max, too_many)
            for item in items
        }
        return {
            "kind": "calendar#freeBusy",
            "timeMin": format_utc(time_min, millis=True),
            "timeMax": format_utc(time_max, millis=True),
            "calendars": calendars,
        }

    def _freebusy_calendar(
        self, user: User, calendar_id: str, time_min: dt.datetime, time_max: dt.datetime, too_many: bool
    ) -> dict[str, Any]:
        if too_many:
            return {"errors": [{"domain": "calendar", "reason": "tooManyCalendarsRequested"}], "busy": []}
        resolved = user.email if calendar_id == "primary" else calendar_id
        if not self.can_see_freebusy(user, resolved):
            return {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
        periods = self.busy_periods(resolved)
        clipped = [(max(s, time_min), min(e, time_max)) for s, e in periods if s < time_max and time_min < e]
        return {
            "busy": [{"start": format_utc(s), "end": format_utc(e)} for s, e in merge_busy(clipped) if s < e]
        }

    def busy_periods(self, calendar_id: str) -> list[tuple[dt.datetime, dt.datetime]]:
        room = self.state.rooms.get(calendar_id.lower())
        if room is not None:
            return self.calendar.room_bookings(room.email)
        own = self.state.events.get(self._user_key(calendar_id), {}).values()
        return [
            interval(e.resource)
            for e in own
            if e.resource["status"] != "cancelled" and e.resource.get("transparency") != "transparent"
        ]

    def _user_key(self, calendar_id: str) -> str:
        return next((u for u in self.state.users if u.lower() == calendar_id.lower()), calendar_id)
