"""The confirmed visit as an iCalendar file (RFC 5545) for the guest's own calendar."""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar, Event


def visit_ics(
    *, uid: str, title: str, start: datetime, end: datetime, location: str | None, description: str
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Visitor Scheduling//web//JA")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", start.astimezone(UTC))
    event.add("dtend", end.astimezone(UTC))
    event.add("summary", title)
    event.add("description", description)
    if location:
        event.add("location", location)
    calendar.add_component(event)
    return bytes(calendar.to_ical())
