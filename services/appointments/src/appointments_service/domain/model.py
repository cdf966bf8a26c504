"""The appointment aggregate, its behaviour, and the value objects around it.

Every change is a method of :class:`Appointment` that checks its rule, and returns a
:class:`Changed`: the new (immutable) aggregate, its version bumped once, and the events the
change produced. The events are the payload models of ``visitor_common.events`` themselves:
they already are the language the other services understand (each carries the snapshot after
the change), they are plain data with no I/O, and a separate domain-event layer would only be
translated one-to-one into them. What the domain does not decide is *where* they go and in
which envelope: that (CloudEvents, topics, R8 routing) is ``service_layer/events.py``'s job.

Randomness (ids, tokens, reception codes) and the clock come in as arguments, so every
transition is deterministic and testable on plain objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from appointments_service.domain.errors import (
    AlreadyConfirmed,
    InvalidAppointment,
    InvalidState,
    NotLinked,
    OutsideVisitWindow,
    SlotNotFound,
    SlotUnavailable,
    Violation,
)
from visitor_common.events import (
    AppointmentCancelled,
    AppointmentConfirmed,
    AppointmentCreated,
    AppointmentDetailsUpdated,
    AppointmentRescheduled,
    AppointmentSnapshot,
    AppointmentStatus,
    CalendarBinding,
    CalendarRestoreRequested,
    CandidateSlot,
    ConnectionStatus,
    DriftChange,
    EventData,
    Guest,
    GuestCheckedIn,
    Provider,
    SyncFailureReason,
    SyncState,
)

DETAIL_FIELDS = ("title", "notes", "guests", "hold_candidates")
# The reception code opens the front desk from 12 hours before the visit until 2 hours after it.
VISIT_WINDOW_BEFORE = timedelta(hours=12)
VISIT_WINDOW_AFTER = timedelta(hours=2)


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

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @staticmethod
    def expiry(now: datetime, ttl: timedelta, candidates: Sequence[CandidateSlot]) -> datetime:
        """A link expires after ``ttl`` or when the last candidate starts, whichever is first."""
        return min(now + ttl, max(c.start for c in candidates))

    @classmethod
    def issue(
        cls, token: str, now: datetime, ttl: timedelta, candidates: Sequence[CandidateSlot]
    ) -> GuestLink:
        return cls(token_hash=cls.hash_token(token), expires_at=cls.expiry(now, ttl, candidates))

    def usable(self, now: datetime) -> bool:
        return not self.revoked and now < self.expires_at

    def revoke(self) -> GuestLink:
        return self.model_copy(update={"revoked": True})

    def retimed(self, now: datetime, ttl: timedelta, candidates: Sequence[CandidateSlot]) -> GuestLink:
        """The same link, expiring by the rule above for new candidates."""
        return self.model_copy(update={"expires_at": self.expiry(now, ttl, candidates)})


class CheckIn(BaseModel):
    """The guest's arrival: when, at which reception device, and the version it made."""

    model_config = ConfigDict(frozen=True)

    checked_in_at: AwareDatetime
    device_id: str
    appointment_version: int = Field(ge=1)


