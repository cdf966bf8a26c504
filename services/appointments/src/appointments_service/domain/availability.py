"""Turning a connector's availability answer into per-slot findings (and free-room choices)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from appointments_service.domain.model import (
    Availability,
    AvailabilityState,
    BusyInterval,
    ConflictKind,
    SlotCheck,
    SlotConflict,
)
from visitor_common.contracts.availability import (
    AvailabilityAnswer,
    AvailabilityQuery,
    Room,
    SlotAvailability,
    TimeSlot,
)
from visitor_common.events import CandidateSlot, RoomRef


def availability_query(candidates: Sequence[CandidateSlot], any_free_room: bool) -> AvailabilityQuery:
    rooms = sorted({str(c.room.email) for c in candidates if c.room is not None})
    return AvailabilityQuery(
        slots=[TimeSlot(start=c.start, end=c.end) for c in candidates],
        room_emails=rooms,  # type: ignore[arg-type]
        include_preferred_rooms=any_free_room and any(c.room is None for c in candidates),
    )


def _answer_for(candidate: CandidateSlot, index: int, answer: AvailabilityAnswer) -> SlotAvailability | None:
    for slot in answer.slots:
        if slot.start == candidate.start and slot.end == candidate.end:
            return slot
    return answer.slots[index] if index < len(answer.slots) else None


def _host_conflicts(slot: SlotAvailability) -> list[SlotConflict]:
    if slot.host_free:
        return []
    busy = tuple(BusyInterval(start=b.start, end=b.end) for b in slot.host_busy)
    return [SlotConflict(kind=ConflictKind.HOST_BUSY, message="The host is busy at this time.", busy=busy)]


def _room_conflicts(room_email: str, slot: SlotAvailability) -> tuple[bool | None, list[SlotConflict]]:
    found = next((r for r in slot.rooms if str(r.email).lower() == room_email.lower()), None)
    if found is None or found.error is not None:
        why = found.error if found is not None and found.error else "the calendar did not answer for it"
        return None, [
            SlotConflict(
                kind=ConflictKind.ROOM_UNKNOWN,
                message=f"The room's availability is unknown ({why}).",
                room_email=room_email,
            )
        ]
    if found.free:
        return True, []
    return False, [
        SlotConflict(
            kind=ConflictKind.ROOM_BUSY, message="The room is booked at this time.", room_email=room_email
        )
    ]


def _pick_free_room(slot: SlotAvailability, directory: Sequence[Room]) -> RoomRef | None:
    names = {str(r.email).lower(): r.name for r in directory}
    for email in slot.free_rooms:
        return RoomRef(email=email, name=names.get(str(email).lower()))
    return None


def _check_slot(
    candidate: CandidateSlot,
    slot: SlotAvailability,
    any_free_room: bool,
    directory: Sequence[Room],
) -> tuple[CandidateSlot, SlotCheck]:
    conflicts = _host_conflicts(slot)
    room_free: bool | None = None
    if candidate.room is not None:
        room_free, found = _room_conflicts(str(candidate.room.email), slot)
        conflicts.extend(found)
    elif any_free_room:
        room = _pick_free_room(slot, directory)
        if room is None:
            room_free = False
            conflicts.append(
                SlotConflict(kind=ConflictKind.NO_FREE_ROOM, message="No room is free at this time.")
            )
        else:
            room_free = True
            candidate = candidate.model_copy(update={"room": room})
    blocking = not slot.host_free or room_free is False
    available: bool | None = False if blocking else (None if room_free is None and candidate.room else True)
    check = SlotCheck(
        slot_id=candidate.slot_id,
        available=available,
        host_free=slot.host_free,
        room_free=room_free,
        conflicts=tuple(conflicts),
    )
    return candidate, check


def apply_answer(
    candidates: Sequence[CandidateSlot],
    answer: AvailabilityAnswer,
    *,
    any_free_room: bool,
    directory: Sequence[Room],
    now: datetime,
) -> tuple[tuple[CandidateSlot, ...], Availability]:
    """Per-slot findings; with "any free room", a free room is assigned to roomless slots."""
    out: list[CandidateSlot] = []
    checks: list[SlotCheck] = []
    for index, candidate in enumerate(candidates):
        slot = _answer_for(candidate, index, answer)
        if slot is None:
            out.append(candidate)
            checks.append(SlotCheck(slot_id=candidate.slot_id, available=None))
            continue
        checked, check = _check_slot(candidate, slot, any_free_room, directory)
        out.append(checked)
        checks.append(check)
    availability = Availability(state=AvailabilityState.CHECKED, checked_at=now, slots=tuple(checks))
    return tuple(out), availability
