"""The appointment aggregate and the value objects around it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from visitor_common.events import (
    AppointmentSnapshot,
    AppointmentStatus,
    CalendarBinding,
    CandidateSlot,
    DriftChange,
    Guest,
    Provider,
    SyncFailureReason,
    SyncState,
)


class AvailabilityState(StrEnum):
    """Whether the candidates were checked against the bound calendar."""

    CHECKED = "checked"
    UNKNOWN = "unknown"  # the connector could not be asked; create still succeeded
    NOT_CHECKED = "not_checked"  # no calendar link (R2)


class ConflictKind(StrEnum):
    HOST_BUSY = "host_busy"
    ROOM_BUSY = "room_busy"
    ROOM_UNKNOWN = "room_unknown"
    NO_FREE_ROOM = "no_free_room"


class BusyInterval(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime


class SlotConflict(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ConflictKind
    message: str
    room_email: str | None = None
    busy: tuple[BusyInterval, ...] = ()


class SlotCheck(BaseModel):
    """The availability finding for one candidate; ``available`` is ``None`` when unknown."""

    model_config = ConfigDict(frozen=True)

    slot_id: str
    available: bool | None
    host_free: bool | None = None
    room_free: bool | None = None
    conflicts: tuple[SlotConflict, ...] = ()


class Availability(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: AvailabilityState
    checked_at: AwareDatetime | None = None
    reason: str | None = None
    slots: tuple[SlotCheck, ...] = ()

    def for_slot(self, slot_id: str) -> SlotCheck | None:
        return next((s for s in self.slots if s.slot_id == slot_id), None)


class GuestLink(BaseModel):
    """The guest's scheduling link. Only the SHA-256 of the token is stored."""

    model_config = ConfigDict(frozen=True)

    token_hash: str
    expires_at: AwareDatetime
    revoked: bool = False

    def usable(self, now: datetime) -> bool:
        return not self.revoked and now < self.expires_at


class Reception(BaseModel):
    """The reception code; ``active`` drives the tenant-wide partial unique index."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^\d{6}$")
    active: bool = True
    issued_at: AwareDatetime


class Appointment(BaseModel):
    """The aggregate. ``version`` increases by one with every change (it is also the ETag)."""

    model_config = ConfigDict(frozen=True)

    appointment_id: str
    tenant_id: str
    version: int = Field(ge=1)
    host_employee_id: str
    host_email: str
    title: str
    notes: str | None = None
    guests: tuple[Guest, ...]
    duration_minutes: int
    status: AppointmentStatus = AppointmentStatus.PROPOSED
    candidates: tuple[CandidateSlot, ...]
    hold_candidates: bool = True
    any_free_room: bool = False
    confirmed_slot_id: str | None = None
    binding: CalendarBinding | None = None
    availability: Availability
    guest_link: GuestLink | None = None
    reception: Reception | None = None
    cancel_reason: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime

    def snapshot(self) -> AppointmentSnapshot:
        return AppointmentSnapshot(
            appointment_id=self.appointment_id,
            tenant_id=self.tenant_id,
            version=self.version,
            host_employee_id=self.host_employee_id,
            host_email=self.host_email,
            title=self.title,
            notes=self.notes,
            guests=self.guests,
            duration_minutes=self.duration_minutes,
            status=self.status,
            candidates=self.candidates,
            hold_candidates=self.hold_candidates,
            confirmed_slot_id=self.confirmed_slot_id,
            binding=self.binding,
        )

    def confirmed_slot(self) -> CandidateSlot | None:
        return next((c for c in self.candidates if c.slot_id == self.confirmed_slot_id), None)

    def slot(self, slot_id: str) -> CandidateSlot | None:
        return next((c for c in self.candidates if c.slot_id == slot_id), None)

    def ends_at(self) -> datetime:
        slot = self.confirmed_slot()
        return slot.end if slot is not None else max(c.end for c in self.candidates)


class SyncReport(BaseModel):
    """The latest accepted connector status for an appointment (stored beside the aggregate)."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    connection_id: str
    appointment_version: int
    state: SyncState
    reason_code: SyncFailureReason | None = None
    message: str | None = None
    provider_event_ids: dict[str, str] = Field(default_factory=dict)
    drift: tuple[DriftChange, ...] = ()
    observed_at: AwareDatetime


class CalendarSyncView(BaseModel):
    """What ``GET /v1/appointments/{id}`` shows as ``calendar_sync``."""

    model_config = ConfigDict(frozen=True)

    state: SyncState
    reason_code: SyncFailureReason | None = None
    message: str | None = None
    provider: Provider | None = None
    provider_event_ids: dict[str, str] = Field(default_factory=dict)
    drift: tuple[DriftChange, ...] = ()
    appointment_version: int | None = None
    observed_at: datetime | None = None
