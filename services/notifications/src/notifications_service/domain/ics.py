"""The .ics of a visit (RFC 5545, via ``icalendar``): one UID per appointment, so every update
and the cancellation replace the same entry in the guest's calendar; ``SEQUENCE`` is the
appointment's version, which only grows, so a calendar program keeps the newest."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from icalendar import Calendar, Event, vCalAddress, vText

from notifications_service.domain.model import Attachment, IcsMethod, Recipient
from visitor_common.events import AppointmentSnapshot, CandidateSlot

PRODID = "-//Visitor Scheduling//Notifications//JA"
UID_DOMAIN = "visitor-scheduling"


def appointment_uid(appointment_id: str) -> str:
    return f"{appointment_id}@{UID_DOMAIN}"


def _address(recipient: Recipient, role: str | None = None) -> vCalAddress:
    address = vCalAddress(f"mailto:{recipient.email}")
    if recipient.name:
        address.params["CN"] = vText(recipient.name)
    if role:
        address.params["ROLE"] = vText(role)
    return address


def location_of(slot: CandidateSlot) -> str | None:
    if slot.room is None:
        return None
    return slot.room.name or slot.room.email


def visit_calendar(
    appointment: AppointmentSnapshot,
    slot: CandidateSlot,
    method: IcsMethod,
    *,
    organizer: Recipient,
    attendees: Sequence[Recipient],
    stamp: datetime,
    description: str | None = None,
) -> Attachment:
    """``METHOD:REQUEST`` for a confirmed or moved visit, ``METHOD:CANCEL`` for a cancelled one."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method.value)
    event = Event()
    event.add("uid", appointment_uid(appointment.appointment_id))
    event.add("sequence", appointment.version)
    event.add("dtstamp", stamp)
    event.add("dtstart", slot.start)
    event.add("dtend", slot.end)
    event.add("summary", appointment.title)
    event.add("status", "CANCELLED" if method is IcsMethod.CANCEL else "CONFIRMED")
    location = location_of(slot)
    if location:
        event.add("location", location)
    if description:
        event.add("description", description)
    event.add("organizer", _address(organizer))
    for attendee in attendees:
        event.add("attendee", _address(attendee, "REQ-PARTICIPANT"))
    calendar.add_component(event)
    name = "cancel.ics" if method is IcsMethod.CANCEL else "invite.ics"
    return Attachment(filename=name, content=calendar.to_ical(), method=method)
