"""The pure planner: which calendar entries an appointment snapshot wants, and the operations
that turn the applied state into them.

Rules (SPEC section 3):
- proposed, ``hold_candidates`` → one tentative hold per candidate slot (with its room);
- proposed without holds → nothing;
- confirmed → one confirmed entry for the chosen slot; its key is the hold's key, so the hold's
  provider event is patched into the confirmed one (room kept) and the other holds are released;
- cancelled → nothing (everything is released).
"""

from __future__ import annotations

from collections.abc import Collection

from calendar_sync.core.errors import InvalidSnapshot
from calendar_sync.core.model import (
    AppliedState,
    CalendarEntry,
    CreateOp,
    DeleteOp,
    EntryKind,
    SettleOp,
    SyncPlan,
    UpdateOp,
)
from visitor_common.events.appointments import AppointmentSnapshot, AppointmentStatus, CandidateSlot

HOLD_TITLE_PREFIX = "[仮押さえ] "


def entry_key(slot_id: str) -> str:
    return f"slot:{slot_id}"


def describe(snapshot: AppointmentSnapshot) -> str:
    """The event description: guests and notes, deterministic (it is compared for drift)."""
    lines = []
    for guest in snapshot.guests:
        company = f" ({guest.company})" if guest.company else ""
        lines.append(f"Guest: {guest.name}{company} <{guest.email}>")
    if snapshot.notes:
        lines.append("")
        lines.append(snapshot.notes)
    return "\n".join(lines)


def _entry(snapshot: AppointmentSnapshot, slot: CandidateSlot, kind: EntryKind) -> CalendarEntry:
    hold = kind is EntryKind.HOLD
    return CalendarEntry(
        key=entry_key(slot.slot_id),
        kind=kind,
        start=slot.start,
        end=slot.end,
        room=slot.room,
        title=f"{HOLD_TITLE_PREFIX}{snapshot.title}" if hold else snapshot.title,
        description=describe(snapshot),
        tentative=hold,
    )


def desired_entries(snapshot: AppointmentSnapshot) -> list[CalendarEntry]:
    """The calendar entries this snapshot wants, in slot order."""
    if snapshot.status is AppointmentStatus.CANCELLED:
        return []
    if snapshot.status is AppointmentStatus.CONFIRMED:
        slot = snapshot.confirmed_slot()
        if slot is None:
            raise InvalidSnapshot(
                f"appointment {snapshot.appointment_id} v{snapshot.version} is confirmed "
                f"but slot {snapshot.confirmed_slot_id!r} is not among its candidates"
            )
        return [_entry(snapshot, slot, EntryKind.CONFIRMED)]
    if not snapshot.hold_candidates:
        return []
    return [_entry(snapshot, slot, EntryKind.HOLD) for slot in snapshot.candidates]


def _create_generation(applied: AppliedState, key: str) -> int:
    """An unsettled create is repeated under its own id; any other create gets the next one."""
    unsettled = applied.unsettled.get(key)
    return unsettled.generation if unsettled is not None else applied.next_generation(key)


def plan(desired: list[CalendarEntry], applied: AppliedState, *, rewrite: Collection[str] = ()) -> SyncPlan:
    """Diff desired entries against what was applied: create missing keys (next generation),
    update keys whose content changed, delete keys no longer wanted, settle unsettled creates
    no longer wanted.

    ``rewrite`` names keys to update even when the applied content equals the desired one:
    their provider events were edited behind our back (drift), so what we applied is no longer
    what the calendar shows."""
    wanted = {entry.key: entry for entry in desired}
    creates = [
        CreateOp(entry, _create_generation(applied, key))
        for key, entry in wanted.items()
        if key not in applied.entries
    ]
    updates = [
        UpdateOp(entry, applied.entries[key], restores=key in rewrite)
        for key, entry in wanted.items()
        if key in applied.entries
        and (key in rewrite or applied.entries[key].entry.content() != entry.content())
    ]
    deletes = [DeleteOp(applied.entries[key]) for key in sorted(applied.entries) if key not in wanted]
    # A wanted unsettled key is created again under the same generation (the provider answers
    # with the event if it exists); an unwanted one may have left an event behind: settle it.
    settles = [
        SettleOp(unsettled)
        for key, unsettled in sorted(applied.unsettled.items())
        if key not in wanted and key not in applied.entries
    ]
    return SyncPlan(creates=creates, updates=updates, deletes=deletes, settles=settles)
