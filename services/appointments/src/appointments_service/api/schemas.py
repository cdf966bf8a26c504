"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    Strict,
    StringConstraints,
)

from appointments_service.domain import rules
from appointments_service.domain.model import (
    Appointment,
    Availability,
    CalendarSyncView,
    HeldCalendarChange,
    SlotCheck,
)
from visitor_common.events import (
    AppointmentStatus,
    CalendarBinding,
    CandidateSlot,
    Guest,
    RoomRef,
)
from visitor_common.text import SAFE_MULTILINE_TEXT, SAFE_TEXT


def _iso_8601_only(value: Any) -> Any:
    """Refuse Unix timestamps and other non-string forms: only ISO 8601 text is accepted."""
    if isinstance(value, str | datetime):
        return value
    raise ValueError("expected an ISO 8601 date-time string with a UTC offset")


IsoDateTime = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_8601_only),
    Field(description="ISO 8601 date-time with a UTC offset, e.g. 2030-01-07T10:00:00+09:00."),
]
# Every free-text field is SafeText (visitor_common.text): NFC, no control characters (notes
# keep line breaks), no bidirectional overrides, at least one visible character — these end
# up in calendar events, mails and logs. Checked here at the edge only: stored appointments
# and events written before keep loading.
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SAFE_TEXT]
Notes = Annotated[str, StringConstraints(max_length=2000), SAFE_MULTILINE_TEXT]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SAFE_TEXT]
Company = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), SAFE_TEXT]
RoomName = Annotated[str, StringConstraints(max_length=200), SAFE_TEXT]
Reason = Annotated[str, StringConstraints(max_length=500), SAFE_MULTILINE_TEXT]
Email = Annotated[EmailStr, StringConstraints(max_length=254)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoomIn(_In):
    email: Email
    name: RoomName | None = None

    def to_ref(self) -> RoomRef:
        return RoomRef(email=self.email, name=self.name)


class SlotIn(_In):
    start: IsoDateTime
    end: IsoDateTime | None = Field(None, description="Defaults to start + duration_minutes.")
    room: RoomIn | None = Field(None, description="A specific room for this slot.")

    def to_draft(self) -> rules.SlotDraft:
        return rules.SlotDraft(start=self.start, end=self.end, room=self.room.to_ref() if self.room else None)


class GuestIn(_In):
    name: Name
    company: Company | None = None
    email: Email

    def to_guest(self) -> Guest:
        return Guest(name=self.name, company=self.company or None, email=self.email)


Candidates = Annotated[list[SlotIn], Field(min_length=rules.MIN_CANDIDATES, max_length=rules.MAX_CANDIDATES)]


class CreateAppointmentIn(_In):
    title: Title
    guests: Annotated[list[GuestIn], Field(min_length=1, max_length=20)]
    duration_minutes: Annotated[
        int, Strict(), Field(ge=rules.MIN_DURATION_MINUTES, le=rules.MAX_DURATION_MINUTES)
    ]
    candidates: Candidates
    notes: Notes | None = None
    hold_candidates: bool = Field(True, description="Hold every candidate as a tentative event (仮押さえ).")
    any_free_room: bool = Field(
        False, description="Book any free room of the host's building / room list for slots without a room."
    )


class UpdateDetailsIn(_In):
    title: Title | None = None
    notes: Notes | None = Field(None, description='Send "" to clear the notes.')
    guests: Annotated[list[GuestIn], Field(min_length=1, max_length=20)] | None = None
    hold_candidates: bool | None = None


class RescheduleIn(_In):
    candidates: Candidates
    any_free_room: bool | None = None


class CancelIn(_In):
    reason: Reason | None = None


class PickIn(_In):
    slot_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class CandidateOut(BaseModel):
    slot_id: str
    start: datetime
    end: datetime
    room: RoomRef | None = None
    availability: SlotCheck | None = None


class GuestLinkOut(BaseModel):
    expires_at: datetime
    revoked: bool


class AppointmentOut(BaseModel):
    appointment_id: str
    version: int
    status: AppointmentStatus
    title: str
    notes: str | None
    guests: list[Guest]
    duration_minutes: int
    host_employee_id: str
    host_email: str
    candidates: list[CandidateOut]
    hold_candidates: bool
    any_free_room: bool
    confirmed_slot_id: str | None
    reception_code: str | None = Field(None, description="Set once confirmed.")
    binding: CalendarBinding | None
    availability: Availability
    guest_link: GuestLinkOut | None
    calendar_sync: CalendarSyncView
    cancel_reason: str | None = None
    held_calendar_change: HeldCalendarChange | None = Field(
        None,
        description="Set while the calendar side of the cancellation waits for the bound calendar "
        "to be linked again (R8): which connection and which provider events.",
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def build(cls, appointment: Appointment, sync: CalendarSyncView) -> AppointmentOut:
        link = appointment.guest_link
        return cls(
            appointment_id=appointment.appointment_id,
            version=appointment.version,
            status=appointment.status,
            title=appointment.title,
            notes=appointment.notes,
            guests=list(appointment.guests),
            duration_minutes=appointment.duration_minutes,
            host_employee_id=appointment.host_employee_id,
            host_email=appointment.host_email,
            candidates=[_candidate(c, appointment.availability) for c in appointment.candidates],
            hold_candidates=appointment.hold_candidates,
            any_free_room=appointment.any_free_room,
            confirmed_slot_id=appointment.confirmed_slot_id,
            reception_code=appointment.reception.code if appointment.reception else None,
            binding=appointment.binding,
            availability=appointment.availability,
            guest_link=GuestLinkOut(expires_at=link.expires_at, revoked=link.revoked) if link else None,
            calendar_sync=sync,
            cancel_reason=appointment.cancel_reason,
            held_calendar_change=appointment.held_calendar_change,
            created_at=appointment.created_at,
            updated_at=appointment.updated_at,
        )


def _candidate(slot: CandidateSlot, availability: Availability) -> CandidateOut:
    return CandidateOut(
        slot_id=slot.slot_id,
        start=slot.start,
        end=slot.end,
        room=slot.room,
        availability=availability.for_slot(slot.slot_id),
    )


class CreatedAppointmentOut(AppointmentOut):
    guest_token: str = Field(description="Shown once; only its hash is stored.")
    guest_url: str


class GuestLinkIssuedOut(BaseModel):
    appointment_id: str
    version: int
    guest_token: str
    guest_url: str
    expires_at: datetime


class AppointmentListOut(BaseModel):
    items: list[AppointmentOut]


class GuestSlotOut(BaseModel):
    slot_id: str
    start: datetime
    end: datetime
    room_name: str | None = None


class GuestAppointmentOut(BaseModel):
    """What the guest's scheduling page shows: no host internals, no other guests' e-mails."""

    title: str
    duration_minutes: int
    status: AppointmentStatus
    candidates: list[GuestSlotOut] = Field(description="The candidates still available.")
    confirmed_slot: GuestSlotOut | None = None
    expires_at: datetime
    bookable: bool = Field(
        True, description="False while the host's calendar cannot be updated: nothing can be picked now."
    )
    notice: str | None = Field(None, description="Why it cannot be booked right now, for the guest.")
    reception_code: str | None = Field(
        None,
        description="Once confirmed: the 6 digits to type at reception (the link's holder is the guest).",
    )
    host_name: str | None = Field(
        None,
        description="Once confirmed: the host as the guest's mails name them (the name when known, "
        "else the e-mail address).",
    )


class PickOut(BaseModel):
    status: AppointmentStatus
    confirmed_slot: GuestSlotOut
    reception_code: str = Field(description="6 digits to type at the reception tablet.")


def guest_slot(slot: CandidateSlot) -> GuestSlotOut:
    return GuestSlotOut(
        slot_id=slot.slot_id, start=slot.start, end=slot.end, room_name=slot.room.name if slot.room else None
    )


def host_shown(appointment: Appointment) -> str:
    """How the host is named to a guest or at the desk: the appointment knows only the host's
    address (no display name reaches this service), which is what the mails show too."""
    return appointment.host_email
