"""Reception events (v1), on the lifecycle topic: what happened at the front desk."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, Field

from visitor_common.email import EmailStr
from visitor_common.events.appointments import CandidateSlot, Guest
from visitor_common.events.envelope import EventData


class GuestCheckedIn(EventData):
    """The guest typed the reception code at a tablet of the tenant. Produced once per
    appointment (checking in again repeats the first check-in, no new event); the Kafka key is
    the appointment id like every appointment event."""

    event_name: ClassVar[str] = "appointment.guest-checked-in"
    appointment_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    appointment_version: int = Field(ge=1)
    title: str
    host_employee_id: str
    host_email: EmailStr
    host_name: str | None = None
    guests: tuple[Guest, ...] = ()
    slot: CandidateSlot
    checked_in_at: AwareDatetime
    device_id: str = Field(min_length=1, description="The reception device the code was typed on.")