class Reception(BaseModel):
    """The reception code; ``active`` drives the tenant-wide partial unique index."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^\d{6}$")
    active: bool = True
    issued_at: AwareDatetime
    checked_in: CheckIn | None = None

    def release(self) -> Reception:
        return self.model_copy(update={"active": False})


class HeldCalendarChange(BaseModel):
    """A calendar change that waits for the bound connection (R8, decision 0004).

    Only a cancellation is ever held: it must not wait for the host (a visit that is off is
    off), yet it may only be written to the bound calendar. It is released when that same
    connection of the same account is linked again, and never sent to another calendar."""

    model_config = ConfigDict(frozen=True)

    change: str = "cancellation"
    appointment_version: int = Field(ge=1, description="The version whose calendar side waits.")
    provider: Provider
    connection_id: str
    account_email: str
    connection_status: ConnectionStatus = Field(description="Why it waits: the connection's status.")
    provider_event_ids: dict[str, str] = Field(
        default_factory=dict, description="The calendar events it will remove, by entry key."
    )
    held_at: AwareDatetime

    def same_account(self, provider: Provider, connection_id: str, account_email: str) -> bool:
        """Whether a connection is the bound one: same provider, connection and account."""
        return (
            provider is self.provider
            and connection_id == self.connection_id
            and account_email.lower() == self.account_email.lower()
        )


@dataclass(frozen=True)
class DetailsChange:
    """Fields to change; ``None`` leaves a field as it is (``clear_notes`` empties the notes)."""

    title: str | None = None
    notes: str | None = None
    clear_notes: bool = False
    guests: Sequence[Guest] | None = None
    hold_candidates: bool | None = None

    def updates(self) -> dict[str, object]:
        update: dict[str, object] = {}
        if self.title is not None:
            update["title"] = self.title
        if self.clear_notes:
            update["notes"] = None
        elif self.notes is not None:
            update["notes"] = self.notes
        if self.guests is not None:
            update["guests"] = tuple(self.guests)
        if self.hold_candidates is not None:
            update["hold_candidates"] = self.hold_candidates
        return update


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
    held_calendar_change: HeldCalendarChange | None = None
    # Set only by a write no consumer hears of (a released reception code): the version of the
    # last snapshot that went out in an event, which is what the connectors report on.
    announced_version: int | None = None
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

    def visit_window(self) -> tuple[datetime, datetime] | None:
        """When the reception code opens the front desk (``None`` unless confirmed)."""
        slot = self.confirmed_slot()
        if self.status is not AppointmentStatus.CONFIRMED or slot is None:
            return None
        return slot.start - VISIT_WINDOW_BEFORE, slot.end + VISIT_WINDOW_AFTER

    # --- proposing ---------------------------------------------------------------------------

    @classmethod
    def propose(
        cls,
        *,
        appointment_id: str,
        tenant_id: str,
        host_employee_id: str,
        host_email: str,
        title: str,
        guests: Sequence[Guest],
        duration_minutes: int,
        candidates: tuple[CandidateSlot, ...],
        availability: Availability,
        binding: CalendarBinding | None,
        guest_token: str,
        guest_link_ttl: timedelta,
        now: datetime,
        notes: str | None = None,
        hold_candidates: bool = True,
        any_free_room: bool = False,
    ) -> Changed:
        """A new appointment at version 1, with a guest link (only the token's hash is kept).

        ``candidates`` are already validated (``rules.build_candidates``) and checked against
        the bound calendar; ``binding`` is the host's active connection at this moment (R8).
        """
        appointment = cls(
            appointment_id=appointment_id,
            tenant_id=tenant_id,
            version=1,
            host_employee_id=host_employee_id,
            host_email=host_email,
            title=title,
            notes=notes,
            guests=tuple(guests),
            duration_minutes=duration_minutes,
            candidates=candidates,
            hold_candidates=hold_candidates,
            any_free_room=any_free_room,
            binding=binding,
            availability=availability,
            guest_link=GuestLink.issue(guest_token, now, guest_link_ttl, candidates),
            created_at=now,
            updated_at=now,
        )
        return Changed(appointment, (AppointmentCreated(appointment=appointment.snapshot()),))

    # --- rules a change must pass (pure; the service layer may run them early, before I/O) ---

    def require_changeable(self) -> None:
        if self.status is AppointmentStatus.CANCELLED:
            raise InvalidState(
                "The appointment is cancelled; it can no longer change.", appointment_status="cancelled"
            )

    def require_linked(self) -> None:
        """R9: only a calendar-bound appointment has calendar events to restore."""
        if self.binding is None:
            raise NotLinked("This appointment is not bound to a calendar, so there is nothing to restore.")

    def require_reschedulable(self, slot_count: int) -> None:
        """A confirmed appointment moves to exactly one new slot (it keeps its reception code)."""
        self.require_changeable()
        if self.status is AppointmentStatus.CONFIRMED and slot_count != 1:
            raise InvalidAppointment(
                [
                    Violation(
                        ("candidates",),
                        "a confirmed appointment is rescheduled to exactly one slot",
                        "confirmed_reschedule_one_slot",
                    )
                ]
            )

    def slot_available(self, slot: CandidateSlot, now: datetime) -> bool:
        """A candidate is still offered when it lies ahead and no check found it taken."""
        check = self.availability.for_slot(slot.slot_id)
        return slot.start > now and (check is None or check.available is not False)

    def available_candidates(self, now: datetime) -> list[CandidateSlot]:
        if self.status is not AppointmentStatus.PROPOSED:
            return []
        return [c for c in self.candidates if self.slot_available(c, now)]

    def repeated_pick(self, slot_id: str) -> Reception | None:
        """The confirmation the guest already holds when they pick the confirmed slot again (a
        double click, a reload): the same answer again, not a 409 that hides the code."""
        if self.status is AppointmentStatus.CONFIRMED and self.confirmed_slot_id == slot_id:
            return self.reception
        return None

    def check_pick(self, slot_id: str, now: datetime) -> CandidateSlot:
        """The guest's chosen slot; raises when the appointment or the slot cannot be confirmed."""
        if self.status is AppointmentStatus.CONFIRMED:
            raise AlreadyConfirmed("Another choice has already confirmed this appointment.")
        self.require_changeable()
        slot = self.slot(slot_id)
        if slot is None:
            raise SlotNotFound(f"The appointment has no candidate {slot_id!r}.")
        if slot.start <= now:
            raise SlotUnavailable("This slot has already started; choose another one.", slot_id=slot_id)
        if not self.slot_available(slot, now):
            raise SlotUnavailable(
                "The host's calendar or the room is no longer free at this time; choose another one.",
                slot_id=slot_id,
            )
        return slot

    # --- changes -------------------------------------------------------------------------------

    def update_details(self, change: DetailsChange, now: datetime) -> Changed:
        """Title, notes, guests, hold flag; the event names the fields that really changed."""
        self.require_changeable()
        after = self._next(now, **change.updates())
        names = tuple(n for n in DETAIL_FIELDS if getattr(self, n) != getattr(after, n))
        return Changed(
            after, (AppointmentDetailsUpdated(appointment=after.snapshot(), changed_fields=names),)
        )

    def reschedule(
        self,
        candidates: tuple[CandidateSlot, ...],
        availability: Availability,
        *,
        any_free_room: bool,
        guest_link_ttl: timedelta,
        now: datetime,
    ) -> Changed:
        """New candidates (validated and checked by the caller). A confirmed appointment moves
        to the one new slot; a proposed one's live guest link is re-timed to the new slots."""
        self.require_reschedulable(len(candidates))
        update: dict[str, object] = {
            "candidates": candidates,
            "availability": availability,
            "any_free_room": any_free_room,
        }
        if self.status is AppointmentStatus.CONFIRMED:
            update["confirmed_slot_id"] = candidates[0].slot_id
        elif self.guest_link is not None and not self.guest_link.revoked:
            update["guest_link"] = self.guest_link.retimed(now, guest_link_ttl, candidates)
        after = self._next(now, **update)
        return Changed(after, (AppointmentRescheduled(appointment=after.snapshot()),))

    def confirm(self, slot_id: str, reception_code: str, now: datetime) -> Changed:
        """The guest's pick. The lifecycle event carries the reception code (for reception and
        mail); keeping it off the calendar topics is a routing decision, not the domain's."""
        slot = self.check_pick(slot_id, now)
        after = self._next(
            now,
            status=AppointmentStatus.CONFIRMED,
            confirmed_slot_id=slot.slot_id,
            reception=Reception(code=reception_code, issued_at=now),
        )
        return Changed(
            after, (AppointmentConfirmed(appointment=after.snapshot(), reception_code=reception_code),)
        )

    def cancel(
        self,
        reason: str | None,
        now: datetime,
        *,
        calendar_unusable: ConnectionStatus | None = None,
        provider_event_ids: Mapping[str, str] | None = None,
    ) -> Changed:
        """Cancelled for good: the reception code is freed and the guest link withdrawn.

        ``calendar_unusable`` (the bound connection's status when it cannot be written to)
        cancels all the same, and records the calendar side as held (``provider_event_ids``:
        the events it concerns) until that connection is linked again."""
        self.require_changeable()
        update: dict[str, object] = {"status": AppointmentStatus.CANCELLED, "cancel_reason": reason}
        if self.reception is not None:
            update["reception"] = self.reception.release()
        if self.guest_link is not None:
            update["guest_link"] = self.guest_link.revoke()
        if calendar_unusable is not None and self.binding is not None:
            update["held_calendar_change"] = HeldCalendarChange(
                appointment_version=self.version + 1,
                provider=self.binding.provider,
                connection_id=self.binding.connection_id,
                account_email=str(self.binding.account_email),
                connection_status=calendar_unusable,
                provider_event_ids=dict(provider_event_ids or {}),
                held_at=now,
            )
        after = self._next(now, **update)
        return Changed(after, (AppointmentCancelled(appointment=after.snapshot(), reason=reason),))

    def released_by_link(
        self, tenant_id: str, employee_id: str, provider: Provider, connection_id: str, account_email: str
    ) -> bool:
        """Whether the host linking this connection again releases the held calendar change."""
        held = self.held_calendar_change
        return (
            held is not None
            and (tenant_id, employee_id) == (self.tenant_id, self.host_employee_id)
            and held.same_account(provider, connection_id, account_email)
        )

    def release_held_change(self, now: datetime) -> Changed:
        """The bound connection is usable again: the held cancellation goes to its calendar
        now (a new version, so the connector applies it over whatever it last saw)."""
        if self.held_calendar_change is None:
            raise InvalidState("No calendar change is held for this appointment.")
        after = self._next(now, held_calendar_change=None)
        return Changed(
            after, (AppointmentCancelled(appointment=after.snapshot(), reason=self.cancel_reason),)
        )

    def request_restore(self, now: datetime) -> Changed:
        """R9: nothing changes but the version, so the connector rewrites the calendar from the
        new snapshot over whatever was edited or deleted there."""
        self.require_linked()
        self.require_changeable()
        after = self._next(now)
        return Changed(after, (CalendarRestoreRequested(appointment=after.snapshot()),))

    def reissue_guest_link(self, guest_token: str, guest_link_ttl: timedelta, now: datetime) -> Changed:
        """A new link replaces the old one (which stops working); only a proposed appointment
        has one to reissue."""
        self.require_changeable()
        if self.status is not AppointmentStatus.PROPOSED:
            raise InvalidState(
                "Only a proposed appointment has a guest link.", appointment_status=self.status.value
            )
        after = self._next(now, guest_link=GuestLink.issue(guest_token, now, guest_link_ttl, self.candidates))
        return Changed(after, (self._guest_link_updated(after),))

    def revoke_guest_link(self, now: datetime) -> Changed:
        self.require_changeable()
        if self.guest_link is None or self.guest_link.revoked:
            raise InvalidState("The guest link is already withdrawn.")
        after = self._next(now, guest_link=self.guest_link.revoke())
        return Changed(after, (self._guest_link_updated(after),))

    def repeated_check_in(self) -> CheckIn | None:
        """The check-in already made: checking in again answers it, with no new event."""
        return self.reception.checked_in if self.reception is not None else None

    def check_in(self, device_id: str, now: datetime, host_name: str | None = None) -> Changed:
        """The guest typed the reception code at a tablet: only a confirmed visit with an active
        code, within its visit window, and only once (callers answer ``repeated_check_in``)."""
        window = self.visit_window()
        reception = self.reception
        slot = self.confirmed_slot()
        if window is None or reception is None or not reception.active or slot is None:
            raise InvalidState(
                "Only a confirmed visit can be checked in.", appointment_status=self.status.value
            )
        if reception.checked_in is not None:
            raise InvalidState("The guest has already checked in.", appointment_status=self.status.value)
        opens, closes = window
        if not opens <= now <= closes:
            raise OutsideVisitWindow(
                "This code is valid from 12 hours before the visit until 2 hours after it.",
                window_opens_at=opens.isoformat(),
                window_closes_at=closes.isoformat(),
            )
        check_in = CheckIn(checked_in_at=now, device_id=device_id, appointment_version=self.version + 1)
        # The calendar hears nothing of a check-in (lifecycle topic only).
        after = self._next_unheard(now, reception=reception.model_copy(update={"checked_in": check_in}))
        event = GuestCheckedIn(
            appointment_id=after.appointment_id,
            tenant_id=after.tenant_id,
            appointment_version=after.version,
            title=after.title,
            host_employee_id=after.host_employee_id,
            host_email=after.host_email,
            host_name=host_name,
            guests=after.guests,
            slot=slot,
            checked_in_at=now,
            device_id=device_id,
        )
        return Changed(after, (event,))

    def release_reception_code(self, now: datetime) -> Appointment | None:
        """Free the reception code once the appointment is over (``None`` while it still lies
        ahead, or holds no active code). Housekeeping for the tenant-wide unique index, not a
        change anyone consumes, so no event; but a change of the document all the same, so a
        new version (and ETag): a host's edit made on the version before fails its
        compare-and-set instead of writing the code back as active."""
        if self.reception is None or not self.reception.active or self.ends_at() > now:
            return None
        return self._next_unheard(now, reception=self.reception.release())

    def reported_version(self) -> int:
        """The version a connector's status must be about for the calendar to be up to date:
        the current one, unless only changes the calendar never hears of (a code release, a
        check-in) happened since the last event it was sent."""
        return self.announced_version if self.announced_version is not None else self.version

    def _next(self, now: datetime, **update: object) -> Appointment:
        """The aggregate after a change: one version further, stamped ``now``; its events carry
        this version to the calendar."""
        return self.model_copy(
            update={"version": self.version + 1, "updated_at": now, "announced_version": None, **update}
        )

    def _next_unheard(self, now: datetime, **update: object) -> Appointment:
        """:meth:`_next` for a change the calendar never hears of (a check-in, a code release):
        the calendar's sync stays due at the version announced before."""
        return self._next(now, announced_version=self.reported_version(), **update)

    @staticmethod
    def _guest_link_updated(after: Appointment) -> AppointmentDetailsUpdated:
        return AppointmentDetailsUpdated(appointment=after.snapshot(), changed_fields=("guest_link",))


@dataclass(frozen=True)
class Changed:
    """What a change produced: the new aggregate and its events, in the order they happened."""

    appointment: Appointment
    events: tuple[EventData, ...]


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


class CalendarSyncState(StrEnum):
    """The connectors' ``SyncState`` plus ``blocked``, which only the appointments service
    knows: the bound connection cannot be written to (R8), so nothing will sync until the
    same calendar is linked again."""

    NOT_LINKED = SyncState.NOT_LINKED.value
    PENDING = SyncState.PENDING.value
    SYNCED = SyncState.SYNCED.value
    FAILED = SyncState.FAILED.value
    DRIFTED = SyncState.DRIFTED.value
    BLOCKED = "blocked"


class CalendarSyncView(BaseModel):
    """What ``GET /v1/appointments/{id}`` shows as ``calendar_sync``."""

    model_config = ConfigDict(frozen=True)

    state: CalendarSyncState
    connection_status: ConnectionStatus | None = Field(
        None, description="Set when blocked: the bound connection's status."
    )
    action: str | None = Field(None, description='Set when blocked: what fixes it, e.g. "relink_google".')
    reason_code: SyncFailureReason | None = None
    message: str | None = None
    provider: Provider | None = None
    provider_event_ids: dict[str, str] = Field(default_factory=dict)
    drift: tuple[DriftChange, ...] = ()
    appointment_version: int | None = None
    observed_at: datetime | None = None
