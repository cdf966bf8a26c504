"""Appointment events (v1), produced by the appointments service through its outbox.

Each event carries the full :class:`AppointmentSnapshot` after the change (event-carried state
transfer): a connector reconciles the calendar with the snapshot of the highest version it has
seen, so redelivery, replays and out-of-date events are harmless (see
docs/decisions/0002-snapshot-events.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from visitor_common.email import EmailStr
from visitor_common.events.envelope import EventData


class Provider(StrEnum):
    GOOGLE = "google"
    OUTLOOK = "outlook"


class CalendarBinding(BaseModel):
    """The calendar connection an appointment was created with (R8). Never changes."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    connection_id: str
    account_email: EmailStr


class Guest(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=100)
    company: str | None = Field(None, max_length=200)
    email: EmailStr


class RoomRef(BaseModel):
    """A meeting room by its calendar address (Google resourceEmail / Graph room emailAddress)."""

    model_config = ConfigDict(frozen=True)

    email: EmailStr
    name: str | None = None


class CandidateSlot(BaseModel):
    model_config = ConfigDict(frozen=True)

    slot_id: str = Field(min_length=1, max_length=64)
    start: AwareDatetime
    end: AwareDatetime
    room: RoomRef | None = None


class AppointmentStatus(StrEnum):
    PROPOSED = "proposed"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class AppointmentSnapshot(BaseModel):
    """The whole appointment as a calendar connector needs it, at one version."""

    model_config = ConfigDict(frozen=True)

    appointment_id: str
    tenant_id: str
    version: int = Field(ge=1)
    host_employee_id: str
    host_email: EmailStr
    title: str
    notes: str | None = None
    guests: tuple[Guest, ...] = ()
    duration_minutes: int = Field(ge=1)
    status: AppointmentStatus
    candidates: tuple[CandidateSlot, ...]
    hold_candidates: bool = True
    confirmed_slot_id: str | None = None
    binding: CalendarBinding | None = None

    def confirmed_slot(self) -> CandidateSlot | None:
        return next((c for c in self.candidates if c.slot_id == self.confirmed_slot_id), None)


class _AppointmentEvent(EventData):
    appointment: AppointmentSnapshot


class AppointmentCreated(_AppointmentEvent):
    event_name: ClassVar[str] = "appointment.created"


class AppointmentDetailsUpdated(_AppointmentEvent):
    event_name: ClassVar[str] = "appointment.details-updated"
    changed_fields: tuple[str, ...] = ()


class AppointmentRescheduled(_AppointmentEvent):
    event_name: ClassVar[str] = "appointment.rescheduled"


class AppointmentConfirmed(_AppointmentEvent):
    """The guest picked a slot. ``reception_code`` is set only on the lifecycle topic (for
    reception and notification consumers); the connector topics carry ``None``, so a calendar
    never sees the code the visitor types at the front desk."""

    event_name: ClassVar[str] = "appointment.confirmed"
    reception_code: str | None = Field(None, pattern=r"^\d{6}$")


class AppointmentCancelled(_AppointmentEvent):
    event_name: ClassVar[str] = "appointment.cancelled"
    reason: str | None = None


class CalendarRestoreRequested(_AppointmentEvent):
    """Ask the bound connector to write the system's version back over a drifted event (R9)."""

    event_name: ClassVar[str] = "appointment.calendar-restore-requested"


APPOINTMENT_EVENTS: tuple[type[_AppointmentEvent], ...] = (
    AppointmentCreated,
    AppointmentDetailsUpdated,
    AppointmentRescheduled,
    AppointmentConfirmed,
    AppointmentCancelled,
    CalendarRestoreRequested,
)
